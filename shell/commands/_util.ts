/**
 * Helpers the core commands share: sending a struct with the user's `--argsz`/`--size`/
 * `--flags` overrides, DMA permission bits, and the bookkeeping of what this shell mapped
 * (what `mappings` shows on the kernel backend).
 *
 * @module
 */

import {
  decode,
  decodeFieldFrom,
  decodeFrom,
  encode,
  encodeInto,
  sizeFieldOf,
  type StructValues,
} from "../../uapi/codec.ts";
import type { StructDesc } from "../../uapi/structs.ts";
import { t } from "./_api.ts";
import type { CommandContext, ShellArea, ShellState } from "./_api.ts";

/** The largest buffer the shell hands the kernel (an `--argsz`/`--size` beyond is refused). */
export const MAX_BUFFER = 16 * 1024 * 1024;

/** `--argsz` and `--flags` for commands that send a VFIO struct. */
export const vfioOverrides = {
  argsz: t.int("send this argsz instead of the struct's size (the buffer grows to match)", {
    bits: 32,
    label: "N",
  }).optional(),
  flags: t.int("send these flags instead of the ones the shell computes", {
    bits: 32,
    label: "N",
  }).optional(),
};

/** `--size` and `--flags` for commands that send an iommufd struct. */
export const iommufdOverrides = {
  size: t.int("send this size instead of the struct's size (the buffer grows to match)", {
    bits: 32,
    label: "N",
  }).optional(),
  flags: t.int("send these flags instead of the ones the shell computes", {
    bits: 32,
    label: "N",
  }).optional(),
};

/** `--size` alone, for iommufd structs without flags. */
export const sizeOverride = { size: iommufdOverrides.size };

/** Overrides as parsed. */
export interface Overrides {
  argsz?: bigint;
  size?: bigint;
  flags?: bigint;
}

/** What {@link sendStruct} returns. */
export interface Sent {
  /** The ioctl's return value (`-errno` on failure). */
  ret: number;
  /** The buffer after the call (its own ArrayBuffer, from offset 0). */
  buf: Uint8Array;
  /** Every field decoded from the buffer after the call. */
  out: Record<string, bigint>;
}

/**
 * Argument buffers of sendStruct are cut from blocks of {@link BLOCK} bytes: in Deno a fresh
 * ArrayBuffer costs ~1 µs (more than a simulated ioctl), a view of a block ~0.1 µs. No region
 * is handed out twice (a full block is left to the garbage collector, which frees it once no
 * result holds a view of it), so every call still has zeroed memory of its own.
 */
const BLOCK = 64 * 1024;
/** Structs up to this size take a region; larger ones get a buffer of their own. */
const REGION_MAX = 1024;
let block = new ArrayBuffer(BLOCK);
let blockView = new DataView(block);
let blockUsed = 0;

/**
 * A {@link Sent} whose buffer lives in a block (or is shared, see {@link sendStructShared}):
 * `buf` and `out` are made when first read.
 */
class SentInRegion implements Sent {
  ret: number;
  readonly #desc: StructDesc;
  readonly #arg: Uint8Array;
  readonly #view: DataView;
  #buf: Uint8Array | undefined;
  #out: Record<string, bigint> | undefined;

  constructor(ret: number, desc: StructDesc, arg: Uint8Array, view: DataView) {
    this.ret = ret;
    this.#desc = desc;
    this.#arg = arg;
    this.#view = view;
  }

  /** A copy of the argument after the call, in a buffer of its own (offset 0). */
  get buf(): Uint8Array {
    return this.#buf ??= this.#arg.slice();
  }
  set buf(b: Uint8Array) {
    this.#buf = b;
  }

