/**
 * The IOAS object and the native IOAS ioctls (drivers/iommu/iommufd/ioas.c), plus
 * IOMMU_DESTROY (main.c). Each handler runs after the entry checks of `context.ts`, with the
 * struct readable in `u.kv`, and keeps the kernel's order of checks: one early return per
 * failed check. Errnos from the io_pagetable are positive; handlers return -errno.
 *
 * @module
 */

import { E } from "../uapi/errno.ts";
import { U64_MAX } from "../uapi/constants.ts";
import { offsetsOf } from "../uapi/codec.ts";
import * as S from "../uapi/structs.ts";
import type { IommufdObject } from "./object_table.ts";
import { destroyObject, type IommufdCtx } from "./context.ts";
import type { UserArg } from "./uaccess.ts";
import { userRead, userWrite } from "./uaccess.ts";
import { IoPagetable } from "./io_pagetable.ts";
import type { HwPagetable } from "./hw_pagetable.ts";
import { syzConvIovaId } from "./selftest.ts";

/** IOMMU_READ / IOMMU_WRITE of include/linux/iommu.h. */
export const IOMMU_READ = 1;
/** See {@link IOMMU_READ}. */
export const IOMMU_WRITE = 2;

const MAP_FIXED_IOVA = 1;
const MAP_WRITEABLE = 2;
const MAP_READABLE = 4;
const MAP_FLAGS = MAP_FIXED_IOVA | MAP_WRITEABLE | MAP_READABLE;
/** All ones in a u32 half: with both halves, U64_MAX. */
const MAX32 = 0xffff_ffff;

/** `struct iommufd_ioas`. */
export class Ioas implements IommufdObject {
  id = 0;
  readonly type = "ioas" as const;
  users = 1;
  finalized = false;
  /** The io_pagetable: areas, reserved and allowed ranges, domains. */
  readonly iopt: IoPagetable;
  /** `hwpt_list`: paging hw_pagetables linked to this IOAS. */
  readonly hwpts: HwPagetable[] = [];

  constructor(ctx: IommufdCtx) {
    const m = ctx.machine;
    this.iopt = new IoPagetable({
      memory: m.memory,
      accounting: m.accounting,
      release: () => m.release(),
      accountMode: () => ctx.accountMode,
    });
  }
}

/** `iommufd_ioas_destroy`: unmap and unpin everything. */
export function ioasDestroy(ctx: IommufdCtx, ioas: Ioas): void {
  if (ctx.vfioIoas === ioas) ctx.vfioIoas = undefined;
  ioas.iopt.destroy();
}

/** `iommufd_ioas_alloc` without the ioctl: a new, finalised IOAS, or -errno. */
export function ioasCreate(ctx: IommufdCtx): Ioas | number {
  const ioas = new Ioas(ctx);
  const rc = ctx.objects.allocate(ioas);
  if (rc !== 0) {
    ioas.iopt.destroy();
    return -rc;
  }
  ctx.objects.finalize(ioas);
  return ioas;
}

/** prot for the io_pagetable from IOMMU_IOAS_MAP flags (`conv_iommu_prot`). */
function convProt(flags: number): number {
  return ((flags & MAP_READABLE) ? IOMMU_READ : 0) | ((flags & MAP_WRITEABLE) ? IOMMU_WRITE : 0);
}

const DESTROY = offsetsOf(S.iommu_destroy);

/** IOMMU_DESTROY: any object type; ENOENT, then EBUSY while anything else holds it. */
export function iommufdDestroy(ctx: IommufdCtx, u: UserArg): number {
  const id = u.kv.getUint32(DESTROY.id, true);
  const r = ctx.objects.remove(id);
  if (r.errno !== 0) return -r.errno;
  const obj = r.obj!;
  if (ctx.vfioIoas === obj) ctx.vfioIoas = undefined;
  destroyObject(ctx, obj);
  return 0;
}

const ALLOC = offsetsOf(S.iommu_ioas_alloc);

/** IOMMU_IOAS_ALLOC. */
export function iommufdIoasAlloc(ctx: IommufdCtx, u: UserArg, usize: number): number {
  if (u.kv.getUint32(ALLOC.flags, true) !== 0) return -E.EOPNOTSUPP;
  const ioas = new Ioas(ctx);
  const rc = ctx.objects.allocate(ioas);
  if (rc !== 0) {
    ioas.iopt.destroy();
    return -rc;
  }
  u.kv.setUint32(ALLOC.out_ioas_id, ioas.id, true);
  const w = ctx.respond(u, usize, S.iommu_ioas_alloc.size);
  if (w !== 0) {
    ctx.objects.abort(ioas);
    ioas.iopt.destroy();
    return w;
  }
  ctx.objects.finalize(ioas);
  return 0;
}

const RANGES = offsetsOf(S.iommu_ioas_iova_ranges);
const RANGE = offsetsOf(S.iommu_iova_range);
const RANGE_SIZE = S.iommu_iova_range.size;

