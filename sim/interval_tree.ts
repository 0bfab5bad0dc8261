/**
 * Ordered structures of the simulator's data layer, chosen for scale.
 *
 * - {@link IntervalTree}: a B+-tree of disjoint, inclusive 64-bit intervals `[start, last]` with
 *   a few 32-bit payload words each. Keys are held as hi/lo 32-bit halves in one `Uint32Array`
 *   per leaf (no per-entry objects, no BigInt inside), so a million entries cost a few tens of
 *   bytes each and every operation is logarithmic. Optionally each node keeps the largest free
 *   gap between consecutive entries below it, so a first-fit search skips whole subtrees.
 *   It plays the role of the kernel's `area_itree`, and of an iopt_pages' pinned-range tree.
 * - {@link RangeSet}: a small set of possibly overlapping owned ranges (reserved / allowed
 *   IOVA) with their merged union kept sorted: membership is a binary search, gaps are linear.
 *
 * @module
 */

const TWO32 = 4294967296;

/** Scratch registers filled by {@link split64}: the hi and lo 32-bit halves. */
export const u64 = { hi: 0, lo: 0 };

/** Split a u64 into {@link u64}`.hi` / `.lo` without allocating. */
export function split64(x: bigint): void {
  // Number() rounds monotonically, so n <= 2^53 - 1 exactly when x is that small.
  const n = Number(x);
  if (n <= Number.MAX_SAFE_INTEGER) {
    const h = Math.floor(n / TWO32);
    u64.hi = h;
    u64.lo = n - h * TWO32;
  } else {
    u64.hi = Number(x >> 32n);
    u64.lo = Number(x & 0xffff_ffffn);
  }
}

/** Join hi/lo 32-bit halves into a bigint. */
export function join64(hi: number, lo: number): bigint {
  if (hi < 0x200000) return BigInt(hi * TWO32 + lo);
  return (BigInt(hi) << 32n) | BigInt(lo);
}

/** Scratch result of {@link add64} / {@link dec64}. */
export const r64 = { hi: 0, lo: 0 };

/** (ah, al) + (bh, bl) into {@link r64}. Returns false when the sum passes 2^64 - 1. */
export function add64(ah: number, al: number, bh: number, bl: number): boolean {
  let lo = al + bl;
  let hi = ah + bh;
  if (lo >= TWO32) {
    lo -= TWO32;
    hi++;
  }
  r64.hi = hi;
  r64.lo = lo;
  return hi < TWO32;
}

/** (h, l) - 1 into {@link r64}; the value must be at least 1. */
export function dec64(h: number, l: number): void {
  if (l === 0) {
    r64.hi = h - 1;
    r64.lo = TWO32 - 1;
  } else {
    r64.hi = h;
    r64.lo = l - 1;
  }
}

/** Is (ah, al) < (bh, bl)? */
export function lt64(ah: number, al: number, bh: number, bl: number): boolean {
  return ah < bh || (ah === bh && al < bl);
}

/** The value of hi/lo as a double (exact below 2^53, correctly rounded above). */
export function approx64(hi: number, lo: number): number {
  return hi * TWO32 + lo;
}

/** Free IOVAs strictly between an entry ending at (ah, al) and one starting at (bh, bl). */
function gapBetween(ah: number, al: number, bh: number, bl: number): number {
  // One rounding only, so comparisons against a rounded length stay monotonic.
  return (bh - ah) * TWO32 + (bl - al - 1);
}

const LEAF_MAX = 128;
const LEAF_MIN = 32;
const FAN = 64;
const FAN_MIN = 16;
const NO_GAP = -1;

class Leaf {
  n = 0;
  d: Uint32Array;
  next: Leaf | null = null;
  prev: Leaf | null = null;
  /** Largest gap between consecutive entries of this leaf, NO_GAP when fewer than two. */
  gap = NO_GAP;
  /** How many of the leaf's gaps equal `gap` (ties are common: no rescan until the last). */
  gapN = 0;
  constructor(slots: number, stride: number) {
    this.d = new Uint32Array(slots * stride);
  }
}

class Inner {
  n = 0;
  kids: Node[] = [];
  /** Per child: first start (hi, lo) and last last (hi, lo). */
  b = new Uint32Array((FAN + 1) * 4);
  /** Per child: its `gap`. */
  g = new Float64Array(FAN + 1);
  gap = NO_GAP;
}

type Node = Leaf | Inner;

/** Options of an {@link IntervalTree}. */
export interface IntervalTreeOptions {
  /** Number of u32 payload words per entry (0–4). */
  payload: number;
  /** Keep per-node largest gaps for {@link IntervalTree.findGap}. */
  gaps?: boolean;
}

