/**
 * A seeded PRNG (mulberry32) for tests and benchmarks: deterministic 32-bit state, floats in
 * [0, 1). The same seed gives the same sequence on every machine, so a failing random case
 * can be replayed from its seed.
 *
 * @module
 */

/** A generator of floats in [0, 1) from `seed`. */
export function prng(seed: number): () => number {
  let s = seed >>> 0;
  return () => {
    s = (s + 0x6d2b79f5) >>> 0;
    let t = s;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}
