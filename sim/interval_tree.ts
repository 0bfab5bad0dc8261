/**
 * Ordered structures of the simulator's data layer, chosen for scale.
 *
 * - {@link IntervalTree}: a B+-tree of disjoint, inclusive 64-bit intervals `[start, last]` with
 *   a few 32-bit payload words each. Keys are held as hi/lo 32-bit halves and every node is a
 *   fixed-size block of one of two `Uint32Array` arenas (no object per node or entry, no BigInt
 *   inside), so a million entries cost a few tens of bytes each and every operation is
 *   logarithmic. With entries far beyond the caches, one random lookup costs about one memory
 *   latency: a descent loads all the cache lines of the next block at once before searching it.
 *   Optionally each node keeps the largest free gap between consecutive entries below it, so a
 *   first-fit search skips whole subtrees. It plays the role of the kernel's `area_itree`, and
 *   of an iopt_pages' pinned-range tree.
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

// Node storage. Every leaf and every inner node is a fixed-size block in one of two typed-array
// arenas, addressed by a small integer id: no object per node, no pointer to chase on a descent
// beyond the arena itself. A descent first touches every cache line of the block it is about
// to search with independent loads, so that their misses overlap instead of queueing one per
// binary-search probe.
//
// Leaf block (u32 words): [n, next+1, prev+1, gapN, gap (f64), -, -] then leafMax entries of
// `stride` words: start hi/lo, last hi/lo, payload.
// Inner block (u32 words): [n, -, gap (f64)] then per child (FAN + 1 slots, one spare for the
// split): first start hi/lo, last last hi/lo, gap (f64), id.

/** Default entries per leaf: 2 KiB blocks for 4 payload words, about 60 entries filled. */
const LEAF_MAX = 64;
const FAN = 64;
const FAN_MIN = 16;
/**
 * Free slots an ascending (descending) load leaves in the leaf or inner node it splits off on
 * the left (right): a later insert between loaded entries then finds room instead of splitting
 * a full node in halves. As B-trees do on rightmost splits (a fill factor). For leaves, one
 * slot in 16 (at least one).
 */
const LEAF_SLACK_SHIFT = 4;
const FAN_SLACK = 4;
const NO_GAP = -1;

const L_N = 0;
const L_NEXT = 1;
const L_PREV = 2;
const L_GAPN = 3;
/** Leaf header words; the f64 gap is at word 4. */
const HDR = 8;

const SLOTS = FAN + 1;
const I_FS = 4;
const I_LL = I_FS + 2 * SLOTS;
const I_G = I_LL + 2 * SLOTS;
const I_KID = I_G + 2 * SLOTS;
/** Words per inner block (even, so that the f64 columns stay aligned). */
const IW = (I_KID + SLOTS + 1) & ~1;
/** u32 words per 64-byte cache line. */
const LINE = 16;
/** Leaf arenas up to this many words (1 MiB) are taken to be cached: no prefetching. */
const PREFETCH_WORDS = 1 << 18;
/** Arenas grow by half their size, but by at most this many bytes at a time. */
const GROW_MAX_BYTES = 8 << 20;

/** Options of an {@link IntervalTree}. */
export interface IntervalTreeOptions {
  /** Number of u32 payload words per entry (0–4). */
  payload: number;
  /** Keep per-node largest gaps for {@link IntervalTree.findGap}. */
  gaps?: boolean;
  /**
   * Entries per leaf (even, 8–256; default 64). Every leaf takes its full size, the first one
   * included: small trees, of which there may be many, want small leaves.
   */
  leafSize?: number;
}

/**
 * A B+-tree of disjoint inclusive 64-bit intervals keyed by start. The caller guarantees
 * disjointness on insert. Reads go through a cursor (the current entry's position) so that
 * nothing is allocated per lookup.
 */
export class IntervalTree {
  /** u32 words per entry: start hi/lo, last hi/lo, payload. */
  readonly stride: number;
  private readonly trackGaps: boolean;
  /** u32 words per leaf block. */
  private readonly lw: number;
  /** Entries per leaf; fewer than leafMin make it borrow or merge (not the root). */
  private readonly leafMax: number;
  private readonly leafMin: number;
  private readonly leafSlack: number;
  /** Leaf arena, and an f64 view of it. */
  private L: Uint32Array;
  private LF: Float64Array;
  private leafTop = 0;
  private readonly leafFree: number[] = [];
  /** Inner arena, and an f64 view of it. */
  private I: Uint32Array;
  private IF: Float64Array;
  private innerTop = 0;
  private readonly innerFree: number[] = [];
  /** Root id: a leaf when height is 0, else an inner node. */
  private root = 0;
  private height = 0;
  private count = 0;
  /** Inner nodes and child indexes on the path of the last descent, root first. */
  private readonly pn: number[] = [];
  private readonly pi: number[] = [];
  /** The recorded path is still valid for this key (no change since the descent). */
  private pathOk = false;
  private pathHi = 0;
  private pathLo = 0;
  private pathLeaf = 0;
  /** With the path: the first slot of its leaf whose start > the key. */
  private pathUp = 0;
  /** Cursor: leaf id and slot. */
  private cl = 0;
  private ci = -1;
  /** Cursor: word index of the current entry in the leaf arena. */
  private cb = 0;
  /** Where the prefetching loads go, so that they are not optimised away. */
  private sink = 0;
  /** Result of {@link findGap}: last IOVA before the gap (hi, lo) and first after it. */
  readonly gapResult = { prevHi: 0, prevLo: 0, nextHi: 0, nextLo: 0 };

