/**
 * iommufd device objects (drivers/iommu/iommufd/device.c): binding a physical device to a
 * context, attaching it to an IOAS (through an automatic hw_pagetable) or to a hw_pagetable
 * (paging, or a nested one of the selftest mock), replacing that attachment
 * (`iommufd_device_replace`, reached through IOMMU_TEST_OP_MOCK_DOMAIN_REPLACE), detaching and
 * unbinding. Also the VFIO device file (`/dev/vfio/N` → GET_DEVICE_FD), whose
 * ioctls the device driver answers.
 *
 * @module
 */

import { E } from "../uapi/errno.ts";
import type { IommufdObject } from "./object_table.ts";
import type { IommufdCtx } from "./context.ts";
import type { Ioas } from "./ioas.ts";
import type { PhysicalDevice, PlatformDevice } from "./platform.ts";
import {
  type HwPagetable,
  hwptEnforceCc,
  type HwptNested,
  hwptPagingAbort,
  hwptPagingAddDomain,
  hwptPagingAlloc,
} from "./hw_pagetable.ts";
import { releaseAtLeast } from "./release.ts";
import type { UserArg } from "./uaccess.ts";
import { type Vdevice, vdeviceTombstone } from "./viommu.ts";
import { type StructDesc, vfio_region_info } from "../uapi/structs.ts";

/** A hw_pagetable a device can be attached to: a paging one, or a nested one (the mock's). */
export type AttachedHwpt = HwPagetable | HwptNested;

/**
 * `find_hwpt_paging`: the paging hwpt itself, undefined for a nested one. Only a paging hwpt
 * carries the device's reserved regions into its IOAS; a nested hwpt's attach touches no IOAS.
 */
export function hwptPagingOf(hwpt: AttachedHwpt): HwPagetable | undefined {
  return hwpt.type === "hwpt_paging" ? hwpt : undefined;
}

/** `struct iommufd_device`. */
export class IommufdDevice implements IommufdObject {
  id = 0;
  readonly type = "device" as const;
  users = 1;
  finalized = false;
  /** The hw_pagetable the device is attached to: paging, or nested (over a paging parent). */
  hwpt: AttachedHwpt | undefined;
  /** IOMMU_CAP_ENFORCE_CACHE_COHERENCY of the device's IOMMU. */
  readonly enforceCacheCoherency: boolean;
  /** Its vDEVICE (`idev->vdev`), which holds the device. */
  vdev: Vdevice | undefined;

  constructor(readonly ctx: IommufdCtx, readonly dev: PhysicalDevice) {
    this.enforceCacheCoherency = dev.iommu.enforceCacheCoherency;
  }
}

/**
 * `iommufd_device_bind`, in the kernel's order: cache coherency (EINVAL), MSI isolation
 * (EPERM; the selftest's mock devices are exempt), DMA ownership of the group (EBUSY), the
 * object's id. The binding driver holds a reference, so IOMMU_DESTROY of the device object
 * answers EBUSY until unbind.
 */
export function deviceBind(ctx: IommufdCtx, dev: PhysicalDevice): IommufdDevice | number {
  if (!dev.iommu.cacheCoherency) return -E.EINVAL;
  if (!dev.isMock && !dev.iommu.msiIsolated) return -E.EPERM;
  const claim = dev.igroup.claim(ctx);
  if (claim !== 0) return -claim;
  const idev = new IommufdDevice(ctx, dev);
  const rc = ctx.objects.allocate(idev);
  if (rc !== 0) {
    dev.igroup.release(ctx);
    return -rc;
  }
  idev.users++;
  ctx.objects.finalize(idev);
  return idev;
}

/**
 * `iopt_table_enforce_dev_resv_regions`: the device's reserved regions (not the relaxable
 * direct ones) into the IOAS, owned by the device; on a conflict (EADDRINUSE) those added are
 * dropped again.
 */
function enforceResvRegions(ioas: Ioas, idev: IommufdDevice): number {
  const iopt = ioas.iopt;
  for (const r of idev.dev.resvRegions) {
    if (r.type === "direct_relaxable") continue;
    const err = iopt.reserveIova(r.start, r.start + r.length - 1n, idev);
    if (err !== 0) {
      iopt.removeReservedIova(idev);
      return -err;
    }
  }
  return 0;
}

