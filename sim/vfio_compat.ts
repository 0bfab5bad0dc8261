/**
 * The VFIO container ioctls as iommufd answers them (drivers/iommu/iommufd/vfio_compat.c):
 * every request whose nr is outside iommufd's own table lands here, matched by its full
 * number; anything else is ENOTTY. They all operate on the context's compat IOAS, ENODEV
 * when there is none. Also IOMMU_VFIO_IOAS, which selects that IOAS.
 *
 * The legacy type1 container is a different file kind; group SET_CONTAINER reaches either
 * through the `VfioContainer` interface of `group.ts`.
 *
 * No-IOMMU emulation (6.3+, with CONFIG_VFIO_NOIOMMU): attaching a no-IOMMU group puts the
 * context in no-iommu mode, which refuses a compat IOAS and every IOMMU type but
 * VFIO_NOIOMMU_IOMMU; the other ioctls keep working on whatever compat IOAS the user sets up
 * by other means, and mostly answer ENODEV since there is none.
 *
 * @module
 */

import { E } from "../uapi/errno.ts";
import type { IoctlArg } from "../uapi/kernel.ts";
import { PAGE_SIZE, U64_MAX, VFIO_API_VERSION } from "../uapi/constants.ts";
import { offsetsOf } from "../uapi/codec.ts";
import * as S from "../uapi/structs.ts";
import * as R from "../uapi/ioctl.ts";
import type { IommufdCtx } from "./context.ts";
import type { UserArg } from "./uaccess.ts";
import { type Ioas, ioasCreate, IOMMU_READ, IOMMU_WRITE } from "./ioas.ts";
import { join64 } from "./interval_tree.ts";

const VFIO_TYPE1_IOMMU = 1;
const VFIO_TYPE1v2_IOMMU = 3;
const VFIO_DMA_CC_IOMMU = 4;
const VFIO_NOIOMMU_IOMMU = 8;
const VFIO_UNMAP_ALL = 9;

const DMA_MAP_READ = 1;
const DMA_MAP_WRITE = 2;
const DMA_UNMAP_ALL = 2;

const INFO_PGSIZES = 1;
const INFO_CAPS = 2;
const CAP_IOVA_RANGE = 1;
const CAP_DMA_AVAIL = 3;

/** The value a by-value ioctl sees when handed a buffer: a pointer, never a small number. */
const POINTER_VALUE = U64_MAX;

function byValue(arg: IoctlArg): bigint {
  return typeof arg === "bigint" ? BigInt.asUintN(64, arg) : POINTER_VALUE;
}

// ---- compat IOAS life cycle ----

/** `ictx->no_iommu_mode`, per context (kept here, beside the only code that reads it). */
const NO_IOMMU_MODE = new WeakSet<IommufdCtx>();

/** Whether a no-IOMMU group was attached to the context (`ictx->no_iommu_mode`, 6.3+). */
export function compatNoIommuMode(ctx: IommufdCtx): boolean {
  return NO_IOMMU_MODE.has(ctx);
}

/**
 * `iommufd_vfio_compat_set_no_iommu` (SET_CONTAINER of a no-IOMMU group, 6.3+): EINVAL once a
 * compat IOAS was ever set (the pointer, alive or not), else the context enters no-iommu mode.
 */
export function compatSetNoIommu(ctx: IommufdCtx): number {
  if (ctx.vfioIoas !== undefined) return -E.EINVAL;
  NO_IOMMU_MODE.add(ctx);
  return 0;
}

/** CONFIG_VFIO_NOIOMMU, as iommufd's compat layer sees it (`IS_ENABLED`; from 6.3). */
function noIommuBuilt(ctx: IommufdCtx): boolean {
  return ctx.release.noIommuExtension && ctx.machine.platform.noiommu.built;
}

/**
 * `iommufd_vfio_compat_ioas_create` (what VFIO_GROUP_SET_CONTAINER with an iommufd does): keep
 * an existing compat IOAS, else create one (lowest free id); a context in no-iommu mode
 * refuses (EINVAL, 6.3+). Returns 0 or -errno.
 */
