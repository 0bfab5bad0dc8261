/**
 * The kernel's `iopt_pages` and RLIMIT_MEMLOCK accounting (drivers/iommu/iommufd/pages.c).
 *
 * An iopt_pages is a slice of user memory `[uptr, uptr + length)` seen as an array of
 * PAGE_SIZE pages (index 0 is the page holding `uptr`). Areas of one or more IOASes take
 * sub-slices of it. Pages are pinned lazily: a page is pinned once, however many areas and
 * domains use it, while at least one area over it is loaded into a domain; pins are charged
 * to the locked-memory counter chosen by the pages' account mode when they are taken, and
 * released when the last user goes.
 *
 * Storage is struct-of-arrays in one Float64Array (no object per pages) so that a million
 * single-area mappings stay cheap. A pages object used by a single range keeps that range
 * inline; only shared or partially released pages get an {@link IntervalTree} of
 * (page range → user count).
 *
 * @module
 */

import { E, PAGE_SIZE } from "../uapi/mod.ts";
import { IntervalTree, join64, split64, u64 } from "./interval_tree.ts";
import type { UserMemory } from "./user_memory.ts";

/** IOPT_PAGES_ACCOUNT_NONE / USER / MM. */
export type AccountMode = "none" | "user" | "mm";

const MODE_NONE = 0;
const MODE_USER = 1;
const MODE_MM = 2;
const MODE_NAMES: readonly AccountMode[] = ["none", "user", "mm"];

/** The number the store keeps for an account mode. */
export function modeIndex(mode: AccountMode): number {
  return mode === "user" ? MODE_USER : mode === "mm" ? MODE_MM : MODE_NONE;
}

const TWO32 = 4294967296;
const PAGE = Number(PAGE_SIZE);

/** Linux's default RLIMIT_MEMLOCK (8 MiB since 5.16). */
export const DEFAULT_MEMLOCK_LIMIT = 8n * 1024n * 1024n;

/** Options of {@link PinAccounting}. */
export interface PinAccountingOptions {
  /** RLIMIT_MEMLOCK in bytes; `2n ** 64n - 1n` is unlimited. */
  memlockLimit?: bigint;
  /** CAP_IPC_LOCK: new pages objects are not accounted. Default true (root). */
  privileged?: boolean;
}

/**
 * Locked-memory accounting of one simulated machine (one process, one user): the per-user
 * counter charged by USER mode (`user->locked_vm`), the per-process one charged by MM mode
 * (`mm->locked_vm`), the RLIMIT_MEMLOCK both are checked against, and every iopt_pages.
 */
export class PinAccounting {
  /** RLIMIT_MEMLOCK in bytes. */
  memlockLimit: bigint;
  /** CAP_IPC_LOCK: pages objects are created with account mode "none". */
  privileged: boolean;
  /** Every iopt_pages of this machine. */
  readonly pages: PagesStore;
  private locked = [0, 0, 0];

  constructor(opts: PinAccountingOptions = {}) {
    this.memlockLimit = opts.memlockLimit ?? DEFAULT_MEMLOCK_LIMIT;
    this.privileged = opts.privileged ?? true;
    this.pages = new PagesStore(this);
  }

  /** Bytes currently charged to the per-user ("user") or per-process ("mm") counter. */
  lockedBytes(mode: "user" | "mm"): bigint {
    return BigInt(this.lockedPages(mode)) * PAGE_SIZE;
  }

  /** Pages currently charged to a counter. */
  lockedPages(mode: "user" | "mm"): number {
    return this.locked[mode === "user" ? MODE_USER : MODE_MM];
  }

  /** The account mode a new pages object gets when the context's mode is `ctxMode`. */
  modeFor(ctxMode: AccountMode): AccountMode {
    if (this.privileged) return "none";
    return ctxMode;
  }

  /**
   * Charge n pages: ENOMEM when the counter would exceed RLIMIT_MEMLOCK >> PAGE_SHIFT (both
   * incr_user_locked_vm and __account_locked_vm compare the new total with the limit).
   */
  charge(mode: number, n: number): number {
    if (mode === MODE_NONE || n === 0) return 0;
    const next = this.locked[mode] + n;
    if (next > this.limitPages()) return E.ENOMEM;
    this.locked[mode] = next;
    return 0;
  }