/** MOCK_FLAGS_DEVICE_NO_DIRTY. */
const MOCK_FLAGS_DEVICE_NO_DIRTY = 1;

/**
 * The group attach / replace of the domain (`iommu_attach_group`, `iommu_replace_group_handle`)
 * with the driver's attach_dev. The core: a domain of another driver (EINVAL). A real
 * driver, for a domain with an IOPF handler (a fault object), enables IOPF on a device
 * without PRI as the profile says (VT-d: ENODEV; 6.16 moved this into the drivers' attach;
 * 6.13-6.15 did it first in iommufd, with EINVAL from SMMUv3: not a modelled release). The mock's
 * `mock_domain_nop_attach`: a domain with dirty ops on a MOCK_FLAGS_DEVICE_NO_DIRTY device
 * (EINVAL, 6.7); from 6.15 a nested domain allocated through a vIOMMU needs the device to
 * have a vDEVICE in that vIOMMU (`iommufd_viommu_get_vdev_id`: ENOENT).
 */
function domainAttachDev(hwpt: AttachedHwpt, idev: IommufdDevice): number {
  const owner = hwpt.type === "hwpt_paging" ? hwpt : hwpt.parent;
  if (owner.iommu.driver !== idev.dev.iommu.driver) return -E.EINVAL;
  // Our devices have no PRI; the driver enables IOPF for a domain with a fault handler.
  if (!idev.dev.isMock) {
    const errno = hwpt.fault !== undefined ? idev.dev.iommu.iopfAttachErrno : 0;
    return errno === 0 ? 0 : -errno; // not -0, which Object.is tells from 0
  }
  const flags = (idev.dev as { flags?: number }).flags ?? 0;
  if (hwpt.type === "hwpt_paging" && hwpt.dirtyOps && (flags & MOCK_FLAGS_DEVICE_NO_DIRTY) !== 0) {
    return -E.EINVAL;
  }
  if (
    hwpt.type === "hwpt_nested" && hwpt.viommu !== undefined &&
    releaseAtLeast(idev.ctx.release, "6.15") && idev.vdev?.viommu !== hwpt.viommu
  ) {
    return -E.ENOENT;
  }
  return 0;
}

/**
 * `iommufd_hw_pagetable_attach`: for a paging hwpt the coherency upgrade (EINVAL) and the
 * device's reserved regions into its IOAS (EADDRINUSE); a nested hwpt has neither. Then the
 * group attach ({@link domainAttachDev}; its failure drops the reserved regions again). The
 * device's attachment holds the hwpt, so IOMMU_DESTROY of it answers EBUSY.
 */
export function hwptAttach(hwpt: AttachedHwpt, idev: IommufdDevice): number {
  const paging = hwptPagingOf(hwpt);
  if (paging !== undefined) {
    if (idev.enforceCacheCoherency) {
      const rc = hwptEnforceCc(paging);
      if (rc !== 0) return rc;
    }
    const rc = enforceResvRegions(paging.ioas, idev);
    if (rc !== 0) return rc;
  }
  const rc = domainAttachDev(hwpt, idev);
  if (rc !== 0) {
    paging?.ioas.iopt.removeReservedIova(idev);
    return rc;
  }
  hwpt.users++;
  hwpt.devices.add(idev);
  idev.hwpt = hwpt;
  return 0;
}

/**
 * `iommufd_hw_pagetable_put`: drop a device's reference; an automatic hwpt goes away with its
 * last device (its domain leaves the IOAS, its id is freed). Nested and explicitly allocated
 * hwpts stay until IOMMU_DESTROY.
 */
function hwptPut(ctx: IommufdCtx, hwpt: AttachedHwpt): void {
  hwpt.users--;
  if (hwpt.type === "hwpt_paging" && hwpt.autoDomain && hwpt.users === 1) {
    ctx.objects.forget(hwpt);
    hwpt.users = 0;
    hwptPagingAbort(ctx, hwpt);
  }
}

