/**
 * One IOAS's address space: the kernel's `struct io_pagetable`
 * (drivers/iommu/iommufd/io_pagetable.c). It holds the areas (IOVA ranges backed by slices
 * of iopt_pages), the reserved and allowed IOVA ranges, the attached domains and the
 * alignment they impose.
 *
 * Every operation checks in the kernel's order and returns the kernel's errno (0 = success);
 * see shared/reference/compat-semantics.md §6–§7. Nothing here knows about ioctl structs.
 *
 * Scale: areas live in a B+-tree with per-node largest gaps ({@link IntervalTree}), so map,
 * unmap and automatic IOVA allocation are logarithmic in the number of areas (allocation
 * additionally visits each area gap that is large enough but fails the alignment test).
 * Reserved ranges are a sorted union ({@link RangeSet}).
 *
 * @module
 */

import { E, PAGE_SIZE, U64_MAX } from "../uapi/mod.ts";
import type { Release } from "./release.ts";
import {
  add64,
  dec64,
  IntervalTree,
  join64,
  lt64,
  r64,
  RangeSet,
  split64,
  u64,
} from "./interval_tree.ts";
import {
  type AccountMode,
  type FileBacking,
  modeIndex,
  type PagesStore,
  type PinAccounting,
} from "./pages.ts";
import type { UserMemory } from "./user_memory.ts";

/** IOMMU_READ: the device may read. */
export const IOMMU_READ = 1;
/** IOMMU_WRITE: the device may write. */
export const IOMMU_WRITE = 2;
/** HPAGE_SIZE on x86_64 (2 MiB): the automatic-IOVA alignment cap of a THP kernel. */
export const HPAGE_SIZE = 0x200000n;

const PAGE_MASK = PAGE_SIZE - 1n;
const PAGE = Number(PAGE_SIZE);
const TWO32 = 4294967296;
const MAX32 = 0xffff_ffff;
/** ULONG_MAX / 2 (integer division): automatic allocation refuses lengths from here on. */
const ALLOC_MAX_LENGTH = U64_MAX / 2n;

// Area payload words in the tree.
const W_SB_HI = 0; // byte offset of the area's first IOVA within its pages (hi, lo)
const W_SB_LO = 1;
const W_PAGES = 2; // pages id
const W_PROT = 3; // IOMMU_READ | IOMMU_WRITE

/** An iommu_domain attached to the IOAS (made by the ioctl layer from a platform profile). */
export interface Domain {
  /** Supported IO page sizes; the lowest set bit drives the IOAS alignment. */
  readonly pgsizeBitmap: bigint;
  /** First IOVA the domain can translate. */
  readonly apertureStart: bigint;
  /** Last IOVA the domain can translate. */
  readonly apertureLast: bigint;
  /** Informative; used by the caller (VFIO_DMA_CC_IOMMU). */
  readonly enforceCacheCoherency: boolean;
  /**
   * The driver's map op refuses a prot without IOMMU_READ/IOMMU_WRITE with EINVAL (Intel
   * VT-d's __domain_mapping). The selftest mock domain ignores prot (false / absent).
   */
  readonly rejectsNoAccessProt?: boolean;
}

/**
 * One contiguous piece of a source range collected by {@link IoPagetable.getPages} for
 * IOMMU_IOAS_COPY. Opaque to callers; valid until the source IOAS is next modified.
 */
export interface AreaPiece {
  /** @internal iopt_pages id. */
  readonly pagesId: number;
  /** @internal Byte offset of the piece within its pages. */
  readonly startByte: bigint;
  /** @internal Length in bytes. */
  readonly length: bigint;
  /** @internal Page-aligned base of the pages, to detect a stale piece. */
  readonly base: bigint;
}

/** Result of an unmap. */
export interface UnmapResult {
  /** 0, or the errno. */
  errno: number;
  /** Bytes unmapped, also on error (areas removed before the failure stay removed). */
  unmapped: bigint;
  /**
   * True when nothing at all intersected the range (errno is then ENOENT). A range whose
   * first intersecting area only partly overlaps also gives ENOENT with 0 bytes, but not
   * `empty`: only an empty range may be turned into success (Release.unmapEmptyOk).
   */
  empty: boolean;
}

/** One area, as {@link IoPagetable.areas} shows it. */
export interface AreaInfo {
  /** First IOVA. */
  iova: bigint;
  /** Last IOVA (inclusive). */
  last: bigint;
  /** User address of the first byte. */
  vaddr: bigint;
  /** IOMMU_READ | IOMMU_WRITE. */
  prot: number;
  /** Pinned now (the IOAS has a domain). */
  pinned: boolean;
}

/** Options of an {@link IoPagetable}. */
export interface IoPagetableOptions {
  /** The process memory that maps read. */
  memory: UserMemory;
  /** The machine's pin accounting (and iopt_pages store). */
  accounting: PinAccounting;
  /** The release being modelled (read at each call: it may change). */
  release: () => Release;
  /** The iommufd context's account mode ("user" by default, "mm" for /dev/vfio/vfio). */
  accountMode: () => AccountMode;
  /**
   * Cap on the automatic-IOVA alignment, or null for kernels without it. The cap came with
   * the ALIGN() overflow fix (present in 6.12.117): HPAGE_SIZE with CONFIG_TRANSPARENT_HUGEPAGE,
   * PAGE_SIZE without (the kernel lane's tinyconfig). Default: PAGE_SIZE.
   */
  allocAlignCap?: () => bigint | null;
}

interface PieceSpec {
  pagesId: number;
  /** Byte offset of the piece within its pages (hi, lo). */
  sbHi: number;
  sbLo: number;
  /** Length in bytes (hi, lo). */
  lenHi: number;
  lenLo: number;
}

/** Pages an internal access pinned (and whose areas it locked), to undo on its destroy. */
export interface AccessPin {
  /** @internal iopt_pages id. */
  readonly pagesId: number;
  /** @internal First and last page index pinned. */
  readonly first: number;
  /** @internal See {@link first}. */
  readonly last: number;
  /** @internal First IOVA of the locked area. */
  readonly areaStart: bigint;
}

