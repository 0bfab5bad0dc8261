/**
 * The hw_pagetable and device-info ioctls of the dispatch table (0x89–0x8D): IOMMU_HWPT_ALLOC,
 * IOMMU_GET_HW_INFO, IOMMU_HWPT_SET_DIRTY_TRACKING, IOMMU_HWPT_GET_DIRTY_BITMAP and
 * IOMMU_HWPT_INVALIDATE (drivers/iommu/iommufd/hw_pagetable.c, device.c; the mock driver of
 * selftest.c). IOMMU_FAULT_QUEUE_ALLOC (0x8E) is in `eventq.ts`, the vIOMMU ioctls in
 * `viommu.ts`. Each handler runs after the entry checks of `context.ts` and keeps the
 * kernel's order of checks.
 *
 * These structs grew over releases, so a caller may pass fewer bytes than the release knows:
 * the kernel's copy then has zeros there. Handlers therefore read and write through
 * {@link get32} and friends, bounded by min(size, sizeof), never through `u.kv` directly.
 *
 * Modelled exactly against the mock driver, and for what the kernel checks before any driver
 * call on any device: paging hwpts, nested hwpts of the mock (over a nest-parent hwpt or a
 * vIOMMU, with IOMMU_HWPT_DATA_SELFTEST, holding a fault object with FAULT_ID_VALID), and the
 * mock's cache invalidation of a nested hwpt or a vIOMMU. A mock device attaches to a nested
 * hwpt (IOMMU_TEST_OP_MOCK_DOMAIN or MOCK_DOMAIN_REPLACE on one; `device.ts`): no reserved
 * regions go into the parent's IOAS, the attachment holds the nested hwpt (which holds its
 * parent), and from 6.15 one allocated through a vIOMMU needs the device's vDEVICE there
 * (ENOENT).
 * Paging allocations with IOMMU_HWPT_FAULT_ID_VALID (6.13) and IOMMU_HWPT_ALLOC_PASID (6.15)
 * are exact for the mock, and for every device up to the driver call (unknown flags,
 * FAULT_ID_VALID with NEST_PARENT: EOPNOTSUPP); a real IOMMU's driver never sees
 * FAULT_ID_VALID, so with no other flag and no data it makes a plain domain, exactly.
 * GET_HW_INFO on a real IOMMU whose driver has no `hw_info` op in the release (AMD before
 * 6.19, SMMUv3 before 6.13) answers IOMMU_HW_INFO_TYPE_NONE with no data, exactly. For
 * NEST_PARENT and DIRTY_TRACKING the built-in profiles describe hardware without nesting or
 * dirty tracking, which every driver refuses (EOPNOTSUPP; the rig's VT-d does:
 * tests/scenarios/hwpt_alloc_vtd.vfs on the real kernel); PASID and driver data go by the
 * driver ({@link realDriverPagingChecks}). A driver's `hw_info` reports the registers the
 * profile gives (the rig's VT-d; QEMU's SMMUv3); a user profile without them gets EOPNOTSUPP.
 * Attaching to a hwpt with a fault object enables IOPF (`device.ts`); no IOPF is ever raised.
 *
 * @module
 */

import { E } from "../uapi/errno.ts";
import { MOCK, MOCK_FLAGS_DEVICE } from "../uapi/constants.ts";
import { offsetsOf } from "../uapi/codec.ts";
import * as S from "../uapi/structs.ts";
import type { IommufdCtx } from "./context.ts";
import type { UserArg } from "./uaccess.ts";
import { copyStructFromUser, userWrite } from "./uaccess.ts";
import { type Release, releaseAtLeast } from "./release.ts";
import type { Ioas } from "./ioas.ts";
import type { IommufdDevice } from "./device.ts";
import { type HwPagetable, HwptNested, hwptPagingAbort, hwptPagingAlloc } from "./hw_pagetable.ts";
import type { Viommu } from "./viommu.ts";

// ---- the kernel's copy of a struct that may be shorter than sizeof ----

