/**
 * Symbolic constants of the uapi headers (`linux/vfio.h`, `linux/iommufd.h`, the selftest
 * `iommufd_test.h`), grouped into named sets so that flags can be printed by name and
 * completed in the shell. Each set is data; lookups and formatting derive from it.
 *
 * @module
 */

/** A named group of constants: either bit flags (OR-ed) or enumerated values. */
export interface ConstantSet {
  /** Name of the set, e.g. `"vfio_dma_map_flags"`. */
  readonly name: string;
  /** `"flags"`: bits that combine; `"enum"`: one value at a time. */
  readonly kind: "flags" | "enum";
  /** Full C name → value. */
  readonly values: Readonly<Record<string, number>>;
}

function set(
  name: string,
  kind: "flags" | "enum",
  values: Record<string, number>,
): ConstantSet {
  return Object.freeze({ name, kind, values: Object.freeze(values) });
}

/** `VFIO_API_VERSION`: what VFIO_GET_API_VERSION returns. */
export const VFIO_API_VERSION = 0;

/** Argument of VFIO_CHECK_EXTENSION / VFIO_SET_IOMMU. */
export const VFIO_EXTENSIONS = set("vfio_extension", "enum", {
  VFIO_TYPE1_IOMMU: 1,
  VFIO_SPAPR_TCE_IOMMU: 2,
  VFIO_TYPE1v2_IOMMU: 3,
  VFIO_DMA_CC_IOMMU: 4,
  VFIO_EEH: 5,
  VFIO_TYPE1_NESTING_IOMMU: 6,
  VFIO_SPAPR_TCE_v2_IOMMU: 7,
  VFIO_NOIOMMU_IOMMU: 8,
  VFIO_UNMAP_ALL: 9,
  VFIO_UPDATE_VADDR: 10,
});

/** `vfio_group_status.flags`. */
export const VFIO_GROUP_FLAGS = set("vfio_group_flags", "flags", {
  VFIO_GROUP_FLAGS_VIABLE: 1,
  VFIO_GROUP_FLAGS_CONTAINER_SET: 2,
});

/** `vfio_iommu_type1_info.flags`. */
export const VFIO_IOMMU_INFO_FLAGS = set("vfio_iommu_info_flags", "flags", {
  VFIO_IOMMU_INFO_PGSIZES: 1,
  VFIO_IOMMU_INFO_CAPS: 2,
});

/** Capability ids of the VFIO_IOMMU_GET_INFO chain. */
export const VFIO_IOMMU_TYPE1_INFO_CAPS = set("vfio_iommu_type1_info_cap", "enum", {
  VFIO_IOMMU_TYPE1_INFO_CAP_IOVA_RANGE: 1,
  VFIO_IOMMU_TYPE1_INFO_CAP_MIGRATION: 2,
  VFIO_IOMMU_TYPE1_INFO_DMA_AVAIL: 3,
});

/** `vfio_iommu_type1_dma_map.flags`. */
export const VFIO_DMA_MAP_FLAGS = set("vfio_dma_map_flags", "flags", {
  VFIO_DMA_MAP_FLAG_READ: 1,
  VFIO_DMA_MAP_FLAG_WRITE: 2,
  VFIO_DMA_MAP_FLAG_VADDR: 4,
});

/** `vfio_iommu_type1_dma_unmap.flags`. */
export const VFIO_DMA_UNMAP_FLAGS = set("vfio_dma_unmap_flags", "flags", {
  VFIO_DMA_UNMAP_FLAG_GET_DIRTY_BITMAP: 1,
  VFIO_DMA_UNMAP_FLAG_ALL: 2,
  VFIO_DMA_UNMAP_FLAG_VADDR: 4,
});

