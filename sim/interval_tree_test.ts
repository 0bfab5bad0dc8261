import assert from "node:assert/strict";
import { approx64, IntervalTree, join64, RangeSet, split64, u64 } from "./interval_tree.ts";
import { prng } from "../tests/_prng.ts";

function big(r: () => number, bits: number): bigint {
  let x = 0n;
  for (let i = 0; i < bits; i += 16) x = (x << 16n) | BigInt(Math.floor(r() * 65536));
  return x & ((1n << BigInt(bits)) - 1n);
}

type Iv = { s: bigint; l: bigint; p: number };

function insertBig(t: IntervalTree, s: bigint, l: bigint, p: number): void {
  split64(s);
  const sh = u64.hi, sl = u64.lo;
  split64(l);
  t.insert(sh, sl, u64.hi, u64.lo, p);
}

function cur(t: IntervalTree): Iv {
  return { s: join64(t.sHi, t.sLo), l: join64(t.lHi, t.lLo), p: t.word(0) };
}

Deno.test("split64/join64 round-trip across the u64 range", () => {
  const r = prng(1);
  const samples = [
    0n,
    1n,
    0xffff_ffffn,
    0x1_0000_0000n,
    (1n << 53n) - 1n,
    1n << 53n,
    2n ** 64n - 1n,
  ];
  for (let i = 0; i < 1000; i++) samples.push(big(r, 64));
  for (const x of samples) {
    split64(x);
    assert.equal(join64(u64.hi, u64.lo), x);
  }
  assert.equal(approx64(0, 5), 5);
});

function model(ivs: Iv[]): Iv[] {
  return [...ivs].sort((a, b) => (a.s < b.s ? -1 : 1));
}

function overlaps(ivs: Iv[], s: bigint, l: bigint): Iv | undefined {
  return model(ivs).find((iv) => iv.l >= s && iv.s <= l);
}

function randomDisjoint(r: () => number, ivs: Iv[], space: bigint): Iv | undefined {
  for (let tries = 0; tries < 20; tries++) {
    const s = big(r, 64) % space;
    const len = 1n + (big(r, 16) % 64n);
    const l = s + len - 1n;
    if (l >= space) continue;
    if (overlaps(ivs, s, l)) continue;
    return { s, l, p: Math.floor(r() * 1e9) };
  }
  return undefined;
}

for (const space of [1n << 12n, 1n << 40n, 2n ** 64n - 1n]) {
  Deno.test(`IntervalTree: random insert/remove agrees with a sorted model (space ${space})`, () => {
    const r = prng(Number(space % 1000n) + 7);
    const t = new IntervalTree({ payload: 1, gaps: true });
    const ivs: Iv[] = [];
    for (let step = 0; step < 6000; step++) {
      const op = r();
      if (op < 0.6 || ivs.length < 5) {
        const iv = randomDisjoint(r, ivs, space);
        if (!iv) continue;
        insertBig(t, iv.s, iv.l, iv.p);
        ivs.push(iv);
      } else {
        const k = Math.floor(r() * ivs.length);
        const iv = ivs[k];
        split64(iv.s);
        assert.ok(t.remove(u64.hi, u64.lo));
        ivs.splice(k, 1);
      }
      if (step % 97 === 0) t.check();
      // Overlap queries.
      const qs = big(r, 64) % space;
      const ql = qs + (big(r, 16) % 200n);
      split64(qs);
      const qh = u64.hi, qlo = u64.lo;
      split64(ql);
      const found = t.firstOverlap(qh, qlo, u64.hi, u64.lo);
      const want = overlaps(ivs, qs, ql);
      assert.equal(found, want !== undefined);
      if (want) assert.deepEqual(cur(t), want);
    }
    t.check();
    // Full iteration in order.
    const seen: Iv[] = [];
    if (t.first()) { do seen.push(cur(t)); while (t.next()); }
    assert.deepEqual(seen, model(ivs));
    assert.equal(t.size, ivs.length);
  });
}