/** The kernel's struct io_pagetable. */
export class IoPagetable {
  private readonly tree = new IntervalTree({ payload: 4, gaps: true });
  private readonly reserved = new RangeSet();
  private allowed = new RangeSet();
  private readonly doms: Domain[] = [];
  private align = 1n;
  private alignMask = 0;
  private disabled = false;
  private readonly store: PagesStore;
  private readonly memory: UserMemory;
  private readonly scratch: PieceSpec = { pagesId: 0, sbHi: 0, sbLo: 0, lenHi: 0, lenLo: 0 };
  private readonly scratchList: PieceSpec[] = [this.scratch];
  /**
   * Result registers of {@link map64} and {@link unmap64}: the IOVA mapped, or the bytes
   * unmapped (also on error), as hi/lo halves.
   */
  outHi = 0;
  /** See {@link outHi}. */
  outLo = 0;
  /** After {@link unmap64}: nothing at all intersected the range (see UnmapResult.empty). */
  outEmpty = false;
  /** `access_list`: the iova_alignment each attached access asks for. */
  private readonly accessAligns = new Map<object, bigint>();
  /**
   * `area->num_locks` by the area's first IOVA: locked areas cannot be unmapped (EBUSY) nor
   * split (EINVAL, as areas with an access).
   */
  private readonly locks = new Map<bigint, number>();

  constructor(private readonly opts: IoPagetableOptions) {
    this.store = opts.accounting.pages;
    this.memory = opts.memory;
  }

  /** §6.4: every IOVA, length and page offset must be a multiple of this. */
  get iovaAlignment(): bigint {
    return this.align;
  }

  /** SET_IOMMU(TYPE1) or IOMMU_OPTION HUGE_PAGES=0 happened (and was not undone). */
  get largePagesDisabled(): boolean {
    return this.disabled;
  }

  /** Attached domains, in the kernel's xarray order. */
  domains(): readonly Domain[] {
    return this.doms;
  }

  /** Number of areas. */
  areaCount(): number {
    return this.tree.size;
  }

  /** The IOVA of the `n`-th area in IOVA order (from 0), or undefined past the last one. */
  nthAreaIova(n: number): bigint | undefined {
    const t = this.tree;
    for (let ok = t.first(); ok; ok = t.next()) {
      if (n-- === 0) return join64(t.sHi, t.sLo);
    }
    return undefined;
  }

  // ---- map ----------------------------------------------------------------------------------
  // The hot paths work on hi/lo 32-bit halves held in plain numbers: each bigint argument is
  // split once and no BigInt is allocated until the result.

  /**
   * iopt_map_user_pages (§6.1): map [uptr, uptr + length) at a fixed IOVA (when given) or at
   * an automatically allocated one (§6.7).
   */
  mapUserPages(a: { uptr: bigint; length: bigint; prot: number; iova?: bigint }): {
    errno: number;
    iova: bigint;
  } {
    split64(a.uptr);
    const uh = u64.hi, ul = u64.lo;
    split64(a.length);
    const lh = u64.hi, ll = u64.lo;
    let ih = 0, il = 0;
    if (a.iova !== undefined) {
      split64(a.iova);
      ih = u64.hi;
      il = u64.lo;
    }
    const e = this.map64(uh, ul, lh, ll, a.prot, a.iova !== undefined, ih, il);
    return { errno: e, iova: e === 0 ? join64(this.outHi, this.outLo) : 0n };
  }

  /**
   * {@link mapUserPages} on hi/lo halves: uptr (uh, ul), length (lh, ll), and the IOVA (ih, il)
   * when `fixed`. Returns 0 or the errno; on success the IOVA is in {@link outHi}/{@link outLo}.
   */
  map64(
    uh: number,
    ul: number,
    lh: number,
    ll: number,
    prot: number,
    fixed: boolean,
    ih: number,
    il: number,
  ): number {
    const err = this.checkUserRange(uh, ul, lh, ll);
    if (err !== 0) return err;
    const acc = this.opts.accounting;
    // modeFor: privileged callers are never charged, whatever the context's mode.
    const mode = acc.privileged ? modeIndex("none") : modeIndex(this.opts.accountMode());
    const id = this.store.alloc64(uh, ul, lh, ll, (prot & IOMMU_WRITE) !== 0, mode);
    const piece = this.scratch;
    piece.pagesId = id;
    piece.sbHi = 0;
    piece.sbLo = ul % PAGE;
    piece.lenHi = lh;
    piece.lenLo = ll;
    const r = this.mapPieces(this.scratchList, lh, ll, prot, fixed, ih, il, uh, ul);
    // The areas hold their own references; drop the creator's.
    this.store.put(id);
    return r;
  }

  /**
   * iopt_map_file_pages: map bytes [start, start + length) of `file` at a fixed IOVA or at
   * an automatic one (allocated as if the file offset were the user address). The checks of
   * iopt_alloc_file_pages come first: start + length - 1 wrapping (EOVERFLOW), then a zero
   * or too large length (EINVAL). Nothing is pinned until a domain or an access needs it.
   * Returns 0 or the errno; on success the IOVA is in {@link outHi}/{@link outLo}.
   */
  mapFile(
    file: FileBacking,
    start: bigint,
    length: bigint,
    prot: number,
    iova: bigint | undefined,
  ): number {
    if (length !== 0n && start + length - 1n > U64_MAX) return E.EOVERFLOW;
    if (length === 0n || length > U64_MAX - PAGE_SIZE) return E.EINVAL;
    const acc = this.opts.accounting;
    const mode = acc.privileged ? "none" : this.opts.accountMode();
    const id = this.store.allocFile(start, length, (prot & IOMMU_WRITE) !== 0, mode, file);
    const piece = this.scratch;
    piece.pagesId = id;
    piece.sbHi = 0;
    piece.sbLo = Number(start & PAGE_MASK);
    split64(length);
    piece.lenHi = u64.hi;
    piece.lenLo = u64.lo;
    const lh = u64.hi, ll = u64.lo;
    split64(iova ?? 0n);
    const ih = u64.hi, il = u64.lo;
    split64(start);
    const r = this.mapPieces(
      this.scratchList,
      lh,
      ll,
      prot,
      iova !== undefined,
      ih,
      il,
      u64.hi,
      u64.lo,
    );
    this.store.put(id);
    return r;
  }

  /** Whether every area is backed by a file (IOMMU_IOAS_CHANGE_PROCESS accepts only those). */
  allAreasFromFiles(): boolean {
    const t = this.tree;
    if (!t.first()) return true;
    do {
      if (!this.store.isFile(t.word(W_PAGES))) return false;
    } while (t.next());
    return true;
  }