export function compatIoasCreate(ctx: IommufdCtx): number {
  if (compatNoIommuMode(ctx)) return -E.EINVAL;
  if (ctx.compatIoas() !== undefined) return 0;
  const ioas = ioasCreate(ctx);
  if (typeof ioas === "number") return ioas;
  ctx.vfioIoas = ioas;
  return 0;
}

/** `iommufd_vfio_compat_ioas_get_id`: the compat IOAS id, or -ENODEV. */
export function compatIoasGetId(ctx: IommufdCtx): number {
  const ioas = ctx.compatIoas();
  return ioas === undefined ? -E.ENODEV : ioas.id;
}

const VIOAS = offsetsOf(S.iommu_vfio_ioas);
const VFIO_IOAS_GET = 0;
const VFIO_IOAS_SET = 1;
const VFIO_IOAS_CLEAR = 2;

/** IOMMU_VFIO_IOAS: GET (ENODEV without one), SET (ENOENT unless an IOAS), CLEAR. */
export function iommufdVfioIoas(ctx: IommufdCtx, u: UserArg, usize: number): number {
  const kv = u.kv;
  if (kv.getUint16(VIOAS.__reserved, true) !== 0) return -E.EOPNOTSUPP;
  switch (kv.getUint16(VIOAS.op, true)) {
    case VFIO_IOAS_GET: {
      const ioas = ctx.compatIoas();
      if (ioas === undefined) return -E.ENODEV;
      kv.setUint32(VIOAS.ioas_id, ioas.id, true);
      return ctx.respond(u, usize, S.iommu_vfio_ioas.size);
    }
    case VFIO_IOAS_SET: {
      const ioas = ctx.getIoas(kv.getUint32(VIOAS.ioas_id, true));
      if (ioas === undefined) return -E.ENOENT;
      ctx.vfioIoas = ioas;
      return 0;
    }
    case VFIO_IOAS_CLEAR:
      ctx.vfioIoas = undefined;
      return 0;
    default:
      return -E.EOPNOTSUPP;
  }
}

// ---- container ioctls ----

/** `iommufd_vfio_ioctl`: dispatch by the full request number. */
export function vfioCompatIoctl(ctx: IommufdCtx, cmd: number, arg: IoctlArg): number {
  switch (cmd) {
    case R.VFIO_GET_API_VERSION:
      return VFIO_API_VERSION;
    case R.VFIO_SET_IOMMU:
      return vfioSetIommu(ctx, byValue(arg));
    case R.VFIO_CHECK_EXTENSION:
      return vfioCheckExtension(ctx, byValue(arg));
    case R.VFIO_IOMMU_GET_INFO:
      ctx.uarg.set(arg);
      return vfioIommuGetInfo(ctx, ctx.uarg);
    case R.VFIO_IOMMU_MAP_DMA:
      ctx.uarg.set(arg);
      return vfioMapDma(ctx, ctx.uarg);
    case R.VFIO_IOMMU_UNMAP_DMA:
      ctx.uarg.set(arg);
      return vfioUnmapDma(ctx, ctx.uarg);
    default:
      // VFIO_IOMMU_DIRTY_PAGES included: iommufd has no dirty tracking through compat.
      return -E.ENOTTY;
  }
}

/**
 * VFIO_CHECK_EXTENSION: TYPE1, TYPE1v2 and UNMAP_ALL (0 in no-iommu mode where the release
 * says so, as SET_IOMMU refuses them there); DMA_CC from the compat IOAS's
 * paging hwpts (ENODEV without a compat IOAS); NOIOMMU from 6.3 when the kernel is built with
 * CONFIG_VFIO_NOIOMMU, whatever enable_unsafe_noiommu_mode says; everything else 0.
 */
export function vfioCheckExtension(ctx: IommufdCtx, type: bigint): number {
  switch (type) {
    case BigInt(VFIO_TYPE1_IOMMU):
    case BigInt(VFIO_TYPE1v2_IOMMU):
    case BigInt(VFIO_UNMAP_ALL):
      return ctx.release.noIommuHidesType1 && compatNoIommuMode(ctx) ? 0 : 1;
    case BigInt(VFIO_NOIOMMU_IOMMU):
      return noIommuBuilt(ctx) ? 1 : 0;
    case BigInt(VFIO_DMA_CC_IOMMU):
      return ccIommu(ctx);
    default:
      return 0;
  }
}