/**
 * A B+-tree of disjoint inclusive 64-bit intervals keyed by start. The caller guarantees
 * disjointness on insert. Reads go through a cursor (`cd`/`cb`: the leaf array and the base
 * index of the current entry) so that nothing is allocated per lookup.
 */
export class IntervalTree {
  /** u32 words per entry: start hi/lo, last hi/lo, payload. */
  readonly stride: number;
  private readonly trackGaps: boolean;
  private root: Node;
  private height = 0;
  private count = 0;
  private readonly pn: Inner[] = [];
  private readonly pi: number[] = [];
  /** The recorded path is still valid for this key (no change since the descent). */
  private pathOk = false;
  private pathHi = 0;
  private pathLo = 0;
  private pathLeaf: Leaf;
  private cl: Leaf;
  private ci = -1;
  /** Cursor: the leaf array of the current entry. */
  cd: Uint32Array;
  /** Cursor: base index of the current entry in {@link cd}. */
  cb = 0;
  /** Result of {@link findGap}: last IOVA before the gap (hi, lo) and first after it. */
  readonly gapResult = { prevHi: 0, prevLo: 0, nextHi: 0, nextLo: 0 };

  constructor(opts: IntervalTreeOptions) {
    this.stride = 4 + opts.payload;
    this.trackGaps = opts.gaps ?? false;
    this.root = new Leaf(4, this.stride);
    this.cl = this.root;
    this.cd = this.cl.d;
    this.pathLeaf = this.root;
  }

  /** Number of entries. */
  get size(): number {
    return this.count;
  }

  /** Largest gap (as a double) between consecutive entries, NO_GAP (-1) if none. */
  get maxGap(): number {
    return this.root.gap;
  }

  /** Remove every entry. */
  clear(): void {
    this.pathOk = false;
    this.root = new Leaf(4, this.stride);
    this.height = 0;
    this.count = 0;
    this.cl = this.root;
    this.cd = this.cl.d;
    this.ci = -1;
  }

  // ---- cursor ----------------------------------------------------------------------------

  private setCursor(leaf: Leaf, i: number): void {
    this.cl = leaf;
    this.ci = i;
    this.cd = leaf.d;
    this.cb = i * this.stride;
  }

  /** Start of the current entry, hi half. */
  get sHi(): number {
    return this.cd[this.cb];
  }
  /** Start of the current entry, lo half. */
  get sLo(): number {
    return this.cd[this.cb + 1];
  }
  /** Last of the current entry, hi half. */
  get lHi(): number {
    return this.cd[this.cb + 2];
  }
  /** Last of the current entry, lo half. */
  get lLo(): number {
    return this.cd[this.cb + 3];
  }
  /** Payload word `k` of the current entry. */
  word(k: number): number {
    return this.cd[this.cb + 4 + k];
  }
  /** Overwrite payload word `k` of the current entry (keys are not changed). */
  setWord(k: number, v: number): void {
    this.cd[this.cb + 4 + k] = v;
  }

  /** Move the cursor to the first entry. False when the tree is empty. */
  first(): boolean {
    let node = this.root;
    while (node instanceof Inner) node = node.kids[0];
    if (node.n === 0) return false;
    this.setCursor(node, 0);
    return true;
  }

  /** Move the cursor to the last entry. False when the tree is empty. */
  last(): boolean {
    let node = this.root;
    while (node instanceof Inner) node = node.kids[node.n - 1];
    if (node.n === 0) return false;
    this.setCursor(node, node.n - 1);
    return true;
  }

  /** Advance the cursor. False at the end. */
  next(): boolean {
    let i = this.ci + 1;
    let leaf: Leaf | null = this.cl;
    if (i >= leaf.n) {
      leaf = leaf.next;
      if (leaf === null) return false;
      i = 0;
    }
    this.setCursor(leaf, i);
    return true;
  }

  /** Cursor to the last entry whose start <= key. False if none. */
  seekLE(hi: number, lo: number): boolean {
    const leaf = this.descend(hi, lo);
    const p = this.upper(leaf, hi, lo) - 1;
    if (p < 0) return false;
    this.setCursor(leaf, p);
    return true;
  }

  /** Cursor to the entry containing x. False if none. */
  seekContaining(hi: number, lo: number): boolean {
    if (!this.seekLE(hi, lo)) return false;
    const lh = this.lHi;
    return lh > hi || (lh === hi && this.lLo >= lo);
  }

  /**
   * Cursor to the lowest entry intersecting [s, l]. False if none. Entries are disjoint, so it
   * is the predecessor of s if that reaches s, else the successor if it starts by l.
   */
  firstOverlap(sh: number, sl: number, lh: number, ll: number): boolean {
    if (this.count === 0) return false;
    if (this.seekLE(sh, sl)) {
      const eh = this.lHi;
      if (eh > sh || (eh === sh && this.lLo >= sl)) return true;
      if (!this.next()) return false;
    } else if (!this.first()) return false;
    const h = this.sHi;
    return h < lh || (h === lh && this.sLo <= ll);
  }