  /**
   * iopt_alloc_user_pages checks: a zero or too large length (over 2^64 - 1 - PAGE_SIZE) is
   * EINVAL and uptr + length beyond 2^64 - 1 is EOVERFLOW, in the order of the release.
   */
  private checkUserRange(uh: number, ul: number, lh: number, ll: number): number {
    const overflow = !add64(uh, ul, lh, ll);
    const badLength = (lh === 0 && ll === 0) || (lh === MAX32 && ll > MAX32 - PAGE);
    if (!overflow) return badLength ? E.EINVAL : 0;
    if (!badLength) return E.EOVERFLOW;
    // Both: which one the release checks first.
    return this.opts.release().uptrOverflowFirst ? E.EOVERFLOW : E.EINVAL;
  }

  /**
   * iopt_map_pages: allocate/check the IOVA, insert one area per piece, fill the domains.
   * The IOVA is (ih, il) when `fixed`, else allocated near the hint (hh, hl). Returns 0 (the
   * IOVA in outHi/outLo) or the errno.
   */
  private mapPieces(
    pieces: readonly PieceSpec[],
    lh: number,
    ll: number,
    prot: number,
    fixed: boolean,
    ih: number,
    il: number,
    hh: number,
    hl: number,
  ): number {
    if ((lh === 0 && ll === 0) || (ll & this.alignMask) !== 0) return E.EINVAL;
    if (!fixed) {
      const r = this.allocIova(join64(hh, hl), join64(lh, ll));
      if (r < 0n) return Number(-r);
      split64(r);
      ih = u64.hi;
      il = u64.lo;
    }
    const c = this.checkIova(ih, il, lh, ll);
    // An allocated IOVA is re-checked too (CONFIG_IOMMUFD_TEST refuses a bad choice).
    if (c !== 0) return fixed ? c : E.EINVAL;
    const e = this.insertAreas(pieces, ih, il, prot);
    if (e !== 0) return e;
    if (this.doms.length > 0) {
      const e2 = this.fillNewAreas(pieces, prot);
      if (e2 !== 0) {
        this.removeAreas(pieces, ih, il, pieces.length);
        return e2;
      }
    }
    for (let i = 0; i < pieces.length; i++) this.store.get(pieces[i].pagesId);
    this.outHi = ih;
    this.outLo = il;
    return 0;
  }

  /** iopt_check_iova: fixed-IOVA checks in the kernel's order. */
  private checkIova(ih: number, il: number, lh: number, ll: number): number {
    if ((il & this.alignMask) !== 0) return E.EINVAL;
    dec64(lh, ll);
    if (!add64(ih, il, r64.hi, r64.lo)) return E.EOVERFLOW;
    const zh = r64.hi, zl = r64.lo;
    if (this.reserved.intersects64(ih, il, zh, zl)) return E.EINVAL;
    if (this.tree.firstOverlap(ih, il, zh, zl)) return E.EEXIST;
    return 0;
  }

  /**
   * iopt_insert_area for each piece: EPERM for a writable area on read-only pages, EINVAL
   * for a page offset that breaks the alignment. Returns 0 or the errno (undone).
   */
  private insertAreas(pieces: readonly PieceSpec[], ih: number, il: number, prot: number): number {
    let ch = ih, cl = il;
    for (let i = 0; i < pieces.length; i++) {
      const p = pieces[i];
      let e = 0;
      if ((prot & IOMMU_WRITE) !== 0 && !this.store.writable(p.pagesId)) e = E.EPERM;
      else if (((p.sbLo % PAGE) & this.alignMask) !== 0) e = E.EINVAL;
      if (e !== 0) {
        this.removeAreas(pieces, ih, il, i);
        return e;
      }
      dec64(p.lenHi, p.lenLo);
      add64(ch, cl, r64.hi, r64.lo);
      const zh = r64.hi, zl = r64.lo;
      this.tree.insert(ch, cl, zh, zl, p.sbHi, p.sbLo, p.pagesId, prot);
      add64(zh, zl, 0, 1);
      ch = r64.hi;
      cl = r64.lo;
    }
    return 0;
  }

  /** Take the first `count` areas created for `pieces` at (ih, il) back out of the tree. */
  private removeAreas(pieces: readonly PieceSpec[], ih: number, il: number, count: number): void {
    let ch = ih, cl = il;
    for (let i = 0; i < count; i++) {
      this.tree.remove(ch, cl);
      add64(ch, cl, pieces[i].lenHi, pieces[i].lenLo);
      ch = r64.hi;
      cl = r64.lo;
    }
  }

  /** iopt_fill_domains_pages: pin each new area; on failure unpin the ones done. */
  private fillNewAreas(pieces: readonly PieceSpec[], prot: number): number {
    const protErr = protError(prot, this.doms.some((d) => d.rejectsNoAccessProt === true));
    for (let i = 0; i < pieces.length; i++) {
      const p = pieces[i];
      const e = this.fillArea(p.pagesId, p.sbHi, p.sbLo, p.lenHi, p.lenLo, protErr);
      if (e === 0) continue;
      for (let k = 0; k < i; k++) {
        const q = pieces[k];
        this.unfillArea(q.pagesId, q.sbHi, q.sbLo, q.lenHi, q.lenLo);
      }
      return e;
    }
    return 0;
  }

  /**
   * Load one area into the domains: pin its pages (EFAULT when the memory is gone), map
   * (the driver's EINVAL), then charge RLIMIT_MEMLOCK (ENOMEM) — the kernel pins a batch
   * before mapping it and charges only at the end.
   */
  private fillArea(
    id: number,
    sbHi: number,
    sbLo: number,
    lenHi: number,
    lenLo: number,
    protErr: number,
  ): number {
    const first = pageIndex(sbHi, sbLo);
    const last = lastPageIndex(sbHi, sbLo, lenHi, lenLo);
    let e = this.store.pin(id, first, last, this.memory);
    if (e !== 0) {
      // The first batch is mapped before a later batch faults.
      const mapped = this.memory.isPinnablePages(this.store.firstPageNumber(id) + first, 1);
      if (protErr !== 0 && mapped) return protErr;
      return e;
    }
    if (protErr !== 0) {
      this.store.unpin(id, first, last);
      return protErr;
    }
    e = this.store.charge(id, this.store.newlyPinned);
    if (e !== 0) this.store.unpin(id, first, last);
    return e;
  }

