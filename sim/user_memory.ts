/**
 * The simulated process address space: anonymous read/write mappings made by `mmap`, their
 * contents, and `munmap`. Addresses are deterministic so that transcripts are stable: the
 * first mapping lands at 0x7f0000000000 and each next one lands above the previous one,
 * after a one-page guard gap; addresses are never reused.
 *
 * Contents are sparse: only pages that were written hold a buffer, so mapping 1 GiB costs
 * nothing until it is touched, and unwritten bytes read as 0.
 *
 * Pinning is not tracked here: pages pinned by an iopt_pages (sim/pages.ts) stay pinned
 * after munmap, as in Linux where the pin keeps the page alive; only new pins need the range
 * to be mapped.
 *
 * A mapping may also be a file's (`mmapFile`): a VFIO device region mmapped through the
 * device fd. Each such mapping holds a reference on its file, as a VMA does, and a device
 * BAR is VM_IO | VM_PFNMAP: raw MMIO pfns without a struct page, which the kernel can look up
 * (vfio_iommu_type1's follow_fault_pfn) but never pin (GUP's check_vma_flags refuses the VMA).
 *
 * @module
 */

import { E, PAGE_SIZE, U64_MAX } from "../uapi/mod.ts";

/** Where the first mapping goes. */
export const MMAP_BASE = 0x7f00_0000_0000n;
/** x86_64 TASK_SIZE with 4-level paging: user addresses stay below it. */
export const TASK_SIZE = 0x7fff_ffff_f000n;

/** The file a mapping holds a reference on (`vma->vm_file`). */
export interface VmaFile {
  /** Take a reference (`get_file`). */
  get(): void;
  /** Drop a reference (`fput`). */
  put(): void;
}

/** What backs a mapping made by {@link UserMemory.mmapFile}. */
export interface VmaBacking {
  readonly file: VmaFile;
  /** VM_IO | VM_PFNMAP: device memory, never pinnable. */
  readonly pfnmap: boolean;
}

const PAGE_MASK = PAGE_SIZE - 1n;
const PAGE = Number(PAGE_SIZE);

function pageAlignUp(x: bigint): bigint {
  return (x + PAGE_MASK) & ~PAGE_MASK;
}

/** Simulated user memory of one process. */
export class UserMemory {
  /** Mapped ranges [start, end), ascending, disjoint. */
  private starts: bigint[] = [];
  private ends: bigint[] = [];
  /** The same ranges in page numbers (exact doubles), for allocation-free lookups. */
  private startPages: number[] = [];
  private endPages: number[] = [];
  /** The file behind each mapping; undefined for anonymous memory. */
  private backings: (VmaBacking | undefined)[] = [];
  /** How many mappings are a file's (none: the common case answers at once). */
  private fileVmas = 0;
  /** Page number → contents, only for pages that were written. */
  private pages = new Map<number, Uint8Array>();
  /** Pages the last {@link munmap} unlocked (mm->locked_vm shrinks by as many). */
  unlockedByUnmap = 0;
  /** Page numbers under mlock(2) (VM_LOCKED); munmap unlocks them. */
  private mlocked = new Set<number>();
  private nextAddr = MMAP_BASE;

  /**
   * mmap(2) of fresh anonymous memory. Returns the address, or -errno as a negative bigint:
   * EINVAL for length 0 (or not a size_t), ENOMEM when it does not fit below TASK_SIZE
   * (Linux answers ENOMEM, not EINVAL, for a length that is too large).
   */
  mmap(length: bigint): bigint {
    return this.place(length, undefined);
  }

  /**
   * The address-space half of mmap(2) of a file: the file's own mmap op has accepted the
   * request already. The new mapping takes a reference on `backing.file`. Errnos as
   * {@link mmap}.
   */
  mmapFile(length: bigint, backing: VmaBacking): bigint {
    const addr = this.place(length, backing);
    if (addr >= 0n) backing.file.get();
    return addr;
  }

  /** Whether a length of `length` bytes fits below TASK_SIZE (get_unmapped_area: ENOMEM). */
  fits(length: bigint): boolean {
    return this.nextAddr + pageAlignUp(length) <= TASK_SIZE;
  }

  private place(length: bigint, backing: VmaBacking | undefined): bigint {
    if (length === 0n || length < 0n || length > U64_MAX) return -BigInt(E.EINVAL);
    const len = pageAlignUp(length);
    if (len > TASK_SIZE) return -BigInt(E.ENOMEM);
    const addr = this.nextAddr;
    if (addr + len > TASK_SIZE) return -BigInt(E.ENOMEM);
    this.starts.push(addr);
    this.ends.push(addr + len);
    this.startPages.push(Number(addr / PAGE_SIZE));
    this.endPages.push(Number((addr + len) / PAGE_SIZE));
    this.backings.push(backing);
    if (backing !== undefined) this.fileVmas++;
    this.nextAddr = addr + len + PAGE_SIZE;
    return addr;
  }