  // ---- search helpers --------------------------------------------------------------------

  private descend(hi: number, lo: number): Leaf {
    // A lookup followed by an insert or removal at the same key walks once.
    if (this.pathOk && this.pathHi === hi && this.pathLo === lo) return this.pathLeaf;
    let node = this.root;
    let lvl = 0;
    while (node instanceof Inner) {
      const i = childFor(node, hi, lo);
      this.pn[lvl] = node;
      this.pi[lvl] = i;
      lvl++;
      node = node.kids[i];
    }
    this.pathOk = true;
    this.pathHi = hi;
    this.pathLo = lo;
    this.pathLeaf = node;
    return node;
  }

  /** First slot of `leaf` whose start > key. */
  private upper(leaf: Leaf, hi: number, lo: number): number {
    const d = leaf.d;
    const st = this.stride;
    let l = 0;
    let h = leaf.n;
    while (l < h) {
      const m = (l + h) >> 1;
      const b = m * st;
      const sh = d[b];
      if (sh < hi || (sh === hi && d[b + 1] <= lo)) l = m + 1;
      else h = m;
    }
    return l;
  }

  // ---- insertion -------------------------------------------------------------------------

  /** Insert [s, l] with payload. The caller guarantees no overlap with existing entries. */
  insert(
    sh: number,
    sl: number,
    lh: number,
    ll: number,
    p0 = 0,
    p1 = 0,
    p2 = 0,
    p3 = 0,
  ): void {
    let leaf = this.descend(sh, sl);
    this.pathOk = false;
    let p = this.upper(leaf, sh, sl);
    let split: Leaf | null = null;
    if (leaf.n === LEAF_MAX) {
      split = this.splitLeaf(leaf, p);
      if (p > leaf.n || (p === leaf.n && split.n === 0)) {
        p -= leaf.n;
        leaf = split;
      }
    }
    this.putSlot(leaf, p, sh, sl, lh, ll, p0, p1, p2, p3);
    this.count++;
    if (split === null) {
      this.fixUp(this.height - 1, leaf);
      return;
    }
    if (this.trackGaps) {
      leafGapRecompute(split, this.stride);
      leafGapRecompute(this.siblingLeft(split), this.stride);
    }
    this.addChild(this.height - 1, split);
  }

  private siblingLeft(leaf: Leaf): Leaf {
    return leaf.prev as Leaf;
  }

  private ensureCap(leaf: Leaf, n: number): void {
    const st = this.stride;
    if (leaf.d.length >= n * st) return;
    let cap = leaf.d.length / st;
    while (cap < n) cap *= 2;
    const d = new Uint32Array(Math.min(cap, LEAF_MAX) * st);
    d.set(leaf.d.subarray(0, leaf.n * st));
    leaf.d = d;
  }

  private putSlot(
    leaf: Leaf,
    p: number,
    sh: number,
    sl: number,
    lh: number,
    ll: number,
    p0: number,
    p1: number,
    p2: number,
    p3: number,
  ): void {
    const st = this.stride;
    const n = leaf.n;
    this.ensureCap(leaf, n + 1);
    const d = leaf.d;
    let oldGap = NO_GAP;
    if (this.trackGaps && p > 0 && p < n) {
      const a = (p - 1) * st;
      const b = p * st;
      oldGap = gapBetween(d[a + 2], d[a + 3], d[b], d[b + 1]);
    }
    if (p < n) d.copyWithin((p + 1) * st, p * st, n * st);
    const b = p * st;
    d[b] = sh;
    d[b + 1] = sl;
    d[b + 2] = lh;
    d[b + 3] = ll;
    if (st > 4) d[b + 4] = p0;
    if (st > 5) d[b + 5] = p1;
    if (st > 6) d[b + 6] = p2;
    if (st > 7) d[b + 7] = p3;
    leaf.n = n + 1;
    if (!this.trackGaps) return;
    if (oldGap !== NO_GAP) {
      // A gap was split in two smaller ones: only the last of the largest forces a rescan.
      if (gapDrop(leaf, oldGap)) leafGapRecompute(leaf, st);
      return;
    }
    if (n === 0) return;
    const g = p === 0
      ? gapBetween(lh, ll, d[st], d[st + 1])
      : gapBetween(d[b - st + 2], d[b - st + 3], sh, sl);
    gapAdd(leaf, g);
  }