/**
 * `iommufd_device_do_replace`: not attached (EINVAL); the same hwpt is a no-op (0). For a
 * paging target, the coherency upgrade (EINVAL) and, when the old hwpt is nested or on another
 * IOAS, the device's reserved regions into the new IOAS (EADDRINUSE). Then the group replace
 * ({@link domainAttachDev}); when it fails the device's reserved regions leave the new IOAS,
 * even when it is the old one (the kernel's unwind does not distinguish). On success the
 * regions leave the old IOAS when the new hwpt is nested or on another IOAS, the device's
 * reference moves to the new hwpt and the old one is put (an automatic one may go away).
 */
function doReplace(idev: IommufdDevice, hwpt: AttachedHwpt): number {
  const old = idev.hwpt;
  if (old === undefined) return -E.EINVAL;
  if (hwpt === old) return 0;
  const paging = hwptPagingOf(hwpt);
  const oldPaging = hwptPagingOf(old);
  if (paging !== undefined) {
    if (idev.enforceCacheCoherency) {
      const rc = hwptEnforceCc(paging);
      if (rc !== 0) return rc;
    }
    if (oldPaging === undefined || oldPaging.ioas !== paging.ioas) {
      const rc = enforceResvRegions(paging.ioas, idev);
      if (rc !== 0) return rc;
    }
  }
  const rc = domainAttachDev(hwpt, idev);
  if (rc !== 0) {
    paging?.ioas.iopt.removeReservedIova(idev);
    return rc;
  }
  if (oldPaging !== undefined && (paging === undefined || paging.ioas !== oldPaging.ioas)) {
    oldPaging.ioas.iopt.removeReservedIova(idev);
  }
  old.devices.delete(idev);
  hwpt.users++;
  hwpt.devices.add(idev);
  idev.hwpt = hwpt;
  hwptPut(idev.ctx, old);
  return 0;
}

/**
 * `iommufd_device_auto_get_domain`: reuse an automatic hwpt of the IOAS the device can
 * attach to (EINVAL from one means "try the next"), else allocate a new one (it takes the next
 * id, its domain joins the IOAS) and attach or replace onto it (a failure frees it again).
 * Returns the hwpt id or -errno.
 */
function autoGetDomain(idev: IommufdDevice, ioas: Ioas, replace: boolean): number {
  for (const hwpt of [...ioas.hwpts]) {
    if (!hwpt.autoDomain || !hwpt.finalized) continue;
    const rc = replace ? doReplace(idev, hwpt) : hwptAttach(hwpt, idev);
    if (rc === -E.EINVAL) continue;
    if (rc !== 0) return rc;
    return hwpt.id;
  }
  const ctx = idev.ctx;
  // An attach attaches before the domain joins the IOAS (`immediate_attach`): the device's
  // reserved regions are checked (EADDRINUSE) before any page is pinned (EFAULT, ENOMEM). A
  // replace adds the domain first.
  const hwpt = hwptPagingAlloc(ctx, ioas, idev, !replace);
  if (typeof hwpt === "number") return hwpt;
  const rc = replace ? doReplace(idev, hwpt) : hwptAttach(hwpt, idev);
  if (rc !== 0) {
    hwptPagingAbort(ctx, hwpt);
    return rc;
  }
  if (!replace) {
    const err = hwptPagingAddDomain(hwpt);
    if (err !== 0) {
      // Detach again (not yet automatic, the hwpt outlives it), then give the hwpt up.
      deviceDetach(idev);
      hwptPagingAbort(ctx, hwpt);
      return err;
    }
  }
  hwpt.autoDomain = true;
  ctx.objects.finalize(hwpt);
  return hwpt.id;
}

/**
 * `iommufd_device_change_pt`: `ptId` names an IOAS (automatic domain), a paging hwpt or a
 * nested hwpt; ENOENT if nothing (finalised) has that id, EINVAL for any other object type.
 * Returns the id of the hwpt now attached, or -errno.
 */
function changePt(idev: IommufdDevice, ptId: number, replace: boolean): number {
  const obj = idev.ctx.objects.get(ptId);
  if (obj === undefined) return -E.ENOENT;
  switch (obj.type) {
    case "hwpt_paging":
    case "hwpt_nested": {
      const hwpt = obj as AttachedHwpt;
      const rc = replace ? doReplace(idev, hwpt) : hwptAttach(hwpt, idev);
      return rc !== 0 ? rc : obj.id;
    }
    case "ioas":
      return autoGetDomain(idev, obj as Ioas, replace);
    default:
      return -E.EINVAL;
  }
}