/**
 * IOMMU_IOAS_IOVA_RANGES: the gaps of the reserved set go to the user array as far as
 * num_iovas allows; num_iovas becomes the full count; EMSGSIZE after the write-back when the
 * array was too small.
 */
export function iommufdIoasIovaRanges(ctx: IommufdCtx, u: UserArg, usize: number): number {
  const kv = u.kv;
  if (kv.getUint32(RANGES.__reserved, true) !== 0) return -E.EOPNOTSUPP;
  const ioas = ctx.getIoas(kv.getUint32(RANGES.ioas_id, true));
  if (ioas === undefined) return -E.ENOENT;
  const max = kv.getUint32(RANGES.num_iovas, true);
  const base = kv.getBigUint64(RANGES.allowed_iovas, true);
  const alignment = BigInt(ioas.iopt.iovaAlignment);
  const elm = new Uint8Array(RANGE_SIZE);
  const ev = new DataView(elm.buffer);
  let count = 0;
  for (const gap of ioas.iopt.iovaRanges()) {
    if (count < max) {
      ev.setBigUint64(RANGE.start, gap.start, true);
      ev.setBigUint64(RANGE.last, gap.last, true);
      const at = BigInt.asUintN(64, base + BigInt(count * RANGE_SIZE));
      if (!userWrite(u.memory, at, elm)) return -E.EFAULT;
    }
    count++;
  }
  kv.setUint32(RANGES.num_iovas, count, true);
  kv.setBigUint64(RANGES.out_iova_alignment, alignment, true);
  const w = ctx.respond(u, usize, S.iommu_ioas_iova_ranges.size);
  if (w !== 0) return w;
  return count > max ? -E.EMSGSIZE : 0;
}

const ALLOW = offsetsOf(S.iommu_ioas_allow_iovas);

/**
 * IOMMU_IOAS_ALLOW_IOVAS: every element is read in order (EFAULT), must have start < last
 * (EINVAL) and must not overlap an earlier one (EINVAL); the whole list then replaces the
 * old one unless it meets a reserved range (EADDRINUSE).
 */
export function iommufdIoasAllowIovas(ctx: IommufdCtx, u: UserArg): number {
  const kv = u.kv;
  if (kv.getUint32(ALLOW.__reserved, true) !== 0) return -E.EOPNOTSUPP;
  const ioas = ctx.getIoas(kv.getUint32(ALLOW.ioas_id, true));
  if (ioas === undefined) return -E.ENOENT;
  const n = kv.getUint32(ALLOW.num_iovas, true);
  const base = kv.getBigUint64(ALLOW.allowed_iovas, true);
  const elm = new Uint8Array(RANGE_SIZE);
  const ev = new DataView(elm.buffer);
  // Kept sorted by start so the overlap check is a binary search.
  const sorted: { start: bigint; last: bigint }[] = [];
  for (let i = 0; i < n; i++) {
    const at = BigInt.asUintN(64, base + BigInt(i) * BigInt(RANGE_SIZE));
    if (!userRead(u.memory, at, elm)) return -E.EFAULT;
    const start = ev.getBigUint64(RANGE.start, true);
    const last = ev.getBigUint64(RANGE.last, true);
    if (start >= last) return -E.EINVAL;
    let lo = 0;
    let hi = sorted.length;
    while (lo < hi) {
      const mid = (lo + hi) >> 1;
      if (sorted[mid].start < start) lo = mid + 1;
      else hi = mid;
    }
    if (lo > 0 && sorted[lo - 1].last >= start) return -E.EINVAL;
    if (lo < sorted.length && sorted[lo].start <= last) return -E.EINVAL;
    sorted.splice(lo, 0, { start, last });
  }
  const err = ioas.iopt.setAllowIova(sorted);
  return err !== 0 ? -err : 0;
}

const MAP = offsetsOf(S.iommu_ioas_map);

/** IOMMU_IOAS_MAP: fixed or allocated IOVA; the chosen IOVA is written back on success. */
export function iommufdIoasMap(ctx: IommufdCtx, u: UserArg, usize: number): number {
  const kv = u.kv;
  const flags = kv.getUint32(MAP.flags, true);
  if ((flags & ~MAP_FLAGS) !== 0 || kv.getUint32(MAP.__reserved, true) !== 0) {
    return -E.EOPNOTSUPP;
  }
  // u64 fields as little-endian hi/lo halves: no BigInt on the way.
  const ih = kv.getUint32(MAP.iova + 4, true);
  const il = kv.getUint32(MAP.iova, true);
  const lh = kv.getUint32(MAP.length + 4, true);
  const ll = kv.getUint32(MAP.length, true);
  if ((ih === MAX32 && il === MAX32) || (lh === MAX32 && ll === MAX32)) return -E.EOVERFLOW;
  if ((flags & (MAP_WRITEABLE | MAP_READABLE)) === 0 && ctx.release.mapNeedsRW) {
    return -E.EINVAL;
  }
  const ioas = ctx.getIoas(kv.getUint32(MAP.ioas_id, true));
  if (ioas === undefined) return -E.ENOENT;
  const iopt = ioas.iopt;
  const e = iopt.map64(
    kv.getUint32(MAP.user_va + 4, true),
    kv.getUint32(MAP.user_va, true),
    lh,
    ll,
    convProt(flags),
    (flags & MAP_FIXED_IOVA) !== 0,
    ih,
    il,
  );
  if (e !== 0) return -e;
  kv.setUint32(MAP.iova, iopt.outLo, true);
  kv.setUint32(MAP.iova + 4, iopt.outHi, true);
  return ctx.respond(u, usize, S.iommu_ioas_map.size);
}

