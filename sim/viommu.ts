/**
 * Virtual IOMMUs (drivers/iommu/iommufd/viommu.c; the mock driver of selftest.c):
 * IOMMU_VIOMMU_ALLOC, IOMMU_VDEVICE_ALLOC and IOMMU_HW_QUEUE_ALLOC, with the objects they
 * create and how each holds the others (IOMMU_DESTROY answers EBUSY while held):
 *
 * - a vIOMMU holds its nesting-parent paging hwpt;
 * - a vDEVICE holds its vIOMMU and its device; unbinding the device destroys the vDEVICE
 *   and leaves a tombstone that keeps its id until the iommufd is released;
 * - a HW queue holds its vIOMMU, and an internal access object (it takes the next id and is
 *   visible) that holds the vIOMMU's IOAS, raises its IOVA alignment to PAGE_SIZE, pins the
 *   queue's pages and locks their areas against IOMMU_IOAS_UNMAP (EBUSY); queue N holds
 *   queue N - 1 of the same vIOMMU (the mock's ordering rule).
 *
 * Exact against the mock driver. For other drivers only what the core checks before asking
 * the driver: on 6.18 neither Intel VT-d nor AMD-Vi has vIOMMU ops (EOPNOTSUPP); the SMMUv3
 * one reports no vIOMMU size without FEAT_NESTING (EOPNOTSUPP), which the profile's
 * stage-1 SMMU does not have. An SMMU with nesting is not modelled.
 *
 * @module
 */

import { E } from "../uapi/errno.ts";
import { PAGE_SIZE } from "../uapi/constants.ts";
import { offsetsOf } from "../uapi/codec.ts";
import * as S from "../uapi/structs.ts";
import type { IommufdObject } from "./object_table.ts";
import type { IommufdCtx } from "./context.ts";
import { copyStructFromUser, type UserArg, userWrite } from "./uaccess.ts";
import { type Release, releaseAtLeast } from "./release.ts";
import type { HwPagetable } from "./hw_pagetable.ts";
import type { IommufdDevice } from "./device.ts";
import type { Veventq } from "./eventq.ts";
import type { AccessPin } from "./io_pagetable.ts";
import { get32, get64, getDevice, put } from "./hwpt_ioctl.ts";

/** IOMMU_VIOMMU_TYPE_DEFAULT / _SELFTEST (iommufd_test.h). */
const VIOMMU_TYPE_DEFAULT = 0;
export const VIOMMU_TYPE_SELFTEST = 0xdeadbeef;
/** IOMMU_HW_QUEUE_TYPE_DEFAULT / _SELFTEST. */
const HW_QUEUE_TYPE_DEFAULT = 0;
export const HW_QUEUE_TYPE_SELFTEST = 0xdeadbeef;
/** IOMMU_TEST_HW_QUEUE_MAX: queues per mock vIOMMU. */
export const TEST_HW_QUEUE_MAX = 2;
/** `struct iommu_viommu_selftest`: in_data, out_data, out_mmap_offset, out_mmap_length. */
const SELFTEST_DATA_SIZE = 24;
/** offsetofend(struct iommu_viommu_selftest, out_data): the oldest layout. */
const SELFTEST_DATA_MIN = 8;
const U64_MAX = (1n << 64n) - 1n;
const INT_MAX = 0x7fff_ffff;
const PAGE_MASK = PAGE_SIZE - 1n;

/** The physical IOMMU instance behind a device (`__iommu_get_iommu_dev`), by driver. */
function iommuDev(idev: IommufdDevice): string {
  return idev.dev.iommu.driver;
}

/** `struct iommufd_viommu` (with the mock's `struct mock_viommu`). */
export class Viommu implements IommufdObject {
  id = 0;
  readonly type = "viommu" as const;
  users = 1;
  finalized = false;
  /** `vdevs`, by virt_id. */
  readonly vdevs = new Map<bigint, Vdevice>();
  /** `veventqs`: at most one per type. */
  readonly veventqs: Veventq[] = [];
  /** The mock's `hw_queue[]`. */
  readonly hwQueues: (HwQueue | undefined)[] = new Array(TEST_HW_QUEUE_MAX).fill(undefined);
  /** The mock's mmap window offset, when the vIOMMU was given driver data. */
  mmapOffset: bigint | undefined;
  /** `viommu->ops` is set: the driver's init succeeded. */
  initialized = false;