/** `iommufd_vfio_cc_iommu`: 1 unless some hwpt of the compat IOAS does not enforce. */
function ccIommu(ctx: IommufdCtx): number {
  const ioas = ctx.compatIoas();
  if (ioas === undefined) return -E.ENODEV;
  for (const hwpt of ioas.hwpts) if (!hwpt.enforceCacheCoherency) return 0;
  return 1;
}

/**
 * VFIO_SET_IOMMU: in no-iommu mode (6.3+) VFIO_NOIOMMU_IOMMU is accepted with CAP_SYS_RAWIO
 * (else EPERM) and changes nothing, and every other type is EINVAL; otherwise only TYPE1 /
 * TYPE1v2 (EINVAL); needs a compat IOAS (ENODEV); TYPE1 turns large pages off so that unmap
 * can cut areas (EINVAL with a domain and an area). Repeatable.
 */
export function vfioSetIommu(ctx: IommufdCtx, type: bigint): number {
  const noIommuMode = compatNoIommuMode(ctx);
  if (noIommuMode && type === BigInt(VFIO_NOIOMMU_IOMMU) && noIommuBuilt(ctx)) {
    return ctx.machine.privileged() ? 0 : -E.EPERM;
  }
  if (
    (type !== BigInt(VFIO_TYPE1_IOMMU) && type !== BigInt(VFIO_TYPE1v2_IOMMU)) || noIommuMode
  ) {
    return -E.EINVAL;
  }
  const ioas = ctx.compatIoas();
  if (ioas === undefined) return -E.ENODEV;
  if (type === BigInt(VFIO_TYPE1_IOMMU)) {
    const err = ioas.iopt.disableLargePages();
    if (err !== 0) return -err;
  }
  return 0;
}

/** `iommufd_get_pagesizes`: AND of the domains, sub-page bits folded, at least the alignment. */
export function compatPageSizes(ioas: Ioas): bigint {
  let bitmap = U64_MAX;
  for (const d of ioas.iopt.domains()) bitmap &= d.pgsizeBitmap;
  const subPage = PAGE_SIZE - 1n;
  if ((bitmap & subPage) !== 0n) {
    bitmap &= ~subPage & U64_MAX;
    bitmap |= PAGE_SIZE;
  }
  const align = BigInt(ioas.iopt.iovaAlignment);
  return bitmap > align ? bitmap : align;
}

const INFO = offsetsOf(S.vfio_iommu_type1_info);
const INFO_SIZE = S.vfio_iommu_type1_info.size;
const INFO_MIN = S.vfio_iommu_type1_info.minSize;
const CAPH = offsetsOf(S.vfio_info_cap_header);
const AVAIL = offsetsOf(S.vfio_iommu_type1_info_dma_avail);
const AVAIL_SIZE = S.vfio_iommu_type1_info_dma_avail.size;
const IOVAS = offsetsOf(S.vfio_iommu_type1_info_cap_iova_range);
const IOVAS_HEAD = S.vfio_iommu_type1_info_cap_iova_range.size;
const VRANGE = offsetsOf(S.vfio_iova_range);
const VRANGE_SIZE = S.vfio_iova_range.size;

/**
 * VFIO_IOMMU_GET_INFO. Caps DMA_AVAIL then IOVA_RANGE are written as far as argsz leaves
 * room (a partial range array may appear without its header); a cap's start offset goes
 * into the previous cap's `next` only when argsz reaches it; nothing is written at or past
 * argsz; cap sizes round up to 8 from 6.6. argsz always comes back as the size needed, and
 * min(argsz, 24) bytes of the fixed struct are written.
 */