const COPY = offsetsOf(S.iommu_ioas_copy);

/**
 * IOMMU_IOAS_COPY: the source range must be fully covered by areas (ENOENT); the same pages
 * are then mapped into the destination (fixed or allocated), shared, pinned once.
 */
export function iommufdIoasCopy(ctx: IommufdCtx, u: UserArg, usize: number): number {
  const kv = u.kv;
  // The selftest kernel's syzkaller hook rewrites flags and src_iova first; both are written
  // back with the rest on success (only then: `kv` may be the caller's own buffer).
  const syz = syzConvIovaId(
    ctx,
    kv.getUint32(COPY.src_ioas_id, true),
    kv.getBigUint64(COPY.src_iova, true),
    kv.getUint32(COPY.flags, true),
  );
  const flags = syz.flags;
  if ((flags & ~MAP_FLAGS) !== 0) return -E.EOPNOTSUPP;
  const length = kv.getBigUint64(COPY.length, true);
  const srcIova = syz.iova;
  const dstIova = kv.getBigUint64(COPY.dst_iova, true);
  if (length === U64_MAX || srcIova === U64_MAX || dstIova === U64_MAX) return -E.EOVERFLOW;
  if (ctx.release.mapNeedsRW && (flags & (MAP_WRITEABLE | MAP_READABLE)) === 0) {
    return -E.EINVAL;
  }
  const src = ctx.getIoas(kv.getUint32(COPY.src_ioas_id, true));
  if (src === undefined) return -E.ENOENT;
  const got = src.iopt.getPages(srcIova, length);
  if (got.errno !== 0) return -got.errno;
  const dst = ctx.getIoas(kv.getUint32(COPY.dst_ioas_id, true));
  if (dst === undefined) return -E.ENOENT;
  const r = dst.iopt.mapPages(got.pieces, {
    prot: convProt(flags),
    iova: (flags & MAP_FIXED_IOVA) ? dstIova : undefined,
    length,
  });
  if (r.errno !== 0) return -r.errno;
  kv.setUint32(COPY.flags, flags, true);
  kv.setBigUint64(COPY.src_iova, srcIova, true);
  kv.setBigUint64(COPY.dst_iova, r.iova, true);
  return ctx.respond(u, usize, S.iommu_ioas_copy.size);
}

const UNMAP = offsetsOf(S.iommu_ioas_unmap);

/**
 * IOMMU_IOAS_UNMAP: (0, U64_MAX) unmaps everything and succeeds on an empty IOAS; any other
 * range must hold whole areas only and at least one of them (ENOENT). On error nothing is
 * written back.
 */
export function iommufdIoasUnmap(ctx: IommufdCtx, u: UserArg, usize: number): number {
  const kv = u.kv;
  const ioas = ctx.getIoas(kv.getUint32(UNMAP.ioas_id, true));
  if (ioas === undefined) return -E.ENOENT;
  const ih = kv.getUint32(UNMAP.iova + 4, true);
  const il = kv.getUint32(UNMAP.iova, true);
  const lh = kv.getUint32(UNMAP.length + 4, true);
  const ll = kv.getUint32(UNMAP.length, true);
  const iopt = ioas.iopt;
  if ((ih | il) === 0 && lh === MAX32 && ll === MAX32) {
    const r = iopt.unmapAll();
    if (r.errno !== 0 && r.errno !== E.ENOENT) return -r.errno;
    kv.setBigUint64(UNMAP.length, r.unmapped, true);
  } else {
    if ((ih === MAX32 && il === MAX32) || (lh === MAX32 && ll === MAX32)) return -E.EOVERFLOW;
    const e = iopt.unmap64(ih, il, lh, ll);
    if (e !== 0) return -e;
    if ((iopt.outHi | iopt.outLo) === 0) return -E.ENOENT;
    kv.setUint32(UNMAP.length, iopt.outLo, true);
    kv.setUint32(UNMAP.length + 4, iopt.outHi, true);
  }
  return ctx.respond(u, usize, S.iommu_ioas_unmap.size);
}