Deno.test("IntervalTree: ascending and descending bulk loads pack leaves and stay valid", () => {
  for (const dir of [1, -1]) {
    const t = new IntervalTree({ payload: 4, gaps: true });
    const n = 20000;
    for (let i = 0; i < n; i++) {
      const k = dir > 0 ? i : n - 1 - i;
      const s = BigInt(k) * 0x2000n;
      insertBig(t, s, s + 0xfffn, k);
    }
    t.check();
    assert.equal(t.size, n);
    assert.equal(t.maxGap, 0x1000);
    for (let i = 0; i < n; i += 2) {
      split64(BigInt(i) * 0x2000n);
      assert.ok(t.remove(u64.hi, u64.lo));
    }
    t.check();
    assert.equal(t.size, n / 2);
    for (let i = 1; i < n; i += 2) {
      split64(BigInt(i) * 0x2000n);
      assert.ok(t.remove(u64.hi, u64.lo));
    }
    t.check();
    assert.equal(t.size, 0);
    assert.equal(t.first(), false);
  }
});

Deno.test("IntervalTree.findGap returns the lowest gap of at least `need` ending at or after `from`", () => {
  const r = prng(42);
  const t = new IntervalTree({ payload: 0, gaps: true });
  let ivs: Iv[] = [];
  for (let i = 0; i < 3000; i++) {
    const iv = randomDisjoint(r, ivs, 1n << 24n);
    if (!iv) continue;
    insertBig(t, iv.s, iv.l, 0);
    ivs.push(iv);
  }
  ivs = model(ivs);
  t.check();
  for (let q = 0; q < 500; q++) {
    const need = 1 + Math.floor(r() * 20000);
    const from = big(r, 24);
    let want: [bigint, bigint] | undefined;
    for (let i = 1; i < ivs.length; i++) {
      const gap = ivs[i].s - ivs[i - 1].l - 1n;
      if (gap >= BigInt(need) && ivs[i].s - 1n >= from) {
        want = [ivs[i - 1].l, ivs[i].s];
        break;
      }
    }
    split64(from);
    const got = t.findGap(need, u64.hi, u64.lo);
    assert.equal(got, want !== undefined, `need ${need} from ${from}`);
    if (want) {
      const g = t.gapResult;
      assert.deepEqual([join64(g.prevHi, g.prevLo), join64(g.nextHi, g.nextLo)], want);
    }
  }
});

Deno.test("RangeSet: union, intersection and gaps with overlapping and touching ranges", () => {
  const s = new RangeSet();
  const a = {}, b = {};
  s.add(10n, 19n, a);
  s.add(15n, 30n, b);
  s.add(31n, 40n, a); // touches: merges
  s.add(100n, 100n, b);
  assert.equal(s.spanCount, 2);
  assert.ok(s.intersects(40n, 50n));
  assert.ok(!s.intersects(41n, 99n));
  assert.ok(s.intersects(0n, 10n));
  assert.deepEqual(s.gaps(0n, 200n), [
    { start: 0n, last: 9n },
    { start: 41n, last: 99n },
    { start: 101n, last: 200n },
  ]);
  assert.equal(s.removeOwner(a), 2);
  assert.deepEqual(s.gaps(0n, 2n ** 64n - 1n), [
    { start: 0n, last: 14n },
    { start: 31n, last: 99n },
    { start: 101n, last: 2n ** 64n - 1n },
  ]);
  s.add(0n, 2n ** 64n - 1n, a);
  assert.deepEqual(s.gaps(0n, 2n ** 64n - 1n), []);
});

Deno.test("RangeSet: 10,000 overlapping ranges stay fast and exact", () => {
  const r = prng(3);
  const s = new RangeSet();
  const ranges: [bigint, bigint][] = [];
  for (let i = 0; i < 10000; i++) {
    const st = big(r, 40);
    const l = st + big(r, 20);
    ranges.push([st, l]);
    s.add(st, l, i % 7);
  }
  for (let q = 0; q < 2000; q++) {
    const qs = big(r, 40);
    const ql = qs + big(r, 12);
    const want = ranges.some(([a, b]) => a <= ql && b >= qs);
    assert.equal(s.intersects(qs, ql), want);
  }
  s.removeOwner(3);
  const left = ranges.filter((_, i) => i % 7 !== 3);
  for (let q = 0; q < 500; q++) {
    const qs = big(r, 40);
    const want = left.some(([a, b]) => a <= qs && b >= qs);
    assert.equal(s.intersects(qs, qs), want);
  }
});