  /** Unload one area from the domains: unpin what nobody else uses, uncharge it. */
  private unfillArea(id: number, sbHi: number, sbLo: number, lenHi: number, lenLo: number): void {
    const first = pageIndex(sbHi, sbLo);
    const last = lastPageIndex(sbHi, sbLo, lenHi, lenLo);
    this.store.uncharge(id, this.store.unpin(id, first, last));
  }

  /** Unload the area under the tree cursor. */
  private unfillCurrent(): void {
    const t = this.tree;
    this.curLength64();
    this.unfillArea(t.word(W_PAGES), t.word(W_SB_HI), t.word(W_SB_LO), r64.hi, r64.lo);
  }

  /** Length of the area under the cursor, into r64. */
  private curLength64(): void {
    const t = this.tree;
    // last - start + 1, borrowing across the halves.
    let lo = t.lLo - t.sLo + 1;
    let hi = t.lHi - t.sHi;
    if (lo < 0) {
      lo += TWO32;
      hi--;
    } else if (lo >= TWO32) {
      lo -= TWO32;
      hi++;
    }
    r64.hi = hi;
    r64.lo = lo;
  }

  // ---- automatic IOVA ----------------------------------------------------------------------

  /**
   * iopt_alloc_iova (§6.7): the lowest hole (free of areas and reserved ranges) inside the
   * allowed windows where the aligned start fits. Returns the IOVA or -errno.
   */
  private allocIova(addr: bigint, length: bigint): bigint {
    const pageOffset = addr & PAGE_MASK;
    if (length === 0n || length >= ALLOC_MAX_LENGTH) return -BigInt(E.EOVERFLOW);
    let align = roundupPow2(length);
    if (addr !== 0n) {
      const low = addr & -addr;
      if (low < align) align = low;
    }
    const cap = this.opts.allocAlignCap ? this.opts.allocAlignCap() : PAGE_SIZE;
    if (cap !== null && align >= cap) align = cap;
    if (align < this.align) return -BigInt(E.EINVAL);
    const fit: Fit = { align, pageOffset, length, checked: cap !== null };
    const lo = PAGE_SIZE;
    const hi = U64_MAX - PAGE_SIZE;
    if (this.allowed.spanCount === 0) {
      const r = this.allocInWindow(lo, hi, fit);
      return r >= 0n ? r : -BigInt(E.ENOSPC);
    }
    for (let i = 0; i < this.allowed.spanCount; i++) {
      const ws = maxBig(this.allowed.spanStart(i), lo);
      const wl = minBig(this.allowed.spanLast(i), hi);
      if (ws > wl) continue;
      const r = this.allocInWindow(ws, wl, fit);
      if (r >= 0n) return r;
    }
    return -BigInt(E.ENOSPC);
  }

  /** First fit inside one allowed window [ws, wl], or -1. */
  private allocInWindow(window: bigint, wl: bigint, fit: Fit): bigint {
    // The window itself must fit first (__alloc_iova_check_used), and the search for a hole
    // starts at its aligned start, not its first byte: with sub-page maps an area may end
    // between the two, and the kernel never sees it.
    const ws = fitHole(window, wl, fit);
    if (ws < 0n) return -1n;
    const t = this.tree;
    // The free run at (or just after) the window start.
    split64(ws);
    let cur = ws;
    if (t.seekContaining(u64.hi, u64.lo)) {
      const areaLast = join64(t.lHi, t.lLo);
      if (areaLast >= wl) return -1n;
      cur = areaLast + 1n;
    }
    split64(cur);
    const ch = u64.hi;
    const cl = u64.lo;
    split64(wl);
    if (!t.firstOverlap(ch, cl, u64.hi, u64.lo)) return this.holesFit(cur, wl, fit);
    let next = join64(t.sHi, t.sLo);
    const r = this.holesFit(cur, next - 1n, fit);
    if (r >= 0n) return r;
    // Gaps between areas: only those large enough to possibly hold the length.
    const need = Number(fit.length);
    const g = t.gapResult;
    for (;;) {
      split64(next);
      if (!t.findGap(need, u64.hi, u64.lo)) break;
      const gs = join64(g.prevHi, g.prevLo) + 1n;
      if (gs > wl) return -1n;
      next = join64(g.nextHi, g.nextLo);
      const r2 = this.holesFit(gs, minBig(next - 1n, wl), fit);
      if (r2 >= 0n) return r2;
    }
    // After the highest area.
    t.last();
    const top = join64(t.lHi, t.lLo);
    if (top >= wl || top < cur) return -1n;
    return this.holesFit(top + 1n, wl, fit);
  }

  /** Holes of [fs, fe] (already free of areas) minus reserved ranges: first fit or -1. */
  private holesFit(fs: bigint, fe: bigint, fit: Fit): bigint {
    const res = this.reserved;
    let c = fs;
    for (let i = res.firstSpanFrom(fs); i < res.spanCount; i++) {
      const rs = res.spanStart(i);
      if (rs > fe) break;
      if (rs > c) {
        const r = fitHole(c, rs - 1n, fit);
        if (r >= 0n) return r;
      }
      c = res.spanLast(i) + 1n;
      if (c > fe) return -1n;
    }
    return fitHole(c, fe, fit);
  }

  // ---- unmap --------------------------------------------------------------------------------

  /**
   * iopt_unmap_iova (§6.2): remove every area inside [iova, iova + length - 1]. EINVAL for a
   * zero length, EOVERFLOW, ENOENT when an area sticks out (areas below it stay removed) or
   * when nothing intersected at all (`empty`; callers decide about Release.unmapEmptyOk).
   */
  unmapIova(iova: bigint, length: bigint): UnmapResult {
    split64(iova);
    const sh = u64.hi, sl = u64.lo;
    split64(length);
    const e = this.unmap64(sh, sl, u64.hi, u64.lo);
    return { errno: e, unmapped: join64(this.outHi, this.outLo), empty: this.outEmpty };
  }