/** Byte `off` of the kernel's copy: the caller's byte below `lim`, else zero. */
export function byte(u: UserArg, lim: number, off: number): number {
  return off < lim ? u.kv.getUint8(off) : 0;
}

/** The u32 at `off` of the kernel's copy (see {@link byte}). */
export function get32(u: UserArg, lim: number, off: number): number {
  if (off + 4 <= lim) return u.kv.getUint32(off, true);
  let v = 0;
  for (let i = 3; i >= 0; i--) v = v * 256 + byte(u, lim, off + i);
  return v;
}

/** The u64 at `off` of the kernel's copy. */
export function get64(u: UserArg, lim: number, off: number): bigint {
  if (off + 8 <= lim) return u.kv.getBigUint64(off, true);
  return (BigInt(get32(u, lim, off + 4)) << 32n) | BigInt(get32(u, lim, off));
}

/** Store `n` little-endian bytes of `v` at `off`, only those below `lim` (what is copied back). */
export function put(u: UserArg, lim: number, off: number, n: number, v: bigint): void {
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
const { MOCK_FLAGS_DEVICE_NO_DIRTY: MOCK_NO_DIRTY, MOCK_FLAGS_DEVICE_PASID: MOCK_PASID } =
  MOCK_FLAGS_DEVICE.values;
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
export function getDevice(ctx: IommufdCtx, id: number): IommufdDevice | undefined {
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
 * device is attached to it. With FAULT_ID_VALID (paging: 6.13) it also holds its fault object;
 * fault_id is read only with that flag.
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
    const rc = pagingAllocChecks(rel, idev, flags, dataLen !== 0);
    if (rc !== 0) return rc;
    return allocPaging(ctx, u, lim, pt as Ioas, idev, flags);
  }
  if (pt.type === "hwpt_paging") {
    return nestedAlloc(ctx, u, lim, pt as HwPagetable, idev, flags, dataType, dataLen);
  }
  if (pt.type === "viommu") {
    return viommuNestedAlloc(ctx, u, lim, pt as Viommu, idev, flags, dataType, dataLen);
  }
  return -E.EINVAL;
}

/** IOMMU_HWPT_FAULT_ID_VALID and IOMMU_HWPT_ALLOC_PASID (6.15). */
const HWPT_FAULT_ID_VALID = 4;
const HWPT_ALLOC_PASID = 8;

/**
 * The flags `iommufd_hwpt_paging_alloc` knows: NEST_PARENT and DIRTY_TRACKING (6.7),
 * FAULT_ID_VALID (6.13), ALLOC_PASID (6.15).
 */
function pagingValidFlags(r: Release): number {
  return HWPT_ALLOC_NEST_PARENT | HWPT_ALLOC_DIRTY_TRACKING |
    (releaseAtLeast(r, "6.13") ? HWPT_FAULT_ID_VALID : 0) |
    (releaseAtLeast(r, "6.15") ? HWPT_ALLOC_PASID : 0);
}

/** IOMMU_CAP_DIRTY_TRACKING of the device's IOMMU (the mock's unless MOCK_FLAGS_DEVICE_NO_DIRTY). */
function dirtyCapable(idev: IommufdDevice): boolean {
  if (idev.dev.isMock) return (mockFlags(idev) & MOCK_NO_DIRTY) === 0;
  return ((idev.dev.iommu.hwInfo?.capabilities ?? 0n) & HW_CAP_DIRTY_TRACKING) !== 0n;
}

/**
 * The checks of `iommufd_hwpt_paging_alloc` (hw_pagetable.c) and of the driver's
 * `domain_alloc_paging_flags` that come before anything visible, all EOPNOTSUPP, in the
 * kernel's order: a flag the release does not know; DIRTY_TRACKING on a device that is not
 * dirty-capable; FAULT_ID_VALID together with NEST_PARENT (6.15); then the driver, which sees
 * the flags without FAULT_ID_VALID. The mock (selftest.c, before its generic page table)
 * takes NEST_PARENT, DIRTY_TRACKING and (6.15) PASID, and no driver data for a paging domain.
 */