  constructor(opts: IntervalTreeOptions) {
    this.stride = 4 + opts.payload;
    this.trackGaps = opts.gaps ?? false;
    const size = opts.leafSize ?? LEAF_MAX;
    if (!(size >= 8 && size <= 256 && size % 2 === 0)) throw new RangeError(`leafSize ${size}`);
    this.leafMax = size;
    this.leafMin = size >> 2;
    this.leafSlack = Math.max(1, size >> LEAF_SLACK_SHIFT);
    this.lw = HDR + size * this.stride;
    this.L = new Uint32Array(this.lw);
    this.LF = new Float64Array(this.L.buffer);
    this.I = new Uint32Array(0);
    this.IF = new Float64Array(0);
    this.root = this.newLeaf();
  }

  /** Number of entries. */
  get size(): number {
    return this.count;
  }

  /** Largest gap (as a double) between consecutive entries, NO_GAP (-1) if none. */
  get maxGap(): number {
    return this.height === 0 ? this.leafGap(this.root) : this.innerGap(this.root);
  }

  /** Remove every entry (and give the arenas' memory back). */
  clear(): void {
    this.pathOk = false;
    this.L = new Uint32Array(this.lw);
    this.LF = new Float64Array(this.L.buffer);
    this.I = new Uint32Array(0);
    this.IF = new Float64Array(0);
    this.leafTop = 0;
    this.leafFree.length = 0;
    this.innerTop = 0;
    this.innerFree.length = 0;
    this.root = this.newLeaf();
    this.height = 0;
    this.count = 0;
    this.cl = this.root;
    this.ci = -1;
    this.cb = 0;
  }

  // ---- arenas ----------------------------------------------------------------------------

  private newLeaf(): number {
    let id: number;
    if (this.leafFree.length > 0) id = this.leafFree.pop()!;
    else {
      id = this.leafTop++;
      if ((id + 1) * this.lw > this.L.length) {
        const L = new Uint32Array(grown(this.L.length, this.lw, id + 1));
        L.set(this.L);
        this.L = L;
        this.LF = new Float64Array(L.buffer);
      }
    }
    const b = id * this.lw;
    const L = this.L;
    L[b + L_N] = 0;
    L[b + L_NEXT] = 0;
    L[b + L_PREV] = 0;
    L[b + L_GAPN] = 0;
    this.LF[(b >> 1) + 2] = NO_GAP;
    return id;
  }

  private newInner(): number {
    let id: number;
    if (this.innerFree.length > 0) id = this.innerFree.pop()!;
    else {
      id = this.innerTop++;
      if ((id + 1) * IW > this.I.length) {
        const I = new Uint32Array(grown(this.I.length, IW, id + 1));
        I.set(this.I);
        this.I = I;
        this.IF = new Float64Array(I.buffer);
      }
    }
    const b = id * IW;
    this.I[b] = 0;
    this.IF[(b >> 1) + 1] = NO_GAP;
    return id;
  }

  private leafN(leaf: number): number {
    return this.L[leaf * this.lw + L_N];
  }

  private leafGap(leaf: number): number {
    return this.LF[((leaf * this.lw) >> 1) + 2];
  }

  private innerGap(node: number): number {
    return this.IF[((node * IW) >> 1) + 1];
  }

  /** The leaf after `leaf`, or -1. */
  private leafNext(leaf: number): number {
    return this.L[leaf * this.lw + L_NEXT] - 1;
  }

  // ---- cursor ----------------------------------------------------------------------------

  private setCursor(leaf: number, i: number): void {
    this.cl = leaf;
    this.ci = i;
    this.cb = leaf * this.lw + HDR + i * this.stride;
  }

