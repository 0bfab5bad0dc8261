/**
 * Platform profiles: what the simulated machine's IOMMU looks like (page sizes, aperture,
 * reserved regions, cache-coherency enforcement) and which VFIO groups and devices it offers.
 * Each profile is plain data validated with zod, so a user-supplied profile gets the same
 * checks as the built-in ones. The built-in profiles themselves live in builtin_profiles.ts,
 * written out with every default so that starting a simulator does not load zod (a test
 * validates each with {@link parseProfile}); this module re-exports them.
 *
 * The selftest mock domain of IOMMU_TEST_CMD does not come from a profile: the kernel's mock
 * driver always has the same geometry (see `MOCK_DOMAIN` in builtin_profiles.ts).
 *
 * @module
 */

import { z } from "zod";
import { U64_MAX } from "../uapi/constants.ts";

const u64 = z.bigint().nonnegative().max(U64_MAX);

/** Kinds of `struct iommu_resv_region` (include/linux/iommu.h). */
export const ResvTypeSchema = z.enum([
  "direct",
  "direct_relaxable",
  "reserved",
  "msi",
  "sw_msi",
]);

/** One reserved region a device reports (`iommu_get_resv_regions`). */
export const ResvRegionSchema = z.object({
  start: u64,
  length: u64.min(1n),
  type: ResvTypeSchema,
}).refine((r) => r.start + r.length - 1n <= U64_MAX, "region wraps past 2^64");

/** The IOMMU hardware behind a group: what its paging domains look like. */
export const IommuSchema = z.object({
  /** Driver name, for messages. */
  driver: z.string(),
  /** `iommu_domain.pgsize_bitmap` of a paging domain. */
  pgsizeBitmap: u64.min(1n),
  /** `iommu_domain.geometry.aperture_start`. */
  apertureStart: u64,
  /** `iommu_domain.geometry.aperture_end` (inclusive). */
  apertureLast: u64,
  /** IOMMU_CAP_CACHE_COHERENCY: iommufd refuses to bind a device without it (EINVAL). */
  cacheCoherency: z.boolean(),
  /**
   * IOMMU_CAP_ENFORCE_CACHE_COHERENCY: the domain can force snooping; what VFIO_DMA_CC_IOMMU
   * reports through the compat layer.
   */
  enforceCacheCoherency: z.boolean(),
  /** MSI isolation (interrupt remapping); without it bind fails with EPERM. */
  msiIsolated: z.boolean(),
  /**
   * The page-table code refuses a mapping with neither IOMMU_READ nor IOMMU_WRITE (EINVAL
   * while filling the domain): VT-d and AMD do (commit 996dc53ac289's message), the mock
   * domain ignores prot, io-pgtable-arm silently maps nothing.
   */
  rejectsNoAccessProt: z.boolean().default(false),
  /** Regions every device behind this IOMMU reports. */
  reservedRegions: z.array(ResvRegionSchema),
  /**
   * The driver makes a paging domain for IOMMU_HWPT_ALLOC_PASID (6.15): VT-d (a second-stage
   * domain without scalable mode) and SMMUv3 (stage 1) do; AMD-Vi only with GT/PPR (PASID
   * support), else EOPNOTSUPP.
   */
  pasidDomains: z.boolean().default(false),
  /**
   * The driver has the `domain_alloc_nested` op (6.13+), which IOMMU_HWPT_ALLOC of a nested
   * hwpt on a paging parent needs: iommufd answers EOPNOTSUPP without it, before it looks at
   * the parent. VT-d and the selftest mock have it; SMMUv3 nests only through its vIOMMU, and
   * AMD-Vi has no nesting in the releases modelled. Before 6.13 every driver here had the
   * `domain_alloc_user` op that took its place.
   */
  nestedDomains: z.boolean().default(false),
  /**
   * What the driver's attach answers for a device without PRI on a domain with an IOPF
   * handler (a paging hwpt holding a fault object; 6.16+): VT-d `intel_iommu_enable_iopf`
   * ENODEV (19); AMD-Vi and SMMUv3 (stall disabled) attach, 0.
   */
  iopfAttachErrno: z.number().int().min(0).default(0),
  /**
   * What IOMMU_GET_HW_INFO reports for a device behind this IOMMU. Releases before `since`
   * have no `hw_info` op in this driver: the kernel then answers IOMMU_HW_INFO_TYPE_NONE with
   * no data. From `since` on the driver reports `data`, read off the hardware (its
   * registers); a profile that cannot give them leaves `data` out and the simulator answers
   * EOPNOTSUPP there, as it cannot make them up.
   */
  hwInfo: z.object({
    /** First release whose driver has the `hw_info` op (6.6: IOMMU_GET_HW_INFO's own). */
    since: z.string().regex(/^\d+\.\d+$/).default("6.6"),
    /** IOMMU_HW_INFO_TYPE_* (1: INTEL_VTD, 2: ARM_SMMUV3, 4: AMD). */
    type: z.number().int().min(1),
    /** The driver's struct (e.g. `iommu_hw_info_vtd`) as bytes, in hex. */
    data: z.string().regex(/^([0-9a-f]{2})+$/).optional(),
    /**
     * out_capabilities (IOMMU_HW_CAP_*): the IOMMU's `capable` op, asked whether or not the
     * driver has `hw_info` (DIRTY_TRACKING: VT-d SSADS, AMD HDSup, SMMUv3 HTTU with DBM).
     */
    capabilities: u64.default(0n),
    /** out_max_pasid_log2 (0: no PASID). */
    maxPasidLog2: z.number().int().min(0).max(20).default(0),
  }).optional(),
}).refine((i) => i.apertureStart <= i.apertureLast, "empty aperture");

