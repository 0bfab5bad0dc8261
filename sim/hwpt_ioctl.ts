/**
 * The hw_pagetable and device-info ioctls of the dispatch table (0x89–0x8E): IOMMU_HWPT_ALLOC,
 * IOMMU_GET_HW_INFO, IOMMU_HWPT_SET_DIRTY_TRACKING, IOMMU_HWPT_GET_DIRTY_BITMAP,
 * IOMMU_HWPT_INVALIDATE and IOMMU_FAULT_QUEUE_ALLOC (drivers/iommu/iommufd/hw_pagetable.c,
 * device.c, fault.c; the mock driver of selftest.c). Each handler runs after the entry checks of
 * `context.ts` and keeps the kernel's order of checks.
 *
 * These structs grew over releases, so a caller may pass fewer bytes than the release knows:
 * the kernel's copy then has zeros there. Handlers therefore read and write through
 * {@link get32} and friends, bounded by min(size, sizeof), never through `u.kv` directly.
 *
 * Modelled exactly (against the mock driver, and for what the kernel checks before any driver
 * call on any device): see each handler. Not modelled, answered EOPNOTSUPP as an
 * approximation (each place says so):
 * - nested hw_pagetables (IOMMU_HWPT_ALLOC with a paging parent, past the parent checks);
 * - fault objects (IOMMU_FAULT_QUEUE_ALLOC past its flags check: the kernel creates an object
 *   and an anonymous-inode fd);
 * - GET_HW_INFO and HWPT_ALLOC with flags or data on real (non-mock) IOMMUs, whose answers
 *   depend on hardware registers;
 * - on 6.18: the IOMMU_HWPT_ALLOC_PASID and FAULT_ID_VALID flags of a paging allocation.
 *
 * @module
 */

import { E } from "../uapi/errno.ts";
import { offsetsOf } from "../uapi/codec.ts";
import * as S from "../uapi/structs.ts";
import type { IommufdCtx } from "./context.ts";
import type { UserArg } from "./uaccess.ts";
import { userWrite } from "./uaccess.ts";
import { type Release, releaseAtLeast } from "./release.ts";
import type { Ioas } from "./ioas.ts";
import type { IommufdDevice } from "./device.ts";
import { type HwPagetable, hwptPagingAbort, hwptPagingAlloc } from "./hw_pagetable.ts";

// ---- the kernel's copy of a struct that may be shorter than sizeof ----

/** Byte `off` of the kernel's copy: the caller's byte below `lim`, else zero. */
function byte(u: UserArg, lim: number, off: number): number {
  return off < lim ? u.kv.getUint8(off) : 0;
}

/** The u32 at `off` of the kernel's copy (see {@link byte}). */
function get32(u: UserArg, lim: number, off: number): number {
  if (off + 4 <= lim) return u.kv.getUint32(off, true);
  let v = 0;
  for (let i = 3; i >= 0; i--) v = v * 256 + byte(u, lim, off + i);
  return v;
}

/** The u64 at `off` of the kernel's copy. */
function get64(u: UserArg, lim: number, off: number): bigint {
  if (off + 8 <= lim) return u.kv.getBigUint64(off, true);
  return (BigInt(get32(u, lim, off + 4)) << 32n) | BigInt(get32(u, lim, off));
}

/** Store `n` little-endian bytes of `v` at `off`, only those below `lim` (what is copied back). */
function put(u: UserArg, lim: number, off: number, n: number, v: bigint): void {
  for (let i = 0; i < n && off + i < lim; i++) {
    u.kv.setUint8(off + i, Number((v >> BigInt(8 * i)) & 0xffn));
  }
}

// ---- constants of linux/iommufd.h and iommufd_test.h ----