  /**
   * {@link unmapIova} on hi/lo halves of the IOVA (sh, sl) and the length (nh, nl). Returns 0
   * or the errno; the bytes unmapped are in {@link outHi}/{@link outLo} and `empty` in
   * {@link outEmpty}.
   */
  unmap64(sh: number, sl: number, nh: number, nl: number): number {
    this.outHi = 0;
    this.outLo = 0;
    this.outEmpty = false;
    if (nh === 0 && nl === 0) return E.EINVAL;
    dec64(nh, nl);
    if (!add64(sh, sl, r64.hi, r64.lo)) return E.EOVERFLOW;
    return this.unmapRange(sh, sl, r64.hi, r64.lo);
  }

  private unmapRange(sh: number, sl: number, lh: number, ll: number): number {
    const t = this.tree;
    let uh = 0;
    let ul = 0;
    let any = false;
    while (t.firstOverlap(sh, sl, lh, ll)) {
      const ah = t.sHi, al = t.sLo, zh = t.lHi, zl = t.lLo;
      // A locked area is refused before the containment check.
      if (this.locks.size > 0 && this.locks.has(join64(ah, al))) {
        this.outHi = uh;
        this.outLo = ul;
        return E.EBUSY;
      }
      if (lt64(ah, al, sh, sl) || lt64(lh, ll, zh, zl)) {
        this.outHi = uh;
        this.outLo = ul;
        return E.ENOENT;
      }
      this.curLength64();
      add64(uh, ul, r64.hi, r64.lo);
      uh = r64.hi;
      ul = r64.lo;
      this.dropCurrentArea();
      any = true;
      // Nothing further can intersect once an area reaches the end of the range.
      if (zh === lh && zl === ll) break;
    }
    if (!any) {
      this.outEmpty = true;
      return E.ENOENT;
    }
    this.outHi = uh;
    this.outLo = ul;
    return 0;
  }

  /** Remove the area under the tree cursor: unload it from the domains, drop its pages ref. */
  private dropCurrentArea(): void {
    const t = this.tree;
    const id = t.word(W_PAGES);
    if (this.doms.length > 0) this.unfillCurrent();
    t.remove(t.sHi, t.sLo);
    this.store.put(id);
  }

  /**
   * iopt_unmap_all (§6.3): remove every area; 0 even when there is none. An area locked by
   * an internal access stops it with EBUSY (the areas below it stay removed).
   */
  unmapAll(): UnmapResult {
    const t = this.tree;
    if (this.locks.size > 0) {
      this.outHi = 0;
      this.outLo = 0;
      const e = this.unmapRange(0, 0, MAX32, MAX32);
      return {
        errno: e === E.ENOENT ? 0 : e,
        unmapped: join64(this.outHi, this.outLo),
        empty: false,
      };
    }
    let uh = 0;
    let ul = 0;
    const filled = this.doms.length > 0;
    if (t.first()) {
      do {
        this.curLength64();
        add64(uh, ul, r64.hi, r64.lo);
        uh = r64.hi;
        ul = r64.lo;
        if (filled) this.unfillCurrent();
        this.store.put(t.word(W_PAGES));
      } while (t.next());
    }
    t.clear();
    return { errno: 0, unmapped: join64(uh, ul), empty: false };
  }

  private curLength(): bigint {
    this.curLength64();
    return join64(r64.hi, r64.lo);
  }

  // ---- cut (compat TYPE1) --------------------------------------------------------------------

  /**
   * iopt_cut_iova (§6.5): split the area containing each IOVA so that it becomes the last of
   * the left part. Stops at the first error, all EINVAL (io_pagetable.c, iopt_area_split, in
   * this order): a misaligned split point; an area with an access (`num_accesses`: here an
   * area locked by an HW queue's internal access); an area already in a domain while large
   * pages are enabled.
   */
  cutIova(iovas: bigint[]): number {
    for (const c of iovas) {
      const e = this.splitAt(c);
      if (e !== 0) return e;
    }
    return 0;
  }

  /** iopt_area_split. */
  private splitAt(c: bigint): number {
    const t = this.tree;
    split64(c);
    if (!t.seekContaining(u64.hi, u64.lo)) return 0;
    const start = join64(t.sHi, t.sLo);
    const last = join64(t.lHi, t.lLo);
    if (c === start || c === last) return 0;
    const sb = join64(t.word(W_SB_HI), t.word(W_SB_LO));
    const id = t.word(W_PAGES);
    const prot = t.word(W_PROT);
    const next = c + 1n;
    const mask = this.align - 1n;
    if ((next & mask) !== 0n || ((sb + (next - start)) & mask) !== 0n) return E.EINVAL;
    // An area with an access is never split (EINVAL, after the alignment check). The only
    // accesses here are internal ones, each of which also locks its areas, so "has an access"
    // is "is locked". `num_locks` itself is checked by iopt_unmap_iova_range only (EBUSY).
    if (this.locks.has(start)) return E.EINVAL;
    // A domain may hold it with huge IOPTEs: only TYPE1 (large pages off) may split.
    if (this.doms.length > 0 && !this.disabled) return E.EINVAL;
    t.remove(t.sHi, t.sLo);
    this.insertRaw(start, c, sb, id, prot);
    this.insertRaw(next, last, sb + (next - start), id, prot);
    // Both halves share the pages and their pins: page-aligned split, no pin change.
    this.store.get(id);
    return 0;
  }

  private insertRaw(start: bigint, last: bigint, sb: bigint, id: number, prot: number): void {
    split64(start);
    const sh = u64.hi, sl = u64.lo;
    split64(last);
    const lh = u64.hi, ll = u64.lo;
    split64(sb);
    this.tree.insert(sh, sl, lh, ll, u64.hi, u64.lo, id, prot);
  }

  // ---- reserved / allowed ------------------------------------------------------------------

  /**
   * iopt_reserve_iova (§6.8): EADDRINUSE when [start, last] intersects an area or an allowed
   * range. An inverted range (start > last) is recorded but reserves nothing.
   */
  reserveIova(start: bigint, last: bigint, owner: object): number {
    if (start <= last) {
      split64(start);
      const sh = u64.hi, sl = u64.lo;
      split64(last);
      if (this.tree.firstOverlap(sh, sl, u64.hi, u64.lo)) return E.EADDRINUSE;
      if (this.allowed.intersects(start, last)) return E.EADDRINUSE;
    }
    this.reserved.add(start, last, owner);
    return 0;
  }

  /** iopt_remove_reserved_iova: drop every reserved range of owner. */
  removeReservedIova(owner: object): void {
    this.reserved.removeOwner(owner);
  }