/**
 * `iommufd_device_attach`: {@link changePt}; a device already attached answers EINVAL (the
 * group's hwpt is another one). Returns the hwpt id or -errno.
 */
export function deviceAttach(idev: IommufdDevice, ptId: number): number {
  if (idev.ctx.objects.get(ptId) !== undefined && idev.hwpt !== undefined) return -E.EINVAL;
  return changePt(idev, ptId, false);
}

/**
 * `iommufd_device_replace`: {@link changePt} onto the new IOAS or hwpt; if it fails the
 * attachment is unchanged. Returns the id of the hwpt now attached (the same one when it was
 * already attached there), or -errno.
 */
export function deviceReplace(idev: IommufdDevice, ptId: number): number {
  return changePt(idev, ptId, true);
}

/**
 * `iommufd_device_detach`: drop the reserved regions (a paging hwpt's IOAS only) and the hwpt
 * reference; an automatic hwpt goes away with its last device (its domain leaves the IOAS).
 */
export function deviceDetach(idev: IommufdDevice): void {
  const hwpt = idev.hwpt;
  if (hwpt === undefined) return;
  hwptPagingOf(hwpt)?.ioas.iopt.removeReservedIova(idev);
  hwpt.devices.delete(idev);
  idev.hwpt = undefined;
  hwptPut(idev.ctx, hwpt);
}

/**
 * `iommufd_device_unbind`: a vDEVICE still on the device is destroyed and tombstoned first;
 * then detach, give up DMA ownership, destroy the object.
 */
export function deviceUnbind(idev: IommufdDevice): void {
  const ctx = idev.ctx;
  vdeviceTombstone(ctx, idev);
  deviceDetach(idev);
  if (ctx.objects.has(idev)) ctx.objects.forget(idev);
  idev.users = 0;
  idev.dev.igroup.release(ctx);
}

/** The object's destroy op: only reached when the context goes away. */
export function deviceDestroy(_ctx: IommufdCtx, idev: IommufdDevice): void {
  deviceDetach(idev);
  idev.dev.igroup.release(idev.ctx);
  // A platform device bound by SimulatorControl.attachDevice becomes free again.
  const dev = idev.dev as Partial<PlatformDevice>;
  if (dev.idev === idev) dev.idev = undefined;
}

/** `struct vfio_device_info` (linux/vfio.h): argsz, flags, num_regions, num_irqs, cap_offset. */
export const vfio_device_info: StructDesc = Object.freeze({
  name: "vfio_device_info",
  size: 24,
  align: 4,
  minSize: 16,
  fields: Object.freeze(
    [
      { name: "argsz", offset: 0, size: 4, dir: "in", kind: "size" },
      { name: "flags", offset: 4, size: 4, dir: "out", kind: "u" },
      { name: "num_regions", offset: 8, size: 4, dir: "out", kind: "u" },
      { name: "num_irqs", offset: 12, size: 4, dir: "out", kind: "u" },
      { name: "cap_offset", offset: 16, size: 4, dir: "out", kind: "u" },
      { name: "pad", offset: 20, size: 4, dir: "out", kind: "reserved" },
    ] as const,
  ),
});

const DI = Object.fromEntries(vfio_device_info.fields.map((f) => [f.name, f.offset]));

/** VFIO_DEVICE_GET_INFO (vfio_pci_core_ioctl_get_info). */
export function vfioDeviceGetInfo(dev: PlatformDevice, u: UserArg): number {
  const minsz = vfio_device_info.minSize;
  if (!u.copyIn(minsz)) return -E.EFAULT;
  const argsz = u.kv.getUint32(DI.argsz, true);
  if (argsz < minsz) return -E.EINVAL;
  const w = Math.min(argsz, vfio_device_info.size);
  const out = new Uint8Array(vfio_device_info.size);
  const v = new DataView(out.buffer);
  out.set(u.k.subarray(0, minsz));
  v.setUint32(DI.flags, dev.desc.info.flags, true);
  v.setUint32(DI.num_regions, dev.desc.info.numRegions, true);
  v.setUint32(DI.num_irqs, dev.desc.info.numIrqs, true);
  return u.writeAt(0, out.subarray(0, w)) ? 0 : -E.EFAULT;
}

