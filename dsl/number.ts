/**
 * Integer literals: `4096`, `0x1000`, `0b1010`, `0o17`, `1_000`, and sizes `4K` `2M` `1G`
 * `1T` `4KiB` `2MiB` (powers of 1024). Always BigInt, never a float; anything wider than
 * 64 bits is refused.
 *
 * @module
 */

/** 2^64 − 1. */
export const U64_MAX = 0xffff_ffff_ffff_ffffn;

/** Result of {@link scanInteger}: the value and where the literal ended, or an error. */
export type ScanResult =
  | { ok: true; value: bigint; end: number }
  | { ok: false; message: string; at: number };

const SIZE_SHIFT: Record<string, bigint> = { K: 10n, M: 20n, G: 30n, T: 40n, P: 50n, E: 60n };

function isIdentChar(c: number): boolean {
  return (c >= 48 && c <= 57) || (c >= 65 && c <= 90) || (c >= 97 && c <= 122) || c === 95;
}

function digitValue(c: number): number {
  if (c >= 48 && c <= 57) return c - 48;
  if (c >= 97 && c <= 122) return c - 87;
  if (c >= 65 && c <= 90) return c - 55;
  return 99;
}

/**
 * Scan the integer literal that starts at `start` in `text` (which must be a digit). The
 * literal runs over letters, digits and `_`; it must be wholly valid.
 */
export function scanInteger(text: string, start: number): ScanResult {
  let end = start;
  while (end < text.length && isIdentChar(text.charCodeAt(end))) end++;
  let base = 10;
  let i = start;
  if (end - start > 1 && text.charCodeAt(start) === 48) {
    const p = text.charCodeAt(start + 1) | 0x20;
    if (p === 120) base = 16;
    else if (p === 98) base = 2;
    else if (p === 111) base = 8;
    if (base !== 10) i += 2;
  }
  const digitsStart = i;
  let seps = 0;
  let lastWasSep = true;
  // The value as a double while it is exact (below 2^53), to skip BigInt's string parser.
  let approx = 0;
  for (; i < end; i++) {
    const c = text.charCodeAt(i);
    if (c === 95) {
      if (lastWasSep) return { ok: false, message: "misplaced '_' in number", at: i };
      lastWasSep = true;
      seps++;
      continue;
    }
    const v = digitValue(c);
    if (v >= base) break;
    approx = approx * base + v;
    lastWasSep = false;
  }
  if (lastWasSep && i > digitsStart && i - digitsStart > seps) {
    // `1_` and `1_K`: a separator must stand between digits, as at the start or doubled.
    return { ok: false, message: "misplaced '_' in number", at: i - 1 };
  }
  if (i - digitsStart === seps) {
    const what = base === 16 ? "hex" : base === 2 ? "binary" : "octal";
    return {
      ok: false,
      message: `expected ${what} digits after '${text.slice(start, start + 2)}'`,
      at: start,
    };
  }
  let value: bigint;
  if (approx <= Number.MAX_SAFE_INTEGER) value = BigInt(approx);
  else {
    let digits = text.slice(digitsStart, i);
    if (seps > 0) digits = digits.replaceAll("_", "");
    value = BigInt(base === 10 ? digits : `0${text[start + 1]}${digits}`);
  }
  if (i < end) {
    const shift = base === 10 ? SIZE_SHIFT[text[i].toUpperCase()] : undefined;
    const tail = text.slice(i + 1, end);
    if (shift === undefined || !(tail === "" || tail === "iB" || tail === "ib")) {
      const hint = base === 10
        ? "expected a digit or a size suffix K M G T P E (or KiB … EiB)"
        : `expected a base-${base} digit`;
      return { ok: false, message: `bad number '${text.slice(start, end)}': ${hint}`, at: i };
    }
    value <<= shift;
  }
  if (value > U64_MAX) {
    const lit = text.slice(start, end);
    return {
      ok: false,
      message: `number '${lit}' does not fit 64 bits (largest is 0xffffffffffffffff)`,
      at: start,
    };
  }
  return { ok: true, value, end };
}

const SHIFT_OF_CODE: Record<number, number> = { 75: 10, 77: 20, 71: 30, 84: 40, 80: 50, 69: 60 };

/**
 * The value of `text` when it is one plain integer literal (`0x100000`, `4096`, `4K`,
 * `2MiB`) of at most 53 significant bits and without `_`, else undefined. The fast path of
 * {@link scanInteger}: it never gives a value scanInteger would not, and leaves everything
 * else (and every error message) to it.
 */
export function literalValue(text: string): bigint | undefined {
  return literalValueAt(text, 0, text.length);
}

/**
 * {@link literalValue} of `text.slice(start, end)`, read in place: for a caller that finds
 * literals inside a longer text (a script's `let NAME = LITERAL` lines).
 */
export function literalValueAt(text: string, start: number, end: number): bigint | undefined {
  if (end <= start) return undefined;
  const c0 = text.charCodeAt(start);
  if (c0 < 48 || c0 > 57) return undefined;
  let base = 10;
  let i = start;
  if (c0 === 48 && end - start > 2) {
    const p = text.charCodeAt(start + 1) | 0x20;
    if (p === 120) base = 16;
    else if (p === 98) base = 2;
    else if (p === 111) base = 8;
    if (base !== 10) i = start + 2;
  }
  const first = i;
  let v = 0;
  for (; i < end; i++) {
    const d = digitValue(text.charCodeAt(i));
    if (d >= base) break;
    v = v * base + d;
  }
  if (i === first || v > Number.MAX_SAFE_INTEGER) return undefined;
  if (i === end) return BigInt(v);
  if (base !== 10) return undefined;
  const shift = SHIFT_OF_CODE[text.charCodeAt(i) & ~0x20];
  if (shift === undefined) return undefined;
  if (i + 1 !== end) {
    if (i + 3 !== end || text.charCodeAt(i + 1) !== 105) return undefined;
    const b = text.charCodeAt(i + 2);
    if (b !== 66 && b !== 98) return undefined;
  }
  const value = BigInt(v) << BigInt(shift);
  return value > U64_MAX ? undefined : value;
}

/** Parse a whole word as one integer literal, or undefined when it is not exactly one. */
export function parseInteger(text: string): bigint | undefined {
  if (text === "") return undefined;
  const c = text.charCodeAt(0);
  if (c < 48 || c > 57) return undefined;
  const r = scanInteger(text, 0);
  return r.ok && r.end === text.length ? r.value : undefined;
}

/** `0x…` lowercase hex. */
export function hex(v: bigint | number): string {
  return "0x" + v.toString(16);
}
