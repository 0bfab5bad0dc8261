/**
 * Every uapi struct vfsh sends or decodes, described once as data: field, offset, size,
 * direction and the constant set of its flags. Encoders, decoders, the pretty-printer and
 * completion all derive from these tables (see `codec.ts`); nothing is written per struct.
 *
 * Layouts are x86_64 (LP64: `__u64` 8-byte aligned). Sources: `linux/vfio.h`,
 * `linux/iommufd.h`, `drivers/iommu/iommufd/iommufd_test.h` (see shared/reference/abi.md).
 *
 * @module
 */

import {
  type ConstantSet,
  IOMMU_HW_QUEUE_TYPES,
  IOMMU_IOAS_MAP_FLAGS,
  IOMMU_OPTION_IDS,
  IOMMU_OPTION_OPS,
  IOMMU_TEST_OPS,
  IOMMU_VEVENTQ_TYPES,
  IOMMU_VFIO_IOAS_OPS,
  IOMMU_VIOMMU_TYPES,
  VFIO_DMA_MAP_FLAGS,
  VFIO_DMA_UNMAP_FLAGS,
  VFIO_GROUP_FLAGS,
  VFIO_IOMMU_DIRTY_PAGES_FLAGS,
  VFIO_IOMMU_INFO_FLAGS,
  VFIO_IOMMU_TYPE1_INFO_CAPS,
} from "./constants.ts";

/** Who writes a field: the caller (`in`), the kernel (`out`), or both (`inout`). */
export type Direction = "in" | "out" | "inout";

/**
 * What a field holds, for printing and for typed handles (an IOAS id is not an fd):
 * `u` unsigned number, `s` signed, `ptr` user pointer, `id` iommufd object id, `fd` file
 * descriptor, `size` the struct's own size field, `reserved` must be zero.
 */
export type FieldKind = "u" | "s" | "ptr" | "id" | "fd" | "size" | "reserved";

/** One field of a struct. */
export interface FieldDesc {
  readonly name: string;
  readonly offset: number;
  readonly size: 1 | 2 | 4 | 8;
  readonly dir: Direction;
  readonly kind: FieldKind;
  /** The constant set whose names describe this field's value, if any. */
  readonly set?: ConstantSet;
}

/** One struct. */
export interface StructDesc {
  /** The C name without `struct`. */
  readonly name: string;
  /** sizeof on x86_64. */
  readonly size: number;
  /** Alignment on x86_64. */
  readonly align: number;
  /**
   * Smallest size the kernel accepts: for iommufd structs the end of the last mandatory
   * field (smaller gives EINVAL); for VFIO structs the `minsz` the handler checks `argsz`
   * against.
   */
  readonly minSize: number;
  /** Fields in offset order; padding is not listed. */
  readonly fields: readonly FieldDesc[];
}

type FieldSpec = [
  name: string,
  offset: number,
  size: 1 | 2 | 4 | 8,
  dir: Direction,
  kind?: FieldKind,
  set?: ConstantSet,
];

function struct(
  name: string,
  size: number,
  align: number,
  minSize: number,
  fields: FieldSpec[],
): StructDesc {
  return Object.freeze({
    name,
    size,
    align,
    minSize,
    fields: Object.freeze(
      fields.map(([n, offset, sz, dir, kind, s]) =>
        Object.freeze({ name: n, offset, size: sz, dir, kind: kind ?? "u", set: s })
      ),
    ),
  });
}

// ---- VFIO (linux/vfio.h) ----

export const vfio_group_status = struct("vfio_group_status", 8, 4, 8, [
  ["argsz", 0, 4, "in", "size"],
  ["flags", 4, 4, "out", "u", VFIO_GROUP_FLAGS],
]);

/** VFIO_DEVICE_GET_REGION_INFO; minSize 32: vfio-pci checks argsz against offsetofend(offset). */
export const vfio_region_info = struct("vfio_region_info", 32, 8, 32, [
  ["argsz", 0, 4, "inout", "size"],
  ["flags", 4, 4, "out"],
  ["index", 8, 4, "in"],
  ["cap_offset", 12, 4, "out"],
  ["size", 16, 8, "out"],
  ["offset", 24, 8, "out"],
]);

export const vfio_info_cap_header = struct("vfio_info_cap_header", 8, 4, 8, [
  ["id", 0, 2, "out", "u", VFIO_IOMMU_TYPE1_INFO_CAPS],
  ["version", 2, 2, "out"],
  ["next", 4, 4, "out"],
]);