  /**
   * munmap(2): 0, or -EINVAL for an unaligned address, a length of 0 or a range beyond
   * TASK_SIZE. Unmapping memory that is not mapped succeeds, as in Linux.
   */
  munmap(addr: bigint, length: bigint): number {
    if ((addr & PAGE_MASK) !== 0n || addr < 0n || addr > TASK_SIZE) return -E.EINVAL;
    if (length <= 0n || length > TASK_SIZE - addr) return -E.EINVAL;
    const end = addr + pageAlignUp(length);
    this.cutOut(addr, end);
    this.dropContents(addr, end);
    this.unlockedByUnmap = this.munlockRange(Number(addr / PAGE_SIZE), Number(end / PAGE_SIZE));
    return 0;
  }

  /**
   * mlock(2)'s VMA half: lock pages [first, first + count), which must all be mapped (else
   * undefined: ENOMEM). Pages of a VM_PFNMAP mapping are skipped, as mlock_fixup skips such
   * VMAs. Returns how many pages were newly locked (what mm->locked_vm grows by).
   */
  mlockPages(first: number, count: number): number | undefined {
    if (!this.isMappedPages(first, count)) return undefined;
    let added = 0;
    for (let p = first; p < first + count; p++) {
      if (this.mlocked.has(p) || this.isPfnmap(BigInt(p) * PAGE_SIZE)) continue;
      this.mlocked.add(p);
      added++;
    }
    return added;
  }

  /** Unlock pages [first, end); how many were locked. Walks the smaller of range and set. */
  private munlockRange(first: number, end: number): number {
    if (this.mlocked.size === 0) return 0;
    let n = 0;
    if (end - first > this.mlocked.size) {
      for (const p of [...this.mlocked]) {
        if (p >= first && p < end && this.mlocked.delete(p)) n++;
      }
    } else {
      for (let p = first; p < end; p++) if (this.mlocked.delete(p)) n++;
    }
    return n;
  }

  /** How many of pages [first, first + count) are locked (count_mm_mlocked_page_nr). */
  mlockedPages(first: number, count: number): number {
    if (this.mlocked.size === 0) return 0;
    let n = 0;
    // Walk the smaller of the range and the set: a range may be most of the address space.
    if (count > this.mlocked.size) {
      for (const p of this.mlocked) if (p >= first && p < first + count) n++;
    } else {
      for (let p = first; p < first + count; p++) if (this.mlocked.has(p)) n++;
    }
    return n;
  }

  /** munmap everything (a process exiting): every file's mapping drops its reference. */
  unmapAll(): void {
    this.cutOut(0n, 1n << 64n);
    this.pages.clear();
  }

  /** Is every byte of [addr, addr + length) mapped? (A zero length is trivially mapped.) */
  isMapped(addr: bigint, length: bigint): boolean {
    if (length <= 0n) return length === 0n;
    const i = this.vmaIndex(addr);
    return i >= 0 && addr + length <= this.ends[i];
  }

  /** Are pages [firstPage, firstPage + count) (page numbers: address / PAGE_SIZE) mapped? */
  isMappedPages(firstPage: number, count: number): boolean {
    const i = this.vmaIndexOfPage(firstPage);
    return i >= 0 && firstPage + count <= this.endPages[i];
  }

  /**
   * Can pin_user_pages pin pages [firstPage, firstPage + count)? They must be mapped, and not
   * in a VM_IO / VM_PFNMAP mapping (check_vma_flags: EFAULT for those).
   */
  isPinnablePages(firstPage: number, count: number): boolean {
    const i = this.vmaIndexOfPage(firstPage);
    if (i < 0 || firstPage + count > this.endPages[i]) return false;
    const b = this.backings[i];
    return b === undefined || !b.pfnmap;
  }

  /** Does the mapping holding `addr` have VM_PFNMAP (device memory)? */
  isPfnmap(addr: bigint): boolean {
    const i = this.vmaIndex(addr);
    return i >= 0 && this.backings[i]?.pfnmap === true;
  }

  /** Does any byte of [addr, addr + length) lie in a file's mapping? */
  touchesFile(addr: bigint, length: bigint): boolean {
    if (this.fileVmas === 0 || length <= 0n) return false;
    const end = addr + length;
    // From the last mapping starting at or below addr, every one starting before end.
    let i = this.floorIndex(addr);
    if (i < 0) i = 0;
    for (; i < this.starts.length && this.starts[i] < end; i++) {
      if (this.backings[i] !== undefined && addr < this.ends[i]) return true;
    }
    return false;
  }

  /** Index of the mapping containing page `page`, or -1. */
  private vmaIndexOfPage(page: number): number {
    const i = floorOf(this.startPages, page);
    return i >= 0 && page < this.endPages[i] ? i : -1;
  }