/** What VFIO_DEVICE_GET_INFO reports for a device. */
export const DeviceInfoSchema = z.object({
  flags: z.number().int().nonnegative(),
  numRegions: z.number().int().nonnegative(),
  numIrqs: z.number().int().nonnegative(),
});

/** A memory BAR of a PCI device, as vfio-pci reports and maps it. */
export const BarSchema = z.object({
  /** BAR number, 0..5 (VFIO region index). */
  index: z.number().int().min(0).max(5),
  /** `pci_resource_len`. */
  size: u64.min(1n),
  /**
   * `bar_mmap_supported` (vfio_pci_probe_mmaps): a memory BAR of at least a page; the region
   * then has VFIO_REGION_INFO_FLAG_MMAP and the device fd can mmap it.
   */
  mmap: z.boolean().default(true),
});

/** A device of a group, named as VFIO_GROUP_GET_DEVICE_FD expects (`0000:00:03.0`). */
export const DeviceSchema = z.object({
  name: z.string().min(1).max(4095),
  /** Device-specific reserved regions (RMRR and the like), beside the IOMMU's. */
  reservedRegions: z.array(ResvRegionSchema).default([]),
  info: DeviceInfoSchema.default({ flags: 2, numRegions: 9, numIrqs: 5 }),
  /** Its memory BARs; by default QEMU's `edu` device: BAR0, 1 MiB of MMIO. */
  bars: z.array(BarSchema).default([{ index: 0, size: 0x100000n, mmap: true }])
    .refine((b) => new Set(b.map((x) => x.index)).size === b.length, "BAR indexes must differ"),
  /** Config space size (`pdev->cfg_size`): 256 for conventional PCI, 4096 for PCIe. */
  configSize: z.number().int().min(256).max(4096).default(256),
});

/** A VFIO group: /dev/vfio/ID. */
export const GroupSchema = z.object({
  id: z.number().int().nonnegative(),
  devices: z.array(DeviceSchema).min(1),
});

/** A whole platform. */
export const ProfileSchema = z.object({
  name: z.string().min(1),
  description: z.string(),
  /** Where the numbers come from. */
  source: z.string(),
  iommu: IommuSchema,
  groups: z.array(GroupSchema),
}).refine(
  (p) => new Set(p.groups.map((g) => g.id)).size === p.groups.length,
  "group ids must be unique",
).refine((p) => {
  const names = p.groups.flatMap((g) => g.devices.map((d) => d.name));
  return new Set(names).size === names.length;
}, "device names must be unique");

/** A reserved-region kind. */
export type ResvType = z.infer<typeof ResvTypeSchema>;
/** A reserved region. */
export type ResvRegion = z.infer<typeof ResvRegionSchema>;
/** IOMMU hardware description. */
export type Iommu = z.infer<typeof IommuSchema>;
/** Device description. */
export type Device = z.infer<typeof DeviceSchema>;
/** A BAR description. */
export type Bar = z.infer<typeof BarSchema>;
/** Group description. */
export type Group = z.infer<typeof GroupSchema>;
/** A validated platform profile. */
export type Profile = z.infer<typeof ProfileSchema>;
/** A profile as written, before defaults are applied. */
export type ProfileInput = z.input<typeof ProfileSchema>;

/** Validate a profile written as data; throws a zod error describing what is wrong. */
export function parseProfile(input: ProfileInput): Profile {
  return ProfileSchema.parse(input);
}

export {
  BUILTIN,
  DEFAULT_PROFILE,
  findProfile,
  MOCK_DOMAIN,
  PROFILES,
} from "./builtin_profiles.ts";