  constructor(readonly hwpt: HwPagetable, readonly iommuDev: string, readonly vtype: number) {}
}

/** `struct iommufd_vdevice`: holds its vIOMMU and its device. */
export class Vdevice implements IommufdObject {
  id = 0;
  readonly type = "vdevice" as const;
  users = 1;
  finalized = false;

  constructor(readonly viommu: Viommu, readonly idev: IommufdDevice, readonly virtId: bigint) {}
}

/** `struct iommufd_access` of an internal user (ops-less, PAGE_SIZE aligned). */
export class Access implements IommufdObject {
  id = 0;
  readonly type = "access" as const;
  /** The table's reference and the creating driver's. */
  users = 2;
  finalized = false;
  pins: readonly AccessPin[] = [];
  attached = false;

  constructor(readonly hwpt: HwPagetable) {}
}

/** `struct iommufd_hw_queue` (with the mock's `struct mock_hw_queue`). */
export class HwQueue implements IommufdObject {
  id = 0;
  readonly type = "hw_queue" as const;
  users = 1;
  finalized = false;
  viommu: Viommu | undefined;
  access: Access | undefined;
  /** The mock's queue index and the queue it depends on, once its init succeeded. */
  index = -1;
  prev: HwQueue | undefined;
}

// ---- helpers ----

/** One window of `ictx->mt_mmap`: [start, end) in the iommufd file, and the object it maps. */
export interface MmapWindow {
  readonly start: bigint;
  readonly end: bigint;
  readonly owner: IommufdObject;
}

/** The mmap windows of a context (`ictx->mt_mmap`), lowest first. */
const MMAP_WINDOWS = new WeakMap<IommufdCtx, MmapWindow[]>();

/** `_iommufd_alloc_mmap`: the lowest free window of `length` bytes from PAGE_SIZE on. */
function mmapAlloc(ctx: IommufdCtx, owner: IommufdObject, length: bigint): bigint {
  let list = MMAP_WINDOWS.get(ctx);
  if (list === undefined) MMAP_WINDOWS.set(ctx, list = []);
  let at = PAGE_SIZE;
  let i = 0;
  for (; i < list.length; i++) {
    if (list[i].start - at >= length) break;
    at = list[i].end;
  }
  list.splice(i, 0, { start: at, end: at + length, owner });
  return at;
}

/** `mtree_load` of `ictx->mt_mmap`: the window holding file offset `offset`, if any. */
export function mmapWindowAt(ctx: IommufdCtx, offset: bigint): MmapWindow | undefined {
  return MMAP_WINDOWS.get(ctx)?.find((w) => w.start <= offset && offset < w.end);
}

/** `iommufd_viommu_destroy_mmap`. */
function mmapFree(ctx: IommufdCtx, offset: bigint): void {
  const list = MMAP_WINDOWS.get(ctx);
  const i = list?.findIndex((w) => w.start === offset) ?? -1;
  if (i >= 0) list!.splice(i, 1);
}

// ---- IOMMU_VIOMMU_ALLOC ----

const VA = offsetsOf(S.iommu_viommu_alloc);

/** sizeof(struct iommu_viommu_alloc) the release knows: 24 (6.13), 40 (6.17: driver data). */
export function viommuAllocSize(r: Release): number {
  return releaseAtLeast(r, "6.17") ? 40 : 24;
}

/**
 * IOMMU_VIOMMU_ALLOC: flags or type DEFAULT (EOPNOTSUPP); dev_id must be a device (ENOENT);
 * the device's driver must have vIOMMU ops and a size for the type (EOPNOTSUPP: only the
 * mock's IOMMU_VIOMMU_TYPE_SELFTEST here); hwpt_id must be a paging hwpt (ENOENT) allocated
 * as a nest parent (EINVAL). The vIOMMU then takes the next id and holds the hwpt. With
 * driver data (6.17), the mock copies `struct iommu_viommu_selftest` in (data_len below 8:
 * EINVAL; E2BIG/EFAULT), opens a two-page mmap window, and writes out_data = in_data and the
 * window back (data_len above 24: EINVAL; EFAULT). Any failure frees the id again.
 */