  /** Split a full leaf; returns the new right sibling (already linked). */
  private splitLeaf(leaf: Leaf, p: number): Leaf {
    const st = this.stride;
    // Appends and prepends leave the old leaf full: sequential maps pack densely.
    let keep = LEAF_MAX >> 1;
    if (p === LEAF_MAX) keep = LEAF_MAX;
    else if (p === 0) keep = 0;
    const right = new Leaf(Math.max(4, LEAF_MAX - keep + 1), st);
    const moved = leaf.n - keep;
    right.d.set(leaf.d.subarray(keep * st, leaf.n * st));
    right.n = moved;
    leaf.n = keep;
    right.next = leaf.next;
    if (right.next) right.next.prev = right;
    right.prev = leaf;
    leaf.next = right;
    return right;
  }

  /**
   * After `leaf` gained or lost entries without structural change, refresh the aggregates
   * on the recorded path from level `lvl` (the leaf's parent) up, stopping once unchanged.
   */
  private fixUp(lvl: number, child: Node): void {
    for (; lvl >= 0; lvl--) {
      const parent = this.pn[lvl];
      // An unchanged child leaves every ancestor unchanged.
      if (!refreshEntry(parent, this.pi[lvl], child, this.stride)) return;
      if (this.trackGaps) innerGapRecompute(parent);
      child = parent;
    }
  }

  /** Insert `node` as the right sibling of the child on the path at level `lvl`. */
  private addChild(lvl: number, node: Node): void {
    const st = this.stride;
    let right: Node = node;
    for (;;) {
      if (lvl < 0) {
        // Grow a new root above the old one.
        const root = new Inner();
        root.kids.push(this.root, right);
        root.n = 2;
        refreshEntry(root, 0, this.root, st);
        refreshEntry(root, 1, right, st);
        if (this.trackGaps) innerGapRecompute(root);
        this.root = root;
        this.height++;
        return;
      }
      const parent = this.pn[lvl];
      const i = this.pi[lvl];
      refreshEntry(parent, i, parent.kids[i], st);
      insertKid(parent, i + 1, right, st);
      if (parent.n <= FAN) {
        if (this.trackGaps) innerGapRecompute(parent);
        this.fixUpFull(lvl - 1, parent);
        return;
      }
      const sib = splitInner(parent);
      if (this.trackGaps) {
        innerGapRecompute(parent);
        innerGapRecompute(sib);
      }
      right = sib;
      lvl--;
    }
  }

  /** Refresh aggregates on the path from level `lvl` up without early exit. */
  private fixUpFull(lvl: number, child: Node): void {
    for (; lvl >= 0; lvl--) {
      const parent = this.pn[lvl];
      refreshEntry(parent, this.pi[lvl], child, this.stride);
      if (this.trackGaps) innerGapRecompute(parent);
      child = parent;
    }
  }

  // ---- removal ---------------------------------------------------------------------------

  /** Remove the entry starting exactly at key. False if there is none. */
  remove(hi: number, lo: number): boolean {
    const leaf = this.descend(hi, lo);
    this.pathOk = false;
    const p = this.upper(leaf, hi, lo) - 1;
    if (p < 0) return false;
    const b = p * this.stride;
    if (leaf.d[b] !== hi || leaf.d[b + 1] !== lo) return false;
    this.dropSlot(leaf, p);
    this.count--;
    if (this.height === 0 || leaf.n >= LEAF_MIN) {
      this.fixUp(this.height - 1, leaf);
      return true;
    }
    this.rebalanceLeaf(leaf);
    return true;
  }

  private dropSlot(leaf: Leaf, p: number): void {
    const st = this.stride;
    const d = leaf.d;
    const n = leaf.n;
    let recompute = false;
    if (this.trackGaps && n > 1) {
      if (p > 0 && p < n - 1) {
        // Two gaps become one at least as large as either: no rescan needed.
        const a = (p - 1) * st;
        const b = p * st;
        const c = (p + 1) * st;
        gapDrop(leaf, gapBetween(d[a + 2], d[a + 3], d[b], d[b + 1]));
        gapDrop(leaf, gapBetween(d[b + 2], d[b + 3], d[c], d[c + 1]));
        gapAdd(leaf, gapBetween(d[a + 2], d[a + 3], d[c], d[c + 1]));
      } else {
        const a = p === 0 ? 0 : (n - 2) * st;
        recompute = gapDrop(leaf, gapBetween(d[a + 2], d[a + 3], d[a + st], d[a + st + 1]));
      }
    }
    d.copyWithin(p * st, (p + 1) * st, n * st);
    leaf.n = n - 1;
    if (leaf.n < 2) {
      leaf.gap = NO_GAP;
      leaf.gapN = 0;
    } else if (recompute) leafGapRecompute(leaf, st);
  }

