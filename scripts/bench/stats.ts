/**
 * Pure helpers of the benchmark harness: medians, a seeded PRNG, alternating sample
 * collection, and number formatting. Nothing here reads the clock except
 * {@linkcode alternate}'s callers' own functions.
 *
 * @module
 */

/** The median of `xs` (the mean of the two middle values for an even count); NaN when empty. */
export function median(xs: readonly number[]): number {
  if (xs.length === 0) return NaN;
  const s = [...xs].sort((a, b) => a - b);
  const mid = s.length >> 1;
  return s.length % 2 === 1 ? s[mid] : (s[mid - 1] + s[mid]) / 2;
}

/** The `q` quantile (0..1) of `xs` by linear interpolation; NaN when empty. */
export function quantile(xs: readonly number[], q: number): number {
  if (xs.length === 0) return NaN;
  const s = [...xs].sort((a, b) => a - b);
  const pos = Math.min(Math.max(q, 0), 1) * (s.length - 1);
  const lo = Math.floor(pos);
  const hi = Math.ceil(pos);
  return s[lo] + (s[hi] - s[lo]) * (pos - lo);
}

/**
 * Median of the pairwise ratios `a[i] / b[i]` (samples taken in the same round). Pairs
 * measured back to back share the machine's load of that moment, so this is steadier than
 * `median(a) / median(b)` on a shared host.
 */
export function pairedRatio(a: readonly number[], b: readonly number[]): number {
  const n = Math.min(a.length, b.length);
  const r: number[] = [];
  for (let i = 0; i < n; i++) if (b[i] !== 0) r.push(a[i] / b[i]);
  return median(r);
}

/** The seeded PRNG the tests use too (mulberry32), so a benchmark position is reproducible. */
import { prng } from "../../tests/_prng.ts";
export { prng };

/** `count` integers in [0, n) from a PRNG seeded with `seed`. */
export function randomIndices(count: number, n: number, seed: number): Int32Array {
  const next = prng(seed);
  const out = new Int32Array(count);
  for (let i = 0; i < count; i++) out[i] = Math.floor(next() * n);
  return out;
}

/**
 * Run each sampler `rounds` times, interleaved: round r runs them in order when r is even
 * and in reverse order when it is odd, so no sampler always runs first (or last) after the
 * same neighbour. Returns the samples by name, in round order, so that `samples[a][i]` and
 * `samples[b][i]` were taken in the same round (see {@linkcode pairedRatio}).
 */
export async function alternate(
  samplers: Record<string, () => number | Promise<number>>,
  rounds: number,
): Promise<Record<string, number[]>> {
  const names = Object.keys(samplers);
  const out: Record<string, number[]> = Object.fromEntries(names.map((n) => [n, []]));
  for (let r = 0; r < rounds; r++) {
    const order = r % 2 === 0 ? names : [...names].reverse();
    for (const n of order) out[n].push(await samplers[n]());
  }
  return out;
}

/** `1234567.8` → `"1,234,568"`; fractions below 10 keep `digits` decimals. */
export function formatNumber(x: number, digits = 2): string {
  if (!Number.isFinite(x)) return String(x);
  const abs = Math.abs(x);
  if (abs >= 10 || Number.isInteger(x)) {
    return Math.round(x).toString().replace(/\B(?=(\d{3})+(?!\d))/g, ",");
  }
  return x.toFixed(digits);
}

/** A ratio as `"1.23×"`. */
export function formatRatio(x: number): string {
  return Number.isFinite(x) ? `${x.toFixed(2)}×` : "—";
}

/** `10 ** k` as `"10^k"` when `n` is a power of ten, else the number with separators. */
export function formatCount(n: number): string {
  const k = Math.log10(n);
  return n >= 1000 && Number.isInteger(k) ? `10^${k}` : formatNumber(n);
}