export function iommufdViommuAlloc(ctx: IommufdCtx, u: UserArg, usize: number): number {
  const rel = ctx.release;
  const lim = Math.min(usize, viommuAllocSize(rel));
  const vtype = get32(u, lim, VA.type);
  if (get32(u, lim, VA.flags) !== 0 || vtype === VIOMMU_TYPE_DEFAULT) return -E.EOPNOTSUPP;
  const idev = getDevice(ctx, get32(u, lim, VA.dev_id));
  if (idev === undefined) return -E.ENOENT;
  if (!idev.dev.isMock || vtype !== VIOMMU_TYPE_SELFTEST) return -E.EOPNOTSUPP;
  const hwpt = ctx.objects.get(get32(u, lim, VA.hwpt_id), "hwpt_paging") as
    | HwPagetable
    | undefined;
  if (hwpt === undefined) return -E.ENOENT;
  if (!hwpt.nestParent) return -E.EINVAL;
  const viommu = new Viommu(hwpt, iommuDev(idev), vtype);
  const rc = ctx.objects.allocate(viommu);
  if (rc !== 0) return -rc;
  hwpt.users++;
  const dataLen = get32(u, lim, VA.data_len);
  if (dataLen !== 0) {
    const e = mockViommuData(ctx, u, viommu, vtype, get64(u, lim, VA.data_uptr), dataLen);
    if (e !== 0) {
      ctx.abortAndDestroy(viommu);
      return e;
    }
  }
  viommu.initialized = true;
  put(u, lim, VA.out_viommu_id, 4, BigInt(viommu.id));
  if (!u.respond(lim)) {
    ctx.abortAndDestroy(viommu);
    return -E.EFAULT;
  }
  ctx.objects.finalize(viommu);
  return 0;
}

/** The data part of `mock_viommu_init`: loop in_data back and report the mmap window. */
function mockViommuData(
  ctx: IommufdCtx,
  u: UserArg,
  viommu: Viommu,
  dataType: number,
  uptr: bigint,
  len: number,
): number {
  // iommu_copy_struct_from_user: the data type is the vIOMMU type, which matched already; a
  // length below offsetofend(out_data) or past the kernel's struct is EINVAL before any read.
  if (dataType !== VIOMMU_TYPE_SELFTEST || len < SELFTEST_DATA_MIN || len > SELFTEST_DATA_SIZE) {
    return -E.EINVAL;
  }
  const data = copyStructFromUser(u, uptr, len, SELFTEST_DATA_SIZE);
  if (typeof data === "number") return data;
  const window = 2n * PAGE_SIZE;
  viommu.mmapOffset = mmapAlloc(ctx, viommu, window);
  const v = new DataView(data.buffer);
  v.setUint32(4, v.getUint32(0, true), true);
  v.setBigUint64(8, viommu.mmapOffset, true);
  v.setBigUint64(16, window, true);
  // iommu_copy_struct_to_user: the length was checked on the way in.
  let e = 0;
  if (!userWrite(u.memory, uptr, data.subarray(0, len))) e = -E.EFAULT;
  if (e !== 0) {
    mmapFree(ctx, viommu.mmapOffset);
    viommu.mmapOffset = undefined;
  }
  return e;
}

/** `iommufd_viommu_destroy` (and the mock's): drop the hwpt, close the mmap window. */
export function viommuDestroy(ctx: IommufdCtx, viommu: Viommu): void {
  if (viommu.mmapOffset !== undefined) mmapFree(ctx, viommu.mmapOffset);
  viommu.mmapOffset = undefined;
  viommu.hwpt.users--;
}

// ---- IOMMU_VDEVICE_ALLOC ----

const VD = offsetsOf(S.iommu_vdevice_alloc);

/**
 * IOMMU_VDEVICE_ALLOC: viommu_id must be a vIOMMU (ENOENT), dev_id a device (ENOENT) behind
 * the same physical IOMMU (EINVAL) without a vDEVICE yet (EEXIST); the vDEVICE takes the next
 * id, then its virt_id must be free in the vIOMMU (EEXIST, the id is freed again).
 */