  private rebalanceLeaf(leaf: Leaf): void {
    const st = this.stride;
    const lvl = this.height - 1;
    const parent = this.pn[lvl];
    const i = this.pi[lvl];
    const useLeft = i > 0;
    const sib = parent.kids[useLeft ? i - 1 : i + 1] as Leaf;
    const left = useLeft ? sib : leaf;
    const right = useLeft ? leaf : sib;
    const li = useLeft ? i - 1 : i;
    if (left.n + right.n <= (LEAF_MAX * 3) >> 2) {
      this.ensureCap(left, left.n + right.n);
      left.d.set(right.d.subarray(0, right.n * st), left.n * st);
      left.n += right.n;
      left.next = right.next;
      if (left.next) left.next.prev = left;
      if (this.trackGaps) leafGapRecompute(left, st);
      removeKid(parent, li + 1);
      refreshEntry(parent, li, left, st);
      this.pi[lvl] = li;
      this.afterKidRemoved(lvl);
      return;
    }
    // Borrow: even out the two leaves.
    const total = left.n + right.n;
    const want = total >> 1;
    if (left.n < want) {
      const k = want - left.n;
      this.ensureCap(left, want);
      left.d.set(right.d.subarray(0, k * st), left.n * st);
      right.d.copyWithin(0, k * st, right.n * st);
      left.n = want;
      right.n -= k;
    } else {
      const k = left.n - want;
      this.ensureCap(right, right.n + k);
      right.d.copyWithin(k * st, 0, right.n * st);
      right.d.set(left.d.subarray((left.n - k) * st, left.n * st), 0);
      right.n += k;
      left.n -= k;
    }
    if (this.trackGaps) {
      leafGapRecompute(left, st);
      leafGapRecompute(right, st);
    }
    refreshEntry(parent, li, left, st);
    refreshEntry(parent, li + 1, right, st);
    if (this.trackGaps) innerGapRecompute(parent);
    this.fixUpFull(lvl - 1, parent);
  }

  /** The inner node at level `lvl` lost a child; rebalance it and refresh upward. */
  private afterKidRemoved(lvl: number): void {
    const st = this.stride;
    for (;;) {
      const node = this.pn[lvl];
      if (this.trackGaps) innerGapRecompute(node);
      if (lvl === 0) {
        if (node.n === 1) {
          // Collapse a root with a single child.
          this.root = node.kids[0];
          this.height--;
        }
        return;
      }
      if (node.n >= FAN_MIN) {
        this.fixUpFull(lvl - 1, node);
        return;
      }
      const parent = this.pn[lvl - 1];
      const i = this.pi[lvl - 1];
      const useLeft = i > 0;
      const sib = parent.kids[useLeft ? i - 1 : i + 1] as Inner;
      const left = useLeft ? sib : node;
      const right = useLeft ? node : sib;
      const li = useLeft ? i - 1 : i;
      if (left.n + right.n <= FAN) {
        for (let k = 0; k < right.n; k++) {
          left.kids[left.n] = right.kids[k];
          left.b.set(right.b.subarray(k * 4, k * 4 + 4), left.n * 4);
          left.g[left.n] = right.g[k];
          left.n++;
        }
        if (this.trackGaps) innerGapRecompute(left);
        removeKid(parent, li + 1);
        refreshEntry(parent, li, left, st);
        this.pi[lvl - 1] = li;
        lvl--;
        continue;
      }
      // Borrow children to even out.
      const want = (left.n + right.n) >> 1;
      while (left.n < want) moveKid(right, 0, left, left.n);
      while (left.n > want) moveKid(left, left.n - 1, right, 0);
      if (this.trackGaps) {
        innerGapRecompute(left);
        innerGapRecompute(right);
      }
      refreshEntry(parent, li, left, st);
      refreshEntry(parent, li + 1, right, st);
      if (this.trackGaps) innerGapRecompute(parent);
      this.fixUpFull(lvl - 2, parent);
      return;
    }
  }

  // ---- gap search ------------------------------------------------------------------------

  /**
   * Find the lowest gap between two consecutive entries that holds at least `need` free
   * IOVAs (compared as rounded doubles: never misses a real fit, may report a near miss) and
   * whose last free IOVA is >= from. Fills {@link gapResult}. Needs `gaps: true`.
   */
  findGap(need: number, fromHi: number, fromLo: number): boolean {
    if (this.root.gap < need) return false;
    return this.gapIn(this.root, need, fromHi, fromLo);
  }