// ---- vfio-pci regions (drivers/vfio/pci/vfio_pci_core.c) ----

/** `VFIO_PCI_OFFSET_SHIFT`: region N starts at file offset N << 40. */
export const VFIO_PCI_OFFSET_SHIFT = 40n;
const PAGE_SHIFT = 12n;
const ROM_REGION_INDEX = 6;
const CONFIG_REGION_INDEX = 7;
const VGA_REGION_INDEX = 8;
/** `VFIO_PCI_NUM_REGIONS`: BAR0..5, ROM, config, VGA; the modelled devices add none. */
const NUM_REGIONS = 9;
const REGION_READ = 1;
const REGION_WRITE = 2;
const REGION_MMAP = 4;

const RI = Object.fromEntries(vfio_region_info.fields.map((f) => [f.name, f.offset]));

/**
 * VFIO_DEVICE_GET_REGION_INFO (`vfio_pci_ioctl_get_region_info`): argsz ≥ 32 (EINVAL); the
 * config region (its size, READ|WRITE), a BAR (size and READ|WRITE|MMAP, or size 0 and no
 * flags when the device lacks it), the ROM (none here: size 0, no flags), VGA (no VGA
 * device: EINVAL), nothing past the 9 standard regions (EINVAL). The 32 bytes are copied
 * back; `cap_offset` comes back as passed (no capability here: no BAR holds an MSI-X table).
 */
export function vfioDeviceGetRegionInfo(dev: PlatformDevice, u: UserArg): number {
  const minsz = vfio_region_info.minSize;
  if (!u.copyIn(minsz)) return -E.EFAULT;
  const kv = u.kv;
  if (kv.getUint32(RI.argsz, true) < minsz) return -E.EINVAL;
  const index = kv.getUint32(RI.index, true);
  let flags = 0;
  let size = 0n;
  if (index === CONFIG_REGION_INDEX) {
    size = BigInt(dev.desc.configSize);
    flags = REGION_READ | REGION_WRITE;
  } else if (index < ROM_REGION_INDEX) {
    const bar = dev.desc.bars.find((b) => b.index === index);
    if (bar !== undefined) {
      size = bar.size;
      flags = REGION_READ | REGION_WRITE | (bar.mmap ? REGION_MMAP : 0);
    }
  } else if (index === VGA_REGION_INDEX || index >= NUM_REGIONS) {
    return -E.EINVAL;
  }
  const out = new Uint8Array(minsz);
  out.set(u.k.subarray(0, minsz));
  const v = new DataView(out.buffer);
  v.setUint32(RI.flags, flags, true);
  v.setBigUint64(RI.size, size, true);
  v.setBigUint64(RI.offset, BigInt(index) << VFIO_PCI_OFFSET_SHIFT, true);
  return u.writeAt(0, out) ? 0 : -E.EFAULT;
}

/**
 * mmap of the device fd (`vfio_device_fops_mmap` → `vfio_pci_core_mmap`), always shared:
 * the region is pgoff >> 28 (EINVAL past the standard regions, for the ROM, config and VGA
 * regions, and for a BAR that cannot be mmapped or is absent); the request must lie inside
 * the page-rounded BAR (EINVAL). The mapping is VM_IO | VM_PFNMAP.
 */
export function vfioPciMmap(
  dev: PlatformDevice,
  pgoff: bigint,
  length: bigint,
): { pfnmap: boolean } | number {
  const index = pgoff >> (VFIO_PCI_OFFSET_SHIFT - PAGE_SHIFT);
  if (index >= BigInt(NUM_REGIONS)) return -E.EINVAL;
  if (index >= BigInt(ROM_REGION_INDEX)) return -E.EINVAL;
  const bar = dev.desc.bars.find((b) => BigInt(b.index) === index);
  if (bar === undefined || !bar.mmap) return -E.EINVAL;
  const physLen = (bar.size + 0xfffn) & ~0xfffn;
  const reqStart = (pgoff & ((1n << (VFIO_PCI_OFFSET_SHIFT - PAGE_SHIFT)) - 1n)) << PAGE_SHIFT;
  if (reqStart + length > physLen) return -E.EINVAL;
  return { pfnmap: true };
}