function pagingAllocChecks(
  rel: Release,
  idev: IommufdDevice,
  flags: number,
  userData: boolean,
): number {
  if ((flags & ~pagingValidFlags(rel)) !== 0) return -E.EOPNOTSUPP;
  const dirty = (flags & HWPT_ALLOC_DIRTY_TRACKING) !== 0;
  if (dirty && !dirtyCapable(idev)) return -E.EOPNOTSUPP;
  if (
    releaseAtLeast(rel, "6.15") && (flags & HWPT_FAULT_ID_VALID) !== 0 &&
    (flags & HWPT_ALLOC_NEST_PARENT) !== 0
  ) {
    return -E.EOPNOTSUPP;
  }
  const driverFlags = flags & ~HWPT_FAULT_ID_VALID;
  if (!idev.dev.isMock) return realDriverPagingChecks(idev, driverFlags, userData);
  if (userData) return -E.EOPNOTSUPP;
  return 0;
}

/**
 * A real IOMMU driver's `domain_alloc_paging_flags` for the hardware the profiles describe:
 * no driver takes data for a paging domain, and none of that hardware can be a nest parent
 * (VT-d without nesting, AMD-Vi before 6.19, SMMUv3 without FEAT_NESTING), all EOPNOTSUPP;
 * PASID (6.15) as the profile says (VT-d and SMMUv3 make the domain, AMD-Vi without GT
 * refuses). DIRTY_TRACKING never gets here on this hardware: the core refused it.
 */
function realDriverPagingChecks(idev: IommufdDevice, flags: number, userData: boolean): number {
  if (userData || (flags & HWPT_ALLOC_NEST_PARENT) !== 0) return -E.EOPNOTSUPP;
  if ((flags & HWPT_ALLOC_PASID) !== 0 && !idev.dev.iommu.pasidDomains) return -E.EOPNOTSUPP;
  return 0;
}

/**
 * Allocate and link a paging hwpt (NEST_PARENT, DIRTY_TRACKING and PASID are remembered);
 * with FAULT_ID_VALID take the fault object named by fault_id (ENOENT: anything else, after
 * the hwpt took its id, which goes back); write out_hwpt_id back; publish.
 */
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
  hwpt.pasidCompat = (flags & HWPT_ALLOC_PASID) !== 0;
  let e = (flags & HWPT_FAULT_ID_VALID) !== 0 ? takeFault(ctx, u, lim, hwpt) : 0;
  if (e === 0) {
    put(u, lim, A.out_hwpt_id, 4, BigInt(hwpt.id));
    if (!u.respond(lim)) e = -E.EFAULT;
  }
  if (e !== 0) {
    hwptPagingAbort(ctx, hwpt);
    return e;
  }
  ctx.objects.finalize(hwpt);
  return 0;
}

/**
 * `iommufd_get_fault` of fault_id, for a hwpt allocated with FAULT_ID_VALID: a missing id or
 * an object of another type is ENOENT; else the hwpt holds the fault object (IOMMU_DESTROY of
 * it answers EBUSY while the hwpt lives).
 */
function takeFault(
  ctx: IommufdCtx,
  u: UserArg,
  lim: number,
  hwpt: HwPagetable | HwptNested,
): number {
  const fault = ctx.objects.get(get32(u, lim, A.fault_id), "fault");
  if (fault === undefined) return -E.ENOENT;
  fault.users++;
  hwpt.fault = fault;
  return 0;
}

/** Flags a nested allocation may carry: FAULT_ID_VALID, and PASID from 6.15. */
function nestedValidFlags(r: Release): number {
  return HWPT_FAULT_ID_VALID | (releaseAtLeast(r, "6.15") ? HWPT_ALLOC_PASID : 0);
}

/**
 * `iommufd_hwpt_nested_alloc`: flags beyond FAULT_ID_VALID (and PASID, 6.15), no data, or
 * (6.13+) a driver without `domain_alloc_nested` (EOPNOTSUPP); a parent that is automatic, not a nest parent, or of another driver (EINVAL);
 * then the nested hwpt takes the next id and holds its parent, and the driver makes the
 * domain: the mock wants no other flag than PASID (EOPNOTSUPP), IOMMU_HWPT_DATA_SELFTEST
 * (EOPNOTSUPP) and a `struct iommu_hwpt_selftest` (data_len below 4: EINVAL; E2BIG/EFAULT).
 * Other drivers' nested data is not modelled: EOPNOTSUPP, an approximation.
 */