const HWPT_ALLOC_NEST_PARENT = 1;
const HWPT_ALLOC_DIRTY_TRACKING = 2;
/** IOMMU_HWPT_DATA_NONE. */
const HWPT_DATA_NONE = 0;
/** IOMMU_HWPT_DATA_SELFTEST: the mock driver's nested data type. */
const HWPT_DATA_SELFTEST = 0xdead;
/** IOMMU_HW_INFO_FLAG_INPUT_TYPE (6.17). */
const HW_INFO_FLAG_INPUT_TYPE = 1;
/** IOMMU_HW_INFO_TYPE_DEFAULT (6.17; the old IOMMU_HW_INFO_TYPE_NONE). */
const HW_INFO_TYPE_DEFAULT = 0;
/** IOMMU_HW_INFO_TYPE_SELFTEST. */
export const HW_INFO_TYPE_SELFTEST = 0xfeedbeef;
/** IOMMU_HW_INFO_SELFTEST_REGVAL: `test_reg` of the mock's `struct iommu_test_hw_info`. */
export const HW_INFO_SELFTEST_REGVAL = 0xdeadbeef;
/** IOMMU_HW_CAP_DIRTY_TRACKING. */
const HW_CAP_DIRTY_TRACKING = 1n;
/** IOMMU_HWPT_DIRTY_TRACKING_ENABLE. */
const DIRTY_TRACKING_ENABLE = 1;
/** IOMMU_HWPT_GET_DIRTY_BITMAP_NO_CLEAR. */
const GET_DIRTY_BITMAP_NO_CLEAR = 1;
/** PAGE_SIZE and IOMMU_HWPT_INVALIDATE_ENTRY_NUM_MAX of the bounded invalidate. */
const PAGE_SIZE = 4096;
const INVALIDATE_ENTRY_NUM_MAX = 1 << 19;
/** MOCK_FLAGS_DEVICE_NO_DIRTY. */
const MOCK_NO_DIRTY = 1;
const U64 = 1n << 64n;

/** sizeof(struct iommu_hwpt_alloc) the release knows: 24 (6.6), 40 (6.7), 48 (6.11). */
export function hwptAllocSize(r: Release): number {
  return releaseAtLeast(r, "6.11") ? 48 : releaseAtLeast(r, "6.7") ? 40 : 24;
}

/** sizeof(struct iommu_hw_info) the release knows: 32 (6.6), 40 (6.7: out_capabilities). */
export function hwInfoSize(r: Release): number {
  return releaseAtLeast(r, "6.7") ? 40 : 32;
}

/** `iommufd_get_device`: a finalised device object, else undefined (ENOENT). */
function getDevice(ctx: IommufdCtx, id: number): IommufdDevice | undefined {
  return ctx.objects.get(id, "device") as IommufdDevice | undefined;
}

/** MOCK_FLAGS_DEVICE_* of a selftest mock device (0 for anything else). */
function mockFlags(idev: IommufdDevice): number {
  return (idev.dev as { flags?: number }).flags ?? 0;
}

// ---- IOMMU_HWPT_ALLOC ----

const A = offsetsOf(S.iommu_hwpt_alloc);

/**
 * IOMMU_HWPT_ALLOC. From 6.7: `__reserved` (EOPNOTSUPP); data_type and data_len must both be
 * set or both clear (EINVAL); dev_id must be a device (ENOENT); pt_id must be an object
 * (EINVAL) that is an IOAS (paging hwpt) or a paging hwpt (nested), anything else EINVAL.
 * 6.6: flags or `__reserved` (EOPNOTSUPP), device (ENOENT), pt_id must be an IOAS (ENOENT).
 *
 * The new paging hwpt takes the next free id, holds its IOAS (which answers EBUSY to
 * IOMMU_DESTROY while it lives) and holds no device; IOMMU_DESTROY of it answers EBUSY while a
 * device is attached to it.
 */
export function iommufdHwptAlloc(ctx: IommufdCtx, u: UserArg, usize: number): number {
  const rel = ctx.release;
  const lim = Math.min(usize, hwptAllocSize(rel));
  const flags = get32(u, lim, A.flags);
  const devId = get32(u, lim, A.dev_id);
  const ptId = get32(u, lim, A.pt_id);
  const reserved = get32(u, lim, A.__reserved);
  if (!releaseAtLeast(rel, "6.7")) {
    if (flags !== 0 || reserved !== 0) return -E.EOPNOTSUPP;
    const idev = getDevice(ctx, devId);
    if (idev === undefined) return -E.ENOENT;
    const ioas = ctx.getIoas(ptId);
    if (ioas === undefined) return -E.ENOENT;
    return allocPaging(ctx, u, lim, ioas, idev, 0);
  }
  if (reserved !== 0) return -E.EOPNOTSUPP;
  const dataType = get32(u, lim, A.data_type);
  const dataLen = get32(u, lim, A.data_len);
  if ((dataType === HWPT_DATA_NONE) !== (dataLen === 0)) return -E.EINVAL;
  const idev = getDevice(ctx, devId);
  if (idev === undefined) return -E.ENOENT;
  const pt = ctx.objects.get(ptId);
  if (pt === undefined) return -E.EINVAL;
  if (pt.type === "ioas") {
    const rc = pagingAllocChecks(idev, flags, dataLen !== 0);
    if (rc !== 0) return rc;
    return allocPaging(ctx, u, lim, pt as Ioas, idev, flags);
  }
  if (pt.type === "hwpt_paging") {
    return nestedAlloc(pt as HwPagetable, idev, flags, dataType, dataLen);
  }
  return -E.EINVAL;
}