  private cachedLimit = -1n;
  private cachedPages = 0;

  /** RLIMIT_MEMLOCK >> PAGE_SHIFT as a number (Infinity beyond 2^53). */
  private limitPages(): number {
    if (this.memlockLimit !== this.cachedLimit) {
      const p = this.memlockLimit >> 12n;
      this.cachedPages = p > 0x1f_ffff_ffff_ffffn ? Infinity : Number(p);
      this.cachedLimit = this.memlockLimit;
    }
    return this.cachedPages;
  }

  /** mlock(2)'s limit check: may `need` more pages join mm->locked_vm? (CAP_IPC_LOCK: yes.) */
  mlockFits(need: number): boolean {
    return this.privileged || this.locked[MODE_MM] + need <= this.limitPages();
  }

  /** Pages mlock(2) locked join mm->locked_vm, past the limit or not (it was checked). */
  addMlocked(n: number): void {
    this.locked[MODE_MM] += n;
  }

  /** Release n charged pages. */
  uncharge(mode: number, n: number): void {
    if (mode === MODE_NONE) return;
    this.locked[mode] -= n;
  }
}

/** Total pinned PAGE_SIZE pages across every pages object of the machine. */
export function pinnedPages(accounting: PinAccounting): bigint {
  return BigInt(accounting.pages.totalPinned);
}

/**
 * What a file-backed iopt_pages (IOMMU_IOAS_MAP_FILE) needs from its file: the pages hold a
 * file reference (`get_file`) for as long as they live, and pin through memfd_pin_folios.
 */
export interface FileBacking {
  /** shmem or hugetlbfs, the only files memfd_pin_folios accepts (others: EINVAL). */
  readonly pinnable: boolean;
  /** i_size in bytes: a page at or past it cannot be pinned (shmem_get_folio: EINVAL). */
  fileSize(): bigint;
  /** `get_file`. */
  get(): void;
  /** `fput`. */
  put(): void;
}

// Float64 fields per pages object (48 bytes).
const F_PAGE = 0; // page number (address / PAGE_SIZE) of the first page: exact below 2^53
const F_NPAGES = 1;
const F_META = 2; // bit0 writable, bits1-2 mode, bit3 alive, bits4-5 pin state (COV_*)
const F_KREF = 3;
const F_FIRST = 4; // the single pinned range, in COV_ONE state
const F_LAST = 5;
const FIELDS = 6;

const ALIVE = 8;
const COV_NONE = 0; // nothing pinned
const COV_ONE = 1; // pages F_FIRST..F_LAST pinned by one user
const COV_TREE = 2; // see the trees map
const PAGES_PER_4G = TWO32 / PAGE;

/**
 * Every iopt_pages of a machine, addressed by small integer ids (reused after free).
 * Ranges are page indexes, inclusive, relative to the pages' first page.
 */
export class PagesStore {
  private f = new Float64Array(FIELDS * 64);
  private freeIds: number[] = [];
  private nextId = 0;
  private live = 0;
  private trees = new Map<number, IntervalTree>();
  /** Sum of pinned pages over all pages objects. */
  totalPinned = 0;
  /** Pages newly pinned by the last successful {@link pin}. */
  newlyPinned = 0;
  /** The file behind each file-backed pages object. */
  private files = new Map<number, FileBacking>();
  /** File references dropped by freed pages, released at the end of the system call. */
  private deferredPuts: FileBacking[] = [];

  constructor(private readonly accounting: PinAccounting) {}

  /** Number of live pages objects. */
  get count(): number {
    return this.live;
  }

  /**
   * Create a pages object over [uptr, uptr + length) (validated by the caller) holding one
   * reference. `uptr` is rounded down to its page, as the kernel does.
   */
  alloc(uptr: bigint, length: bigint, writable: boolean, mode: AccountMode): number {
    split64(uptr);
    const uh = u64.hi, ul = u64.lo;
    split64(length);
    return this.alloc64(uh, ul, u64.hi, u64.lo, writable, modeIndex(mode));
  }

