/**
 * The user mappings of a legacy type1 container (`struct vfio_dma` and the container's
 * `dma_list`): each MAP_DMA makes one record that lives until an UNMAP_DMA removes it whole
 * (type1 never splits a mapping). The list keeps them ordered by IOVA in blocks of a few
 * hundred records, so that finding, inserting and removing one stay cheap at the
 * `dma_entry_limit` a user may raise into the millions.
 *
 * @module
 */

/** One user mapping (`struct vfio_dma`). */
export interface VfioDma {
  /** First IOVA. */
  readonly iova: bigint;
  /** Bytes mapped. */
  readonly size: bigint;
  /** User address backing the first byte (changes with a VADDR update). */
  vaddr: bigint;
  /** IOMMU_READ (1) | IOMMU_WRITE (2). */
  readonly prot: number;
  /** `iommu_mapped`: the pages are pinned and mapped into the domains. */
  pinned: boolean;
  /** Pages charged to the process's locked memory for this mapping. */
  lockedPages: number;
  /** VFIO_DMA_UNMAP_FLAG_VADDR invalidated the user address; a VADDR map restores it. */
  vaddrInvalid: boolean;
}

const BLOCK_MAX = 512;
const BLOCK_SPLIT = 256;

/** A position in the list: block and index. */
export interface DmaCursor {
  b: number;
  i: number;
}

/** The container's mappings, ordered by IOVA (equal IOVAs keep the newest first). */
export class DmaList {
  #blocks: VfioDma[][] = [];
  #count = 0;

  /** Number of mappings. */
  get size(): number {
    return this.#count;
  }

  /** Drop every mapping. */
  clear(): void {
    this.#blocks = [];
    this.#count = 0;
  }

  /** Every mapping, in IOVA order. */
  *[Symbol.iterator](): IterableIterator<VfioDma> {
    for (const b of this.#blocks) yield* b;
  }

  /** The mapping at a cursor (undefined past the end). */
  at(c: DmaCursor): VfioDma | undefined {
    return this.#blocks[c.b]?.[c.i];
  }

  /** Move a cursor to the next mapping (`rb_next`); false past the end. */
  next(c: DmaCursor): boolean {
    const blk = this.#blocks[c.b];
    if (blk === undefined) return false;
    if (++c.i < blk.length) return true;
    c.b++;
    c.i = 0;
    return c.b < this.#blocks.length;
  }

  /**
   * The first mapping whose last byte is at or after `x` (a cursor), or undefined when every
   * mapping ends before `x`. Mappings are disjoint, so their ends are ordered like their starts.
   */
  firstEndingFrom(x: bigint): DmaCursor | undefined {
    const bs = this.#blocks;
    let lo = 0, hi = bs.length;
    while (lo < hi) {
      const mid = (lo + hi) >>> 1;
      const blk = bs[mid];
      const last = blk[blk.length - 1];
      if (last.iova + last.size - 1n < x) lo = mid + 1;
      else hi = mid;
    }
    if (lo === bs.length) return undefined;
    const blk = bs[lo];
    let a = 0, z = blk.length;
    while (a < z) {
      const m = (a + z) >>> 1;
      if (blk[m].iova + blk[m].size - 1n < x) a = m + 1;
      else z = m;
    }
    return { b: lo, i: a };
  }

  /** A mapping overlapping [start, last] (the lowest one), or undefined. */
  findOverlap(start: bigint, last: bigint): VfioDma | undefined {
    const c = this.firstEndingFrom(start);
    if (c === undefined) return undefined;
    const d = this.at(c)!;
    return d.iova <= last ? d : undefined;
  }

  /** Insert `d` before every mapping whose IOVA is not smaller (`vfio_link_dma`). */
  insert(d: VfioDma): void {
    const bs = this.#blocks;
    this.#count++;
    if (bs.length === 0) {
      bs.push([d]);
      return;
    }
    // The block holding the first entry with iova >= d.iova (or the last block).
    let lo = 0, hi = bs.length - 1;
    while (lo < hi) {
      const mid = (lo + hi) >>> 1;
      const blk = bs[mid];
      if (blk[blk.length - 1].iova < d.iova) lo = mid + 1;
      else hi = mid;
    }
    const blk = bs[lo];
    let a = 0, z = blk.length;
    while (a < z) {
      const m = (a + z) >>> 1;
      if (blk[m].iova < d.iova) a = m + 1;
      else z = m;
    }
    blk.splice(a, 0, d);
    if (blk.length > BLOCK_MAX) bs.splice(lo + 1, 0, blk.splice(BLOCK_SPLIT));
  }

  /** Remove `d` (by identity); false when it is not in the list. */
  remove(d: VfioDma): boolean {
    const bs = this.#blocks;
    let lo = 0, hi = bs.length;
    while (lo < hi) {
      const mid = (lo + hi) >>> 1;
      const blk = bs[mid];
      if (blk[blk.length - 1].iova < d.iova) lo = mid + 1;
      else hi = mid;
    }
    for (let b = lo; b < bs.length; b++) {
      const blk = bs[b];
      if (blk[0].iova > d.iova) return false;
      const i = blk.indexOf(d);
      if (i < 0) continue;
      blk.splice(i, 1);
      if (blk.length === 0) bs.splice(b, 1);
      this.#count--;
      return true;
    }
    return false;
  }
}
