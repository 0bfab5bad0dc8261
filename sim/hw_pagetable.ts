/**
 * Paging hw_pagetables (drivers/iommu/iommufd/hw_pagetable.c): an iommu_domain allocated by
 * the device's IOMMU driver and linked to an IOAS, whose io_pagetable fills it with every
 * area. Automatic ones are created by attaching a device to an IOAS and destroyed with their
 * last device.
 *
 * @module
 */

import { E } from "../uapi/errno.ts";
import type { IommufdObject } from "./object_table.ts";
import type { IommufdCtx } from "./context.ts";
import type { Ioas } from "./ioas.ts";
import type { Iommu } from "./profiles.ts";
import type { IommufdDevice } from "./device.ts";

/** The domain as the io_pagetable sees it. */
export interface Domain {
  readonly pgsizeBitmap: bigint;
  readonly apertureStart: bigint;
  readonly apertureLast: bigint;
  enforceCacheCoherency: boolean;
  readonly rejectsNoAccessProt: boolean;
}

/** `struct iommufd_hwpt_paging`. */
export class HwPagetable implements IommufdObject {
  id = 0;
  readonly type = "hwpt_paging" as const;
  users = 1;
  finalized = false;
  /** Created by attach to an IOAS (not by IOMMU_HWPT_ALLOC). */
  autoDomain = false;
  /** Devices attached (the igroup device lists, flattened). */
  readonly devices = new Set<IommufdDevice>();
  /** Whether the domain was added to the IOAS's io_pagetable. */
  inIopt = false;
  /** Whether it holds a user of its IOAS (from allocation until it is unlinked). */
  holdsIoas = false;
  /** Allocated with IOMMU_HWPT_ALLOC_NEST_PARENT (`hwpt_paging->nest_parent`). */
  nestParent = false;
  /** The domain has dirty-tracking ops (allocated with IOMMU_HWPT_ALLOC_DIRTY_TRACKING). */
  dirtyOps = false;
  /** Allocated with IOMMU_HWPT_ALLOC_PASID (`hwpt->pasid_compat`, 6.15). */
  pasidCompat = false;
  /** The fault object it reports to (IOMMU_HWPT_FAULT_ID_VALID, 6.13), which it holds. */
  fault: IommufdObject | undefined;
  /** Dirty tracking is enabled (IOMMU_HWPT_SET_DIRTY_TRACKING). */
  dirtyTracking = false;
  readonly domain: Domain;

  constructor(readonly ioas: Ioas, readonly iommu: Iommu) {
    this.domain = {
      pgsizeBitmap: iommu.pgsizeBitmap,
      apertureStart: iommu.apertureStart,
      apertureLast: iommu.apertureLast,
      enforceCacheCoherency: false,
      rejectsNoAccessProt: iommu.rejectsNoAccessProt,
    };
  }

  /** `hwpt->enforce_cache_coherency`. */
  get enforceCacheCoherency(): boolean {
    return this.domain.enforceCacheCoherency;
  }
}

/**
 * `iommufd_hwpt_paging_enforce_cc`: make the domain force snooping, EINVAL when its driver
 * cannot.
 */
export function hwptEnforceCc(hwpt: HwPagetable): number {
  if (hwpt.domain.enforceCacheCoherency) return 0;
  if (hwpt.iommu.enforceCacheCoherency) hwpt.domain.enforceCacheCoherency = true;
  return hwpt.domain.enforceCacheCoherency ? 0 : -E.EINVAL;
}

/**
 * `iommufd_hwpt_paging_alloc`: the object takes its id first (so a failure later frees it
 * again), holds its IOAS, enforces coherency if the device asks for it, and (unless
 * `deferDomain`) adds the domain to the io_pagetable ({@link hwptPagingAddDomain}). An attach
 * that makes an automatic domain defers it: the kernel attaches the device first
 * (`immediate_attach`), so its reserved regions are checked before any page is pinned.
 * Returns the hwpt or -errno.
 */
