/**
 * How results look: one stable human line per result (`ok  unmapped=0x200000`,
 * `ENOENT (No such file or directory)`), tables below it, and the JSON form. Numbers are hex
 * unless the command declared the field as an id, fd or count.
 *
 * @module
 */

import { errnoMessage, errnoName } from "../uapi/errno.ts";
import { bytesToHex, type FieldValue, formatRanges, type Range, type Row } from "../dsl/values.ts";
import type { FieldFormat } from "./plugin_core.ts";
import type { FieldSpec } from "./registry.ts";

/** ANSI colours, or none. */
export interface Palette {
  ok(s: string): string;
  err(s: string): string;
  dim(s: string): string;
  bold(s: string): string;
}

const id = (s: string) => s;
/** No colour. */
export const PLAIN: Palette = { ok: id, err: id, dim: id, bold: id };
/** ANSI colour. */
export const ANSI: Palette = {
  ok: (s) => `\x1b[32m${s}\x1b[0m`,
  err: (s) => `\x1b[31m${s}\x1b[0m`,
  dim: (s) => `\x1b[2m${s}\x1b[0m`,
  bold: (s) => `\x1b[1m${s}\x1b[0m`,
};

function guessFormat(v: FieldValue): FieldFormat {
  if (typeof v === "bigint") return "hex";
  if (typeof v === "string") return "text";
  if (typeof v === "boolean") return "bool";
  if (v instanceof Uint8Array) return "bytes";
  if (v.length > 0 && !("start" in v[0])) return "rows";
  return "ranges";
}

function needsQuotes(s: string): boolean {
  if (s === "") return true;
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if (c <= 32 || c === 34 || c === 35 || c === 59 || c === 39 || c === 92 || c > 126) return true;
  }
  return false;
}

/** One value in the human form. */
export function formatValue(v: FieldValue, format: FieldFormat = guessFormat(v)): string {
  if (typeof v === "bigint") {
    return format === "dec" || v < 0n ? v.toString(10) : "0x" + v.toString(16);
  }
  if (typeof v === "boolean") return v ? "true" : "false";
  if (typeof v === "string") return needsQuotes(v) ? JSON.stringify(v) : v;
  if (v instanceof Uint8Array) return bytesToHex(v);
  if (format === "rows") return String(v.length);
  return formatRanges(v as Range[]);
}

/** `ENOENT (No such file or directory)`, once per errno. */
const errnoTexts = new Map<number, string>();

function errnoText(errno: number): string {
  let t = errnoTexts.get(errno);
  if (t === undefined) errnoTexts.set(errno, t = `${errnoName(errno)} (${errnoMessage(errno)})`);
  return t;
}

/** The declared fields of a command as a list, once per declaration. */
const specLists = new WeakMap<ReadonlyMap<string, FieldSpec>, readonly FieldSpec[]>();

function specList(specs: ReadonlyMap<string, FieldSpec>): readonly FieldSpec[] {
  let l = specLists.get(specs);
  if (l === undefined) specLists.set(specs, l = [...specs.values()]);
  return l;
}

/**
 * A result as the shell prints it: status, then `name=value` fields, in declared order.
 * `stable` leaves out fields declared volatile (fds, addresses), so that a script's
 * transcript is the same on every backend.
 */
export function formatResult(
  errno: number,
  fields: Readonly<Record<string, FieldValue>>,
  specs?: ReadonlyMap<string, FieldSpec>,
  palette: Palette = PLAIN,
  stable = false,
): string {
  let line = errno === 0 ? palette.ok("ok") : palette.err(errnoText(errno));
  // Fields in declared order, then any others; two spaces before the first, one between.
  let sep = "  ";
  let declared = 0;
  if (specs) {
    const list = specList(specs);
    for (let i = 0; i < list.length; i++) {
      const f = list[i];
      const v = fields[f.key];
      if (v === undefined) continue;
      declared++;
      const format = f.format ?? guessFormat(v);
      if (format === "rows" || (stable && f.volatile)) continue;
      line += sep + f.key + "=" + formatValue(v, format);
      sep = " ";
    }
  }
  // Fields not declared: only when there are more fields than declared ones were set.
  let n = 0;
  for (const k in fields) if (fields[k] !== undefined) n++;
  if (n === declared) return line;
  for (const k of Object.keys(fields)) {
    if (specs?.has(k)) continue;
    const v = fields[k];
    if (v === undefined) continue;
    const format = guessFormat(v);
    if (format === "rows") continue;
    line += sep + k + "=" + formatValue(v, format);
    sep = " ";
  }
  return line;
}

/** A table: one header line and one line per row, columns padded. */
export function formatTable(rows: readonly Row[]): string[] {
  if (rows.length === 0) return ["  (none)"];
  const keys = Object.keys(rows[0]);
  const cells = rows.map((r) =>
    keys.map((k) => {
      const v = r[k];
      if (typeof v === "bigint") return "0x" + v.toString(16);
      if (typeof v === "boolean") return v ? "yes" : "no";
      return String(v);
    })
  );
  const widths = keys.map((k, i) => Math.max(k.length, ...cells.map((c) => c[i].length)));
  const line = (cs: string[]) => "  " + cs.map((c, i) => c.padEnd(widths[i])).join("  ").trimEnd();
  return [line(keys), ...cells.map(line)];
}

/** A value in the JSON form. Hex numbers are strings (`"0x1000"`); decimal ones numbers. */
export function jsonValue(v: FieldValue, format: FieldFormat = guessFormat(v)): unknown {
  if (typeof v === "bigint") {
    if (
      format === "dec" && v <= BigInt(Number.MAX_SAFE_INTEGER) &&
      v >= -BigInt(Number.MAX_SAFE_INTEGER)
    ) {
      return Number(v);
    }
    return "0x" + v.toString(16);
  }
  if (typeof v === "string" || typeof v === "boolean") return v;
  if (v instanceof Uint8Array) return bytesToHex(v);
  if (format === "rows") {
    return (v as Row[]).map((r) =>
      Object.fromEntries(
        Object.entries(r).map(([k, x]) => [k, typeof x === "bigint" ? "0x" + x.toString(16) : x]),
      )
    );
  }
  return (v as Range[]).map((r) => ["0x" + r.start.toString(16), "0x" + r.end.toString(16)]);
}

/** The fields of a result in JSON form. */
export function jsonFields(
  fields: Readonly<Record<string, FieldValue>>,
  specs?: ReadonlyMap<string, FieldSpec>,
): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(fields)) {
    if (v !== undefined) out[k] = jsonValue(v, specs?.get(k)?.format);
  }
  return out;
}