/**
 * The checks of `iommufd_hwpt_paging_alloc` and of the driver's user-domain allocation that
 * come before anything visible, all EOPNOTSUPP: unknown flags; DIRTY_TRACKING on a device that
 * is not dirty-capable; driver data (the mock takes none for a paging domain).
 */
function pagingAllocChecks(idev: IommufdDevice, flags: number, userData: boolean): number {
  const valid = HWPT_ALLOC_NEST_PARENT | HWPT_ALLOC_DIRTY_TRACKING;
  if (!idev.dev.isMock) {
    // Approximation: whether a real IOMMU takes these flags or data depends on its hardware.
    return flags !== 0 || userData ? -E.EOPNOTSUPP : 0;
  }
  // Approximation on 6.18: IOMMU_HWPT_ALLOC_PASID (and FAULT_ID_VALID) are refused here.
  if ((flags & ~valid) !== 0) return -E.EOPNOTSUPP;
  if ((flags & HWPT_ALLOC_DIRTY_TRACKING) !== 0 && (mockFlags(idev) & MOCK_NO_DIRTY) !== 0) {
    return -E.EOPNOTSUPP;
  }
  if (userData) return -E.EOPNOTSUPP;
  return 0;
}

/** Allocate, link and publish a paging hwpt; write out_hwpt_id back. */
function allocPaging(
  ctx: IommufdCtx,
  u: UserArg,
  lim: number,
  ioas: Ioas,
  idev: IommufdDevice,
  flags: number,
): number {
  const hwpt = hwptPagingAlloc(ctx, ioas, idev);
  if (typeof hwpt === "number") return hwpt;
  hwpt.nestParent = (flags & HWPT_ALLOC_NEST_PARENT) !== 0;
  hwpt.dirtyOps = (flags & HWPT_ALLOC_DIRTY_TRACKING) !== 0;
  put(u, lim, A.out_hwpt_id, 4, BigInt(hwpt.id));
  if (!u.respond(lim)) {
    hwptPagingAbort(ctx, hwpt);
    return -E.EFAULT;
  }
  ctx.objects.finalize(hwpt);
  return 0;
}

/**
 * `iommufd_hwpt_nested_alloc`'s checks: flags other than FAULT_ID_VALID or no data
 * (EOPNOTSUPP); a parent that is automatic, not a nest parent, or of another driver (EINVAL);
 * the mock driver then wants IOMMU_HWPT_DATA_SELFTEST and no flags (EOPNOTSUPP).
 */
function nestedAlloc(
  parent: HwPagetable,
  idev: IommufdDevice,
  flags: number,
  dataType: number,
  dataLen: number,
): number {
  const FAULT_ID_VALID = 4;
  if ((flags & ~FAULT_ID_VALID) !== 0 || dataLen === 0) return -E.EOPNOTSUPP;
  if (parent.autoDomain || !parent.nestParent || parent.iommu.driver !== idev.dev.iommu.driver) {
    return -E.EINVAL;
  }
  if (idev.dev.isMock && (dataType !== HWPT_DATA_SELFTEST || flags !== 0)) return -E.EOPNOTSUPP;
  // Approximation: nested hw_pagetables are not modelled (the kernel would copy the driver
  // data, then create a nested hwpt object or fail with the driver's errno).
  return -E.EOPNOTSUPP;
}

// ---- IOMMU_GET_HW_INFO ----

const I = offsetsOf(S.iommu_hw_info);
/** The mock's `struct iommu_test_hw_info`: flags 0, test_reg. */
const MOCK_HW_INFO = (() => {
  const b = new Uint8Array(8);
  new DataView(b.buffer).setUint32(4, HW_INFO_SELFTEST_REGVAL, true);
  return b;
})();
const ZEROS = new Uint8Array(65536);

/**
 * IOMMU_GET_HW_INFO: flags and reserved bytes (EOPNOTSUPP; 6.17 accepts INPUT_TYPE), dev_id
 * must be a device (ENOENT). For a mock device: an input type other than DEFAULT/SELFTEST is
 * EOPNOTSUPP (6.17); min(data_len, 8) bytes of the mock's info go to data_uptr and the rest
 * of the caller's data_len is zeroed (EFAULT on either); data_len becomes 8, out_data_type
 * IOMMU_HW_INFO_TYPE_SELFTEST, out_capabilities DIRTY_TRACKING unless the device was created
 * with MOCK_FLAGS_DEVICE_NO_DIRTY, out_max_pasid_log2 0; then the struct is copied back.
 */