  get out(): Record<string, bigint> {
    return this.#out ??= this.ret < 0
      ? {}
      : decodeFrom(this.#desc, this.#view, this.#arg.byteOffset, this.#arg.length);
  }
  set out(o: Record<string, bigint>) {
    this.#out = o;
  }

  /** This result over again, for the next call in the same buffer (see sendStructShared). */
  renew(ret: number): this {
    this.ret = ret;
    this.#buf = undefined;
    this.#out = undefined;
    return this;
  }

  /** `out[name]`, decoding only that field when `out` has not been made. */
  field(name: string): bigint {
    if (this.#out !== undefined || this.ret < 0) return this.out[name];
    const arg = this.#arg;
    return decodeFieldFrom(this.#desc, this.#view, arg.byteOffset, arg.length, name)!;
  }
}

/**
 * Field `name` of what the kernel wrote back, as `sent.out[name]` gives it: for commands that
 * read one field of the result (a map's IOVA, an unmap's length), without decoding the rest.
 */
export function outField(sent: Sent, name: string): bigint {
  return sent instanceof SentInRegion ? sent.field(name) : sent.out[name];
}

function sendInRegion(
  ctx: CommandContext,
  fd: number,
  request: number,
  desc: StructDesc,
  values: StructValues,
): Sent {
  const len = desc.size;
  const need = (len + 7) & ~7;
  if (blockUsed + need > BLOCK) {
    block = new ArrayBuffer(BLOCK);
    blockView = new DataView(block);
    blockUsed = 0;
  }
  const off = blockUsed;
  const view = blockView;
  const arg = new Uint8Array(block, off, len);
  blockUsed += need;
  encodeInto(desc, values, view, off);
  return new SentInRegion(ctx.kernel.ioctl(fd, request, arg), desc, arg, view);
}

/**
 * Whether `values` go to the kernel as they are, in a struct-sized buffer cut from a block:
 * no override, no size field given, no larger buffer, and a struct small enough.
 */
function fitsRegion(
  desc: StructDesc,
  values: StructValues,
  o: Overrides,
  bufferSize?: number,
): boolean {
  if (o.argsz !== undefined || o.size !== undefined || o.flags !== undefined) return false;
  const sf = sizeFieldOf(desc);
  return bufferSize === undefined && (sf === undefined || values[sf.name] === undefined) &&
    desc.size <= REGION_MAX;
}

/** What {@link sendStructShared} reuses for one struct: the buffer, a view, the result. */
interface SharedArg {
  readonly arg: Uint8Array;
  readonly view: DataView;
  readonly sent: SentInRegion;
}

const sharedArgs = new WeakMap<StructDesc, SharedArg>();

/**
 * {@link sendStruct} for a result that is read at once: without overrides, every call for
 * `desc` reuses one zeroed buffer and one result object, so the `buf` and `out` of a call
 * must be read before the next call for the same struct (a map or an unmap reads its one
 * field right away). The backend then meets the same buffer again (the simulator keeps a
 * view per buffer it saw last), and nothing is allocated per call.
 */
export function sendStructShared(
  ctx: CommandContext,
  fd: number,
  request: number,
  desc: StructDesc,
  values: StructValues,
  o: Overrides = {},
): Sent {
  if (!fitsRegion(desc, values, o)) return sendStruct(ctx, fd, request, desc, values, o);
  let s = sharedArgs.get(desc);
  if (s === undefined) {
    const arg = new Uint8Array(desc.size);
    const view = new DataView(arg.buffer);
    sharedArgs.set(desc, s = { arg, view, sent: new SentInRegion(0, desc, arg, view) });
  }
  s.arg.fill(0);
  encodeInto(desc, values, s.view, 0);
  return s.sent.renew(ctx.kernel.ioctl(fd, request, s.arg));
}

/**
 * Encode `values` as `desc`, apply the overrides, and issue `request` on `fd`. The buffer is
 * at least as large as the size written in it.
 */
export function sendStruct(
  ctx: CommandContext,
  fd: number,
  request: number,
  desc: StructDesc,
  values: StructValues,
  o: Overrides = {},
  bufferSize?: number,
): Sent {
  if (fitsRegion(desc, values, o, bufferSize)) return sendInRegion(ctx, fd, request, desc, values);
  const size = o.argsz ?? o.size;
  if (size === undefined && o.flags === undefined) {
    // Nothing to override: the values as they are.
    const buf = encode(desc, values, { bufferSize });
    const ret = ctx.kernel.ioctl(fd, request, buf);
    return { ret, buf, out: ret < 0 ? {} : decode(desc, buf) };
  }
  const v: StructValues = { ...values };
  const sf = sizeFieldOf(desc);
  if (size !== undefined && sf) {
    if (size > BigInt(MAX_BUFFER)) {
      ctx.fail(
        `--${sf.name} ${size} is larger than the ${
          MAX_BUFFER >> 20
        } MiB buffer the shell will hand the kernel`,
      );
    }
    v[sf.name] = size;
  }
  if (o.flags !== undefined) {
    if (!desc.fields.some((f) => f.name === "flags")) ctx.fail(`struct ${desc.name} has no flags`);
    v.flags = o.flags;
  }
  const buf = encode(desc, v, { bufferSize });
  const ret = ctx.kernel.ioctl(fd, request, buf);
  return { ret, buf, out: ret < 0 ? {} : decode(desc, buf) };
}

/** VFIO_DMA_MAP_FLAG_READ/WRITE for a permission word. */
export function vfioPerm(perm: string): number {
  return (perm.includes("r") ? 1 : 0) | (perm.includes("w") ? 2 : 0);
}

/** IOMMU_IOAS_MAP_READABLE (4) / WRITEABLE (2) for a permission word. */
export function iommufdPerm(perm: string): number {
  return (perm.includes("r") ? 4 : 0) | (perm.includes("w") ? 2 : 0);
}

/** `rw`, `r`, `w` or `-` from IOMMU_READ (1) | IOMMU_WRITE (2). */
export function permText(prot: number): string {
  const s = (prot & 1 ? "r" : "") + (prot & 2 ? "w" : "");
  return s || "-";
}

/** The bookkeeping key of an IOAS on a container fd (`compat` for the VFIO view). */
export function areaKey(state: ShellState, fd: number, ioas?: number | bigint): string {
  if (ioas === undefined) {
    const c = state.compatIoas.get(fd);
    return c === undefined ? `${fd}:compat` : `${fd}:${c}`;
  }
  return `${fd}:${ioas}`;
}

/**
 * Lists of areas that may hold overlapping areas (the same IOVA noted twice through two
 * views of one IOAS). The others are sorted and disjoint, so a range to forget is found by
 * binary search instead of a walk over every area.
 */
const mayOverlap = new WeakSet<ShellArea[]>();

/** Note an area this shell mapped. */
export function addArea(state: ShellState, key: string, area: ShellArea): void {
  let list = state.areas.get(key);
  if (!list) state.areas.set(key, list = []);
  if (mayOverlap.has(list)) {
    let i = list.length;
    while (i > 0 && list[i - 1].iova > area.iova) i--;
    list.splice(i, 0, area);
    return;
  }
  // Sorted by iova: insert after the last area that starts at or below it.
  let i = 0, hi = list.length;
  while (i < hi) {
    const m = (i + hi) >> 1;
    if (list[m].iova <= area.iova) i = m + 1;
    else hi = m;
  }
  if ((i > 0 && list[i - 1].last >= area.iova) || (i < list.length && area.last >= list[i].iova)) {
    mayOverlap.add(list);
  }
  // Maps mostly go up: appending spares the array of nothing removed that splice returns.
  if (i === list.length) list.push(area);
  else list.splice(i, 0, area);
}

/** Forget what this shell mapped in [iova, last] (splitting areas at the edges). */
export function removeAreas(state: ShellState, key: string, iova: bigint, last: bigint): void {
  const list = state.areas.get(key);
  if (!list) return;
  if (mayOverlap.has(list)) {
    const out = cut(list, 0, list.length, iova, last, true);
    mayOverlap.add(out);
    state.areas.set(key, out);
    return;
  }
  // Sorted and disjoint: the areas that meet [iova, last] are those from the first whose
  // last >= iova to the last whose iova <= last.
  let lo = 0, hi = list.length;
  while (lo < hi) {
    const m = (lo + hi) >> 1;
    if (list[m].last < iova) lo = m + 1;
    else hi = m;
  }
  let end = lo;
  while (end < list.length && list[end].iova <= last) end++;
  if (end === lo) return;
  const pieces = cut(list, lo, end, iova, last, false);
  // Most unmaps take whole areas, often the last ones: then nothing goes back in, and
  // cutting the tail spares the array of removed areas that splice returns.
  if (pieces.length > 0) list.splice(lo, end - lo, ...pieces);
  else if (end === list.length) list.length = lo;
  else list.splice(lo, end - lo);
}

/** Areas [from, to) of `list` with [iova, last] cut out (and the others, when `keep`). */
function cut(
  list: ShellArea[],
  from: number,
  to: number,
  iova: bigint,
  last: bigint,
  keep: boolean,
): ShellArea[] {
  const out: ShellArea[] = [];
  for (let i = from; i < to; i++) {
    const a = list[i];
    if (a.last < iova || a.iova > last) {
      if (keep) out.push(a);
      continue;
    }
    if (a.iova < iova) out.push({ ...a, last: iova - 1n });
    if (a.last > last) out.push({ ...a, iova: last + 1n, vaddr: a.vaddr + (last + 1n - a.iova) });
  }
  return out;
}

/** Get fresh anonymous memory for a map without `--vaddr`; freed when the session closes. */
export function freshMemory(ctx: CommandContext, size: bigint): bigint {
  const len = size === 0n ? 4096n : size;
  const addr = ctx.kernel.mmap(len);
  if (addr < 0n) {
    ctx.fail(
      `cannot allocate 0x${
        len.toString(16)
      } bytes to map (mmap: errno ${-addr}); pass --vaddr ADDR`,
    );
  }
  ctx.state.anon.push({ addr, size: len });
  return addr;
}

/** Give back memory from {@link freshMemory} when the map failed. */
export function releaseMemory(ctx: CommandContext, addr: bigint): void {
  const i = ctx.state.anon.findLastIndex((m) => m.addr === addr);
  if (i < 0) return;
  const [m] = ctx.state.anon.splice(i, 1);
  ctx.kernel.munmap(m.addr, m.size);
}

/**
 * Run `fn` with `bytes` of fresh user memory for the kernel to write into (`what` names it in
 * the error), unmapped afterwards; 0 bytes is the NULL pointer, nothing mapped.
 */
export function withScratch<T>(
  ctx: CommandContext,
  bytes: bigint,
  what: string,
  fn: (addr: bigint) => T,
): T {
  if (bytes === 0n) return fn(0n);
  const addr = ctx.kernel.mmap(bytes);
  if (addr < 0n) ctx.fail(`cannot allocate ${bytes} bytes for ${what}`);
  try {
    return fn(addr);
  } finally {
    ctx.kernel.munmap(addr, bytes);
  }
}

/** The fd of the current container. */
export function container(ctx: CommandContext): number {
  return ctx.state.container;
}

/** How many bits are set in `bytes` (the dirty pages of a bitmap). */
export function setBits(bytes: Uint8Array): bigint {
  let n = 0;
  for (const b of bytes) for (let x = b; x !== 0; x &= x - 1) n++;
  return BigInt(n);
}

/** Read `n` bytes of user memory (throws a one-line error on failure). */
export function readUser(ctx: CommandContext, addr: bigint, n: number): Uint8Array {
  const out = new Uint8Array(n);
  const r = ctx.kernel.readMemory(addr, out);
  if (r < 0) ctx.fail(`cannot read user memory at 0x${addr.toString(16)} (errno ${-r})`);
  return out;
}
