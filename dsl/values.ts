/**
 * Values of the language and of result records: integers are BigInt, ranges are inclusive
 * `{start, end}` pairs, byte strings are Uint8Array. Also the variable environment the
 * compiled code reads at run time.
 *
 * @module
 */

import { hex } from "./number.ts";

/** What names a variable (`$NAME`), and so a memory region of the shell. */
export const NAME_PATTERN = /^[A-Za-z_][A-Za-z0-9_]*$/;
/** {@link NAME_PATTERN} in words, for messages. */
export const NAME_RULE = "a letter or '_', then letters, digits or '_'";

/** An inclusive range, as `0x1000-0x1fff` in the language. */
export interface Range {
  start: bigint;
  end: bigint;
}

/** A row of a table result (`mappings`). */
export type Row = Readonly<Record<string, bigint | string | boolean>>;

/** What a result field may hold. */
export type FieldValue = bigint | string | boolean | Uint8Array | Range[] | Row[];

/** A result record: `ok` or an errno, and named fields. `$last` holds the latest one. */
export interface ResultRecord {
  /** 0 for success, else the errno. */
  readonly errno: number;
  /** Named fields, in the order the command declared them. */
  readonly fields: Readonly<Record<string, FieldValue>>;
  /** Name of the principal field (`value`, `fd`, `id`, `iova`…), if the command has one. */
  readonly principal?: string;
}

/** What a variable may hold: a field value or a whole result record (`$last`). */
export type Value = FieldValue | ResultRecord;

/** Where compiled code finds variables at run time. */
export interface Env {
  /** The variable's value, or undefined when it is not set. */
  lookup(name: string): Value | undefined;
}

/** Whether `v` is a result record. */
export function isRecord(v: Value | undefined): v is ResultRecord {
  return typeof v === "object" && v !== null && !Array.isArray(v) &&
    !(v instanceof Uint8Array) && "fields" in v;
}

/**
 * Field `name` of a record, with two pseudo-fields every record has: `errno` (0 on success)
 * and `ok` (true on success).
 */
export function recordField(r: ResultRecord, name: string): FieldValue | undefined {
  const v = r.fields[name];
  if (v !== undefined) return v;
  if (name === "errno") return BigInt(r.errno);
  if (name === "ok") return r.errno === 0;
  return undefined;
}

/** `[0x0-0xfff,0x2000-0x2fff]`: the language's form of a range list. */
export function formatRanges(ranges: readonly Range[]): string {
  let s = "[";
  for (let i = 0; i < ranges.length; i++) {
    if (i > 0) s += ",";
    s += hex(ranges[i].start) + "-" + hex(ranges[i].end);
  }
  return s + "]";
}

/** Lowercase hex of bytes, no separators. */
export function bytesToHex(b: Uint8Array): string {
  let s = "";
  for (let i = 0; i < b.length; i++) s += (b[i] < 16 ? "0" : "") + b[i].toString(16);
  return s;
}

/** A short human name for the type of a value, for error messages. */
export function typeName(v: Value): string {
  if (typeof v === "bigint") return "number";
  if (typeof v === "string") return "string";
  if (typeof v === "boolean") return "boolean";
  if (v instanceof Uint8Array) return "byte string";
  if (Array.isArray(v)) return "list";
  return "result record";
}