/** `vfio_iommu_type1_dirty_bitmap.flags` (exactly one). */
export const VFIO_IOMMU_DIRTY_PAGES_FLAGS = set("vfio_dirty_pages_flags", "flags", {
  VFIO_IOMMU_DIRTY_PAGES_FLAG_START: 1,
  VFIO_IOMMU_DIRTY_PAGES_FLAG_STOP: 2,
  VFIO_IOMMU_DIRTY_PAGES_FLAG_GET_BITMAP: 4,
});

/** `iommu_ioas_map.flags` and `iommu_ioas_copy.flags`. */
export const IOMMU_IOAS_MAP_FLAGS = set("iommu_ioas_map_flags", "flags", {
  IOMMU_IOAS_MAP_FIXED_IOVA: 1,
  IOMMU_IOAS_MAP_WRITEABLE: 2,
  IOMMU_IOAS_MAP_READABLE: 4,
});

/** `iommu_option.option_id`. */
export const IOMMU_OPTION_IDS = set("iommu_option_id", "enum", {
  IOMMU_OPTION_RLIMIT_MODE: 0,
  IOMMU_OPTION_HUGE_PAGES: 1,
});

/** `iommu_option.op`. */
export const IOMMU_OPTION_OPS = set("iommu_option_op", "enum", {
  IOMMU_OPTION_OP_SET: 0,
  IOMMU_OPTION_OP_GET: 1,
});

/** `iommu_vfio_ioas.op`. */
export const IOMMU_VFIO_IOAS_OPS = set("iommu_vfio_ioas_op", "enum", {
  IOMMU_VFIO_IOAS_GET: 0,
  IOMMU_VFIO_IOAS_SET: 1,
  IOMMU_VFIO_IOAS_CLEAR: 2,
});

/** `iommu_hwpt_alloc.flags` (`enum iommufd_hwpt_alloc_flags`; FAULT_ID_VALID has no `ALLOC_`). */
export const IOMMU_HWPT_ALLOC_FLAGS = set("iommu_hwpt_alloc_flags", "flags", {
  IOMMU_HWPT_ALLOC_NEST_PARENT: 1,
  IOMMU_HWPT_ALLOC_DIRTY_TRACKING: 2,
  IOMMU_HWPT_FAULT_ID_VALID: 4,
  /** v6.15. */
  IOMMU_HWPT_ALLOC_PASID: 8,
});

/** `iommu_hwpt_alloc.data_type` (SELFTEST from iommufd_test.h). */
export const IOMMU_HWPT_DATA_TYPES = set("iommu_hwpt_data_type", "enum", {
  IOMMU_HWPT_DATA_NONE: 0,
  IOMMU_HWPT_DATA_VTD_S1: 1,
  /** v6.14. */
  IOMMU_HWPT_DATA_ARM_SMMUV3: 2,
  IOMMU_HWPT_DATA_SELFTEST: 0xdead,
});

/** `iommu_hwpt_invalidate.data_type` (SELFTEST from iommufd_test.h). */
export const IOMMU_HWPT_INVALIDATE_DATA_TYPES = set("iommu_hwpt_invalidate_data_type", "enum", {
  IOMMU_HWPT_INVALIDATE_DATA_VTD_S1: 0,
  /** v6.14, for a vIOMMU. */
  IOMMU_VIOMMU_INVALIDATE_DATA_ARM_SMMUV3: 1,
  IOMMU_HWPT_INVALIDATE_DATA_SELFTEST: 0xdeadbeef,
});

/** `iommu_viommu_alloc.type` (linux/iommufd.h; SELFTEST from iommufd_test.h). */
export const IOMMU_VIOMMU_TYPES = set("iommu_viommu_type", "enum", {
  IOMMU_VIOMMU_TYPE_DEFAULT: 0,
  IOMMU_VIOMMU_TYPE_ARM_SMMUV3: 1,
  IOMMU_VIOMMU_TYPE_TEGRA241_CMDQV: 2,
  IOMMU_VIOMMU_TYPE_SELFTEST: 0xdeadbeef,
});