  /**
   * iopt_set_allow_iova (§8.4 steps 3–4) on an already validated list: EADDRINUSE (old list
   * kept) when a range intersects a reserved one; otherwise the list is replaced.
   */
  setAllowIova(ranges: { start: bigint; last: bigint }[]): number {
    for (const r of ranges) {
      if (this.reserved.intersects(r.start, r.last)) return E.EADDRINUSE;
    }
    const next = new RangeSet();
    for (const r of ranges) next.add(r.start, r.last, null);
    this.allowed = next;
    return 0;
  }

  /** The allowed ranges, as set. */
  allowedIovas(): { start: bigint; last: bigint }[] {
    return this.allowed.list().map((r) => ({ start: r.start, last: r.last }));
  }

  /** The reserved ranges with their owners, in insertion order. */
  reservedIovas(): { start: bigint; last: bigint; owner: unknown }[] {
    return this.reserved.list().map((r) => ({ start: r.start, last: r.last, owner: r.owner }));
  }

  /** Gaps of the reserved set over [0, 2^64 - 1], ascending (allowed ranges not applied). */
  iovaRanges(): { start: bigint; last: bigint }[] {
    return this.reserved.gaps(0n, U64_MAX);
  }

  // ---- domains ------------------------------------------------------------------------------

  /**
   * Attach a domain (§7): the device's reserved regions first (as attach precedes
   * iopt_table_add_domain), then iopt_table_add_domain — alignment (EINVAL above PAGE_SIZE,
   * EADDRINUSE over misaligned areas), the aperture's complement reserved (EADDRINUSE), every
   * area loaded (EFAULT / ENOMEM / the driver's EINVAL). Fully undone on error.
   * `resvOwner` (default: the domain) owns the device regions for removeReservedIova.
   */
  addDomain(
    d: Domain,
    resvRegions: { start: bigint; last: bigint }[],
    resvOwner: object = d,
  ): number {
    if (this.doms.includes(d)) return E.EEXIST;
    for (const r of resvRegions) {
      const e = this.reserveIova(r.start, r.last, resvOwner);
      if (e !== 0) {
        this.reserved.removeOwner(resvOwner);
        return e;
      }
    }
    const e = this.tableAddDomain(d);
    if (e !== 0 && resvRegions.length > 0) this.reserved.removeOwner(resvOwner);
    return e;
  }

  /** iopt_table_add_domain. */
  private tableAddDomain(d: Domain): number {
    const low = d.pgsizeBitmap & -d.pgsizeBitmap;
    const newAlign = low > this.align ? low : this.align;
    if (low === 0n || newAlign > PAGE_SIZE) return E.EINVAL;
    if (newAlign !== this.align) {
      const e = this.checkAreasAligned(newAlign);
      if (e !== 0) return e;
    }
    let e = 0;
    if (d.apertureStart !== 0n) e = this.reserveIova(0n, d.apertureStart - 1n, d);
    if (e === 0 && d.apertureLast !== U64_MAX) {
      e = this.reserveIova(d.apertureLast + 1n, U64_MAX, d);
    }
    if (e === 0) e = this.fillDomain(d);
    if (e !== 0) {
      this.reserved.removeOwner(d);
      return e;
    }
    this.setAlign(newAlign);
    this.doms.push(d);
    return 0;
  }

  /**
   * iopt_fill_domain: with no domain yet every area gets pinned now (ascending; undone on
   * error). With domains already, pages come from the storage domain: only the new
   * driver's prot check can fail.
   */
  private fillDomain(d: Domain): number {
    const t = this.tree;
    if (!t.first()) return 0;
    const rejects = d.rejectsNoAccessProt === true;
    if (this.doms.length > 0) {
      do {
        const e = protError(t.word(W_PROT), rejects);
        if (e !== 0) return e;
      } while (t.next());
      return 0;
    }
    let done = 0;
    do {
      this.curLength64();
      const e = this.fillArea(
        t.word(W_PAGES),
        t.word(W_SB_HI),
        t.word(W_SB_LO),
        r64.hi,
        r64.lo,
        protError(t.word(W_PROT), rejects),
      );
      if (e !== 0) {
        this.unfillFirst(done);
        return e;
      }
      done++;
    } while (t.next());
    return 0;
  }

  /** Unload the first n areas (ascending) from the domains. */
  private unfillFirst(n: number): void {
    const t = this.tree;
    if (n === 0 || !t.first()) return;
    for (let i = 0; i < n; i++) {
      this.unfillCurrent();
      if (!t.next()) return;
    }
  }

  /**
   * iopt_table_remove_domain: the tail domain takes the removed one's slot; the last
   * domain's departure unpins every area; its reservations go; the alignment is recomputed.
   */
  removeDomain(d: Domain): void {
    const i = this.doms.indexOf(d);
    if (i < 0) return;
    const tail = this.doms.pop()!;
    if (i < this.doms.length) this.doms[i] = tail;
    if (this.doms.length === 0) this.unfillFirst(this.tree.size);
    this.reserved.removeOwner(d);
    this.recalcAlignment();
  }

  // ---- alignment / large pages -------------------------------------------------------------

  /**
   * iopt_disable_large_pages (§6.6): 0 if already disabled; EINVAL with a domain and an area;
   * EADDRINUSE (flag reverted) if raising the alignment to PAGE_SIZE meets a misaligned area.
   */
  disableLargePages(): number {
    if (this.disabled) return 0;
    if (this.doms.length > 0 && this.tree.size > 0) return E.EINVAL;
    this.disabled = true;
    const e = this.recalcAlignment();
    if (e !== 0) this.disabled = false;
    return e;
  }

  /** iopt_enable_large_pages: the alignment can only go down. */
  enableLargePages(): void {
    this.disabled = false;
    this.recalcAlignment();
  }

  /** iopt_calculate_iova_alignment. */
  private recalcAlignment(): number {
    let n = this.disabled ? PAGE_SIZE : 1n;
    for (const d of this.doms) {
      const low = d.pgsizeBitmap & -d.pgsizeBitmap;
      if (low > n) n = low;
    }
    for (const a of this.accessAligns.values()) if (a > n) n = a;
    if (n > this.align) {
      const e = this.checkAreasAligned(n);
      if (e !== 0) return e;
    }
    this.setAlign(n);
    return 0;
  }