export function hwptPagingAlloc(
  ctx: IommufdCtx,
  ioas: Ioas,
  idev: IommufdDevice,
  deferDomain = false,
): HwPagetable | number {
  const hwpt = new HwPagetable(ioas, idev.dev.iommu);
  const rc = ctx.objects.allocate(hwpt);
  if (rc !== 0) return -rc;
  ioas.users++;
  hwpt.holdsIoas = true;
  if (idev.enforceCacheCoherency) {
    // A driver reporting ENFORCE_CACHE_COHERENCY cannot fail here (WARN_ON in the kernel).
    hwptEnforceCc(hwpt);
  }
  if (deferDomain) return hwpt;
  const err = hwptPagingAddDomain(hwpt);
  if (err !== 0) {
    hwptUnlink(hwpt);
    ctx.objects.abort(hwpt);
    return err;
  }
  return hwpt;
}

/**
 * `iopt_table_add_domain` of a new paging hwpt (alignment, aperture reservations, filling
 * every existing area: where pins happen); on success the hwpt joins its IOAS's list.
 * Returns 0 or -errno.
 */
export function hwptPagingAddDomain(hwpt: HwPagetable): number {
  const err = hwpt.ioas.iopt.addDomain(hwpt.domain, []);
  if (err !== 0) return -err;
  hwpt.inIopt = true;
  hwpt.ioas.hwpts.push(hwpt);
  return 0;
}

/** Undo {@link hwptPagingAlloc} before the hwpt was finalised (dropping a fault it took). */
export function hwptPagingAbort(ctx: IommufdCtx, hwpt: HwPagetable): void {
  hwptUnlink(hwpt);
  hwptDropFault(hwpt);
  ctx.objects.abort(hwpt);
}

/** `__iommufd_hwpt_destroy`: let go of the fault object, if the hwpt holds one. */
function hwptDropFault(hwpt: HwPagetable | HwptNested): void {
  if (hwpt.fault !== undefined) hwpt.fault.users--;
  hwpt.fault = undefined;
}

function hwptUnlink(hwpt: HwPagetable): void {
  const ioas = hwpt.ioas;
  if (hwpt.inIopt) {
    ioas.iopt.removeDomain(hwpt.domain);
    hwpt.inIopt = false;
    const i = ioas.hwpts.indexOf(hwpt);
    if (i >= 0) ioas.hwpts.splice(i, 1);
  }
  if (hwpt.holdsIoas) {
    hwpt.holdsIoas = false;
    ioas.users--;
  }
}

/** MOCK_NESTED_DOMAIN_IOTLB_NUM: the mock nested domain's fake IOTLB entries. */
export const MOCK_NESTED_DOMAIN_IOTLB_NUM = 4;

/**
 * `struct iommufd_hwpt_nested` of the mock driver: a nested domain over a nest-parent paging
 * hwpt (which it holds), or allocated through a vIOMMU (which it holds instead).
 */
export class HwptNested implements IommufdObject {
  id = 0;
  readonly type = "hwpt_nested" as const;
  users = 1;
  finalized = false;
  /** Devices attached (the mock's nested domain attaches; its parent's IOAS is not touched). */
  readonly devices = new Set<IommufdDevice>();
  /** The fault object it reports to (IOMMU_HWPT_FAULT_ID_VALID), which it holds. */
  fault: IommufdObject | undefined;
  /** Allocated with IOMMU_HWPT_ALLOC_PASID (`hwpt->pasid_compat`, 6.15). */
  pasidCompat = false;
  /** The mock's `iotlb[]`, set from `struct iommu_hwpt_selftest`. */
  readonly iotlb: number[];

  constructor(
    readonly parent: HwPagetable,
    readonly viommu: IommufdObject | undefined,
    iotlb: number,
  ) {
    this.iotlb = new Array(MOCK_NESTED_DOMAIN_IOTLB_NUM).fill(iotlb);
  }
}

/** `iommufd_hwpt_nested_destroy`: drop the parent (or the vIOMMU) and the fault object. */
export function hwptNestedDestroy(_ctx: IommufdCtx, hwpt: HwptNested): void {
  if (hwpt.viommu !== undefined) hwpt.viommu.users--;
  else hwpt.parent.users--;
  hwptDropFault(hwpt);
}

/**
 * `iommufd_hwpt_paging_destroy`: remove the domain from the IOAS, drop the fault object (if
 * any) and the IOAS.
 */
export function hwptDestroy(_ctx: IommufdCtx, hwpt: HwPagetable): void {
  hwptUnlink(hwpt);
  hwptDropFault(hwpt);
}