Deno.test("IntervalTree: 150,000 random-order inserts then random-order removes keep every invariant", () => {
  const r = prng(99);
  const n = 150000;
  const keys = Array.from({ length: n }, (_, i) => i);
  for (let i = n - 1; i > 0; i--) {
    const j = Math.floor(r() * (i + 1));
    [keys[i], keys[j]] = [keys[j], keys[i]];
  }
  const t = new IntervalTree({ payload: 4, gaps: true });
  // Spread over the top of the u64 space so hi halves differ and carry matters.
  const base = 2n ** 64n - BigInt(n) * 0x10000n - 1n;
  for (let i = 0; i < n; i++) {
    const s = base + BigInt(keys[i]) * 0x10000n;
    insertBig(t, s, s + BigInt(keys[i] % 0x8000), keys[i]);
    if (i % 30000 === 0) t.check();
  }
  t.check();
  for (let i = n - 1; i > 0; i--) {
    const j = Math.floor(r() * (i + 1));
    [keys[i], keys[j]] = [keys[j], keys[i]];
  }
  for (let i = 0; i < n; i++) {
    split64(base + BigInt(keys[i]) * 0x10000n);
    assert.ok(t.remove(u64.hi, u64.lo));
    if (i % 25000 === 0) t.check();
  }
  t.check();
  assert.equal(t.size, 0);
});

Deno.test("IntervalTree: lookups at the key just inserted or removed agree with a sorted model", () => {
  // The path recorded by an edit is reused by the next lookup at the same key; exercise it
  // at leaf boundaries (dense keys, many leaves) and at the first slot of a leaf.
  const r = prng(5);
  const t = new IntervalTree({ payload: 1, gaps: true });
  const present = new Set<number>();
  const slots = 3000;
  const seekLE = (k: number): number | undefined => {
    for (let j = k; j >= 0; j--) if (present.has(j)) return j;
    return undefined;
  };
  for (let step = 0; step < 20000; step++) {
    const k = Math.floor(r() * slots);
    const s = BigInt(k) * 0x10n;
    split64(s);
    const sh = u64.hi, sl = u64.lo;
    if (present.has(k)) {
      assert.ok(t.remove(sh, sl));
      present.delete(k);
    } else {
      insertBig(t, s, s + 0x7n, k);
      present.add(k);
    }
    // Same key first (the kept path), then its neighbours.
    for (const q of [k, k + 1, k - 1]) {
      if (q < 0) continue;
      split64(BigInt(q) * 0x10n);
      const want = seekLE(q);
      assert.equal(t.seekLE(u64.hi, u64.lo), want !== undefined, `seekLE ${q} after ${k}`);
      if (want !== undefined) assert.equal(t.word(0), want);
      const found = t.firstOverlap(u64.hi, u64.lo, u64.hi, u64.lo + 0xf);
      assert.equal(found, present.has(q), `firstOverlap ${q}`);
    }
    if (step % 1000 === 0) t.check();
  }
  t.check();
  assert.equal(t.size, present.size);
});

for (const leafSize of [8, 256]) {
  Deno.test(`IntervalTree: leafSize ${leafSize} keeps every invariant under random edits`, () => {
    const r = prng(leafSize);
    const t = new IntervalTree({ payload: 2, gaps: true, leafSize });
    const present = new Map<number, number>();
    for (let step = 0; step < 30000; step++) {
      const k = Math.floor(r() * 5000);
      split64(BigInt(k) * 0x1000n);
      const sh = u64.hi, sl = u64.lo;
      if (present.has(k)) {
        assert.ok(t.remove(sh, sl));
        present.delete(k);
      } else {
        const len = 1 + Math.floor(r() * 0xfff);
        insertBig(t, BigInt(k) * 0x1000n, BigInt(k) * 0x1000n + BigInt(len - 1), k);
        present.set(k, len);
      }
      if (step % 2000 === 0) t.check();
    }
    t.check();
    const keys = [...present.keys()].sort((a, b) => a - b);
    const seen: number[] = [];
    if (t.first()) { do seen.push(t.word(0)); while (t.next()); }
    assert.deepEqual(seen, keys);
    // The largest gap agrees with a scan of the model.
    let best = -1;
    for (let i = 1; i < keys.length; i++) {
      const gap = keys[i] * 0x1000 - (keys[i - 1] * 0x1000 + present.get(keys[i - 1])! - 1) - 1;
      if (gap > best) best = gap;
    }
    assert.equal(t.maxGap, best);
  });
}

Deno.test("IntervalTree: leafSize must be even and within 8..256", () => {
  assert.throws(() => new IntervalTree({ payload: 0, leafSize: 7 }), RangeError);
  assert.throws(() => new IntervalTree({ payload: 0, leafSize: 4 }), RangeError);
  assert.throws(() => new IntervalTree({ payload: 0, leafSize: 512 }), RangeError);
});