export function iommufdGetHwInfo(ctx: IommufdCtx, u: UserArg, usize: number): number {
  const rel = ctx.release;
  const ksize = hwInfoSize(rel);
  const lim = Math.min(usize, ksize);
  const flags = get32(u, lim, I.flags);
  const allowed = rel.hwInfoInputType ? HW_INFO_FLAG_INPUT_TYPE : 0;
  if ((flags & ~allowed) !== 0) return -E.EOPNOTSUPP;
  const firstReserved = rel.hwInfoPasid ? I["__reserved[0]"] : I.out_max_pasid_log2;
  for (let off = firstReserved; off < I.out_capabilities; off++) {
    if (byte(u, lim, off) !== 0) return -E.EOPNOTSUPP;
  }
  const inType = (flags & HW_INFO_FLAG_INPUT_TYPE) !== 0
    ? get32(u, lim, I.out_data_type)
    : HW_INFO_TYPE_DEFAULT;
  const idev = getDevice(ctx, get32(u, lim, I.dev_id));
  if (idev === undefined) return -E.ENOENT;
  if (!idev.dev.isMock) {
    // Approximation: a real IOMMU's info holds its hardware registers, not modelled.
    return -E.EOPNOTSUPP;
  }
  if (inType !== HW_INFO_TYPE_DEFAULT && inType !== HW_INFO_TYPE_SELFTEST) return -E.EOPNOTSUPP;
  const userLen = get32(u, lim, I.data_len);
  const uptr = get64(u, lim, I.data_uptr);
  const copyLen = Math.min(userLen, MOCK_HW_INFO.length);
  if (!userWrite(u.memory, uptr, MOCK_HW_INFO.subarray(0, copyLen))) return -E.EFAULT;
  for (let off = copyLen; off < userLen;) {
    const n = Math.min(ZEROS.length, userLen - off);
    const at = uptr + BigInt(off);
    if (at >= U64 || !userWrite(u.memory, at, ZEROS.subarray(0, n))) return -E.EFAULT;
    off += n;
  }
  put(u, lim, I.data_len, 4, BigInt(MOCK_HW_INFO.length));
  put(u, lim, I.out_data_type, 4, BigInt(HW_INFO_TYPE_SELFTEST));
  if (rel.hwInfoPasid) put(u, lim, I.out_max_pasid_log2, 1, 0n);
  if (ksize >= I.out_capabilities + 8) {
    const caps = (mockFlags(idev) & MOCK_NO_DIRTY) !== 0 ? 0n : HW_CAP_DIRTY_TRACKING;
    put(u, lim, I.out_capabilities, 8, caps);
  }
  return u.respond(lim) ? 0 : -E.EFAULT;
}

// ---- dirty tracking ----

const SD = offsetsOf(S.iommu_hwpt_set_dirty_tracking);

/** `iommufd_get_hwpt_paging`: a finalised paging hwpt, else undefined (ENOENT). */
function getHwptPaging(ctx: IommufdCtx, id: number): HwPagetable | undefined {
  return ctx.objects.get(id, "hwpt_paging") as HwPagetable | undefined;
}

/**
 * IOMMU_HWPT_SET_DIRTY_TRACKING: unknown flags (EOPNOTSUPP), hwpt_id must be a paging hwpt
 * (ENOENT), its domain must have dirty ops, i.e. was allocated with
 * IOMMU_HWPT_ALLOC_DIRTY_TRACKING (else EOPNOTSUPP); then tracking is switched (0).
 */
export function iommufdHwptSetDirtyTracking(ctx: IommufdCtx, u: UserArg): number {
  const lim = S.iommu_hwpt_set_dirty_tracking.size;
  const flags = get32(u, lim, SD.flags);
  if ((flags & ~DIRTY_TRACKING_ENABLE) !== 0) return -E.EOPNOTSUPP;
  const hwpt = getHwptPaging(ctx, get32(u, lim, SD.hwpt_id));
  if (hwpt === undefined) return -E.ENOENT;
  if (!hwpt.dirtyOps) return -E.EOPNOTSUPP;
  hwpt.dirtyTracking = (flags & DIRTY_TRACKING_ENABLE) !== 0;
  return 0;
}

const GD = offsetsOf(S.iommu_hwpt_get_dirty_bitmap);