  private gapIn(node: Node, need: number, fh: number, fl: number): boolean {
    const st = this.stride;
    if (node instanceof Leaf) {
      const d = node.d;
      for (let i = Math.max(1, this.upper(node, fh, fl)); i < node.n; i++) {
        const a = (i - 1) * st;
        const b = i * st;
        if (gapBetween(d[a + 2], d[a + 3], d[b], d[b + 1]) < need) continue;
        this.setGap(d[a + 2], d[a + 3], d[b], d[b + 1]);
        return true;
      }
      return false;
    }
    const bb = node.b;
    for (let i = childFor(node, fh, fl); i < node.n; i++) {
      const lh = bb[i * 4 + 2];
      const ll = bb[i * 4 + 3];
      if (node.g[i] >= need && (lh > fh || (lh === fh && ll > fl))) {
        if (this.gapIn(node.kids[i], need, fh, fl)) return true;
      }
      if (i + 1 >= node.n) break;
      const nh = bb[(i + 1) * 4];
      const nl = bb[(i + 1) * 4 + 1];
      if (gapBetween(lh, ll, nh, nl) < need) continue;
      if (nh < fh || (nh === fh && nl <= fl)) continue;
      this.setGap(lh, ll, nh, nl);
      return true;
    }
    return false;
  }

  private setGap(ph: number, pl: number, nh: number, nl: number): void {
    const r = this.gapResult;
    r.prevHi = ph;
    r.prevLo = pl;
    r.nextHi = nh;
    r.nextLo = nl;
  }

  // ---- checking --------------------------------------------------------------------------

  /** Verify every structural invariant (for tests). Throws on the first violation. */
  check(): void {
    let seen = 0;
    let prevLeaf: Leaf | null = null;
    const walk = (node: Node, depth: number): void => {
      if (node instanceof Leaf) {
        if (depth !== this.height) throw new Error("leaf depth");
        if (node.prev !== prevLeaf) throw new Error("leaf links");
        if (node !== this.root && node.n === 0) throw new Error("empty leaf");
        if (this.trackGaps && node.n > 0) {
          const g = node.gap;
          const c = node.gapN;
          leafGapRecompute(node, this.stride);
          if (g !== node.gap || c !== node.gapN) {
            throw new Error(`leaf gap ${g}x${c} != ${node.gap}x${node.gapN}`);
          }
        }
        prevLeaf = node;
        seen += node.n;
        return;
      }
      if (node.n < 2) throw new Error("inner with < 2 children");
      for (let i = 0; i < node.n; i++) {
        const kid = node.kids[i];
        walk(kid, depth + 1);
        const copy = new Inner();
        copy.kids.push(kid);
        copy.n = 1;
        refreshEntry(copy, 0, kid, this.stride);
        for (let k = 0; k < 4; k++) {
          if (copy.b[k] !== node.b[i * 4 + k]) throw new Error("inner bounds");
        }
        if (this.trackGaps && node.g[i] !== kid.gap) throw new Error("inner child gap");
      }
      if (this.trackGaps) {
        const g = node.gap;
        innerGapRecompute(node);
        if (g !== node.gap) throw new Error("inner gap");
      }
    };
    walk(this.root, 0);
    if (seen !== this.count) throw new Error(`count ${seen} != ${this.count}`);
    if (prevLeaf !== null && (prevLeaf as Leaf).next !== null) throw new Error("tail link");
    // Order and disjointness across the whole tree.
    if (!this.first()) return;
    let ph = this.lHi;
    let pl = this.lLo;
    while (this.next()) {
      const sh = this.sHi;
      const sl = this.sLo;
      if (sh < ph || (sh === ph && sl <= pl)) throw new Error("order/overlap");
      const lh = this.lHi;
      const ll = this.lLo;
      if (lh < sh || (lh === sh && ll < sl)) throw new Error("inverted entry");
      ph = lh;
      pl = ll;
    }
  }
}

// ---- node helpers (module-private) ---------------------------------------------------------

/** Last child whose first start <= key, or 0. */
function childFor(node: Inner, hi: number, lo: number): number {
  const b = node.b;
  let l = 0;
  let h = node.n - 1;
  while (l < h) {
    const m = (l + h + 1) >> 1;
    const fh = b[m * 4];
    if (fh < hi || (fh === hi && b[m * 4 + 1] <= lo)) l = m;
    else h = m - 1;
  }
  return l;
}

/** Copy a child's bounds and gap into its parent's slot i. Returns true if anything changed. */
function refreshEntry(parent: Inner, i: number, child: Node, stride: number): boolean {
  let fh: number, fl: number, lh: number, ll: number;
  if (child instanceof Leaf) {
    const d = child.d;
    const e = (child.n - 1) * stride;
    fh = d[0];
    fl = d[1];
    lh = d[e + 2];
    ll = d[e + 3];
  } else {
    const b = child.b;
    const e = (child.n - 1) * 4;
    fh = b[0];
    fl = b[1];
    lh = b[e + 2];
    ll = b[e + 3];
  }
  const pb = parent.b;
  const k = i * 4;
  const changed = pb[k] !== fh || pb[k + 1] !== fl || pb[k + 2] !== lh || pb[k + 3] !== ll ||
    parent.g[i] !== child.gap;
  pb[k] = fh;
  pb[k + 1] = fl;
  pb[k + 2] = lh;
  pb[k + 3] = ll;
  parent.g[i] = child.gap;
  return changed;
}