  /** Start of the current entry, hi half. */
  get sHi(): number {
    return this.L[this.cb];
  }
  /** Start of the current entry, lo half. */
  get sLo(): number {
    return this.L[this.cb + 1];
  }
  /** Last of the current entry, hi half. */
  get lHi(): number {
    return this.L[this.cb + 2];
  }
  /** Last of the current entry, lo half. */
  get lLo(): number {
    return this.L[this.cb + 3];
  }
  /** Payload word `k` of the current entry. */
  word(k: number): number {
    return this.L[this.cb + 4 + k];
  }
  /** Overwrite payload word `k` of the current entry (keys are not changed). */
  setWord(k: number, v: number): void {
    this.L[this.cb + 4 + k] = v;
  }

  /** Move the cursor to the first entry. False when the tree is empty. */
  first(): boolean {
    let node = this.root;
    for (let lvl = 0; lvl < this.height; lvl++) node = this.I[node * IW + I_KID];
    if (this.leafN(node) === 0) return false;
    this.setCursor(node, 0);
    return true;
  }

  /** Move the cursor to the last entry. False when the tree is empty. */
  last(): boolean {
    let node = this.root;
    for (let lvl = 0; lvl < this.height; lvl++) {
      const b = node * IW;
      node = this.I[b + I_KID + this.I[b] - 1];
    }
    const n = this.leafN(node);
    if (n === 0) return false;
    this.setCursor(node, n - 1);
    return true;
  }

  /** Advance the cursor. False at the end. */
  next(): boolean {
    let i = this.ci + 1;
    let leaf = this.cl;
    if (i >= this.leafN(leaf)) {
      leaf = this.leafNext(leaf);
      if (leaf < 0) return false;
      i = 0;
    }
    this.setCursor(leaf, i);
    return true;
  }

