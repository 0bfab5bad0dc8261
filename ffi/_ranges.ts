/**
 * The set of address ranges this backend mapped and has not unmapped, kept sorted and
 * coalesced so that "is every byte of [addr, addr+len) ours?" is one binary search.
 *
 * @module
 */

/** A sorted set of disjoint, non-adjacent half-open ranges `[start, end)` of addresses. */
export class RangeSet {
  // Parallel arrays: starts[i] < ends[i] < starts[i+1] (adjacent ranges are merged).
  #starts: bigint[] = [];
  #ends: bigint[] = [];

  /** Number of disjoint ranges held. */
  get size(): number {
    return this.#starts.length;
  }

  /** The ranges, in address order, as `[start, end)` pairs (for tests and reports). */
  ranges(): Array<[bigint, bigint]> {
    return this.#starts.map((s, i) => [s, this.#ends[i]]);
  }

  /** Index of the last range whose start is ≤ `addr`, or -1. */
  #floor(addr: bigint): number {
    let lo = 0, hi = this.#starts.length - 1, found = -1;
    while (lo <= hi) {
      const mid = (lo + hi) >>> 1;
      if (this.#starts[mid] <= addr) {
        found = mid;
        lo = mid + 1;
      } else {
        hi = mid - 1;
      }
    }
    return found;
  }

  /**
   * How many bytes from `addr` to the end of the range holding it (0n when `addr` is in no
   * range). Adjacent mappings are merged, so this spans them.
   */
  remainingAt(addr: bigint): bigint {
    const i = this.#floor(addr);
    if (i < 0 || addr >= this.#ends[i]) return 0n;
    return this.#ends[i] - addr;
  }

  /** Whether every byte of `[addr, addr + length)` lies in the set; an empty range is covered. */
  covers(addr: bigint, length: bigint): boolean {
    if (length <= 0n) return length === 0n;
    return this.remainingAt(addr) >= length;
  }

  /** Add `[start, end)`, merging it with any range it overlaps or touches. */
  add(start: bigint, end: bigint): void {
    if (end <= start) return;
    // First range that could merge: the one holding or ending at `start`.
    let i = this.#floor(start);
    if (i < 0 || this.#ends[i] < start) i++;
    let j = i;
    let s = start, e = end;
    while (j < this.#starts.length && this.#starts[j] <= end) {
      if (this.#starts[j] < s) s = this.#starts[j];
      if (this.#ends[j] > e) e = this.#ends[j];
      j++;
    }
    this.#starts.splice(i, j - i, s);
    this.#ends.splice(i, j - i, e);
  }

  /** Remove whatever part of `[start, end)` the set holds (none is fine). */
  subtract(start: bigint, end: bigint): void {
    if (end <= start) return;
    let i = this.#floor(start);
    if (i < 0 || this.#ends[i] <= start) i++;
    const starts: bigint[] = [];
    const ends: bigint[] = [];
    let j = i;
    for (; j < this.#starts.length && this.#starts[j] < end; j++) {
      if (this.#starts[j] < start) {
        starts.push(this.#starts[j]);
        ends.push(start);
      }
      if (this.#ends[j] > end) {
        starts.push(end);
        ends.push(this.#ends[j]);
      }
    }
    this.#starts.splice(i, j - i, ...starts);
    this.#ends.splice(i, j - i, ...ends);
  }

  /**
   * Remove `[start, end)`, splitting a range if needed. Returns false (and changes nothing)
   * unless the whole span is covered.
   */
  remove(start: bigint, end: bigint): boolean {
    if (end <= start) return false;
    const i = this.#floor(start);
    if (i < 0 || this.#ends[i] < end) return false;
    const s = this.#starts[i], e = this.#ends[i];
    const keep: Array<[bigint, bigint]> = [];
    if (s < start) keep.push([s, start]);
    if (end < e) keep.push([end, e]);
    this.#starts.splice(i, 1, ...keep.map((r) => r[0]));
    this.#ends.splice(i, 1, ...keep.map((r) => r[1]));
    return true;
  }
}
