/**
 * The built-in platform profiles and the selftest mock domain, as data that needs no zod at
 * run time (so that starting a simulator does not load it): written with every default of
 * the profile schema (profiles.ts) filled in, which builtin_profiles_test.ts checks by
 * validating each with `parseProfile`.
 *
 * @module
 */

import { MOCK, U64_MAX } from "../uapi/constants.ts";
import type { Device, Iommu, Profile } from "./profiles.ts";

/**
 * A device with the defaults of `DeviceSchema` (profiles.ts): no reserved regions of its
 * own, VFIO_DEVICE_GET_INFO flags 2 (PCI) with 9 regions and 5 IRQs, QEMU's `edu` BAR0 of
 * 1 MiB, a 256-byte config space.
 */
function device(name: string): Device {
  return {
    name,
    reservedRegions: [],
    info: { flags: 2, numRegions: 9, numIrqs: 5 },
    bars: [{ index: 0, size: 0x100000n, mmap: true }],
    configSize: 256,
  };
}

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
  pasidDomains: true,
  nestedDomains: true,
  iopfAttachErrno: 0,
});

const MSI_X86 = () => ({ start: 0xfee00000n, length: 0x100000n, type: "msi" as const });

/** The built-in profiles as written (every default given). */
export const BUILTIN: readonly Profile[] = [
  {
    name: "mock",
    description: "the iommufd selftest mock IOMMU, with one group of one device",
    source: "drivers/iommu/iommufd/selftest.c mock_domain_alloc_paging / mock_domain_capable",
    iommu: { ...MOCK_DOMAIN, reservedRegions: [] },
    groups: [{ id: 0, devices: [device("mock0")] }],
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
      reservedRegions: [MSI_X86()],
      pasidDomains: true,
      nestedDomains: true,
      iopfAttachErrno: 19,
      // intel_iommu_hw_info: flags ERRATA_772415_SPR17, CAP_REG and ECAP_REG as the rig's
      // QEMU reports them (tests/scenarios/hw_info_vtd.vfs on the real kernel); no dirty
      // tracking (no second-level A/D bits) and no PASID.
      hwInfo: {
        since: "6.6",
        type: 1,
        data: "0100000000000000" + "060226228c00d200" + "4a0ff00000000000",
        capabilities: 0n,
        maxPasidLog2: 0,
      },
    },
    groups: [{ id: 3, devices: [device("0000:00:03.0")] }],
  },
  {
    name: "amd-vi",
    description: "QEMU's amd-iommu (intremap=on, v1 page table) with the edu device",
    source: "the kernel lane's amdvi-edu machine (tests/scenarios/*_amd.vfs on 6.12.117); " +
      "drivers/iommu/amd/amd_iommu_types.h AMD_IOMMU_PGSIZES = GENMASK_ULL(51, 12) ^ " +
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
        MSI_X86(),
        { start: 0xfd_0000_0000n, length: 0x3_0000_0000n, type: "reserved" },
      ],
      pasidDomains: false,
      nestedDomains: false,
      iopfAttachErrno: 0,
      // amd_iommufd_hw_info (EFR/EFR2, type AMD) comes in 6.19: every modelled release
      // answers TYPE_NONE. No HDSup: no dirty tracking.
      hwInfo: { since: "6.19", type: 4, capabilities: 0n, maxPasidLog2: 0 },
    },
    // QEMU's AMDVI-PCI function takes the slot after the lane's 9p devices, so edu is at
    // 00:04.0.
    groups: [{ id: 3, devices: [device("0000:00:04.0")] }],
  },
  {
    name: "arm-smmuv3",
    description: "QEMU's virt SMMUv3: stage 1, 4K granule, 48-bit input addresses",
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
      rejectsNoAccessProt: false,
      reservedRegions: [{ start: 0x8000000n, length: 0x100000n, type: "sw_msi" }],
      pasidDomains: true,
      nestedDomains: false,
      iopfAttachErrno: 0,
      // arm_smmu_hw_info (6.13, CONFIG_ARM_SMMU_V3_IOMMUFD): flags 0, the raw IDR0-5, IIDR and
      // AIDR, as QEMU (8.1 on; 7.2 lacks IDR0.VMID16) resets them for `virt,iommu=smmuv3`:
      // S1P, AArch64 tables, coherent, 16-bit ASIDs/VMIDs, 2-level stream table; 16-bit
      // SIDs; range invalidation, BBML2; 44-bit OAS, 4K/16K/64K granules. No S2P (hence no
      // nesting) and no HTTU (no dirty tracking).
      hwInfo: {
        since: "6.13",
        type: 2,
        data: "00000000" + "00000000" + "1a10440d" + "10007302" + "00000000" + "04140000" +
          "00000000" + "74000000" + "00000000" + "01000000",
        capabilities: 0n,
        maxPasidLog2: 0,
      },
    },
    groups: [{ id: 5, devices: [device("0000:01:00.0")] }],
  },
];

/** The built-in profiles by name. */
export const PROFILES: ReadonlyMap<string, Profile> = new Map(BUILTIN.map((p) => [p.name, p]));

/** The profile a fresh simulator uses. */
export const DEFAULT_PROFILE = "mock";

/** The built-in profile `name`, or undefined. */
export function findProfile(name: string): Profile | undefined {
  return PROFILES.get(name);
}