  /**
   * iopt_check_iova_alignment: EADDRINUSE if any area's IOVA, length or page offset is off.
   * `align` never exceeds PAGE_SIZE here, so the lo halves decide (int32 wrap-around of the
   * length keeps its low bits; the page offset is the low bits of the start byte).
   */
  private checkAreasAligned(align: bigint): number {
    const t = this.tree;
    if (!t.first()) return 0;
    const m = Number(align) - 1;
    do {
      const sl = t.sLo;
      if ((sl & m) !== 0 || ((t.lLo - sl + 1) & m) !== 0 || (t.word(W_SB_LO) & m) !== 0) {
        return E.EADDRINUSE;
      }
    } while (t.next());
    return 0;
  }

  private setAlign(n: bigint): void {
    this.align = n;
    this.alignMask = Number(n) - 1;
  }

  // ---- internal accesses (HW queues) ---------------------------------------------------------

  /**
   * iopt_add_access: the access's alignment joins the IOAS's (EADDRINUSE, and no change,
   * when an existing area does not meet it).
   */
  addAccess(owner: object, alignment: bigint): number {
    this.accessAligns.set(owner, alignment);
    const e = this.recalcAlignment();
    if (e !== 0) this.accessAligns.delete(owner);
    return e;
  }

  /** iopt_remove_access: the alignment may go down again. */
  removeAccess(owner: object): void {
    if (this.accessAligns.delete(owner)) this.recalcAlignment();
  }

  /**
   * iommufd_access_pin_pages for an internal access over [iova, iova + length - 1]: contiguous
   * areas must cover it (ENOENT), each piece must start on a page of its pages and, unless
   * it is the last, end on one (EINVAL), be readable (EPERM); then the pages are pinned
   * (EFAULT, ENOMEM) and every area is locked. All or nothing.
   */
  accessPin(iova: bigint, length: bigint): { errno: number; pins: AccessPin[] } {
    if (length === 0n) return { errno: E.EINVAL, pins: [] };
    const last = iova + length - 1n;
    if (last > U64_MAX) return { errno: E.EOVERFLOW, pins: [] };
    const pins: AccessPin[] = [];
    const fail = (errno: number) => {
      for (const p of pins) {
        this.store.uncharge(p.pagesId, this.store.unpin(p.pagesId, p.first, p.last));
      }
      return { errno, pins: [] };
    };
    const t = this.tree;
    split64(iova);
    if (!t.seekContaining(u64.hi, u64.lo)) return fail(E.ENOENT);
    let cur = iova;
    for (;;) {
      const start = join64(t.sHi, t.sLo);
      const areaLast = join64(t.lHi, t.lLo);
      const end = areaLast < last ? areaLast : last;
      const sb = join64(t.word(W_SB_HI), t.word(W_SB_LO));
      const id = t.word(W_PAGES);
      const prot = t.word(W_PROT);
      const firstByte = sb + (cur - start);
      const lastByte = sb + (end - start);
      if (firstByte & PAGE_MASK) return fail(E.EINVAL);
      if (end < last && (lastByte & PAGE_MASK) !== PAGE_MASK) return fail(E.EINVAL);
      if ((prot & IOMMU_READ) === 0) return fail(E.EPERM);
      const first = Number(firstByte / PAGE_SIZE);
      const lastIdx = Number(lastByte / PAGE_SIZE);
      let e = this.store.pin(id, first, lastIdx, this.memory);
      if (e === 0) {
        e = this.store.charge(id, this.store.newlyPinned);
        if (e !== 0) this.store.unpin(id, first, lastIdx);
      }
      if (e !== 0) return fail(e);
      pins.push({ pagesId: id, first, last: lastIdx, areaStart: start });
      if (areaLast >= last) break;
      cur = areaLast + 1n;
      // Re-find the cursor: pinning may have used the tree's scratch state.
      split64(start);
      if (!t.seekContaining(u64.hi, u64.lo) || !t.next() || join64(t.sHi, t.sLo) !== cur) {
        return fail(E.ENOENT);
      }
    }
    for (const p of pins) this.locks.set(p.areaStart, (this.locks.get(p.areaStart) ?? 0) + 1);
    return { errno: 0, pins };
  }

  /** iommufd_access_unpin_pages of {@link accessPin}'s pins: unlock, unpin, uncharge. */
  accessUnpin(pins: readonly AccessPin[]): void {
    for (const p of pins) {
      const n = (this.locks.get(p.areaStart) ?? 1) - 1;
      if (n > 0) this.locks.set(p.areaStart, n);
      else this.locks.delete(p.areaStart);
      this.store.uncharge(p.pagesId, this.store.unpin(p.pagesId, p.first, p.last));
    }
  }

  // ---- COPY ---------------------------------------------------------------------------------

  /**
   * iopt_get_pages (§6.9): the pieces covering [iova, iova + length - 1], which must be
   * covered without a hole starting exactly at iova: EINVAL, EOVERFLOW, ENOENT.
   */
  getPages(iova: bigint, length: bigint): { errno: number; pieces: AreaPiece[] } {
    if (length === 0n) return { errno: E.EINVAL, pieces: [] };
    const last = iova + length - 1n;
    if (last > U64_MAX) return { errno: E.EOVERFLOW, pieces: [] };
    const t = this.tree;
    split64(iova);
    if (!t.seekContaining(u64.hi, u64.lo)) return { errno: E.ENOENT, pieces: [] };
    const pieces: AreaPiece[] = [];
    let cur = iova;
    for (;;) {
      const start = join64(t.sHi, t.sLo);
      const areaLast = join64(t.lHi, t.lLo);
      const end = areaLast < last ? areaLast : last;
      const id = t.word(W_PAGES);
      pieces.push({
        pagesId: id,
        startByte: join64(t.word(W_SB_HI), t.word(W_SB_LO)) + (cur - start),
        length: end - cur + 1n,
        base: this.store.uptr(id),
      });
      if (areaLast >= last) return { errno: 0, pieces };
      cur = areaLast + 1n;
      if (!t.next() || join64(t.sHi, t.sLo) !== cur) return { errno: E.ENOENT, pieces: [] };
    }
  }