  /** Cursor to the last entry whose start <= key. False if none. */
  seekLE(hi: number, lo: number): boolean {
    const leaf = this.descend(hi, lo);
    const p = this.pathUp - 1;
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

  /**
   * The leaf where key belongs, its path recorded in pn/pi and, in pathUp, the first slot
   * whose start > key.
   */
  private descend(hi: number, lo: number): number {
    // A lookup followed by an insert or removal at the same key walks (and searches) once.
    if (this.pathOk && this.pathHi === hi && this.pathLo === lo) return this.pathLeaf;
    let node = this.root;
    let t = 0;
    const I = this.I;
    // A small tree stays in cache, where prefetching would only cost.
    const pf = this.L.length > PREFETCH_WORDS;
    for (let lvl = 0; lvl < this.height; lvl++) {
      const b = node * IW;
      // Every line of the key and id columns at once, whatever the fill.
      if (pf) {
        for (let w = b; w < b + I_LL; w += LINE) t |= I[w];
        for (let w = b + I_KID; w < b + IW; w += LINE) t |= I[w];
      }
      const i = childFor(I, b, hi, lo);
      this.pn[lvl] = node;
      this.pi[lvl] = i;
      node = I[b + I_KID + i];
    }
    const L = this.L;
    const lb = node * this.lw;
    const le = lb + this.lw;
    if (pf) {
      for (let w = lb; w < le; w += LINE) t |= L[w];
    }
    this.sink = t & 1;
    this.pathOk = true;
    this.pathHi = hi;
    this.pathLo = lo;
    this.pathLeaf = node;
    this.pathUp = this.upper(node, hi, lo);
    return node;
  }

  /** After an edit that left the structure alone: the path to `leaf` still serves key. */
  private keepPath(hi: number, lo: number, leaf: number, up: number): void {
    this.pathOk = true;
    this.pathHi = hi;
    this.pathLo = lo;
    this.pathLeaf = leaf;
    this.pathUp = up;
  }

  /** First slot of `leaf` whose start > key. */
  private upper(leaf: number, hi: number, lo: number): number {
    const lb = leaf * this.lw;
    return upperBound(this.L, lb + HDR, this.stride, this.L[lb + L_N], hi, lo);
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
    let p = this.pathUp;
    let split = -1;
    if (this.leafN(leaf) === this.leafMax) {
      split = this.splitLeaf(leaf, p);
      const n = this.leafN(leaf);
      if (p > n || (p === n && this.leafN(split) === 0)) {
        p -= n;
        leaf = split;
      }
    }
    const gap = this.leafGap(leaf);
    const n = this.leafN(leaf);
    this.putSlot(leaf, p, sh, sl, lh, ll, p0, p1, p2, p3);
    this.count++;
    if (split < 0) {
      // The parent holds the leaf's first start, last last and largest gap: skip it (and
      // its columns' cache lines) when none of them moved.
      if (p === 0 || p === n || this.leafGap(leaf) !== gap) this.fixUp(this.height - 1, leaf);
      // Same nodes, same child indexes: the path stays valid for this key.
      this.keepPath(sh, sl, leaf, p + 1);
      return;
    }
    if (this.trackGaps) {
      this.leafGapRecompute(split);
      this.leafGapRecompute(this.L[split * this.lw + L_PREV] - 1);
    }
    this.addChild(this.height - 1, split);
  }

  private putSlot(
    leaf: number,
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
    const L = this.L;
    const lb = leaf * this.lw;
    const e0 = lb + HDR;
    const n = L[lb + L_N];
    let oldGap = NO_GAP;
    if (this.trackGaps && p > 0 && p < n) {
      const a = e0 + (p - 1) * st;
      const c = a + st;
      oldGap = gapBetween(L[a + 2], L[a + 3], L[c], L[c + 1]);
    }
    const b = e0 + p * st;
    if (p < n) L.copyWithin(b + st, b, e0 + n * st);
    L[b] = sh;
    L[b + 1] = sl;
    L[b + 2] = lh;
    L[b + 3] = ll;
    if (st > 4) L[b + 4] = p0;
    if (st > 5) L[b + 5] = p1;
    if (st > 6) L[b + 6] = p2;
    if (st > 7) L[b + 7] = p3;
    L[lb + L_N] = n + 1;
    if (!this.trackGaps) return;
    if (oldGap !== NO_GAP) {
      // A gap was split in two smaller ones: only the last of the largest forces a rescan.
      if (this.gapDrop(leaf, oldGap)) this.leafGapRecompute(leaf);
      return;
    }
    if (n === 0) return;
    const g = p === 0
      ? gapBetween(lh, ll, L[e0 + st], L[e0 + st + 1])
      : gapBetween(L[b - st + 2], L[b - st + 3], sh, sl);
    this.gapAdd(leaf, g);
  }

  /** Split a full leaf; returns the new right sibling (already linked). */
  private splitLeaf(leaf: number, p: number): number {
    const st = this.stride;
    // Appends and prepends leave the old leaf nearly full: sequential maps pack densely.
    const max = this.leafMax;
    let keep = max >> 1;
    if (p === max) keep = max - this.leafSlack;
    else if (p === 0) keep = this.leafSlack;
    const right = this.newLeaf();
    const L = this.L;
    const lw = this.lw;
    const lb = leaf * lw;
    const rb = right * lw;
    const n = L[lb + L_N];
    L.copyWithin(rb + HDR, lb + HDR + keep * st, lb + HDR + n * st);
    L[rb + L_N] = n - keep;
    L[lb + L_N] = keep;
    const next = L[lb + L_NEXT];
    L[rb + L_NEXT] = next;
    if (next !== 0) L[(next - 1) * lw + L_PREV] = right + 1;
    L[rb + L_PREV] = leaf + 1;
    L[lb + L_NEXT] = right + 1;
    return right;
  }

  /**
   * Copy a child's bounds and gap into its parent's slot i. Returns true if anything changed.
   * `leafChild`: the child is a leaf (else an inner node).
   */
  private refreshEntry(parent: number, i: number, child: number, leafChild: boolean): boolean {
    let fh: number, fl: number, lh: number, ll: number, g: number;
    if (leafChild) {
      const L = this.L;
      const b = child * this.lw;
      const e = b + HDR + (L[b + L_N] - 1) * this.stride;
      fh = L[b + HDR];
      fl = L[b + HDR + 1];
      lh = L[e + 2];
      ll = L[e + 3];
      g = this.LF[(b >> 1) + 2];
    } else {
      const I = this.I;
      const b = child * IW;
      const e = b + I_LL + 2 * (I[b] - 1);
      fh = I[b + I_FS];
      fl = I[b + I_FS + 1];
      lh = I[e];
      ll = I[e + 1];
      g = this.IF[(b >> 1) + 1];
    }
    const I = this.I;
    const pb = parent * IW;
    const f = pb + I_FS + 2 * i;
    const l = pb + I_LL + 2 * i;
    const gi = ((pb + I_G) >> 1) + i;
    const changed = I[f] !== fh || I[f + 1] !== fl || I[l] !== lh || I[l + 1] !== ll ||
      this.IF[gi] !== g;
    I[f] = fh;
    I[f + 1] = fl;
    I[l] = lh;
    I[l + 1] = ll;
    this.IF[gi] = g;
    return changed;
  }

  /**
   * After a leaf gained or lost entries without structural change, refresh the aggregates
   * on the recorded path from level `lvl` (the leaf's parent) up, stopping once unchanged.
   */
  private fixUp(lvl: number, leaf: number): void {
    let child = leaf;
    let leafChild = true;
    for (; lvl >= 0; lvl--) {
      const parent = this.pn[lvl];
      // An unchanged child leaves every ancestor unchanged.
      if (!this.refreshEntry(parent, this.pi[lvl], child, leafChild)) return;
      if (this.trackGaps) this.innerGapRecompute(parent);
      child = parent;
      leafChild = false;
    }
  }

  /** Insert `node` as the right sibling of the child on the path at level `lvl`. */
  private addChild(lvl: number, node: number): void {
    let right = node;
    let leafChild = true;
    for (;;) {
      if (lvl < 0) {
        // Grow a new root above the old one.
        const root = this.newInner();
        const b = root * IW;
        this.I[b + I_KID] = this.root;
        this.I[b + I_KID + 1] = right;
        this.I[b] = 2;
        this.refreshEntry(root, 0, this.root, leafChild);
        this.refreshEntry(root, 1, right, leafChild);
        if (this.trackGaps) this.innerGapRecompute(root);
        this.root = root;
        this.height++;
        return;
      }
      const parent = this.pn[lvl];
      const i = this.pi[lvl];
      this.refreshEntry(parent, i, this.I[parent * IW + I_KID + i], leafChild);
      this.insertKid(parent, i + 1, right, leafChild);
      if (this.I[parent * IW] <= FAN) {
        if (this.trackGaps) this.innerGapRecompute(parent);
        this.fixUpFull(lvl - 1, parent);
        return;
      }
      const sib = this.splitInner(parent, i + 1);
      if (this.trackGaps) {
        this.innerGapRecompute(parent);
        this.innerGapRecompute(sib);
      }
      right = sib;
      leafChild = false;
      lvl--;
    }
  }

  /** Refresh aggregates on the path from level `lvl` up without early exit (inner child). */
  private fixUpFull(lvl: number, child: number): void {
    for (; lvl >= 0; lvl--) {
      const parent = this.pn[lvl];
      this.refreshEntry(parent, this.pi[lvl], child, false);
      if (this.trackGaps) this.innerGapRecompute(parent);
      child = parent;
    }
  }

  // ---- inner node editing ----------------------------------------------------------------

  /** Open slot i of an inner node (columns shifted right by one, n + 1). */
  private openSlot(node: number, i: number): void {
    const I = this.I;
    const b = node * IW;
    const n = I[b];
    I.copyWithin(b + I_FS + 2 * i + 2, b + I_FS + 2 * i, b + I_FS + 2 * n);
    I.copyWithin(b + I_LL + 2 * i + 2, b + I_LL + 2 * i, b + I_LL + 2 * n);
    I.copyWithin(b + I_G + 2 * i + 2, b + I_G + 2 * i, b + I_G + 2 * n);
    I.copyWithin(b + I_KID + i + 1, b + I_KID + i, b + I_KID + n);
    I[b] = n + 1;
  }

  private insertKid(node: number, i: number, kid: number, leafChild: boolean): void {
    this.openSlot(node, i);
    this.I[node * IW + I_KID + i] = kid;
    this.refreshEntry(node, i, kid, leafChild);
  }

  private removeKid(node: number, i: number): void {
    const I = this.I;
    const b = node * IW;
    const n = I[b];
    I.copyWithin(b + I_FS + 2 * i, b + I_FS + 2 * i + 2, b + I_FS + 2 * n);
    I.copyWithin(b + I_LL + 2 * i, b + I_LL + 2 * i + 2, b + I_LL + 2 * n);
    I.copyWithin(b + I_G + 2 * i, b + I_G + 2 * i + 2, b + I_G + 2 * n);
    I.copyWithin(b + I_KID + i, b + I_KID + i + 1, b + I_KID + n);
    I[b] = n - 1;
  }

  /** Copy `count` child slots from (from, fi) to (to, ti); the target range must be open. */
  private copySlots(from: number, fi: number, to: number, ti: number, count: number): void {
    const I = this.I;
    const fb = from * IW;
    const tb = to * IW;
    for (const col of COLS2) {
      I.copyWithin(tb + col + 2 * ti, fb + col + 2 * fi, fb + col + 2 * (fi + count));
    }
    I.copyWithin(tb + I_KID + ti, fb + I_KID + fi, fb + I_KID + fi + count);
  }

  private moveKid(from: number, fi: number, to: number, ti: number): void {
    this.openSlot(to, ti);
    this.copySlots(from, fi, to, ti, 1);
    this.removeKid(from, fi);
  }

  /**
   * Split an overfull inner node whose child `added` is new; returns the right part. Halves,
   * except after an append (prepend), where the old children stay together, nearly full.
   */
  private splitInner(node: number, added: number): number {
    const right = this.newInner();
    const I = this.I;
    const b = node * IW;
    const n = I[b];
    let keep = n >> 1;
    if (added === n - 1) keep = FAN - FAN_SLACK;
    else if (added === 0) keep = 1 + FAN_SLACK;
    this.copySlots(node, keep, right, 0, n - keep);
    I[right * IW] = n - keep;
    I[b] = keep;
    return right;
  }

  // ---- removal ---------------------------------------------------------------------------

  /** Remove the entry starting exactly at key. False if there is none. */
  remove(hi: number, lo: number): boolean {
    const leaf = this.descend(hi, lo);
    this.pathOk = false;
    const p = this.pathUp - 1;
    if (p < 0) return false;
    const b = leaf * this.lw + HDR + p * this.stride;
    if (this.L[b] !== hi || this.L[b + 1] !== lo) return false;
    const gap = this.leafGap(leaf);
    const n = this.leafN(leaf);
    this.dropSlot(leaf, p);
    this.count--;
    if (this.height === 0 || n - 1 >= this.leafMin) {
      if (p === 0 || p === n - 1 || this.leafGap(leaf) !== gap) this.fixUp(this.height - 1, leaf);
      // With an entry below key left in the leaf, a fresh descent would still come here.
      if (p > 0) this.keepPath(hi, lo, leaf, p);
      return true;
    }
    this.rebalanceLeaf(leaf);
    return true;
  }

  private dropSlot(leaf: number, p: number): void {
    const st = this.stride;
    const L = this.L;
    const lb = leaf * this.lw;
    const e0 = lb + HDR;
    const n = L[lb + L_N];
    let recompute = false;
    if (this.trackGaps && n > 1) {
      if (p > 0 && p < n - 1) {
        // Two gaps become one at least as large as either: no rescan needed.
        const a = e0 + (p - 1) * st;
        const b = a + st;
        const c = b + st;
        this.gapDrop(leaf, gapBetween(L[a + 2], L[a + 3], L[b], L[b + 1]));
        this.gapDrop(leaf, gapBetween(L[b + 2], L[b + 3], L[c], L[c + 1]));
        this.gapAdd(leaf, gapBetween(L[a + 2], L[a + 3], L[c], L[c + 1]));
      } else {
        const a = e0 + (p === 0 ? 0 : (n - 2) * st);
        recompute = this.gapDrop(leaf, gapBetween(L[a + 2], L[a + 3], L[a + st], L[a + st + 1]));
      }
    }
    L.copyWithin(e0 + p * st, e0 + (p + 1) * st, e0 + n * st);
    L[lb + L_N] = n - 1;
    if (n - 1 < 2) {
      this.LF[(lb >> 1) + 2] = NO_GAP;
      L[lb + L_GAPN] = 0;
    } else if (recompute) this.leafGapRecompute(leaf);
  }

  private rebalanceLeaf(leaf: number): void {
    const st = this.stride;
    const lw = this.lw;
    const lvl = this.height - 1;
    const parent = this.pn[lvl];
    const i = this.pi[lvl];
    const useLeft = i > 0;
    const sib = this.I[parent * IW + I_KID + (useLeft ? i - 1 : i + 1)];
    const left = useLeft ? sib : leaf;
    const right = useLeft ? leaf : sib;
    const li = useLeft ? i - 1 : i;
    const L = this.L;
    const lb = left * lw;
    const rb = right * lw;
    const ln = L[lb + L_N];
    const rn = L[rb + L_N];
    if (ln + rn <= (this.leafMax * 3) >> 2) {
      L.copyWithin(lb + HDR + ln * st, rb + HDR, rb + HDR + rn * st);
      L[lb + L_N] = ln + rn;
      const next = L[rb + L_NEXT];
      L[lb + L_NEXT] = next;
      if (next !== 0) L[(next - 1) * lw + L_PREV] = left + 1;
      this.leafFree.push(right);
      if (this.trackGaps) this.leafGapRecompute(left);
      this.removeKid(parent, li + 1);
      this.refreshEntry(parent, li, left, true);
      this.pi[lvl] = li;
      this.afterKidRemoved(lvl);
      return;
    }
    // Borrow: even out the two leaves.
    const want = (ln + rn) >> 1;
    if (ln < want) {
      const k = want - ln;
      L.copyWithin(lb + HDR + ln * st, rb + HDR, rb + HDR + k * st);
      L.copyWithin(rb + HDR, rb + HDR + k * st, rb + HDR + rn * st);
      L[lb + L_N] = want;
      L[rb + L_N] = rn - k;
    } else {
      const k = ln - want;
      L.copyWithin(rb + HDR + k * st, rb + HDR, rb + HDR + rn * st);
      L.copyWithin(rb + HDR, lb + HDR + (ln - k) * st, lb + HDR + ln * st);
      L[rb + L_N] = rn + k;
      L[lb + L_N] = want;
    }
    if (this.trackGaps) {
      this.leafGapRecompute(left);
      this.leafGapRecompute(right);
    }
    this.refreshEntry(parent, li, left, true);
    this.refreshEntry(parent, li + 1, right, true);
    if (this.trackGaps) this.innerGapRecompute(parent);
    this.fixUpFull(lvl - 1, parent);
  }

  /** The inner node at level `lvl` lost a child; rebalance it and refresh upward. */
  private afterKidRemoved(lvl: number): void {
    for (;;) {
      const node = this.pn[lvl];
      const nb = node * IW;
      if (this.trackGaps) this.innerGapRecompute(node);
      if (lvl === 0) {
        if (this.I[nb] === 1) {
          // Collapse a root with a single child.
          this.root = this.I[nb + I_KID];
          this.height--;
          this.innerFree.push(node);
        }
        return;
      }
      if (this.I[nb] >= FAN_MIN) {
        this.fixUpFull(lvl - 1, node);
        return;
      }
      const parent = this.pn[lvl - 1];
      const i = this.pi[lvl - 1];
      const useLeft = i > 0;
      const sib = this.I[parent * IW + I_KID + (useLeft ? i - 1 : i + 1)];
      const left = useLeft ? sib : node;
      const right = useLeft ? node : sib;
      const li = useLeft ? i - 1 : i;
      const I = this.I;
      const ln = I[left * IW];
      const rn = I[right * IW];
      if (ln + rn <= FAN) {
        this.copySlots(right, 0, left, ln, rn);
        I[left * IW] = ln + rn;
        this.innerFree.push(right);
        if (this.trackGaps) this.innerGapRecompute(left);
        this.removeKid(parent, li + 1);
        this.refreshEntry(parent, li, left, false);
        this.pi[lvl - 1] = li;
        lvl--;
        continue;
      }
      // Borrow children to even out.
      const want = (ln + rn) >> 1;
      while (I[left * IW] < want) this.moveKid(right, 0, left, I[left * IW]);
      while (I[left * IW] > want) this.moveKid(left, I[left * IW] - 1, right, 0);
      if (this.trackGaps) {
        this.innerGapRecompute(left);
        this.innerGapRecompute(right);
      }
      this.refreshEntry(parent, li, left, false);
      this.refreshEntry(parent, li + 1, right, false);
      if (this.trackGaps) this.innerGapRecompute(parent);
      this.fixUpFull(lvl - 2, parent);
      return;
    }
  }

  // ---- gaps ------------------------------------------------------------------------------

  private leafGapRecompute(leaf: number): void {
    const L = this.L;
    const st = this.stride;
    const lb = leaf * this.lw;
    const e0 = lb + HDR;
    const n = L[lb + L_N];
    let best = NO_GAP;
    let count = 0;
    for (let i = 1; i < n; i++) {
      const a = e0 + (i - 1) * st;
      const g = gapBetween(L[a + 2], L[a + 3], L[a + st], L[a + st + 1]);
      if (g > best) {
        best = g;
        count = 1;
      } else if (g === best) count++;
    }
    this.LF[(lb >> 1) + 2] = best;
    L[lb + L_GAPN] = count;
  }

  /** A gap of size g appeared in the leaf. */
  private gapAdd(leaf: number, g: number): void {
    const lb = leaf * this.lw;
    const gi = (lb >> 1) + 2;
    const cur = this.LF[gi];
    if (g > cur) {
      this.LF[gi] = g;
      this.L[lb + L_GAPN] = 1;
    } else if (g === cur) this.L[lb + L_GAPN]++;
  }

  /** A gap of size g left the leaf. True when the largest is gone and a rescan is needed. */
  private gapDrop(leaf: number, g: number): boolean {
    const lb = leaf * this.lw;
    if (g !== this.LF[(lb >> 1) + 2]) return false;
    return --this.L[lb + L_GAPN] === 0;
  }

  private innerGapRecompute(node: number): void {
    const I = this.I;
    const IF = this.IF;
    const b = node * IW;
    const n = I[b];
    const g0 = (b + I_G) >> 1;
    let best = NO_GAP;
    for (let i = 0; i < n; i++) {
      if (IF[g0 + i] > best) best = IF[g0 + i];
      if (i + 1 < n) {
        const e = b + I_LL + 2 * i;
        const f = b + I_FS + 2 * i + 2;
        const c = gapBetween(I[e], I[e + 1], I[f], I[f + 1]);
        if (c > best) best = c;
      }
    }
    IF[(b >> 1) + 1] = best;
  }

  // ---- gap search ------------------------------------------------------------------------

  /**
   * Find the lowest gap between two consecutive entries that holds at least `need` free
   * IOVAs (compared as rounded doubles: never misses a real fit, may report a near miss) and
   * whose last free IOVA is >= from. Fills {@link gapResult}. Needs `gaps: true`.
   */
  findGap(need: number, fromHi: number, fromLo: number): boolean {
    if (this.maxGap < need) return false;
    return this.gapIn(this.root, this.height, need, fromHi, fromLo);
  }

  private gapIn(node: number, level: number, need: number, fh: number, fl: number): boolean {
    if (level === 0) {
      const L = this.L;
      const st = this.stride;
      const lb = node * this.lw;
      const e0 = lb + HDR;
      const n = L[lb + L_N];
      for (let i = Math.max(1, this.upper(node, fh, fl)); i < n; i++) {
        const a = e0 + (i - 1) * st;
        const b = a + st;
        if (gapBetween(L[a + 2], L[a + 3], L[b], L[b + 1]) < need) continue;
        this.setGap(L[a + 2], L[a + 3], L[b], L[b + 1]);
        return true;
      }
      return false;
    }
    const b = node * IW;
    const n = this.I[b];
    const g0 = (b + I_G) >> 1;
    for (let i = childFor(this.I, b, fh, fl); i < n; i++) {
      const I = this.I;
      const lh = I[b + I_LL + 2 * i];
      const ll = I[b + I_LL + 2 * i + 1];
      if (this.IF[g0 + i] >= need && (lh > fh || (lh === fh && ll > fl))) {
        if (this.gapIn(I[b + I_KID + i], level - 1, need, fh, fl)) return true;
      }
      if (i + 1 >= n) break;
      const nh = I[b + I_FS + 2 * i + 2];
      const nl = I[b + I_FS + 2 * i + 3];
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
    let prevLeaf = -1;
    const L = this.L;
    const I = this.I;
    const lw = this.lw;
    const walk = (node: number, level: number): void => {
      if (level === 0) {
        const lb = node * lw;
        const n = L[lb + L_N];
        if (L[lb + L_PREV] - 1 !== prevLeaf) throw new Error("leaf links");
        if (node !== this.root && n === 0) throw new Error("empty leaf");
        if (n > this.leafMax) throw new Error("leaf overfull");
        if (this.trackGaps && n > 0) {
          const g = this.leafGap(node);
          const c = L[lb + L_GAPN];
          this.leafGapRecompute(node);
          if (g !== this.leafGap(node) || c !== L[lb + L_GAPN]) {
            throw new Error(`leaf gap ${g}x${c} != ${this.leafGap(node)}x${L[lb + L_GAPN]}`);
          }
        }
        prevLeaf = node;
        seen += n;
        return;
      }
      const b = node * IW;
      const n = I[b];
      if (n < 2) throw new Error("inner with < 2 children");
      if (n > FAN) throw new Error("inner overfull");
      for (let i = 0; i < n; i++) {
        const kid = I[b + I_KID + i];
        walk(kid, level - 1);
        // The slot must already hold what a refresh would write.
        if (this.refreshEntry(node, i, kid, level === 1)) throw new Error("inner bounds");
      }
      if (this.trackGaps) {
        const g = this.innerGap(node);
        this.innerGapRecompute(node);
        if (g !== this.innerGap(node)) throw new Error("inner gap");
      }
    };
    walk(this.root, this.height);
    if (seen !== this.count) throw new Error(`count ${seen} != ${this.count}`);
    if (prevLeaf >= 0 && this.leafNext(prevLeaf) !== -1) throw new Error("tail link");
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

/** The two-word child columns of an inner block (first start, last last, gap). */
const COLS2 = [I_FS, I_LL, I_G] as const;

/** Arena length (u32 words) holding at least `need` blocks of `bw` words, grown from `len`. */
function grown(len: number, bw: number, need: number): number {
  const blocks = len / bw;
  const step = Math.max(1, Math.min(blocks >> 1, Math.floor(GROW_MAX_BYTES / (4 * bw))));
  return Math.max(need, blocks + step) * bw;
}

/** Last child of the inner block at `b` whose first start <= key, or 0. */
function childFor(I: Uint32Array, b: number, hi: number, lo: number): number {
  const u = upperBound(I, b + I_FS, 2, I[b], hi, lo);
  return u > 0 ? u - 1 : 0;
}

/**
 * Index of the first of `n` keys (hi/lo word pairs at `a`, `a + st`, …) that is > (hi, lo).
 * Branch-free: the comparison becomes a 0/1 that moves the base, so the unpredictable
 * outcome of each probe costs no misprediction.
 */
function upperBound(
  A: Uint32Array,
  a: number,
  st: number,
  n: number,
  hi: number,
  lo: number,
): number {
  if (n === 0) return 0;
  let base = 0;
  while (n > 1) {
    const half = n >> 1;
    const k = a + (base + half) * st;
    const kh = A[k];
    base += half * (+(kh < hi) | (+(kh === hi) & +(A[k + 1] <= lo)));
    n -= half;
  }
  const k = a + base * st;
  const kh = A[k];
  return base + (+(kh < hi) | (+(kh === hi) & +(A[k + 1] <= lo)));
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