function nestedAlloc(
  ctx: IommufdCtx,
  u: UserArg,
  lim: number,
  parent: HwPagetable,
  idev: IommufdDevice,
  flags: number,
  dataType: number,
  dataLen: number,
): number {
  if ((flags & ~nestedValidFlags(ctx.release)) !== 0 || dataLen === 0) return -E.EOPNOTSUPP;
  // From 6.13 the driver's domain_alloc_nested op is asked for with the flags, before the
  // parent is looked at; a driver without it (SMMUv3, AMD-Vi) never gets to the parent checks.
  if (releaseAtLeast(ctx.release, "6.13") && !idev.dev.iommu.nestedDomains) return -E.EOPNOTSUPP;
  if (parent.autoDomain || !parent.nestParent || parent.iommu.driver !== idev.dev.iommu.driver) {
    return -E.EINVAL;
  }
  if (!idev.dev.isMock) return -E.EOPNOTSUPP;
  const hwpt = new HwptNested(parent, undefined, 0);
  const rc = ctx.objects.allocate(hwpt);
  if (rc !== 0) return -rc;
  hwpt.pasidCompat = (flags & HWPT_ALLOC_PASID) !== 0;
  parent.users++;
  const e = mockNestedDomain(ctx, u, lim, hwpt, flags & ~HWPT_FAULT_ID_VALID, dataType, dataLen);
  return finishNested(ctx, u, lim, hwpt, flags, e);
}

/**
 * IOMMU_HWPT_ALLOC with a vIOMMU as pt_id (6.13): the device must sit behind the vIOMMU's
 * IOMMU (EINVAL); flags beyond FAULT_ID_VALID|PASID or no data (EOPNOTSUPP); the nested hwpt
 * takes the next id and holds the vIOMMU; the mock's domain as for a paging parent.
 */
function viommuNestedAlloc(
  ctx: IommufdCtx,
  u: UserArg,
  lim: number,
  viommu: Viommu,
  idev: IommufdDevice,
  flags: number,
  dataType: number,
  dataLen: number,
): number {
  if (viommu.iommuDev !== idev.dev.iommu.driver) return -E.EINVAL;
  if ((flags & ~(HWPT_FAULT_ID_VALID | HWPT_ALLOC_PASID)) !== 0 || dataLen === 0) {
    return -E.EOPNOTSUPP;
  }
  const hwpt = new HwptNested(viommu.hwpt, viommu, 0);
  const rc = ctx.objects.allocate(hwpt);
  if (rc !== 0) return -rc;
  hwpt.pasidCompat = (flags & HWPT_ALLOC_PASID) !== 0;
  viommu.users++;
  const e = mockNestedDomain(ctx, u, lim, hwpt, flags & ~HWPT_FAULT_ID_VALID, dataType, dataLen);
  return finishNested(ctx, u, lim, hwpt, flags, e);
}

/** `struct iommu_hwpt_selftest` { iotlb }: sizeof and offsetofend(iotlb). */
const HWPT_SELFTEST_SIZE = 4;

/** The mock's nested domain allocation: flags, data type, then the data itself. */
function mockNestedDomain(
  ctx: IommufdCtx,
  u: UserArg,
  lim: number,
  hwpt: HwptNested,
  flags: number,
  dataType: number,
  dataLen: number,
): number {
  const pasidOk = releaseAtLeast(ctx.release, "6.15") ? HWPT_ALLOC_PASID : 0;
  if ((flags & ~pasidOk) !== 0) return -E.EOPNOTSUPP;
  if (dataType !== HWPT_DATA_SELFTEST) return -E.EOPNOTSUPP;
  // iommu_copy_struct_from_user: no shorter than offsetofend(iotlb), no longer than the struct.
  if (dataLen !== HWPT_SELFTEST_SIZE) return -E.EINVAL;
  const data = copyStructFromUser(u, get64(u, lim, A.data_uptr), dataLen, HWPT_SELFTEST_SIZE);
  if (typeof data === "number") return data;
  hwpt.iotlb.fill(new DataView(data.buffer).getUint32(0, true));
  return 0;
}

