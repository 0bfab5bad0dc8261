import assert from "node:assert/strict";
import { RangeSet } from "./_ranges.ts";

Deno.test("RangeSet: adjacent and overlapping ranges merge, disjoint ones stay sorted", () => {
  const s = new RangeSet();
  s.add(0x5000n, 0x6000n);
  s.add(0x1000n, 0x2000n);
  s.add(0x3000n, 0x4000n);
  assert.deepEqual(s.ranges(), [[0x1000n, 0x2000n], [0x3000n, 0x4000n], [0x5000n, 0x6000n]]);
  s.add(0x2000n, 0x3000n); // touches both neighbours
  assert.deepEqual(s.ranges(), [[0x1000n, 0x4000n], [0x5000n, 0x6000n]]);
  s.add(0x3800n, 0x5800n); // overlaps both
  assert.deepEqual(s.ranges(), [[0x1000n, 0x6000n]]);
  s.add(0x800n, 0x900n);
  assert.deepEqual(s.ranges(), [[0x800n, 0x900n], [0x1000n, 0x6000n]]);
});

Deno.test("RangeSet: covers and remainingAt answer for every byte, not just starts", () => {
  const s = new RangeSet();
  s.add(0x1000n, 0x3000n);
  s.add(0x4000n, 0x5000n);
  assert.equal(s.covers(0x1000n, 0x2000n), true);
  assert.equal(s.covers(0x2fffn, 1n), true);
  assert.equal(s.covers(0x2fffn, 2n), false); // crosses into the hole
  assert.equal(s.covers(0xfffn, 1n), false);
  assert.equal(s.covers(0x3000n, 1n), false);
  assert.equal(s.covers(0x4000n, 0x1000n), true);
  assert.equal(s.covers(0x4000n, 0x1001n), false);
  assert.equal(s.covers(0x9999n, 0n), true); // nothing to touch
  assert.equal(s.covers(0x1000n, -1n), false);
  assert.equal(s.remainingAt(0x1800n), 0x1800n);
  assert.equal(s.remainingAt(0x3000n), 0n);
  assert.equal(s.remainingAt(-1n), 0n);
});

Deno.test("RangeSet: remove splits a range and refuses spans it does not hold", () => {
  const s = new RangeSet();
  s.add(0x1000n, 0x5000n);
  assert.equal(s.remove(0x2000n, 0x3000n), true);
  assert.deepEqual(s.ranges(), [[0x1000n, 0x2000n], [0x3000n, 0x5000n]]);
  assert.equal(s.remove(0x1800n, 0x3800n), false); // spans the hole
  assert.equal(s.remove(0x0n, 0x1000n), false);
  assert.deepEqual(s.ranges(), [[0x1000n, 0x2000n], [0x3000n, 0x5000n]]);
  assert.equal(s.remove(0x1000n, 0x2000n), true);
  assert.equal(s.remove(0x4000n, 0x5000n), true);
  assert.equal(s.remove(0x3000n, 0x4000n), true);
  assert.equal(s.size, 0);
});

Deno.test("RangeSet: many ranges stay consistent with a byte model", () => {
  const s = new RangeSet();
  const model = new Uint8Array(256);
  let seed = 7;
  const rnd = (n: number) => (seed = (seed * 1103515245 + 12345) & 0x7fffffff) % n;
  for (let step = 0; step < 2000; step++) {
    const a = rnd(250), b = a + 1 + rnd(256 - a - 1);
    if (rnd(2)) {
      s.add(BigInt(a), BigInt(b));
      model.fill(1, a, b);
    } else if (s.remove(BigInt(a), BigInt(b))) {
      assert.ok(model.subarray(a, b).every((x) => x === 1));
      model.fill(0, a, b);
    } else {
      assert.ok(model.subarray(a, b).some((x) => x === 0));
    }
    const q = rnd(250), n = rnd(6);
    assert.equal(s.covers(BigInt(q), BigInt(n)), model.subarray(q, q + n).every((x) => x === 1));
  }
});

Deno.test("RangeSet: subtract removes whatever part it holds, across ranges", () => {
  const s = new RangeSet();
  s.add(0x1000n, 0x3000n);
  s.add(0x5000n, 0x8000n);
  s.subtract(0x0n, 0x1000n); // nothing held there
  assert.deepEqual(s.ranges(), [[0x1000n, 0x3000n], [0x5000n, 0x8000n]]);
  s.subtract(0x2000n, 0x6000n); // the end of one, a hole, the start of the next
  assert.deepEqual(s.ranges(), [[0x1000n, 0x2000n], [0x6000n, 0x8000n]]);
  s.subtract(0x6800n, 0x7000n); // splits one
  assert.deepEqual(s.ranges(), [[0x1000n, 0x2000n], [0x6000n, 0x6800n], [0x7000n, 0x8000n]]);
  s.subtract(0x0n, 0x10000n);
  assert.equal(s.size, 0);
});