function leafGapRecompute(leaf: Leaf, st: number): void {
  const d = leaf.d;
  let best = NO_GAP;
  let count = 0;
  for (let i = 1; i < leaf.n; i++) {
    const a = (i - 1) * st;
    const b = i * st;
    const g = gapBetween(d[a + 2], d[a + 3], d[b], d[b + 1]);
    if (g > best) {
      best = g;
      count = 1;
    } else if (g === best) count++;
  }
  leaf.gap = best;
  leaf.gapN = count;
}

/** A gap of size g appeared in the leaf. */
function gapAdd(leaf: Leaf, g: number): void {
  if (g > leaf.gap) {
    leaf.gap = g;
    leaf.gapN = 1;
  } else if (g === leaf.gap) leaf.gapN++;
}

/** A gap of size g left the leaf. True when the largest is gone and a rescan is needed. */
function gapDrop(leaf: Leaf, g: number): boolean {
  if (g !== leaf.gap) return false;
  return --leaf.gapN === 0;
}

function innerGapRecompute(node: Inner): void {
  const b = node.b;
  const g = node.g;
  let best = NO_GAP;
  for (let i = 0; i < node.n; i++) {
    if (g[i] > best) best = g[i];
    if (i + 1 < node.n) {
      const c = gapBetween(b[i * 4 + 2], b[i * 4 + 3], b[i * 4 + 4], b[i * 4 + 5]);
      if (c > best) best = c;
    }
  }
  node.gap = best;
}

function insertKid(node: Inner, i: number, kid: Node, stride: number): void {
  node.kids.splice(i, 0, kid);
  node.b.copyWithin((i + 1) * 4, i * 4, node.n * 4);
  node.g.copyWithin(i + 1, i, node.n);
  node.n++;
  refreshEntry(node, i, kid, stride);
}

function removeKid(node: Inner, i: number): void {
  node.kids.splice(i, 1);
  node.b.copyWithin(i * 4, (i + 1) * 4, node.n * 4);
  node.g.copyWithin(i, i + 1, node.n);
  node.n--;
}

function moveKid(from: Inner, fi: number, to: Inner, ti: number): void {
  const kid = from.kids[fi];
  const bounds = from.b.slice(fi * 4, fi * 4 + 4);
  const gap = from.g[fi];
  removeKid(from, fi);
  to.kids.splice(ti, 0, kid);
  to.b.copyWithin((ti + 1) * 4, ti * 4, to.n * 4);
  to.g.copyWithin(ti + 1, ti, to.n);
  to.b.set(bounds, ti * 4);
  to.g[ti] = gap;
  to.n++;
}

/** Split an overfull inner node in halves; returns the right half. */
function splitInner(node: Inner): Inner {
  const right = new Inner();
  const keep = node.n >> 1;
  const moved = node.n - keep;
  right.kids = node.kids.splice(keep, moved);
  right.b.set(node.b.subarray(keep * 4, node.n * 4));
  right.g.set(node.g.subarray(keep, node.n));
  right.n = moved;
  node.n = keep;
  return right;
}

// ---- RangeSet ------------------------------------------------------------------------------

/** One owned range of a {@link RangeSet}. */
export interface OwnedRange {
  /** First IOVA. */
  readonly start: bigint;
  /** Last IOVA (inclusive). */
  readonly last: bigint;
  /** Who added it (removal is by owner). */
  readonly owner: unknown;
}

/**
 * Possibly overlapping inclusive ranges, each with an owner, plus their union kept as sorted
 * disjoint spans where touching ranges merge (as the kernel's span iterators merge them).
 * Sized for thousands of entries: membership O(log n), gaps O(n), removal by owner O(n log n).
 */
export class RangeSet {
  private entries: OwnedRange[] = [];
  /** Union spans: starts and lasts, ascending, neither overlapping nor touching. */
  private ms: bigint[] = [];
  private ml: bigint[] = [];
  /** The same spans as hi/lo numbers, for allocation-free membership tests. */
  private nsh: number[] = [];
  private nsl: number[] = [];
  private nlh: number[] = [];
  private nll: number[] = [];

  /** Number of ranges (not spans). */
  get size(): number {
    return this.entries.length;
  }

  /** Number of union spans. */
  get spanCount(): number {
    return this.ms.length;
  }

  /** Start of union span i. */
  spanStart(i: number): bigint {
    return this.ms[i];
  }