/**
 * The common tail of a nested allocation: on a driver error drop the hwpt; else attach the
 * fault object named by fault_id (FAULT_ID_VALID: ENOENT), write out_hwpt_id back, publish.
 */
function finishNested(
  ctx: IommufdCtx,
  u: UserArg,
  lim: number,
  hwpt: HwptNested,
  flags: number,
  e: number,
): number {
  if (e === 0 && (flags & HWPT_FAULT_ID_VALID) !== 0) e = takeFault(ctx, u, lim, hwpt);
  if (e === 0) {
    put(u, lim, A.out_hwpt_id, 4, BigInt(hwpt.id));
    if (!u.respond(lim)) e = -E.EFAULT;
  }
  if (e !== 0) {
    ctx.abortAndDestroy(hwpt);
    return e;
  }
  ctx.objects.finalize(hwpt);
  return 0;
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
 * Another driver reports its own type and data likewise, or, without a `hw_info` op, type
 * NONE, data_len 0 and the caller's whole buffer zeroed, whatever input type was asked.
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
  const info = driverHwInfo(idev, rel);
  // A user profile whose driver has the op but which gives no registers: nothing to report.
  if (info === undefined) return -E.EOPNOTSUPP;
  // A driver's op refuses an input type other than DEFAULT and its own (6.17); without an
  // op the core ignores the input type.
  if (info.hasOp && inType !== HW_INFO_TYPE_DEFAULT && inType !== info.type) return -E.EOPNOTSUPP;
  const userLen = get32(u, lim, I.data_len);
  const uptr = get64(u, lim, I.data_uptr);
  const copyLen = Math.min(userLen, info.data.length);
  if (!userWrite(u.memory, uptr, info.data.subarray(0, copyLen))) return -E.EFAULT;
  for (let off = copyLen; off < userLen;) {
    const n = Math.min(ZEROS.length, userLen - off);
    const at = uptr + BigInt(off);
    if (at >= U64 || !userWrite(u.memory, at, ZEROS.subarray(0, n))) return -E.EFAULT;
    off += n;
  }
  put(u, lim, I.data_len, 4, BigInt(info.data.length));
  put(u, lim, I.out_data_type, 4, BigInt(info.type));
  if (rel.hwInfoPasid) put(u, lim, I.out_max_pasid_log2, 1, BigInt(info.maxPasidLog2));
  if (ksize >= I.out_capabilities + 8) put(u, lim, I.out_capabilities, 8, info.capabilities);
  return u.respond(lim) ? 0 : -E.EFAULT;
}

/** What GET_HW_INFO reports for a device: its driver's `hw_info` op, or TYPE_NONE without one. */
interface DriverHwInfo {
  /** The driver has a `hw_info` op (it checks an input type; without one it is ignored). */
  hasOp: boolean;
  type: number;
  data: Uint8Array;
  capabilities: bigint;
  maxPasidLog2: number;
}

const NO_DATA = new Uint8Array(0);

/**
 * What a device's IOMMU driver reports to GET_HW_INFO, or undefined when the driver has a
 * `hw_info` op whose registers the profile does not give.
 */
