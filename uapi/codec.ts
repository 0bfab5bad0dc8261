/**
 * Encode, decode and print any struct from its description in `structs.ts`. There is no
 * per-struct code: a new struct is a new table entry.
 *
 * @module
 */

import { formatConstant } from "./constants.ts";
import type { FieldDesc, StructDesc } from "./structs.ts";

/** Field values by name. Numbers are accepted on input; decoding always gives bigints. */
export type StructValues = Record<string, bigint | number>;

/** What encoding and decoding need of a struct, worked out once per description. */
interface Layout {
  readonly byName: ReadonlyMap<string, FieldDesc>;
  readonly sizeField: FieldDesc | undefined;
}

const layouts = new WeakMap<StructDesc, Layout>();
/** The struct asked about last: one ioctl's encode and decode ask about it in a row. */
let lastDesc: StructDesc | undefined;
let lastLayout: Layout | undefined;

function layoutOf(desc: StructDesc): Layout {
  if (desc === lastDesc) return lastLayout!;
  let l = layouts.get(desc);
  if (l === undefined) {
    const byName = new Map<string, FieldDesc>();
    // The first field of a name wins, as a search from the start finds it.
    for (const f of desc.fields) if (!byName.has(f.name)) byName.set(f.name, f);
    l = { byName, sizeField: desc.fields.find((f) => f.kind === "size") };
    layouts.set(desc, l);
  }
  lastDesc = desc;
  lastLayout = l;
  return l;
}

/** The description of field `name` of `desc`; throws for a name the struct does not have. */
export function fieldOf(desc: StructDesc, name: string): FieldDesc {
  const f = layoutOf(desc).byName.get(name);
  if (!f) throw new RangeError(`struct ${desc.name} has no field '${name}'`);
  return f;
}

/** Offsets by field name, for code that reads fields directly with a DataView. */
export function offsetsOf(desc: StructDesc): Readonly<Record<string, number>> {
  return Object.freeze(Object.fromEntries(desc.fields.map((f) => [f.name, f.offset])));
}

/** The name of the field holding the struct's own size (`argsz` or `size`). */
export function sizeFieldOf(desc: StructDesc): FieldDesc | undefined {
  return layoutOf(desc).sizeField;
}

const MASKS: Readonly<Record<number, bigint>> = {
  1: 0xffn,
  2: 0xffffn,
  4: 0xffff_ffffn,
  8: 0xffff_ffff_ffff_ffffn,
};

/** Write one field (little-endian); the value is truncated to the field's width. */
export function writeField(view: DataView, f: FieldDesc, value: bigint | number): void {
  writeAt(view, f.offset, f.size, value);
}

function writeAt(view: DataView, offset: number, size: number, value: bigint | number): void {
  // The common values need no BigInt: a number that is a safe integer, or a bigint that
  // already fits the field. Anything else goes through BigInt (which throws for a number
  // that is not an integer, as it always did).
  if (size === 8) {
    if (typeof value === "bigint" && value >= 0n && value <= MASKS[8]) {
      view.setBigUint64(offset, value, true);
      return;
    }
  } else if (typeof value === "number") {
    if (Number.isSafeInteger(value)) {
      if (size === 4) view.setUint32(offset, value >>> 0, true);
      else if (size === 2) view.setUint16(offset, value & 0xffff, true);
      else view.setUint8(offset, value & 0xff);
      return;
    }
  } else if (typeof value === "bigint" && value >= 0n && value <= 0xffff_ffffn) {
    const n = Number(value);
    if (size === 4) view.setUint32(offset, n, true);
    else if (size === 2) view.setUint16(offset, n & 0xffff, true);
    else view.setUint8(offset, n & 0xff);
    return;
  }
  const v = BigInt(value) & MASKS[size];
  switch (size) {
    case 1:
      view.setUint8(offset, Number(v));
      break;
    case 2:
      view.setUint16(offset, Number(v), true);
      break;
    case 4:
      view.setUint32(offset, Number(v), true);
      break;
    case 8:
      view.setBigUint64(offset, v, true);
      break;
  }
}

/** Read one field (little-endian), sign-extended for `kind: "s"` and `"fd"`. */
export function readField(view: DataView, f: FieldDesc): bigint {
  return readAt(view, f.offset, f);
}

function readAt(view: DataView, offset: number, f: FieldDesc): bigint {
  let v: bigint;
  switch (f.size) {
    case 1:
      v = BigInt(view.getUint8(offset));
      break;
    case 2:
      v = BigInt(view.getUint16(offset, true));
      break;
    case 4:
      v = BigInt(view.getUint32(offset, true));
      break;
    case 8:
      v = view.getBigUint64(offset, true);
      break;
  }
  if (f.kind === "s" || f.kind === "fd") v = BigInt.asIntN(f.size * 8, v);
  return v;
}

/** Options of {@link encode}. */
export interface EncodeOptions {
  /**
   * Length of the buffer to allocate. It is raised to at least `sizeof` and at least the
   * value written in the size field, so the kernel can never be told to use more bytes than
   * the buffer has.
   */
  bufferSize?: number;
}