/** minSize 16: the handlers check argsz against offsetofend(iova_pgsizes). */
export const vfio_iommu_type1_info = struct("vfio_iommu_type1_info", 24, 8, 16, [
  ["argsz", 0, 4, "inout", "size"],
  ["flags", 4, 4, "out", "u", VFIO_IOMMU_INFO_FLAGS],
  ["iova_pgsizes", 8, 8, "out"],
  ["cap_offset", 16, 4, "out"],
  ["pad", 20, 4, "out", "reserved"],
]);

export const vfio_iova_range = struct("vfio_iova_range", 16, 8, 16, [
  ["start", 0, 8, "out"],
  ["end", 8, 8, "out"],
]);

/** Followed by `nr_iovas` × {@link vfio_iova_range}. */
export const vfio_iommu_type1_info_cap_iova_range = struct(
  "vfio_iommu_type1_info_cap_iova_range",
  16,
  8,
  16,
  [
    ["id", 0, 2, "out", "u", VFIO_IOMMU_TYPE1_INFO_CAPS],
    ["version", 2, 2, "out"],
    ["next", 4, 4, "out"],
    ["nr_iovas", 8, 4, "out"],
    ["reserved", 12, 4, "out", "reserved"],
  ],
);

export const vfio_iommu_type1_info_cap_migration = struct(
  "vfio_iommu_type1_info_cap_migration",
  32,
  8,
  32,
  [
    ["id", 0, 2, "out", "u", VFIO_IOMMU_TYPE1_INFO_CAPS],
    ["version", 2, 2, "out"],
    ["next", 4, 4, "out"],
    ["flags", 8, 4, "out"],
    ["pgsize_bitmap", 16, 8, "out"],
    ["max_dirty_bitmap_size", 24, 8, "out"],
  ],
);

/** 12 bytes of data; since 6.6 it occupies 16 in the chain (8-byte capability alignment). */
export const vfio_iommu_type1_info_dma_avail = struct(
  "vfio_iommu_type1_info_dma_avail",
  12,
  4,
  12,
  [
    ["id", 0, 2, "out", "u", VFIO_IOMMU_TYPE1_INFO_CAPS],
    ["version", 2, 2, "out"],
    ["next", 4, 4, "out"],
    ["avail", 8, 4, "out"],
  ],
);

export const vfio_iommu_type1_dma_map = struct("vfio_iommu_type1_dma_map", 32, 8, 32, [
  ["argsz", 0, 4, "in", "size"],
  ["flags", 4, 4, "in", "u", VFIO_DMA_MAP_FLAGS],
  ["vaddr", 8, 8, "in", "ptr"],
  ["iova", 16, 8, "in"],
  ["size", 24, 8, "in"],
]);

export const vfio_bitmap = struct("vfio_bitmap", 24, 8, 24, [
  ["pgsize", 0, 8, "in"],
  ["size", 8, 8, "in"],
  ["data", 16, 8, "in", "ptr"],
]);

/** Followed by a {@link vfio_bitmap} with VFIO_DMA_UNMAP_FLAG_GET_DIRTY_BITMAP. */
export const vfio_iommu_type1_dma_unmap = struct("vfio_iommu_type1_dma_unmap", 24, 8, 24, [
  ["argsz", 0, 4, "in", "size"],
  ["flags", 4, 4, "in", "u", VFIO_DMA_UNMAP_FLAGS],
  ["iova", 8, 8, "in"],
  ["size", 16, 8, "inout"],
]);

/** Followed by a `vfio_iommu_type1_dirty_bitmap_get` for GET_BITMAP. */
export const vfio_iommu_type1_dirty_bitmap = struct("vfio_iommu_type1_dirty_bitmap", 8, 4, 8, [
  ["argsz", 0, 4, "in", "size"],
  ["flags", 4, 4, "in", "u", VFIO_IOMMU_DIRTY_PAGES_FLAGS],
]);

export const vfio_iommu_type1_dirty_bitmap_get = struct(
  "vfio_iommu_type1_dirty_bitmap_get",
  40,
  8,
  40,
  [
    ["iova", 0, 8, "in"],
    ["size", 8, 8, "in"],
    ["bitmap_pgsize", 16, 8, "in"],
    ["bitmap_size", 24, 8, "in"],
    ["bitmap_data", 32, 8, "in", "ptr"],
  ],
);

// ---- iommufd (linux/iommufd.h) ----

export const iommu_destroy = struct("iommu_destroy", 8, 4, 8, [
  ["size", 0, 4, "in", "size"],
  ["id", 4, 4, "in", "id"],
]);

