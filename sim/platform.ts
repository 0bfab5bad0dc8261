/**
 * The simulated machine's devices as the IOMMU core sees them: iommu groups with their DMA
 * ownership (`iommu_group_claim_dma_owner`), and physical devices with the IOMMU behind them
 * and their reserved regions. VFIO's view of a group (/dev/vfio/N) lives in `group.ts`.
 *
 * @module
 */

import { E } from "../uapi/errno.ts";
import type { Device, Iommu, Profile, ResvRegion } from "./profiles.ts";
import { VfioGroup } from "./group.ts";

/**
 * VFIO's no-IOMMU support: CONFIG_VFIO_NOIOMMU (`built`) and the vfio module parameter
 * `enable_unsafe_noiommu_mode` (`enabled`, writable at run time). With both, vfio-pci gives a
 * device that has no IOMMU group a fake one, /dev/vfio/noiommu-N.
 */
export interface NoIommuConfig {
  readonly built: boolean;
  readonly enabled: boolean;
}

/** A kernel built without CONFIG_VFIO_NOIOMMU, like the rig's. */
export const NOIOMMU_OFF: NoIommuConfig = Object.freeze({ built: false, enabled: false });

/**
 * What stands in for an IOMMU behind a no-IOMMU group: nothing. The fake iommu_group has no
 * IOMMU driver, so `device_iommu_capable` is false for everything (iommufd_device_bind:
 * EINVAL) and there are no domains or reserved regions.
 */
export const NO_IOMMU: Iommu = Object.freeze({
  driver: "vfio-noiommu",
  pgsizeBitmap: 0x1000n,
  apertureStart: 0n,
  apertureLast: 0xffff_ffff_ffff_ffffn,
  cacheCoherency: false,
  enforceCacheCoherency: false,
  msiIsolated: false,
  rejectsNoAccessProt: false,
  reservedRegions: [],
  pasidDomains: false,
  nestedDomains: false,
  iopfAttachErrno: 0,
});

/** An iommu_group: DMA ownership is claimed per group. */
export class IommuGroup {
  #owner: unknown = undefined;
  #count = 0;

  /** `iommu_group_claim_dma_owner` / `iommu_device_claim_dma_owner`: EBUSY if owned by another. */
  claim(owner: unknown): number {
    if (this.#count > 0 && this.#owner !== owner) return E.EBUSY;
    this.#owner = owner;
    this.#count++;
    return 0;
  }

  /** Drop one claim made by `owner`. */
  release(owner: unknown): void {
    if (this.#count === 0 || this.#owner !== owner) return;
    if (--this.#count === 0) this.#owner = undefined;
  }

  /** `iommu_group_dma_owner_claimed`. */
  get claimed(): boolean {
    return this.#count > 0;
  }
}

/** A device behind an IOMMU (a PCI function of the profile, or a selftest mock device). */
export interface PhysicalDevice {
  readonly name: string;
  /** The IOMMU: geometry of the paging domains it allocates, and its capabilities. */
  readonly iommu: Iommu;
  /** Every region the device reports (the IOMMU's and its own). */
  readonly resvRegions: readonly ResvRegion[];
  /** Selftest mock devices skip the MSI-isolation requirement of bind. */
  readonly isMock: boolean;
  readonly igroup: IommuGroup;
}

/** A device of the platform, reachable through its VFIO group. */
export class PlatformDevice implements PhysicalDevice {
  readonly isMock = false;
  readonly resvRegions: readonly ResvRegion[];
  /** `vfio_device.open_count`. */
  openCount = 0;
  /** The iommufd device object while bound (group path). */
  idev: import("./device.ts").IommufdDevice | undefined;

  constructor(
    readonly desc: Device,
    readonly iommu: Iommu,
    readonly group: VfioGroup,
  ) {
    this.resvRegions = [...iommu.reservedRegions, ...desc.reservedRegions];
  }

  get name(): string {
    return this.desc.name;
  }

  get igroup(): IommuGroup {
    return this.group.igroup;
  }
}

/** The groups and devices of the machine. */
export class Platform {
  readonly groups = new Map<number, VfioGroup>();
  readonly devices = new Map<string, PlatformDevice>();
  /**
   * The kernel's no-IOMMU settings. Kept with the platform because the groups they allow are
   * part of it; the simulator sets it after every (re)boot.
   */
  noiommu: NoIommuConfig = NOIOMMU_OFF;

  constructor(readonly profile: Profile) {
    for (const g of profile.groups) {
      const group = this.addGroup(g.id, profile.iommu);
      for (const d of g.devices) this.addDevice(group, d);
    }
  }

  /** Create an empty group `id` behind `iommu` (a no-IOMMU group: /dev/vfio/noiommu-ID). */
  addGroup(id: number, iommu: Iommu, noiommu = false): VfioGroup {
    const group = new VfioGroup(id, iommu, noiommu);
    this.groups.set(id, group);
    return group;
  }

  /** Add device `desc` to `group`. */
  addDevice(group: VfioGroup, desc: Device): PlatformDevice {
    const dev = new PlatformDevice(desc, group.iommu, group);
    group.devices.push(dev);
    this.devices.set(dev.name, dev);
    return dev;
  }

  /** The lowest group number not in use. */
  freeGroupId(): number {
    let id = 0;
    while (this.groups.has(id)) id++;
    return id;
  }
}