  /**
   * The destination side of IOAS_COPY (iopt_map_pages): like mapUserPages but over existing
   * pages, so EPERM when WRITE is asked of pages pinned read-only. The pages are shared.
   */
  mapPages(
    pieces: AreaPiece[],
    a: { prot: number; iova?: bigint; length: bigint },
  ): { errno: number; iova: bigint } {
    let sum = 0n;
    for (const p of pieces) {
      if (!this.store.alive(p.pagesId) || this.store.uptr(p.pagesId) !== p.base) {
        throw new Error("IoPagetable.mapPages: stale AreaPiece (source changed since getPages)");
      }
      sum += p.length;
    }
    if (pieces.length === 0 || sum !== a.length) {
      throw new Error("IoPagetable.mapPages: pieces do not add up to the length");
    }
    const specs = pieces.map((p): PieceSpec => {
      split64(p.startByte);
      const sbHi = u64.hi, sbLo = u64.lo;
      split64(p.length);
      return { pagesId: p.pagesId, sbHi, sbLo, lenHi: u64.hi, lenLo: u64.lo };
    });
    split64(pieces[0].base + pieces[0].startByte);
    const hh = u64.hi, hl = u64.lo;
    let ih = 0, il = 0;
    if (a.iova !== undefined) {
      split64(a.iova);
      ih = u64.hi;
      il = u64.lo;
    }
    split64(a.length);
    const fixed = a.iova !== undefined;
    const e = this.mapPieces(specs, u64.hi, u64.lo, a.prot, fixed, ih, il, hh, hl);
    return { errno: e, iova: e === 0 ? join64(this.outHi, this.outLo) : 0n };
  }

  // ---- inspection / teardown --------------------------------------------------------------

  /** The areas in ascending IOVA order, from the one containing or following `from`. */
  *areas(from = 0n): Iterable<AreaInfo> {
    const t = this.tree;
    split64(from);
    let ok = t.firstOverlap(u64.hi, u64.lo, 0xffff_ffff, 0xffff_ffff);
    while (ok) {
      const id = t.word(W_PAGES);
      const info: AreaInfo = {
        iova: join64(t.sHi, t.sLo),
        last: join64(t.lHi, t.lLo),
        vaddr: this.store.uptr(id) + join64(t.word(W_SB_HI), t.word(W_SB_LO)),
        prot: t.word(W_PROT),
        pinned: this.doms.length > 0,
      };
      const key = info.iova;
      yield info;
      // Re-find our place: the caller may have looked at other things meanwhile.
      split64(key);
      ok = t.seekLE(u64.hi, u64.lo) && t.next();
    }
  }

  /**
   * Every area's pages id and page index range [first, last] within those pages, ascending
   * by IOVA (for invariant checks: a pages object's pinned pages are the union of these
   * ranges over the IOASes that have a domain).
   */
  pinRanges(): { pagesId: number; first: number; last: number }[] {
    const out: { pagesId: number; first: number; last: number }[] = [];
    const t = this.tree;
    if (!t.first()) return out;
    do {
      const sb = join64(t.word(W_SB_HI), t.word(W_SB_LO));
      out.push({
        pagesId: t.word(W_PAGES),
        first: Number(sb / PAGE_SIZE),
        last: Number((sb + this.curLength() - 1n) / PAGE_SIZE),
      });
    } while (t.next());
    return out;
  }

  /** Verify internal invariants (for tests). Throws on a violation. */
  check(): void {
    this.tree.check();
    const t = this.tree;
    if (!t.first()) return;
    do {
      const s = join64(t.sHi, t.sLo);
      const l = join64(t.lHi, t.lLo);
      if (this.reserved.intersects(s, l)) throw new Error(`area ${s}-${l} is reserved`);
      if (!this.store.alive(t.word(W_PAGES))) throw new Error("area with freed pages");
    } while (t.next());
  }

  /** Unmap and unpin everything; forget domains, reserved and allowed ranges. */
  destroy(): void {
    this.locks.clear();
    this.accessAligns.clear();
    this.unmapAll();
    this.doms.length = 0;
    this.reserved.clear();
    this.allowed = new RangeSet();
    this.disabled = false;
    this.setAlign(1n);
  }
}

// ---- allocation arithmetic -------------------------------------------------------------------

interface Fit {
  align: bigint;
  pageOffset: bigint;
  length: bigint;
  /** The ALIGN()-overflow-checked variant (__alloc_iova_check_range) vs the older one. */
  checked: boolean;
}

/** Index of the page holding byte (hi, lo) of a pages object. */
function pageIndex(hi: number, lo: number): number {
  return hi * (TWO32 / PAGE) + Math.floor(lo / PAGE);
}

/** Index of the page holding the last byte of [start, start + length). */
function lastPageIndex(sh: number, sl: number, lh: number, ll: number): number {
  dec64(lh, ll);
  add64(sh, sl, r64.hi, r64.lo);
  return pageIndex(r64.hi, r64.lo);
}

/** EINVAL when a driver that refuses a prot without read and write is involved. */
function protError(prot: number, rejects: boolean): number {
  if ((prot & (IOMMU_READ | IOMMU_WRITE)) !== 0 || !rejects) return 0;
  return E.EINVAL;
}

/** Where in hole [hs, hl] an aligned block fits, or -1. Two kernel variants (see Fit). */
function fitHole(hs: bigint, hl: bigint, f: Fit): bigint {
  const lastOff = f.length - 1n;
  const mask = f.align - 1n;
  if (f.checked) {
    const up = hs + mask;
    if (up > U64_MAX) return -1n;
    const a = (up & ~mask) | f.pageOffset;
    if (a >= hl || hl - a < lastOff) return -1n;
    return a;
  }
  if (hl - hs < lastOff) return -1n;
  const a = (((hs + mask) & U64_MAX) & ~mask) | f.pageOffset;
  if (a > hl || hl - a < lastOff) return -1n;
  return a;
}

/** roundup_pow_of_two for 1 <= x < 2^63. */
function roundupPow2(x: bigint): bigint {
  if (x <= 1n) return 1n;
  split64(x - 1n);
  const bits = u64.hi !== 0 ? 64 - Math.clz32(u64.hi) : 32 - Math.clz32(u64.lo);
  return 1n << BigInt(bits);
}

function maxBig(a: bigint, b: bigint): bigint {
  return a > b ? a : b;
}

function minBig(a: bigint, b: bigint): bigint {
  return a < b ? a : b;
}