export const iommu_ioas_alloc = struct("iommu_ioas_alloc", 12, 4, 12, [
  ["size", 0, 4, "in", "size"],
  ["flags", 4, 4, "in"],
  ["out_ioas_id", 8, 4, "out", "id"],
]);

export const iommu_iova_range = struct("iommu_iova_range", 16, 8, 16, [
  ["start", 0, 8, "inout"],
  ["last", 8, 8, "inout"],
]);

export const iommu_ioas_iova_ranges = struct("iommu_ioas_iova_ranges", 32, 8, 32, [
  ["size", 0, 4, "in", "size"],
  ["ioas_id", 4, 4, "in", "id"],
  ["num_iovas", 8, 4, "inout"],
  ["__reserved", 12, 4, "in", "reserved"],
  ["allowed_iovas", 16, 8, "in", "ptr"],
  ["out_iova_alignment", 24, 8, "out"],
]);

export const iommu_ioas_allow_iovas = struct("iommu_ioas_allow_iovas", 24, 8, 24, [
  ["size", 0, 4, "in", "size"],
  ["ioas_id", 4, 4, "in", "id"],
  ["num_iovas", 8, 4, "in"],
  ["__reserved", 12, 4, "in", "reserved"],
  ["allowed_iovas", 16, 8, "in", "ptr"],
]);

export const iommu_ioas_map = struct("iommu_ioas_map", 40, 8, 40, [
  ["size", 0, 4, "in", "size"],
  ["flags", 4, 4, "in", "u", IOMMU_IOAS_MAP_FLAGS],
  ["ioas_id", 8, 4, "in", "id"],
  ["__reserved", 12, 4, "in", "reserved"],
  ["user_va", 16, 8, "in", "ptr"],
  ["length", 24, 8, "in"],
  ["iova", 32, 8, "inout"],
]);

export const iommu_ioas_map_file = struct("iommu_ioas_map_file", 40, 8, 40, [
  ["size", 0, 4, "in", "size"],
  ["flags", 4, 4, "in", "u", IOMMU_IOAS_MAP_FLAGS],
  ["ioas_id", 8, 4, "in", "id"],
  ["fd", 12, 4, "in", "fd"],
  ["start", 16, 8, "in"],
  ["length", 24, 8, "in"],
  ["iova", 32, 8, "inout"],
]);

export const iommu_ioas_copy = struct("iommu_ioas_copy", 40, 8, 40, [
  ["size", 0, 4, "in", "size"],
  ["flags", 4, 4, "in", "u", IOMMU_IOAS_MAP_FLAGS],
  ["dst_ioas_id", 8, 4, "in", "id"],
  ["src_ioas_id", 12, 4, "in", "id"],
  ["length", 16, 8, "in"],
  ["dst_iova", 24, 8, "inout"],
  ["src_iova", 32, 8, "in"],
]);

export const iommu_ioas_unmap = struct("iommu_ioas_unmap", 24, 8, 24, [
  ["size", 0, 4, "in", "size"],
  ["ioas_id", 4, 4, "in", "id"],
  ["iova", 8, 8, "in"],
  ["length", 16, 8, "inout"],
]);

export const iommu_option = struct("iommu_option", 24, 8, 24, [
  ["size", 0, 4, "in", "size"],
  ["option_id", 4, 4, "in", "u", IOMMU_OPTION_IDS],
  ["op", 8, 2, "in", "u", IOMMU_OPTION_OPS],
  ["__reserved", 10, 2, "in", "reserved"],
  ["object_id", 12, 4, "in", "id"],
  ["val64", 16, 8, "inout"],
]);

export const iommu_vfio_ioas = struct("iommu_vfio_ioas", 12, 4, 12, [
  ["size", 0, 4, "in", "size"],
  ["ioas_id", 4, 4, "inout", "id"],
  ["op", 8, 2, "in", "u", IOMMU_VFIO_IOAS_OPS],
  ["__reserved", 10, 2, "in", "reserved"],
]);

/**
 * IOMMU_HWPT_ALLOC (6.11+ layout: `fault_id` and `__reserved2` were appended in 6.11,
 * `data_type`..`data_uptr` in 6.7; 6.6 knows only the first 24 bytes). minSize is
 * offsetofend(__reserved), the member the kernel's table names in every release.
 */
export const iommu_hwpt_alloc = struct("iommu_hwpt_alloc", 48, 8, 24, [
  ["size", 0, 4, "in", "size"],
  ["flags", 4, 4, "in"],
  ["dev_id", 8, 4, "in", "id"],
  ["pt_id", 12, 4, "in", "id"],
  ["out_hwpt_id", 16, 4, "out", "id"],
  ["__reserved", 20, 4, "in", "reserved"],
  ["data_type", 24, 4, "in"],
  ["data_len", 28, 4, "in"],
  ["data_uptr", 32, 8, "in", "ptr"],
  ["fault_id", 40, 4, "in", "id"],
  ["__reserved2", 44, 4, "in", "reserved"],
]);