  /** Last of union span i. */
  spanLast(i: number): bigint {
    return this.ml[i];
  }

  /** Every owned range, in insertion order. */
  list(): readonly OwnedRange[] {
    return this.entries;
  }

  /** Add [start, last] for owner. An inverted range (start > last) is kept but covers nothing. */
  add(start: bigint, last: bigint, owner: unknown): void {
    this.entries.push({ start, last, owner });
    if (start <= last) this.mergeIn(start, last);
  }

  /** Remove every range of owner. Returns how many were removed. */
  removeOwner(owner: unknown): number {
    const before = this.entries.length;
    this.entries = this.entries.filter((e) => e.owner !== owner);
    const removed = before - this.entries.length;
    if (removed > 0) this.rebuild();
    return removed;
  }

  /** Remove everything. */
  clear(): void {
    this.entries = [];
    this.ms = [];
    this.ml = [];
    this.mirror();
  }

  /** Index of the first span whose last >= x (spanCount if none). */
  firstSpanFrom(x: bigint): number {
    const ml = this.ml;
    let l = 0;
    let h = ml.length;
    while (l < h) {
      const m = (l + h) >> 1;
      if (ml[m] < x) l = m + 1;
      else h = m;
    }
    return l;
  }

  /** Does any range intersect [start, last]? */
  intersects(start: bigint, last: bigint): boolean {
    const i = this.firstSpanFrom(start);
    return i < this.ms.length && this.ms[i] <= last;
  }

  /** {@link intersects} on hi/lo halves, without allocating. */
  intersects64(sh: number, sl: number, lh: number, ll: number): boolean {
    const n = this.nsh.length;
    if (n === 0) return false;
    const eh = this.nlh;
    const el = this.nll;
    let l = 0;
    let h = n;
    while (l < h) {
      const m = (l + h) >> 1;
      if (eh[m] < sh || (eh[m] === sh && el[m] < sl)) l = m + 1;
      else h = m;
    }
    if (l >= n) return false;
    const bh = this.nsh[l];
    return bh < lh || (bh === lh && this.nsl[l] <= ll);
  }

  /** The gaps of the union within [lo, hi], ascending. */
  gaps(lo: bigint, hi: bigint): { start: bigint; last: bigint }[] {
    const out: { start: bigint; last: bigint }[] = [];
    let cur = lo;
    for (let i = this.firstSpanFrom(lo); i < this.ms.length && cur <= hi; i++) {
      if (this.ms[i] > hi) break;
      if (this.ms[i] > cur) out.push({ start: cur, last: this.ms[i] - 1n });
      cur = this.ml[i] + 1n;
    }
    if (cur <= hi) out.push({ start: cur, last: hi });
    return out;
  }

  private mergeIn(start: bigint, last: bigint): void {
    const ms = this.ms;
    const ml = this.ml;
    // First span that touches or follows [start, last]: its last + 1 >= start.
    let i = this.firstSpanFrom(start - 1n);
    let j = i;
    let s = start;
    let l = last;
    while (j < ms.length && ms[j] <= last + 1n) {
      if (ms[j] < s) s = ms[j];
      if (ml[j] > l) l = ml[j];
      j++;
    }
    if (i < 0) i = 0;
    ms.splice(i, j - i, s);
    ml.splice(i, j - i, l);
    split64(s);
    this.nsh.splice(i, j - i, u64.hi);
    this.nsl.splice(i, j - i, u64.lo);
    split64(l);
    this.nlh.splice(i, j - i, u64.hi);
    this.nll.splice(i, j - i, u64.lo);
  }

  private mirror(): void {
    const n = this.ms.length;
    this.nsh = new Array(n);
    this.nsl = new Array(n);
    this.nlh = new Array(n);
    this.nll = new Array(n);
    for (let i = 0; i < n; i++) {
      split64(this.ms[i]);
      this.nsh[i] = u64.hi;
      this.nsl[i] = u64.lo;
      split64(this.ml[i]);
      this.nlh[i] = u64.hi;
      this.nll[i] = u64.lo;
    }
  }

  private rebuild(): void {
    const live = this.entries.filter((e) => e.start <= e.last);
    live.sort((a, b) => (a.start < b.start ? -1 : a.start > b.start ? 1 : 0));
    const ms: bigint[] = [];
    const ml: bigint[] = [];
    for (const e of live) {
      const n = ms.length;
      if (n > 0 && e.start <= ml[n - 1] + 1n) {
        if (e.last > ml[n - 1]) ml[n - 1] = e.last;
      } else {
        ms.push(e.start);
        ml.push(e.last);
      }
    }
    this.ms = ms;
    this.ml = ml;
    this.mirror();
  }
}