export function vfioIommuGetInfo(ctx: IommufdCtx, u: UserArg): number {
  if (!u.copyIn(INFO_MIN)) return -E.EFAULT;
  const argsz = u.kv.getUint32(INFO.argsz, true);
  if (argsz < INFO_MIN) return -E.EINVAL;
  const w = Math.min(argsz, INFO_SIZE);
  const ioas = ctx.compatIoas();
  if (ioas === undefined) return -E.ENODEV;

  const info = new Uint8Array(INFO_SIZE);
  const iv = new DataView(info.buffer);
  info.set(u.k.subarray(0, INFO_MIN));
  iv.setUint32(INFO.flags, INFO_PGSIZES, true);
  iv.setBigUint64(INFO.iova_pgsizes, compatPageSizes(ioas), true);
  iv.setUint32(INFO.cap_offset, 0, true);

  const align8 = ctx.release.capAlign8;
  const ranges = ioas.iopt.iovaRanges();
  const word = new Uint8Array(4);
  const wv = new DataView(word.buffer);
  let total = INFO_SIZE;
  let lastCap = -1;
  for (let cap = 0; cap < 2; cap++) {
    const avail = argsz > total ? argsz - total : 0;
    let size: number;
    if (cap === 0) {
      size = AVAIL_SIZE;
      if (avail >= AVAIL_SIZE) {
        const c = new Uint8Array(AVAIL_SIZE);
        const cv = new DataView(c.buffer);
        cv.setUint16(AVAIL.id, CAP_DMA_AVAIL, true);
        cv.setUint16(AVAIL.version, 1, true);
        cv.setUint32(AVAIL.next, 0, true);
        cv.setUint32(AVAIL.avail, 0xffffffff, true);
        if (!u.writeAt(total, c)) return -E.EFAULT;
      }
    } else {
      const n = ranges.length;
      size = IOVAS_HEAD + VRANGE_SIZE * n;
      const r = new Uint8Array(VRANGE_SIZE);
      const rv = new DataView(r.buffer);
      for (let j = 0; j < n; j++) {
        if (avail < IOVAS_HEAD + VRANGE_SIZE * (j + 1)) break;
        rv.setBigUint64(VRANGE.start, ranges[j].start, true);
        rv.setBigUint64(VRANGE.end, ranges[j].last, true);
        if (!u.writeAt(total + IOVAS_HEAD + VRANGE_SIZE * j, r)) return -E.EFAULT;
      }
      if (avail >= size) {
        const h = new Uint8Array(IOVAS_HEAD);
        const hv = new DataView(h.buffer);
        hv.setUint16(IOVAS.id, CAP_IOVA_RANGE, true);
        hv.setUint16(IOVAS.version, 1, true);
        hv.setUint32(IOVAS.next, 0, true);
        hv.setUint32(IOVAS.nr_iovas, n, true);
        hv.setUint32(IOVAS.reserved, 0, true);
        if (!u.writeAt(total, h)) return -E.EFAULT;
      }
    }
    if (align8) size = (size + 7) & ~7;
    if (lastCap >= 0 && argsz >= total) {
      wv.setUint32(0, total, true);
      if (!u.writeAt(lastCap + CAPH.next, word)) return -E.EFAULT;
    }
    lastCap = total;
    total += size;
  }
  if (argsz >= total) iv.setUint32(INFO.cap_offset, INFO_SIZE, true);
  iv.setUint32(INFO.argsz, total, true);
  iv.setUint32(INFO.flags, INFO_PGSIZES | INFO_CAPS, true);
  return u.writeAt(0, info.subarray(0, w)) ? 0 : -E.EFAULT;
}

const MAPD = offsetsOf(S.vfio_iommu_type1_dma_map);
const MAPD_MIN = S.vfio_iommu_type1_dma_map.minSize;

/**
 * VFIO_IOMMU_MAP_DMA: argsz and flags (READ/WRITE only, VADDR included in the rejects:
 * EINVAL), the compat IOAS (ENODEV), then a fixed-IOVA map. flags = 0 is not refused here.
 * Nothing is written back.
 */