/**
 * IOMMU_GET_HW_INFO (6.7+ size: `out_capabilities` was appended in 6.7; 6.6 knows 32 bytes).
 * Byte 28 is `out_max_pasid_log2` where the release reports PASID width (6.14, and 6.12.y
 * stable); before, bytes 28..31 are one `__u32 __reserved`. From 6.17 `out_data_type` shares
 * its slot with `in_data_type` (a union). minSize is offsetofend(__reserved) = 32 either way.
 */
export const iommu_hw_info = struct("iommu_hw_info", 40, 8, 32, [
  ["size", 0, 4, "in", "size"],
  ["flags", 4, 4, "in"],
  ["dev_id", 8, 4, "in", "id"],
  ["data_len", 12, 4, "inout"],
  ["data_uptr", 16, 8, "in", "ptr"],
  ["out_data_type", 24, 4, "out"],
  ["out_max_pasid_log2", 28, 1, "out"],
  ["__reserved[0]", 29, 1, "in", "reserved"],
  ["__reserved[1]", 30, 1, "in", "reserved"],
  ["__reserved[2]", 31, 1, "in", "reserved"],
  ["out_capabilities", 32, 8, "out"],
]);

export const iommu_hwpt_set_dirty_tracking = struct("iommu_hwpt_set_dirty_tracking", 16, 4, 16, [
  ["size", 0, 4, "in", "size"],
  ["flags", 4, 4, "in"],
  ["hwpt_id", 8, 4, "in", "id"],
  ["__reserved", 12, 4, "in", "reserved"],
]);

/** minSize is offsetofend(data): the whole struct. */
export const iommu_hwpt_get_dirty_bitmap = struct("iommu_hwpt_get_dirty_bitmap", 48, 8, 48, [
  ["size", 0, 4, "in", "size"],
  ["hwpt_id", 4, 4, "in", "id"],
  ["flags", 8, 4, "in"],
  ["__reserved", 12, 4, "in", "reserved"],
  ["iova", 16, 8, "in"],
  ["length", 24, 8, "in"],
  ["page_size", 32, 8, "in"],
  ["data", 40, 8, "in", "ptr"],
]);

export const iommu_hwpt_invalidate = struct("iommu_hwpt_invalidate", 32, 8, 32, [
  ["size", 0, 4, "in", "size"],
  ["hwpt_id", 4, 4, "in", "id"],
  ["data_uptr", 8, 8, "in", "ptr"],
  ["data_type", 16, 4, "in"],
  ["entry_len", 20, 4, "in"],
  ["entry_num", 24, 4, "inout"],
  ["__reserved", 28, 4, "in", "reserved"],
]);

export const iommu_fault_alloc = struct("iommu_fault_alloc", 16, 4, 16, [
  ["size", 0, 4, "in", "size"],
  ["flags", 4, 4, "in"],
  ["out_fault_id", 8, 4, "out", "id"],
  ["out_fault_fd", 12, 4, "out", "fd"],
]);

/**
 * IOMMU_VIOMMU_ALLOC (6.17+ layout: `data_len`, `__reserved` and `data_uptr` were appended in
 * 6.17; 6.13 knows the first 24 bytes). minSize is offsetofend(out_viommu_id).
 */
export const iommu_viommu_alloc = struct("iommu_viommu_alloc", 40, 8, 24, [
  ["size", 0, 4, "in", "size"],
  ["flags", 4, 4, "in"],
  ["type", 8, 4, "in", "u", IOMMU_VIOMMU_TYPES],
  ["dev_id", 12, 4, "in", "id"],
  ["hwpt_id", 16, 4, "in", "id"],
  ["out_viommu_id", 20, 4, "out", "id"],
  ["data_len", 24, 4, "in"],
  ["__reserved", 28, 4, "in", "reserved"],
  ["data_uptr", 32, 8, "in", "ptr"],
]);

/** IOMMU_VDEVICE_ALLOC (6.13); minSize is offsetofend(virt_id): the whole struct. */
export const iommu_vdevice_alloc = struct("iommu_vdevice_alloc", 24, 8, 24, [
  ["size", 0, 4, "in", "size"],
  ["viommu_id", 4, 4, "in", "id"],
  ["dev_id", 8, 4, "in", "id"],
  ["out_vdevice_id", 12, 4, "out", "id"],
  ["virt_id", 16, 8, "in"],
]);