export function iommufdVdeviceAlloc(ctx: IommufdCtx, u: UserArg, usize: number): number {
  const kv = u.kv;
  const virtId = kv.getBigUint64(VD.virt_id, true);
  const viommu = ctx.objects.get(kv.getUint32(VD.viommu_id, true), "viommu") as
    | Viommu
    | undefined;
  if (viommu === undefined) return -E.ENOENT;
  const idev = getDevice(ctx, kv.getUint32(VD.dev_id, true));
  if (idev === undefined) return -E.ENOENT;
  if (viommu.iommuDev !== iommuDev(idev)) return -E.EINVAL;
  if (idev.vdev !== undefined) return -E.EEXIST;
  const vdev = new Vdevice(viommu, idev, virtId);
  const rc = ctx.objects.allocate(vdev);
  if (rc !== 0) return -rc;
  viommu.users++;
  idev.users++;
  idev.vdev = vdev;
  if (viommu.vdevs.has(virtId)) {
    ctx.abortAndDestroy(vdev);
    return -E.EEXIST;
  }
  viommu.vdevs.set(virtId, vdev);
  kv.setUint32(VD.out_vdevice_id, vdev.id, true);
  const w = ctx.respond(u, usize, S.iommu_vdevice_alloc.size);
  if (w !== 0) {
    ctx.abortAndDestroy(vdev);
    return w;
  }
  ctx.objects.finalize(vdev);
  return 0;
}

/** `iommufd_vdevice_destroy`: leave the vIOMMU, drop it and the device. */
export function vdeviceDestroy(_ctx: IommufdCtx, vdev: Vdevice): void {
  const viommu = vdev.viommu;
  if (viommu.vdevs.get(vdev.virtId) === vdev) viommu.vdevs.delete(vdev.virtId);
  viommu.users--;
  if (vdev.idev.vdev === vdev) {
    vdev.idev.vdev = undefined;
    vdev.idev.users--;
  }
}

/**
 * `iommufd_device_remove_vdev`, on unbind: a live vDEVICE is destroyed and its id left as a
 * tombstone (IOMMU_DESTROY of it answers ENOENT; the id is not reused).
 */
export function vdeviceTombstone(ctx: IommufdCtx, idev: IommufdDevice): void {
  const vdev = idev.vdev;
  if (vdev === undefined) return;
  vdeviceDestroy(ctx, vdev);
  ctx.objects.tombstone(vdev);
}

// ---- IOMMU_HW_QUEUE_ALLOC ----

const HQ = offsetsOf(S.iommu_hw_queue_alloc);

/**
 * IOMMU_HW_QUEUE_ALLOC: flags or type DEFAULT (EOPNOTSUPP); length 0 (EINVAL);
 * nesting_parent_iova + length - 1 wrapping (EOVERFLOW); viommu_id a vIOMMU (ENOENT) whose
 * driver has HW queues of this type (EOPNOTSUPP: the mock's IOMMU_HW_QUEUE_TYPE_SELFTEST).
 * The queue takes the next id; then the queue memory, rounded out to whole pages, gets an
 * internal access on the vIOMMU's IOAS (the next id again; the IOAS's alignment becomes
 * PAGE_SIZE, EADDRINUSE if an area cannot follow) that pins it (ENOENT if not fully mapped,
 * EINVAL for a piece not page aligned in its pages, EPERM if not readable) and must be
 * physically contiguous (EFAULT). The mock then wants index < 2 (EINVAL), unused (EEXIST),
 * and index - 1 allocated first (EIO), which the new queue then holds.
 */