  /** Copy memory at addr into `into`. 0, or -EFAULT if any byte is unmapped. */
  read(addr: bigint, into: Uint8Array): number {
    if (!this.isMapped(addr, BigInt(into.length))) return -E.EFAULT;
    this.copy(addr, into, false);
    return 0;
  }

  /** Copy `bytes` into memory at addr. 0, or -EFAULT if any byte is unmapped. */
  write(addr: bigint, bytes: Uint8Array): number {
    if (!this.isMapped(addr, BigInt(bytes.length))) return -E.EFAULT;
    this.copy(addr, bytes, true);
    return 0;
  }

  /** The mapped ranges, ascending (for display and tests). */
  mappings(): { start: bigint; end: bigint }[] {
    return this.starts.map((start, i) => ({ start, end: this.ends[i] }));
  }

  /** Number of pages that hold written contents (sparse storage, for tests). */
  residentPages(): number {
    return this.pages.size;
  }

  /** Index of the last mapping starting at or below addr, or -1. */
  private floorIndex(addr: bigint): number {
    return floorOf(this.starts, addr);
  }

  /** Index of the mapping containing addr, or -1. */
  private vmaIndex(addr: bigint): number {
    const i = floorOf(this.starts, addr);
    return i >= 0 && addr < this.ends[i] ? i : -1;
  }

  /**
   * Remove [addr, end) from the mapped ranges, splitting a mapping if needed. A file's
   * mapping split in two holds one more reference; one removed whole drops its reference,
   * after the ranges are updated (the last one may release the file).
   */
  private cutOut(addr: bigint, end: bigint): void {
    // The mappings [i, j) intersect [addr, end); the others keep their places, so a munmap
    // costs a binary search and one splice, not a rebuild of every mapping.
    let i = this.floorIndex(addr);
    if (i < 0 || this.ends[i] <= addr) i++;
    let j = i;
    while (j < this.starts.length && this.starts[j] < end) j++;
    if (i === j) return;
    const starts: bigint[] = [];
    const ends: bigint[] = [];
    const backings: (VmaBacking | undefined)[] = [];
    const dropped: VmaFile[] = [];
    let fileDelta = 0;
    for (let k = i; k < j; k++) {
      const s = this.starts[k];
      const e = this.ends[k];
      const b = this.backings[k];
      if (b !== undefined) fileDelta--;
      if (s < addr) {
        starts.push(s);
        ends.push(addr);
        backings.push(b);
        if (b !== undefined) fileDelta++;
      }
      if (e > end) {
        starts.push(end);
        ends.push(e);
        backings.push(b);
        if (b !== undefined) fileDelta++;
        if (s < addr) b?.file.get();
      }
      if (b !== undefined && s >= addr && e <= end) dropped.push(b.file);
    }
    this.starts.splice(i, j - i, ...starts);
    this.ends.splice(i, j - i, ...ends);
    this.backings.splice(i, j - i, ...backings);
    this.startPages.splice(i, j - i, ...starts.map((x) => Number(x / PAGE_SIZE)));
    this.endPages.splice(i, j - i, ...ends.map((x) => Number(x / PAGE_SIZE)));
    this.fileVmas += fileDelta;
    for (const f of dropped) f.put();
  }

  private dropContents(addr: bigint, end: bigint): void {
    const first = Number(addr / PAGE_SIZE);
    const last = Number((end - 1n) / PAGE_SIZE);
    if (last - first + 1 > this.pages.size) {
      for (const k of [...this.pages.keys()]) if (k >= first && k <= last) this.pages.delete(k);
      return;
    }
    for (let p = first; p <= last; p++) this.pages.delete(p);
  }

  private copy(addr: bigint, buf: Uint8Array, toMemory: boolean): void {
    let page = Number(addr / PAGE_SIZE);
    let off = Number(addr % PAGE_SIZE);
    let done = 0;
    while (done < buf.length) {
      const n = Math.min(PAGE - off, buf.length - done);
      let data = this.pages.get(page);
      if (toMemory) {
        if (!data) {
          data = new Uint8Array(PAGE);
          this.pages.set(page, data);
        }
        data.set(buf.subarray(done, done + n), off);
      } else if (data) {
        buf.set(data.subarray(off, off + n), done);
      } else {
        buf.fill(0, done, done + n);
      }
      done += n;
      off = 0;
      page++;
    }
  }
}

/** Index of the last element of ascending `s` that is at most `x`, or -1. */
function floorOf<T extends number | bigint>(s: readonly T[], x: T): number {
  let l = 0;
  let h = s.length;
  while (l < h) {
    const m = (l + h) >> 1;
    if (s[m] <= x) l = m + 1;
    else h = m;
  }
  return l - 1;
}