export function vfioMapDma(ctx: IommufdCtx, u: UserArg): number {
  if (!u.copyIn(MAPD_MIN)) return -E.EFAULT;
  const kv = u.kv;
  const flags = kv.getUint32(MAPD.flags, true);
  if (
    kv.getUint32(MAPD.argsz, true) < MAPD_MIN || (flags & ~(DMA_MAP_READ | DMA_MAP_WRITE)) !== 0
  ) {
    return -E.EINVAL;
  }
  const prot = ((flags & DMA_MAP_READ) ? IOMMU_READ : 0) |
    ((flags & DMA_MAP_WRITE) ? IOMMU_WRITE : 0);
  const ioas = ctx.compatIoas();
  if (ioas === undefined) return -E.ENODEV;
  // u64 fields as little-endian hi/lo halves: no BigInt on the way.
  const e = ioas.iopt.map64(
    kv.getUint32(MAPD.vaddr + 4, true),
    kv.getUint32(MAPD.vaddr, true),
    kv.getUint32(MAPD.size + 4, true),
    kv.getUint32(MAPD.size, true),
    prot,
    true,
    kv.getUint32(MAPD.iova + 4, true),
    kv.getUint32(MAPD.iova, true),
  );
  return e !== 0 ? -e : 0;
}

const UNMAPD = offsetsOf(S.vfio_iommu_type1_dma_unmap);
const UNMAPD_MIN = S.vfio_iommu_type1_dma_unmap.minSize;
const CUTS_ONE: bigint[] = [0n];
const CUTS_TWO: bigint[] = [0n, 0n];

/**
 * VFIO_IOMMU_UNMAP_DMA. FLAG_ALL needs iova = size = 0 (EINVAL, no write-back). Otherwise,
 * in TYPE1 mode (large pages off) areas are first cut at the request's last byte and, unless
 * iova is 0, before its first byte (a cut error returns at once, nothing written back);
 * then the range is unmapped. `size` becomes the bytes unmapped and the 24-byte struct is
 * written back, on error too.
 */
export function vfioUnmapDma(ctx: IommufdCtx, u: UserArg): number {
  if (!u.copyIn(UNMAPD_MIN)) return -E.EFAULT;
  const kv = u.kv;
  const flags = kv.getUint32(UNMAPD.flags, true);
  if (kv.getUint32(UNMAPD.argsz, true) < UNMAPD_MIN || (flags & ~DMA_UNMAP_ALL) !== 0) {
    return -E.EINVAL;
  }
  const ioas = ctx.compatIoas();
  if (ioas === undefined) return -E.ENODEV;
  const ih = kv.getUint32(UNMAPD.iova + 4, true);
  const il = kv.getUint32(UNMAPD.iova, true);
  const sh = kv.getUint32(UNMAPD.size + 4, true);
  const sl = kv.getUint32(UNMAPD.size, true);
  const iopt = ioas.iopt;
  let rc: number;
  if ((flags & DMA_UNMAP_ALL) !== 0) {
    if ((ih | il | sh | sl) !== 0) return -E.EINVAL;
    const r = iopt.unmapAll();
    rc = r.errno === E.ENOENT ? 0 : r.errno;
    kv.setBigUint64(UNMAPD.size, r.unmapped, true);
  } else {
    if (iopt.largePagesDisabled) {
      const iova = join64(ih, il);
      const size = join64(sh, sl);
      const last = BigInt.asUintN(64, iova + size - 1n);
      let cuts: bigint[];
      if (iova !== 0n) {
        cuts = CUTS_TWO;
        cuts[0] = last;
        cuts[1] = iova - 1n;
      } else {
        cuts = CUTS_ONE;
        cuts[0] = last;
      }
      const err = iopt.cutIova(cuts);
      if (err !== 0) return -err;
    }
    rc = iopt.unmap64(ih, il, sh, sl);
    // Since afb47765 a range holding no area at all is not an error for compat; a range
    // that only cuts into an area still is.
    if (iopt.outEmpty && ctx.release.unmapEmptyOk) rc = 0;
    kv.setUint32(UNMAPD.size, iopt.outLo, true);
    kv.setUint32(UNMAPD.size + 4, iopt.outHi, true);
  }
  if (!u.direct && !u.writeAt(0, u.k.subarray(0, UNMAPD_MIN))) return -E.EFAULT;
  return rc === 0 ? 0 : -rc;
}