/** `iommu_veventq_alloc.type` (linux/iommufd.h; SELFTEST from iommufd_test.h). */
export const IOMMU_VEVENTQ_TYPES = set("iommu_veventq_type", "enum", {
  IOMMU_VEVENTQ_TYPE_DEFAULT: 0,
  IOMMU_VEVENTQ_TYPE_ARM_SMMUV3: 1,
  IOMMU_VEVENTQ_TYPE_TEGRA241_CMDQV: 2,
  IOMMU_VEVENTQ_TYPE_SELFTEST: 0xbeefbeef,
});

/** `iommu_hw_queue_alloc.type` (linux/iommufd.h; SELFTEST from iommufd_test.h). */
export const IOMMU_HW_QUEUE_TYPES = set("iommu_hw_queue_type", "enum", {
  IOMMU_HW_QUEUE_TYPE_DEFAULT: 0,
  IOMMU_HW_QUEUE_TYPE_TEGRA241_CMDQV: 1,
  IOMMU_HW_QUEUE_TYPE_SELFTEST: 0xdeadbeef,
});

/** `iommu_test_cmd.op` (selftest only, CONFIG_IOMMUFD_TEST). */
export const IOMMU_TEST_OPS = set("iommu_test_op", "enum", {
  IOMMU_TEST_OP_ADD_RESERVED: 1,
  IOMMU_TEST_OP_MOCK_DOMAIN: 2,
  IOMMU_TEST_OP_MD_CHECK_MAP: 3,
  IOMMU_TEST_OP_MD_CHECK_REFS: 4,
  IOMMU_TEST_OP_CREATE_ACCESS: 5,
  IOMMU_TEST_OP_DESTROY_ACCESS_PAGES: 6,
  IOMMU_TEST_OP_ACCESS_PAGES: 7,
  IOMMU_TEST_OP_ACCESS_RW: 8,
  IOMMU_TEST_OP_SET_TEMP_MEMORY_LIMIT: 9,
  IOMMU_TEST_OP_MOCK_DOMAIN_REPLACE: 10,
  IOMMU_TEST_OP_ACCESS_REPLACE_IOAS: 11,
  IOMMU_TEST_OP_MOCK_DOMAIN_FLAGS: 12,
});

/** Selftest mock device flags (`mock_domain_flags.dev_flags`). */
export const MOCK_FLAGS_DEVICE = set("mock_flags_device", "flags", {
  MOCK_FLAGS_DEVICE_NO_DIRTY: 1,
  MOCK_FLAGS_DEVICE_HUGE_IOVA: 2,
  /** v6.15: the device reports 20 PASID bits. */
  MOCK_FLAGS_DEVICE_PASID: 4,
});

/** Selftest mock domain geometry (iommufd_test.h), for x86_64 with 4 KiB pages. */
export const MOCK = Object.freeze({
  APERTURE_START: 0x1000000n,
  APERTURE_LAST: 0x7fffffffn,
  /** MOCK_IO_PAGE_SIZE = PAGE_SIZE / 2. */
  IO_PAGE_SIZE: 0x800n,
  /** MOCK_PASID_WIDTH (v6.15): PASID bits of the mock IOMMU and of a PASID-capable device. */
  PASID_WIDTH: 20,
  /** Extra page size with MOCK_FLAGS_DEVICE_HUGE_IOVA: 512 mock pages. */
  HUGE_IO_PAGE_SIZE: 0x100000n,
});

/** PAGE_SIZE on x86_64. */
export const PAGE_SIZE = 4096n;
/** 2^64 − 1, the largest `__u64`. */
export const U64_MAX = 0xffff_ffff_ffff_ffffn;

