/**
 * Platform profiles: what the simulated machine's IOMMU looks like (page sizes, aperture,
 * reserved regions, cache-coherency enforcement) and which VFIO groups and devices it offers.
 * Each profile is plain data validated with zod, so a user-supplied profile gets the same
 * checks as the built-in ones.
 *
 * The selftest mock domain of IOMMU_TEST_CMD does not come from a profile: the kernel's mock
 * driver always has the same geometry (see `MOCK_DOMAIN` below).
 *
 * @module
 */

import { z } from "zod";
import { MOCK, U64_MAX } from "../uapi/constants.ts";

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
}).refine((i) => i.apertureStart <= i.apertureLast, "empty aperture");

/** What VFIO_DEVICE_GET_INFO reports for a device. */
export const DeviceInfoSchema = z.object({
  flags: z.number().int().nonnegative(),
  numRegions: z.number().int().nonnegative(),
  numIrqs: z.number().int().nonnegative(),
});

/** A device of a group, named as VFIO_GROUP_GET_DEVICE_FD expects (`0000:00:03.0`). */
export const DeviceSchema = z.object({
  name: z.string().min(1).max(4095),
  /** Device-specific reserved regions (RMRR and the like), beside the IOMMU's. */
  reservedRegions: z.array(ResvRegionSchema).default([]),
  info: DeviceInfoSchema.default({ flags: 2, numRegions: 9, numIrqs: 5 }),
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
/** Group description. */
export type Group = z.infer<typeof GroupSchema>;
/** A validated platform profile. */
export type Profile = z.infer<typeof ProfileSchema>;
/** A profile as written, before defaults are applied. */
export type ProfileInput = z.input<typeof ProfileSchema>;

/**
 * Geometry of the selftest mock domain (drivers/iommu/iommufd/selftest.c,
 * `mock_domain_alloc_paging`; iommufd_test.h). Its devices report no reserved regions.
 */
export const MOCK_DOMAIN: Iommu = Object.freeze({
  driver: "iommufd_mock",
  pgsizeBitmap: MOCK.IO_PAGE_SIZE,
  apertureStart: MOCK.APERTURE_START,
  apertureLast: MOCK.APERTURE_LAST,
  cacheCoherency: true,
  enforceCacheCoherency: false,
  msiIsolated: true,
  rejectsNoAccessProt: false,
  reservedRegions: [],
});

const MSI_X86 = { start: 0xfee00000n, length: 0x100000n, type: "msi" as const };

const BUILTIN: ProfileInput[] = [
  {
    name: "mock",
    description: "the iommufd selftest mock IOMMU, with one group of one device",
    source: "drivers/iommu/iommufd/selftest.c mock_domain_alloc_paging / mock_domain_capable",
    iommu: { ...MOCK_DOMAIN, reservedRegions: [] },
    groups: [{ id: 0, devices: [{ name: "mock0" }] }],
  },
  {
    name: "intel-vtd",
    description: "the rig's QEMU intel-iommu (aw-bits 39, intremap=on) with the edu device",
    source: "shared/rig results-iommufd-compat-group.txt; drivers/iommu/intel/iommu.c: " +
      "4K|2M|1G pages, IOAPIC_RANGE_START..END reported as IOMMU_RESV_MSI; QEMU has no " +
      "snoop control by default so ENFORCE_CACHE_COHERENCY is false (rig: DMA_CC = 0)",
    iommu: {
      driver: "intel-iommu",
      pgsizeBitmap: 0x40201000n,
      apertureStart: 0n,
      apertureLast: 0x7f_ffff_ffffn,
      cacheCoherency: true,
      enforceCacheCoherency: false,
      msiIsolated: true,
      rejectsNoAccessProt: true,
      reservedRegions: [MSI_X86],
    },
    groups: [{ id: 3, devices: [{ name: "0000:00:03.0" }] }],
  },
  {
    name: "amd-vi",
    description: "an AMD-Vi IOMMU with the v1 page table",
    source: "drivers/iommu/amd/amd_iommu_types.h AMD_IOMMU_PGSIZES = GENMASK_ULL(51, 12) ^ " +
      "SZ_512G; iommu.c dma_max_address() = ~0ULL for PD_MODE_V1; amd_iommu_get_resv_regions: " +
      "MSI_RANGE 0xfee00000-0xfeefffff (MSI), HT_RANGE 0xfd00000000-0xffffffffff (RESERVED); " +
      "amd_iommu_capable: CACHE_COHERENCY and ENFORCE_CACHE_COHERENCY true",
    iommu: {
      driver: "AMD-Vi",
      pgsizeBitmap: 0x000f_ff7f_ffff_f000n,
      apertureStart: 0n,
      apertureLast: U64_MAX,
      cacheCoherency: true,
      enforceCacheCoherency: true,
      msiIsolated: true,
      rejectsNoAccessProt: true,
      reservedRegions: [
        MSI_X86,
        { start: 0xfd_0000_0000n, length: 0x3_0000_0000n, type: "reserved" },
      ],
    },
    groups: [{ id: 12, devices: [{ name: "0000:03:00.0" }] }],
  },
  {
    name: "arm-smmuv3",
    description: "an Arm SMMUv3 with 4K granule, 48-bit input addresses, stage 1",
    source: "drivers/iommu/arm/arm-smmu-v3/arm-smmu-v3.c: arm_smmu_domain_finalise ias = 48 " +
      "without FEAT_VAX, io-pgtable-arm 4K granule sizes 4K|2M|1G, arm_smmu_get_resv_regions " +
      "MSI_IOVA_BASE 0x8000000 MSI_IOVA_LENGTH 0x100000 (SW_MSI); ENFORCE_CACHE_COHERENCY " +
      "modelled false (only newer kernels report it, for CANWBS masters)",
    iommu: {
      driver: "arm-smmu-v3",
      pgsizeBitmap: 0x40201000n,
      apertureStart: 0n,
      apertureLast: 0xffff_ffff_ffffn,
      cacheCoherency: true,
      enforceCacheCoherency: false,
      msiIsolated: true,
      reservedRegions: [{ start: 0x8000000n, length: 0x100000n, type: "sw_msi" }],
    },
    groups: [{ id: 5, devices: [{ name: "0000:01:00.0" }] }],
  },
];

/** Validate a profile written as data; throws a zod error describing what is wrong. */
export function parseProfile(input: ProfileInput): Profile {
  return ProfileSchema.parse(input);
}

/** The built-in profiles by name, validated once at load. */
export const PROFILES: ReadonlyMap<string, Profile> = new Map(
  BUILTIN.map((p) => {
    const parsed = parseProfile(p);
    return [parsed.name, parsed];
  }),
);

/** The profile a fresh simulator uses. */
export const DEFAULT_PROFILE = "mock";

/** The built-in profile `name`, or undefined. */
export function findProfile(name: string): Profile | undefined {
  return PROFILES.get(name);
}