export function iommufdHwQueueAlloc(ctx: IommufdCtx, u: UserArg, usize: number): number {
  const kv = u.kv;
  const qtype = kv.getUint32(HQ.type, true);
  if (kv.getUint32(HQ.flags, true) !== 0 || qtype === HW_QUEUE_TYPE_DEFAULT) return -E.EOPNOTSUPP;
  const length = kv.getBigUint64(HQ.length, true);
  const iova = kv.getBigUint64(HQ.nesting_parent_iova, true);
  if (length === 0n) return -E.EINVAL;
  if (iova + length - 1n > U64_MAX) return -E.EOVERFLOW;
  const viommu = ctx.objects.get(kv.getUint32(HQ.viommu_id, true), "viommu") as
    | Viommu
    | undefined;
  if (viommu === undefined) return -E.ENOENT;
  if (qtype !== HW_QUEUE_TYPE_SELFTEST) return -E.EOPNOTSUPP;
  const q = new HwQueue();
  const rc = ctx.objects.allocate(q);
  if (rc !== 0) return -rc;
  const access = allocPhys(ctx, viommu, iova, length);
  if (typeof access === "number") {
    ctx.objects.abort(q);
    return access;
  }
  q.viommu = viommu;
  viommu.users++;
  q.access = access;
  const e = mockHwQueueInit(viommu, q, kv.getUint32(HQ.index, true));
  if (e !== 0) {
    ctx.abortAndDestroy(q);
    return e;
  }
  kv.setUint32(HQ.out_hw_queue_id, q.id, true);
  const w = ctx.respond(u, usize, S.iommu_hw_queue_alloc.size);
  if (w !== 0) {
    ctx.abortAndDestroy(q);
    return w;
  }
  ctx.objects.finalize(q);
  return 0;
}

/** `iommufd_hw_queue_alloc_phys`: an internal access pinning the whole pages of the queue. */
function allocPhys(ctx: IommufdCtx, viommu: Viommu, iova: bigint, length: bigint): Access | number {
  const aligned = iova & ~PAGE_MASK;
  const offset = iova - aligned;
  if (offset + length > U64_MAX || offset + length + PAGE_MASK > U64_MAX) return -E.ERANGE;
  const npages = (offset + length + PAGE_MASK) / PAGE_SIZE;
  // kvcalloc of the page array: kvmalloc refuses more than INT_MAX bytes.
  if (npages * 8n > BigInt(INT_MAX)) return -E.ENOMEM;
  const access = new Access(viommu.hwpt);
  const rc = ctx.objects.allocate(access);
  if (rc !== 0) return -rc;
  ctx.objects.finalize(access);
  const ioas = viommu.hwpt.ioas;
  let e = ioas.iopt.addAccess(access, PAGE_SIZE);
  if (e !== 0) {
    accessDestroy(ctx, access);
    return -e;
  }
  access.attached = true;
  ioas.users++;
  const r = ioas.iopt.accessPin(aligned, npages * PAGE_SIZE);
  e = r.errno;
  access.pins = r.pins;
  // Approximation: whether several pages are physically contiguous depends on the host's
  // allocator; the simulator's memory has no contiguous runs, so only one page is.
  if (e === 0 && npages > 1n) e = E.EFAULT;
  if (e !== 0) {
    accessDestroy(ctx, access);
    return -e;
  }
  return access;
}

/** Unpin, detach and remove an internal access (`iommufd_access_destroy_internal`). */
function accessDestroy(ctx: IommufdCtx, access: Access): void {
  const ioas = access.hwpt.ioas;
  ioas.iopt.accessUnpin(access.pins);
  access.pins = [];
  if (access.attached) {
    ioas.iopt.removeAccess(access);
    ioas.users--;
    access.attached = false;
  }
  ctx.objects.forget(access);
  access.users = 0;
}

/** `mock_hw_queue_init_phys`. */
function mockHwQueueInit(viommu: Viommu, q: HwQueue, index: number): number {
  if (index >= TEST_HW_QUEUE_MAX) return -E.EINVAL;
  if (viommu.hwQueues[index] !== undefined) return -E.EEXIST;
  const prev = index > 0 ? viommu.hwQueues[index - 1] : undefined;
  if (index > 0 && prev === undefined) return -E.EIO;
  if (prev !== undefined) prev.users++;
  q.prev = prev;
  q.index = index;
  viommu.hwQueues[index] = q;
  return 0;
}

/** `iommufd_hw_queue_destroy` (and the mock's): release the queue below, the access, the vIOMMU. */
export function hwQueueDestroy(ctx: IommufdCtx, q: HwQueue): void {
  const viommu = q.viommu;
  if (viommu !== undefined && q.index >= 0) {
    if (viommu.hwQueues[q.index] === q) viommu.hwQueues[q.index] = undefined;
    if (q.prev !== undefined) q.prev.users--;
    q.prev = undefined;
    q.index = -1;
  }
  if (q.access !== undefined) accessDestroy(ctx, q.access);
  q.access = undefined;
  if (viommu !== undefined) viommu.users--;
  q.viommu = undefined;
}
