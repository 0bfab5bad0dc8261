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
  const lit = text.slice(start, end);
  let base = 10;
  let i = 0;
  if (lit.length > 1 && lit[0] === "0") {
    const p = lit[1];
    if (p === "x" || p === "X") base = 16;
    else if (p === "b" || p === "B") base = 2;
    else if (p === "o" || p === "O") base = 8;
    if (base !== 10) i = 2;
  }
  let digits = "";
  let lastWasSep = true;
  for (; i < lit.length; i++) {
    const c = lit.charCodeAt(i);
    if (c === 95) {
      if (lastWasSep) return { ok: false, message: "misplaced '_' in number", at: start + i };
      lastWasSep = true;
      continue;
    }
    const v = digitValue(c);
    if (v >= base) break;
    digits += lit[i];
    lastWasSep = false;
  }
  if (digits === "") {
    const what = base === 16 ? "hex" : base === 2 ? "binary" : "octal";
    return { ok: false, message: `expected ${what} digits after '${lit.slice(0, 2)}'`, at: start };
  }
  let value = BigInt(base === 10 ? digits : `0${lit[1]}${digits}`);
  const rest = lit.slice(i);
  if (rest !== "") {
    const shift = base === 10 ? SIZE_SHIFT[rest[0].toUpperCase()] : undefined;
    const tail = rest.slice(1);
    if (shift === undefined || !(tail === "" || tail === "iB" || tail === "ib")) {
      const hint = base === 10
        ? "expected a digit or a size suffix K M G T (or KiB MiB GiB TiB)"
        : `expected a base-${base} digit`;
      return { ok: false, message: `bad number '${lit}': ${hint}`, at: start + i };
    }
    value <<= shift;
  }
  if (value > U64_MAX) {
    return {
      ok: false,
      message: `number '${lit}' does not fit 64 bits (largest is 0xffffffffffffffff)`,
      at: start,
    };
  }
  return { ok: true, value, end };
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