  /** {@link alloc} on hi/lo halves (uptr + length must not pass 2^64), mode from modeIndex. */
  alloc64(uh: number, ul: number, lh: number, ll: number, writable: boolean, mode: number): number {
    const id = this.freeIds.length > 0 ? this.freeIds.pop()! : this.nextId++;
    if ((id + 1) * FIELDS > this.f.length) {
      const f = new Float64Array(this.f.length * 2);
      f.set(this.f);
      this.f = f;
    }
    const off = ul % PAGE;
    const b = id * FIELDS;
    const f = this.f;
    f[b + F_PAGE] = uh * PAGES_PER_4G + (ul - off) / PAGE;
    // ceil((length + off) / PAGE): the hi half is a whole number of pages.
    f[b + F_NPAGES] = lh * PAGES_PER_4G + Math.floor((ll + off + PAGE - 1) / PAGE);
    f[b + F_META] = (writable ? 1 : 0) | (mode << 1) | ALIVE | (COV_NONE << 4);
    f[b + F_KREF] = 1;
    this.live++;
    return id;
  }

  /**
   * `iopt_alloc_file_pages`: pages over bytes [start, start + length) of `file` (validated by
   * the caller), holding one reference and a reference on the file.
   */
  allocFile(
    start: bigint,
    length: bigint,
    writable: boolean,
    mode: AccountMode,
    file: FileBacking,
  ): number {
    const id = this.alloc(start, length, writable, mode);
    file.get();
    this.files.set(id, file);
    return id;
  }

  /** Whether pages `id` come from a file (IOPT_ADDRESS_FILE) rather than user memory. */
  isFile(id: number): boolean {
    return this.files.has(id);
  }

  /**
   * Release the file references of pages freed since the last call: like the kernel's
   * deferred fput, a file's release never runs inside the ioctl that dropped it.
   */
  flushDeferred(): void {
    while (this.deferredPuts.length > 0) this.deferredPuts.pop()!.put();
  }

  /** Is id a live pages object? */
  alive(id: number): boolean {
    return id >= 0 && id < this.nextId && (this.f[id * FIELDS + F_META] & ALIVE) !== 0;
  }

  /** Take a reference. */
  get(id: number): void {
    this.f[id * FIELDS + F_KREF]++;
  }

  /** Drop a reference; the last one frees the object (it must hold no pins by then). */
  put(id: number): void {
    const b = id * FIELDS;
    if (--this.f[b + F_KREF] > 0) return;
    if (this.cov(id) !== COV_NONE) throw new Error(`iopt_pages ${id} freed while pinned`);
    this.f[b + F_META] = 0;
    this.freeIds.push(id);
    this.live--;
    const file = this.files.get(id);
    if (file !== undefined) {
      this.files.delete(id);
      this.deferredPuts.push(file);
    }
  }

  /** Reference count (for tests). */
  refs(id: number): number {
    return this.f[id * FIELDS + F_KREF];
  }

  /** Page-aligned start address. */
  uptr(id: number): bigint {
    const page = this.f[id * FIELDS + F_PAGE];
    const hi = Math.floor(page / PAGES_PER_4G);
    return join64(hi, (page - hi * PAGES_PER_4G) * PAGE);
  }

  /** Number of PAGE_SIZE pages. */
  npages(id: number): number {
    return this.f[id * FIELDS + F_NPAGES];
  }

  /** Pinned with FOLL_WRITE: may back a writable area. */
  writable(id: number): boolean {
    return (this.f[id * FIELDS + F_META] & 1) !== 0;
  }

  /** Account mode of the pages object. */
  mode(id: number): AccountMode {
    return MODE_NAMES[(this.f[id * FIELDS + F_META] >> 1) & 3];
  }

  /** Pages of this object pinned now (npinned). */
  npinned(id: number): number {
    const b = id * FIELDS;
    const cov = this.cov(id);
    if (cov === COV_NONE) return 0;
    if (cov === COV_ONE) return this.f[b + F_LAST] - this.f[b + F_FIRST] + 1;
    return this.treePinned(this.trees.get(id)!);
  }

  private cov(id: number): number {
    return (this.f[id * FIELDS + F_META] >> 4) & 3;
  }

  private setCov(id: number, cov: number): void {
    const b = id * FIELDS + F_META;
    this.f[b] = (this.f[b] & 15) | (cov << 4);
  }