/**
 * IOMMU_HWPT_GET_DIRTY_BITMAP: unknown flags or `__reserved` (EOPNOTSUPP), a paging hwpt
 * (ENOENT); the range (`iommufd_check_iova_range`): length 0 (EINVAL, where the release has
 * that fix), iova + length − 1 wrapping (EOVERFLOW), iova or end not aligned to the IOAS's
 * iova alignment (EINVAL), page_size 0 (EINVAL), iova or end not aligned to page_size
 * (EINVAL); a domain without dirty ops (EOPNOTSUPP). Then 0: the kernel ignores the walk's
 * result, and nothing is ever dirty in the simulator (no DMA; the selftest's DIRTY op is not
 * modelled), so the bitmap is left untouched.
 */
export function iommufdHwptGetDirtyBitmap(ctx: IommufdCtx, u: UserArg): number {
  const lim = S.iommu_hwpt_get_dirty_bitmap.size;
  const flags = get32(u, lim, GD.flags);
  if ((flags & ~GET_DIRTY_BITMAP_NO_CLEAR) !== 0 || get32(u, lim, GD.__reserved) !== 0) {
    return -E.EOPNOTSUPP;
  }
  const hwpt = getHwptPaging(ctx, get32(u, lim, GD.hwpt_id));
  if (hwpt === undefined) return -E.ENOENT;
  const iova = get64(u, lim, GD.iova);
  const length = get64(u, lim, GD.length);
  const pageSize = get64(u, lim, GD.page_size);
  if (length === 0n && ctx.release.dirtyZeroLengthEinval) return -E.EINVAL;
  const lenM1 = (length - 1n + U64) % U64;
  if (iova + lenM1 >= U64) return -E.EOVERFLOW;
  const end = (iova + lenM1 + 1n) % U64;
  const align = hwpt.ioas.iopt.iovaAlignment - 1n;
  if ((iova & align) !== 0n || (end & align) !== 0n) return -E.EINVAL;
  if (pageSize === 0n) return -E.EINVAL;
  const pmask = pageSize - 1n;
  if ((iova & pmask) !== 0n || (end & pmask) !== 0n) return -E.EINVAL;
  if (!hwpt.dirtyOps) return -E.EOPNOTSUPP;
  return 0;
}

// ---- IOMMU_HWPT_INVALIDATE ----

const INV = offsetsOf(S.iommu_hwpt_invalidate);

/**
 * IOMMU_HWPT_INVALIDATE: `__reserved` (EOPNOTSUPP); with entries, a null data_uptr or a zero
 * entry_len (EINVAL; where the release bounds them, also entry_len > PAGE_SIZE or entry_num >
 * 2^19); hwpt_id must be a nested hwpt (or, 6.13+, a vIOMMU): the simulator has neither, so
 * ENOENT. Every path, failures included, writes entry_num = 0 back (EFAULT if that fails).
 */
export function iommufdHwptInvalidate(ctx: IommufdCtx, u: UserArg): number {
  const lim = S.iommu_hwpt_invalidate.size;
  let rc: number;
  const entryNum = get32(u, lim, INV.entry_num);
  const entryLen = get32(u, lim, INV.entry_len);
  if (get32(u, lim, INV.__reserved) !== 0) {
    rc = -E.EOPNOTSUPP;
  } else if (
    entryNum !== 0 &&
    (get64(u, lim, INV.data_uptr) === 0n || entryLen === 0 ||
      (ctx.release.invalidateBounds &&
        (entryLen > PAGE_SIZE || entryNum > INVALIDATE_ENTRY_NUM_MAX)))
  ) {
    rc = -E.EINVAL;
  } else {
    rc = -E.ENOENT;
  }
  put(u, lim, INV.entry_num, 4, 0n);
  if (!u.respond(lim)) return -E.EFAULT;
  return rc;
}

// ---- IOMMU_FAULT_QUEUE_ALLOC ----

const FA = offsetsOf(S.iommu_fault_alloc);

/**
 * IOMMU_FAULT_QUEUE_ALLOC: non-zero flags (EOPNOTSUPP). Approximation past that: the kernel
 * creates a fault object and an anonymous-inode fd and answers 0 with out_fault_id and
 * out_fault_fd; the simulator models neither and answers EOPNOTSUPP.
 */
export function iommufdFaultAlloc(_ctx: IommufdCtx, u: UserArg): number {
  if (get32(u, S.iommu_fault_alloc.size, FA.flags) !== 0) return -E.EOPNOTSUPP;
  return -E.EOPNOTSUPP;
}