function driverHwInfo(idev: IommufdDevice, rel: Release): DriverHwInfo | undefined {
  if (idev.dev.isMock) {
    const caps = dirtyCapable(idev) ? HW_CAP_DIRTY_TRACKING : 0n;
    return {
      hasOp: true,
      type: HW_INFO_TYPE_SELFTEST,
      data: MOCK_HW_INFO,
      capabilities: caps,
      // ilog2(dev->iommu->max_pasids): the device's PASID bits, capped by the mock IOMMU's.
      maxPasidLog2: (mockFlags(idev) & MOCK_PASID) !== 0 ? MOCK.PASID_WIDTH : 0,
    };
  }
  const hw = idev.dev.iommu.hwInfo;
  if (hw === undefined) return undefined;
  const { capabilities, maxPasidLog2 } = hw;
  // A driver without the op (AMD before 6.19, SMMUv3 before 6.13): type NONE, no data.
  if (!releaseAtLeast(rel, hw.since)) {
    return { hasOp: false, type: HW_INFO_TYPE_DEFAULT, data: NO_DATA, capabilities, maxPasidLog2 };
  }
  if (hw.data === undefined) return undefined;
  const data = Uint8Array.from(hw.data.match(/../g)!, (h) => parseInt(h, 16));
  return { hasOp: true, type: hw.type, data, capabilities, maxPasidLog2 };
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
 * 2^19); hwpt_id must be a nested hwpt (ENOENT) or, from 6.13, a vIOMMU (any other object:
 * EINVAL); then the mock driver's cache invalidation (see {@link mockNestedInvalidate} and
 * {@link mockViommuInvalidate}). Every path, failures included, writes back entry_num = the
 * entries handled (EFAULT if that fails).
 */
export function iommufdHwptInvalidate(ctx: IommufdCtx, u: UserArg): number {
  const lim = S.iommu_hwpt_invalidate.size;
  let rc: number;
  let done = 0;
  const entryNum = get32(u, lim, INV.entry_num);
  const entryLen = get32(u, lim, INV.entry_len);
  const uptr = get64(u, lim, INV.data_uptr);
  if (get32(u, lim, INV.__reserved) !== 0) {
    rc = -E.EOPNOTSUPP;
  } else if (
    entryNum !== 0 &&
    (uptr === 0n || entryLen === 0 ||
      (ctx.release.invalidateBounds &&
        (entryLen > PAGE_SIZE || entryNum > INVALIDATE_ENTRY_NUM_MAX)))
  ) {
    rc = -E.EINVAL;
  } else {
    const arr = { type: get32(u, lim, INV.data_type), uptr, entryLen, entryNum };
    const obj = ctx.objects.get(get32(u, lim, INV.hwpt_id));
    let r: { rc: number; done: number };
    if (obj?.type === "hwpt_nested") r = mockNestedInvalidate(u, obj as HwptNested, arr);
    else if (obj?.type === "viommu") r = mockViommuInvalidate(u, obj as Viommu, arr);
    else if (obj === undefined || !releaseAtLeast(ctx.release, "6.13")) {
      r = { rc: -E.ENOENT, done: 0 };
    } else r = { rc: -E.EINVAL, done: 0 };
    rc = r.rc;
    done = r.done;
  }
  put(u, lim, INV.entry_num, 4, BigInt(done));
  if (!u.respond(lim)) return -E.EFAULT;
  return rc;
}

/** `struct iommu_user_data_array`. */
interface UserArray {
  type: number;
  uptr: bigint;
  entryLen: number;
  entryNum: number;
}

/** IOMMU_HWPT_INVALIDATE_DATA_SELFTEST and IOMMU_VIOMMU_INVALIDATE_DATA_SELFTEST. */
const HWPT_INVALIDATE_DATA_SELFTEST = 0xdeadbeef;
const VIOMMU_INVALIDATE_DATA_SELFTEST = 0xdeadbeef;
/** IOMMU_TEST_INVALIDATE_FLAG_ALL. */
const TEST_INVALIDATE_FLAG_ALL = 1;
/** MOCK_NESTED_DOMAIN_IOTLB_ID_MAX and MOCK_DEV_CACHE_ID_MAX. */
const MOCK_IOTLB_ID_MAX = 3;
const MOCK_DEV_CACHE_ID_MAX = 3;
/** KMALLOC_MAX_SIZE (order-10 pages): a larger kcalloc fails (ENOMEM). */
const KMALLOC_MAX_SIZE = 4 * 1024 * 1024;