  /**
   * Add one user of pages [first, last]: pages that had no user are pinned, which needs
   * them mapped in `memory` (else EFAULT and nothing changes). On success
   * {@link newlyPinned} holds how many were pinned; the caller charges them.
   */
  pin(id: number, first: number, last: number, memory: UserMemory): number {
    const b = id * FIELDS;
    const f = this.f;
    const cov = this.cov(id);
    if (cov === COV_NONE) {
      const e = this.pinError(id, first, last, memory);
      if (e !== 0) return e;
      this.setCov(id, COV_ONE);
      f[b + F_FIRST] = first;
      f[b + F_LAST] = last;
      return this.pinned(last - first + 1);
    }
    const tree = cov === COV_ONE ? this.toTree(id) : this.trees.get(id)!;
    const holes = uncovered(tree, first, last);
    for (let i = 0; i < holes.length; i += 2) {
      const e = this.pinError(id, holes[i], holes[i + 1], memory);
      if (e !== 0) {
        this.maybeShrink(id, tree);
        return e;
      }
    }
    addCount(tree, first, last, +1);
    let n = 0;
    for (let i = 0; i < holes.length; i += 2) n += holes[i + 1] - holes[i] + 1;
    return this.pinned(n);
  }

  /** Remove one user of pages [first, last]; returns how many pages got unpinned. */
  unpin(id: number, first: number, last: number): number {
    const b = id * FIELDS;
    const f = this.f;
    const cov = this.cov(id);
    if (cov === COV_ONE && f[b + F_FIRST] === first && f[b + F_LAST] === last) {
      this.setCov(id, COV_NONE);
      return this.unpinned(last - first + 1);
    }
    if (cov === COV_NONE) throw new Error(`iopt_pages ${id}: unpin of unpinned pages`);
    const tree = cov === COV_ONE ? this.toTree(id) : this.trees.get(id)!;
    const before = this.treePinned(tree);
    addCount(tree, first, last, -1);
    const n = before - this.treePinned(tree);
    this.maybeShrink(id, tree);
    return this.unpinned(n);
  }

  /** Charge n pages to this object's account mode (ENOMEM over RLIMIT_MEMLOCK). */
  charge(id: number, n: number): number {
    return this.accounting.charge((this.f[id * FIELDS + F_META] >> 1) & 3, n);
  }

  /** Release n charged pages of this object's account mode. */
  uncharge(id: number, n: number): void {
    this.accounting.uncharge((this.f[id * FIELDS + F_META] >> 1) & 3, n);
  }

  /** Sum of npinned over live objects, recomputed (for invariant checks). */
  recountPinned(): number {
    let n = 0;
    for (let id = 0; id < this.nextId; id++) if (this.alive(id)) n += this.npinned(id);
    return n;
  }

  /** Pinned pages per account mode, recomputed (for invariant checks). */
  recountByMode(): Record<AccountMode, number> {
    const out = { none: 0, user: 0, mm: 0 };
    for (let id = 0; id < this.nextId; id++) {
      if (this.alive(id)) out[this.mode(id)] += this.npinned(id);
    }
    return out;
  }

  private pinned(n: number): number {
    this.newlyPinned = n;
    this.totalPinned += n;
    return 0;
  }

  private unpinned(n: number): number {
    this.totalPinned -= n;
    return n;
  }

  /** Page number (address / PAGE_SIZE) of the object's first page. */
  firstPageNumber(id: number): number {
    return this.f[id * FIELDS + F_PAGE];
  }

  /**
   * Why pages [first, last] cannot be pinned now, or 0: user pages must be mapped (EFAULT);
   * file pages must come from shmem/hugetlbfs and lie below i_size (EINVAL).
   */
  private pinError(id: number, first: number, last: number, memory: UserMemory): number {
    const file = this.files.get(id);
    if (file === undefined) {
      // pin_user_pages: mapped, and not VM_IO/VM_PFNMAP device memory (check_vma_flags).
      return memory.isPinnablePages(this.firstPageNumber(id) + first, last - first + 1)
        ? 0
        : E.EFAULT;
    }
    if (!file.pinnable) return E.EINVAL;
    const lastByte = BigInt(this.firstPageNumber(id) + last) * PAGE_SIZE;
    return lastByte >= file.fileSize() ? E.EINVAL : 0;
  }