/** IOMMU_IOAS_CHANGE_PROCESS (6.14); minSize is offsetofend(__reserved). */
export const iommu_ioas_change_process = struct("iommu_ioas_change_process", 8, 4, 8, [
  ["size", 0, 4, "in", "size"],
  ["__reserved", 4, 4, "in", "reserved"],
]);

/** IOMMU_VEVENTQ_ALLOC (6.15); minSize is offsetofend(out_veventq_fd), 28. */
export const iommu_veventq_alloc = struct("iommu_veventq_alloc", 32, 4, 28, [
  ["size", 0, 4, "in", "size"],
  ["flags", 4, 4, "in"],
  ["viommu_id", 8, 4, "in", "id"],
  ["type", 12, 4, "in", "u", IOMMU_VEVENTQ_TYPES],
  ["veventq_depth", 16, 4, "in"],
  ["out_veventq_id", 20, 4, "out", "id"],
  ["out_veventq_fd", 24, 4, "out", "fd"],
  ["__reserved", 28, 4, "in", "reserved"],
]);

/** IOMMU_HW_QUEUE_ALLOC (6.17); minSize is offsetofend(length): the whole struct. */
export const iommu_hw_queue_alloc = struct("iommu_hw_queue_alloc", 40, 8, 40, [
  ["size", 0, 4, "in", "size"],
  ["flags", 4, 4, "in"],
  ["viommu_id", 8, 4, "in", "id"],
  ["type", 12, 4, "in", "u", IOMMU_HW_QUEUE_TYPES],
  ["index", 16, 4, "in"],
  ["out_hw_queue_id", 20, 4, "out", "id"],
  ["nesting_parent_iova", 24, 8, "in"],
  ["length", 32, 8, "in"],
]);

/**
 * The selftest command (6.7+ layout: the largest union member is `dirty`, 48 bytes, so
 * `last` sits at 64). The union's members are listed by their own names; they overlap.
 * minSize is offsetofend(last).
 */
export const iommu_test_cmd = struct("iommu_test_cmd", 72, 8, 68, [
  ["size", 0, 4, "in", "size"],
  ["op", 4, 4, "in", "u", IOMMU_TEST_OPS],
  ["id", 8, 4, "in", "id"],
  ["__reserved", 12, 4, "in", "reserved"],
  // union: add_reserved
  ["add_reserved.start", 16, 8, "in"],
  ["add_reserved.length", 24, 8, "in"],
  // union: mock_domain / mock_domain_flags
  ["mock_domain.out_stdev_id", 16, 4, "out", "id"],
  ["mock_domain.out_hwpt_id", 20, 4, "out", "id"],
  ["mock_domain.out_idev_id", 24, 4, "out", "id"],
  ["mock_domain_flags.dev_flags", 28, 4, "in"],
  // union: mock_domain_replace (the new pt_id in, the hwpt id actually attached out)
  ["mock_domain_replace.pt_id", 16, 4, "inout", "id"],
  ["last", 64, 4, "in"],
]);

/** Every struct, by C name. */
export const STRUCTS: Readonly<Record<string, StructDesc>> = Object.freeze({
  vfio_group_status,
  vfio_region_info,
  vfio_info_cap_header,
  vfio_iommu_type1_info,
  vfio_iova_range,
  vfio_iommu_type1_info_cap_iova_range,
  vfio_iommu_type1_info_cap_migration,
  vfio_iommu_type1_info_dma_avail,
  vfio_iommu_type1_dma_map,
  vfio_bitmap,
  vfio_iommu_type1_dma_unmap,
  vfio_iommu_type1_dirty_bitmap,
  vfio_iommu_type1_dirty_bitmap_get,
  iommu_destroy,
  iommu_ioas_alloc,
  iommu_iova_range,
  iommu_ioas_iova_ranges,
  iommu_ioas_allow_iovas,
  iommu_ioas_map,
  iommu_ioas_map_file,
  iommu_ioas_copy,
  iommu_ioas_unmap,
  iommu_option,
  iommu_vfio_ioas,
  iommu_hwpt_alloc,
  iommu_hw_info,
  iommu_hwpt_set_dirty_tracking,
  iommu_hwpt_get_dirty_bitmap,
  iommu_hwpt_invalidate,
  iommu_fault_alloc,
  iommu_viommu_alloc,
  iommu_vdevice_alloc,
  iommu_ioas_change_process,
  iommu_veventq_alloc,
  iommu_hw_queue_alloc,
  iommu_test_cmd,
});