/** Every constant set, in a fixed order (lookup precedence). */
export const CONSTANT_SETS: readonly ConstantSet[] = [
  VFIO_EXTENSIONS,
  VFIO_GROUP_FLAGS,
  VFIO_IOMMU_INFO_FLAGS,
  VFIO_IOMMU_TYPE1_INFO_CAPS,
  VFIO_DMA_MAP_FLAGS,
  VFIO_DMA_UNMAP_FLAGS,
  VFIO_IOMMU_DIRTY_PAGES_FLAGS,
  IOMMU_IOAS_MAP_FLAGS,
  IOMMU_OPTION_IDS,
  IOMMU_OPTION_OPS,
  IOMMU_VFIO_IOAS_OPS,
  IOMMU_HWPT_ALLOC_FLAGS,
  IOMMU_HWPT_DATA_TYPES,
  IOMMU_HWPT_INVALIDATE_DATA_TYPES,
  IOMMU_TEST_OPS,
  MOCK_FLAGS_DEVICE,
  IOMMU_VIOMMU_TYPES,
  IOMMU_VEVENTQ_TYPES,
  IOMMU_HW_QUEUE_TYPES,
];

/**
 * The short names a user may type for a full name: the name itself, without its `VFIO_` or
 * `IOMMU_` prefix, and (for `VFIO_*_IOMMU` extensions) without the `_IOMMU` suffix too, so
 * `TYPE1`, `TYPE1_IOMMU` and `VFIO_TYPE1_IOMMU` all name the same constant.
 */
export function shortNames(full: string): string[] {
  const names = [full];
  const bare = full.replace(/^(VFIO_|IOMMU_)/, "");
  if (bare !== full) names.push(bare);
  if (/^VFIO_.*_IOMMU$/.test(full)) names.push(bare.replace(/_IOMMU$/, ""));
  return names;
}

type Found = { name: string; value: number; set: ConstantSet };

/** Every accepted spelling, upper-cased, made when a name is first looked up. */
let lookupTable: Map<string, Found> | undefined;

function table(): Map<string, Found> {
  if (lookupTable !== undefined) return lookupTable;
  const t = new Map<string, Found>();
  for (const s of CONSTANT_SETS) {
    for (const [full, value] of Object.entries(s.values)) {
      for (const n of shortNames(full)) {
        const key = n.toUpperCase();
        if (!t.has(key)) t.set(key, { name: full, value, set: s });
      }
    }
  }
  return lookupTable = t;
}

/**
 * Resolve a symbolic constant typed by a user: case-insensitive, `VFIO_`/`IOMMU_` prefix
 * optional (see {@link shortNames}). Returns undefined for an unknown name.
 */
export function lookupConstant(
  name: string,
): { name: string; value: number; set: ConstantSet } | undefined {
  return table().get(name.toUpperCase());
}

/** Every name {@link lookupConstant} accepts, in its preferred spelling, for completion. */
export function constantNames(): string[] {
  const out: string[] = [];
  for (const s of CONSTANT_SETS) {
    for (const full of Object.keys(s.values)) out.push(...shortNames(full));
  }
  return out;
}

/**
 * Render a value of a set: flags as `A|B|0x40` (unknown bits in hex), enums by name, or the
 * number itself when no name matches. Names are shown without their `VFIO_`/`IOMMU_` prefix.
 */
export function formatConstant(s: ConstantSet, value: number | bigint): string {
  const v = BigInt(value);
  const short = (full: string) => full.replace(/^(VFIO_|IOMMU_)/, "");
  if (s.kind === "enum") {
    for (const [full, n] of Object.entries(s.values)) if (BigInt(n) === v) return short(full);
    return `0x${v.toString(16)}`;
  }
  if (v === 0n) return "0";
  const parts: string[] = [];
  let rest = v;
  for (const [full, n] of Object.entries(s.values)) {
    const bit = BigInt(n);
    if ((rest & bit) === bit && bit !== 0n) {
      parts.push(short(full));
      rest &= ~bit;
    }
  }
  if (rest !== 0n) parts.push(`0x${rest.toString(16)}`);
  return parts.join("|");
}