  /** Move the inline single range into a tree. */
  private toTree(id: number): IntervalTree {
    const b = id * FIELDS;
    // Usually a handful of ranges, and there may be one tree per pages object: small leaves.
    const tree = new IntervalTree({ payload: 1, leafSize: 8 });
    if (this.cov(id) === COV_ONE) treeInsert(tree, this.f[b + F_FIRST], this.f[b + F_LAST], 1);
    this.setCov(id, COV_TREE);
    this.trees.set(id, tree);
    return tree;
  }

  /** Go back to the inline form when the tree holds nothing or one range used once. */
  private maybeShrink(id: number, tree: IntervalTree): void {
    const b = id * FIELDS;
    if (tree.size > 1) return;
    if (tree.size === 1) {
      tree.first();
      if (tree.word(0) !== 1) return;
      this.f[b + F_FIRST] = idx(tree.sHi, tree.sLo);
      this.f[b + F_LAST] = idx(tree.lHi, tree.lLo);
      this.setCov(id, COV_ONE);
    } else {
      this.setCov(id, COV_NONE);
    }
    this.trees.delete(id);
  }

  private treePinned(tree: IntervalTree): number {
    let n = 0;
    if (tree.first()) {
      do n += idx(tree.lHi, tree.lLo) - idx(tree.sHi, tree.sLo) + 1; while (tree.next());
    }
    return n;
  }
}

// ---- page-range trees: disjoint ranges of page indexes with a user count ----------------

function idx(hi: number, lo: number): number {
  return hi * TWO32 + lo;
}

function treeInsert(tree: IntervalTree, first: number, last: number, count: number): void {
  const fh = Math.floor(first / TWO32);
  const lh = Math.floor(last / TWO32);
  tree.insert(fh, first - fh * TWO32, lh, last - lh * TWO32, count);
}

function seekOverlap(tree: IntervalTree, first: number, last: number): boolean {
  const fh = Math.floor(first / TWO32);
  const lh = Math.floor(last / TWO32);
  return tree.firstOverlap(fh, first - fh * TWO32, lh, last - lh * TWO32);
}

/** Sub-ranges of [first, last] without any user, as flat [a0, b0, a1, b1, ...]. */
function uncovered(tree: IntervalTree, first: number, last: number): number[] {
  const out: number[] = [];
  let cur = first;
  if (seekOverlap(tree, first, last)) {
    do {
      const s = idx(tree.sHi, tree.sLo);
      if (s > last) break;
      if (s > cur) out.push(cur, s - 1);
      cur = idx(tree.lHi, tree.lLo) + 1;
    } while (cur <= last && tree.next());
  }
  if (cur <= last) out.push(cur, last);
  return out;
}

/** Add delta to the user count of every page in [first, last]; zero counts disappear. */
function addCount(tree: IntervalTree, first: number, last: number, delta: number): void {
  // Collect the overlapping ranges first: the tree is edited afterwards.
  const old: number[] = [];
  if (seekOverlap(tree, first, last)) {
    do {
      const s = idx(tree.sHi, tree.sLo);
      if (s > last) break;
      old.push(s, idx(tree.lHi, tree.lLo), tree.word(0));
    } while (tree.next());
  }
  for (let i = 0; i < old.length; i += 3) {
    const s = old[i];
    const h = Math.floor(s / TWO32);
    tree.remove(h, s - h * TWO32);
  }
  let cur = first;
  for (let i = 0; i < old.length; i += 3) {
    const s = old[i], l = old[i + 1], c = old[i + 2];
    if (s < first) treeInsert(tree, s, first - 1, c);
    if (s > cur) {
      if (delta < 0) throw new Error("unpin of pages that are not pinned");
      treeInsert(tree, cur, s - 1, delta);
    }
    const a = Math.max(s, first);
    const z = Math.min(l, last);
    if (c + delta > 0) treeInsert(tree, a, z, c + delta);
    if (l > last) treeInsert(tree, last + 1, l, c);
    cur = z + 1;
  }
  if (cur <= last) {
    if (delta < 0) throw new Error("unpin of pages that are not pinned");
    treeInsert(tree, cur, last, delta);
  }
}

/** Page index range [first, last] of bytes [startByte, startByte + length) of a pages object. */
export function pageRange(startByte: bigint, length: bigint): { first: number; last: number } {
  return {
    first: Number(startByte / PAGE_SIZE),
    last: Number((startByte + length - 1n) / PAGE_SIZE),
  };
}

/** Page size as a number, for index arithmetic. */
export const PAGE_BYTES = PAGE;