/** Entry `i` of `arr` as a `ksize`-byte struct (copy_struct_from_user), or -errno. */
function arrayEntry(u: UserArg, arr: UserArray, i: number, ksize: number): DataView | number {
  const at = arr.uptr + BigInt(arr.entryLen) * BigInt(i);
  const b = copyStructFromUser(u, at, arr.entryLen, ksize);
  return typeof b === "number" ? b : new DataView(b.buffer);
}

/**
 * `mock_domain_cache_invalidate_user`: IOMMU_HWPT_INVALIDATE_DATA_SELFTEST only (EINVAL);
 * each `struct iommu_hwpt_invalidate_selftest` { flags, iotlb_id }: entry_len other than 8
 * (EINVAL), EFAULT, unknown flags (EOPNOTSUPP), iotlb_id above 3 (EINVAL); the mock
 * IOTLB entry (or all of them) is cleared. Stops at the first bad entry.
 */
function mockNestedInvalidate(
  u: UserArg,
  hwpt: HwptNested,
  arr: UserArray,
): { rc: number; done: number } {
  if (arr.type !== HWPT_INVALIDATE_DATA_SELFTEST) return { rc: -E.EINVAL, done: 0 };
  let done = 0;
  for (let i = 0; i < arr.entryNum; i++) {
    // iommu_copy_struct_from_user_array: an entry is exactly the 8-byte struct, no longer.
    if (arr.entryLen !== 8) return { rc: -E.EINVAL, done };
    const v = arrayEntry(u, arr, i, 8);
    if (typeof v === "number") return { rc: v, done };
    const flags = v.getUint32(0, true);
    const id = v.getUint32(4, true);
    if ((flags & ~TEST_INVALIDATE_FLAG_ALL) !== 0) return { rc: -E.EOPNOTSUPP, done };
    if (id > MOCK_IOTLB_ID_MAX) return { rc: -E.EINVAL, done };
    if (flags & TEST_INVALIDATE_FLAG_ALL) hwpt.iotlb.fill(0);
    else hwpt.iotlb[id] = 0;
    done++;
  }
  return { rc: 0, done };
}

/**
 * `mock_viommu_cache_invalidate`: an empty array of IOMMU_VIOMMU_INVALIDATE_DATA_SELFTEST is
 * accepted as a probe; otherwise the whole array of `struct iommu_viommu_invalidate_selftest`
 * { flags, vdev_id, cache_id } is copied first (kcalloc: ENOMEM; wrong type or no entries:
 * EINVAL; E2BIG/EFAULT; nothing handled), then each entry: unknown flags (EOPNOTSUPP),
 * cache_id above 3 (EINVAL), vdev_id without a vDEVICE in this vIOMMU (EINVAL).
 */
function mockViommuInvalidate(
  u: UserArg,
  viommu: Viommu,
  arr: UserArray,
): { rc: number; done: number } {
  if (arr.entryNum === 0 && arr.type === VIOMMU_INVALIDATE_DATA_SELFTEST) return { rc: 0, done: 0 };
  if (arr.entryNum * 12 > KMALLOC_MAX_SIZE) return { rc: -E.ENOMEM, done: 0 };
  if (arr.type !== VIOMMU_INVALIDATE_DATA_SELFTEST || arr.entryNum === 0) {
    return { rc: -E.EINVAL, done: 0 };
  }
  const cmds: DataView[] = [];
  for (let i = 0; i < arr.entryNum; i++) {
    const v = arrayEntry(u, arr, i, 12);
    if (typeof v === "number") return { rc: v, done: 0 };
    cmds.push(v);
  }
  let done = 0;
  for (const v of cmds) {
    if ((v.getUint32(0, true) & ~TEST_INVALIDATE_FLAG_ALL) !== 0) {
      return { rc: -E.EOPNOTSUPP, done };
    }
    if (v.getUint32(8, true) > MOCK_DEV_CACHE_ID_MAX) return { rc: -E.EINVAL, done };
    if (!viommu.vdevs.has(BigInt(v.getUint32(4, true)))) return { rc: -E.EINVAL, done };
    done++;
  }
  return { rc: 0, done };
}