/**
 * Encode `values` into a fresh zeroed buffer laid out as `desc`. The size field (`argsz` /
 * `size`) defaults to `sizeof(struct)`; pass it in `values` to override (e.g. to explore the
 * kernel's size checks). Throws a RangeError for a field the struct does not have.
 */
export function encode(
  desc: StructDesc,
  values: StructValues = {},
  options: EncodeOptions = {},
): Uint8Array {
  const sizeField = sizeFieldOf(desc);
  const sizeValue = sizeField && values[sizeField.name] !== undefined
    ? Number(BigInt(values[sizeField.name]) & 0xffff_ffffn)
    : desc.size;
  const length = Math.max(desc.size, sizeValue, options.bufferSize ?? 0);
  const buf = new Uint8Array(length);
  encodeInto(desc, values, new DataView(buf.buffer), 0, sizeValue);
  return buf;
}

/**
 * Encode `values` as `desc` into zeroed memory at `offset` of `view` (at least `sizeof`
 * bytes, more if `sizeValue` says so), as {@link encode} does into a buffer of its own:
 * for callers that keep their own buffers. The size field gets `sizeValue` (default
 * `sizeof`) unless `values` gives it.
 */
export function encodeInto(
  desc: StructDesc,
  values: StructValues,
  view: DataView,
  offset = 0,
  sizeValue = desc.size,
): void {
  const { byName, sizeField } = layoutOf(desc);
  if (sizeField) {
    const given = values[sizeField.name];
    const v = given !== undefined ? Number(BigInt(given) & 0xffff_ffffn) : sizeValue;
    writeAt(view, offset + sizeField.offset, sizeField.size, v);
  }
  for (const name in values) {
    if (!Object.hasOwn(values, name)) continue;
    if (sizeField && name === sizeField.name) continue;
    const f = byName.get(name);
    if (!f) throw new RangeError(`struct ${desc.name} has no field '${name}'`);
    writeAt(view, offset + f.offset, f.size, values[name]);
  }
}

/**
 * Decode every field of `desc` that lies wholly inside `bytes` (a short buffer decodes to
 * fewer fields rather than failing).
 */
export function decode(desc: StructDesc, bytes: Uint8Array): Record<string, bigint> {
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  return decodeFrom(desc, view, 0, bytes.byteLength);
}

/**
 * {@link decode} of the `length` bytes at `offset` of `view`: for callers that keep their
 * own buffers.
 */
export function decodeFrom(
  desc: StructDesc,
  view: DataView,
  offset: number,
  length: number,
): Record<string, bigint> {
  const out: Record<string, bigint> = {};
  const fields = desc.fields;
  for (let i = 0; i < fields.length; i++) {
    const f = fields[i];
    if (f.offset + f.size <= length) out[f.name] = readAt(view, offset + f.offset, f);
  }
  return out;
}

/**
 * Field `name` as {@link decodeFrom} gives it (undefined when the struct has no such field
 * or it does not lie wholly inside `length`), decoding only that field: a caller that reads
 * one field of the result spares making a bigint for every other.
 */
export function decodeFieldFrom(
  desc: StructDesc,
  view: DataView,
  offset: number,
  length: number,
  name: string,
): bigint | undefined {
  const f = layoutOf(desc).byName.get(name);
  if (f === undefined || f.offset + f.size > length) return undefined;
  return readAt(view, offset + f.offset, f);
}

/** Render one field value: flags and enums by name, ids/fds/sizes in decimal, else hex. */
export function formatField(f: FieldDesc, value: bigint): string {
  if (f.set) return formatConstant(f.set, value);
  switch (f.kind) {
    case "id":
    case "fd":
    case "s":
    case "size":
      return value.toString(10);
    default:
      return `0x${value.toString(16)}`;
  }
}

/** `name=value …` for every decoded field, in offset order, skipping reserved fields. */
export function formatStruct(desc: StructDesc, values: Record<string, bigint>): string {
  const parts: string[] = [];
  for (const f of desc.fields) {
    const v = values[f.name];
    if (v === undefined || f.kind === "reserved") continue;
    parts.push(`${f.name}=${formatField(f, v)}`);
  }
  return parts.join(" ");
}

/** Field names of a struct, for completion (`--size`, `--flags` and the like). */
export function fieldNames(desc: StructDesc): string[] {
  return desc.fields.map((f) => f.name);
}

/** Bytes as lowercase hex, two digits each, no separators. */
export function toHex(bytes: Uint8Array): string {
  let s = "";
  for (const b of bytes) s += b.toString(16).padStart(2, "0");
  return s;
}

/**
 * Parse hex bytes (`"20000000 01000000"`, `"0x2000"`, `"de:ad"`): separators (space, `:`,
 * `_`, `,`) are ignored. Returns undefined for an odd number of digits or a non-hex character.
 */
export function fromHex(text: string): Uint8Array | undefined {
  const clean = text.replace(/^0x/i, "").replace(/[\s:_,]/g, "");
  if (clean.length % 2 !== 0 || /[^0-9a-f]/i.test(clean)) return undefined;
  const out = new Uint8Array(clean.length / 2);
  for (let i = 0; i < out.length; i++) out[i] = parseInt(clean.slice(2 * i, 2 * i + 2), 16);
  return out;
}
