import assert from "node:assert/strict";
import { STRUCTS } from "./structs.ts";

// Independent literals from shared/reference/abi.md §2–§4 (x86_64): [sizeof, minSize, align,
// {field: [offset, size]}].
type Layout = [number, number, number, Record<string, [number, number]>];
const EXPECTED: Record<string, Layout> = {
  vfio_group_status: [8, 8, 4, { argsz: [0, 4], flags: [4, 4] }],
  vfio_region_info: [32, 32, 8, {
    argsz: [0, 4],
    flags: [4, 4],
    index: [8, 4],
    cap_offset: [12, 4],
    size: [16, 8],
    offset: [24, 8],
  }],
  vfio_info_cap_header: [8, 8, 4, { id: [0, 2], version: [2, 2], next: [4, 4] }],
  vfio_iommu_type1_info: [24, 16, 8, {
    argsz: [0, 4],
    flags: [4, 4],
    iova_pgsizes: [8, 8],
    cap_offset: [16, 4],
    pad: [20, 4],
  }],
  vfio_iova_range: [16, 16, 8, { start: [0, 8], end: [8, 8] }],
  vfio_iommu_type1_info_cap_iova_range: [16, 16, 8, {
    id: [0, 2],
    version: [2, 2],
    next: [4, 4],
    nr_iovas: [8, 4],
    reserved: [12, 4],
  }],
  vfio_iommu_type1_info_cap_migration: [32, 32, 8, {
    id: [0, 2],
    version: [2, 2],
    next: [4, 4],
    flags: [8, 4],
    pgsize_bitmap: [16, 8],
    max_dirty_bitmap_size: [24, 8],
  }],
  vfio_iommu_type1_info_dma_avail: [12, 12, 4, {
    id: [0, 2],
    version: [2, 2],
    next: [4, 4],
    avail: [8, 4],
  }],
  vfio_iommu_type1_dma_map: [32, 32, 8, {
    argsz: [0, 4],
    flags: [4, 4],
    vaddr: [8, 8],
    iova: [16, 8],
    size: [24, 8],
  }],
  vfio_bitmap: [24, 24, 8, { pgsize: [0, 8], size: [8, 8], data: [16, 8] }],
  vfio_iommu_type1_dma_unmap: [24, 24, 8, {
    argsz: [0, 4],
    flags: [4, 4],
    iova: [8, 8],
    size: [16, 8],
  }],
  vfio_iommu_type1_dirty_bitmap: [8, 8, 4, { argsz: [0, 4], flags: [4, 4] }],
  vfio_iommu_type1_dirty_bitmap_get: [40, 40, 8, {
    iova: [0, 8],
    size: [8, 8],
    bitmap_pgsize: [16, 8],
    bitmap_size: [24, 8],
    bitmap_data: [32, 8],
  }],
  iommu_destroy: [8, 8, 4, { size: [0, 4], id: [4, 4] }],
  iommu_ioas_alloc: [12, 12, 4, { size: [0, 4], flags: [4, 4], out_ioas_id: [8, 4] }],
  iommu_iova_range: [16, 16, 8, { start: [0, 8], last: [8, 8] }],
  iommu_ioas_iova_ranges: [32, 32, 8, {
    size: [0, 4],
    ioas_id: [4, 4],
    num_iovas: [8, 4],
    __reserved: [12, 4],
    allowed_iovas: [16, 8],
    out_iova_alignment: [24, 8],
  }],
  iommu_ioas_allow_iovas: [24, 24, 8, {
    size: [0, 4],
    ioas_id: [4, 4],
    num_iovas: [8, 4],
    __reserved: [12, 4],
    allowed_iovas: [16, 8],
  }],
  iommu_ioas_map: [40, 40, 8, {
    size: [0, 4],
    flags: [4, 4],
    ioas_id: [8, 4],
    __reserved: [12, 4],
    user_va: [16, 8],
    length: [24, 8],
    iova: [32, 8],
  }],
  iommu_ioas_map_file: [40, 40, 8, {
    size: [0, 4],
    flags: [4, 4],
    ioas_id: [8, 4],
    fd: [12, 4],
    start: [16, 8],
    length: [24, 8],
    iova: [32, 8],
  }],
  iommu_ioas_copy: [40, 40, 8, {
    size: [0, 4],
    flags: [4, 4],
    dst_ioas_id: [8, 4],
    src_ioas_id: [12, 4],
    length: [16, 8],
    dst_iova: [24, 8],
    src_iova: [32, 8],
  }],
  iommu_ioas_unmap: [24, 24, 8, {
    size: [0, 4],
    ioas_id: [4, 4],
    iova: [8, 8],
    length: [16, 8],
  }],
  iommu_option: [24, 24, 8, {
    size: [0, 4],
    option_id: [4, 4],
    op: [8, 2],
    __reserved: [10, 2],
    object_id: [12, 4],
    val64: [16, 8],
  }],
  iommu_vfio_ioas: [12, 12, 4, {
    size: [0, 4],
    ioas_id: [4, 4],
    op: [8, 2],
    __reserved: [10, 2],
  }],
  // include/uapi/linux/iommufd.h of 6.12.117 (linux-source-6.12); min = offsetofend of the
  // member named by IOCTL_OP in drivers/iommu/iommufd/main.c.
  iommu_hwpt_alloc: [48, 24, 8, {
    size: [0, 4],
    flags: [4, 4],
    dev_id: [8, 4],
    pt_id: [12, 4],
    out_hwpt_id: [16, 4],
    __reserved: [20, 4],
    data_type: [24, 4],
    data_len: [28, 4],
    data_uptr: [32, 8],
    fault_id: [40, 4],
    __reserved2: [44, 4],
  }],
  iommu_hw_info: [40, 32, 8, {
    size: [0, 4],
    flags: [4, 4],
    dev_id: [8, 4],
    data_len: [12, 4],
    data_uptr: [16, 8],
    out_data_type: [24, 4],
    out_max_pasid_log2: [28, 1],
    "__reserved[0]": [29, 1],
    "__reserved[1]": [30, 1],
    "__reserved[2]": [31, 1],
    out_capabilities: [32, 8],
  }],
  iommu_hwpt_set_dirty_tracking: [16, 16, 4, {
    size: [0, 4],
    flags: [4, 4],
    hwpt_id: [8, 4],
    __reserved: [12, 4],
  }],
  iommu_hwpt_get_dirty_bitmap: [48, 48, 8, {
    size: [0, 4],
    hwpt_id: [4, 4],
    flags: [8, 4],
    __reserved: [12, 4],
    iova: [16, 8],
    length: [24, 8],
    page_size: [32, 8],
    data: [40, 8],
  }],
  iommu_hwpt_invalidate: [32, 32, 8, {
    size: [0, 4],
    hwpt_id: [4, 4],
    data_uptr: [8, 8],
    data_type: [16, 4],
    entry_len: [20, 4],
    entry_num: [24, 4],
    __reserved: [28, 4],
  }],
  iommu_fault_alloc: [16, 16, 4, {
    size: [0, 4],
    flags: [4, 4],
    out_fault_id: [8, 4],
    out_fault_fd: [12, 4],
  }],
  // include/uapi/linux/iommufd.h of 6.18; min = offsetofend of the IOCTL_OP member.
  iommu_viommu_alloc: [40, 24, 8, {
    size: [0, 4],
    flags: [4, 4],
    type: [8, 4],
    dev_id: [12, 4],
    hwpt_id: [16, 4],
    out_viommu_id: [20, 4],
    data_len: [24, 4],
    __reserved: [28, 4],
    data_uptr: [32, 8],
  }],
  iommu_vdevice_alloc: [24, 24, 8, {
    size: [0, 4],
    viommu_id: [4, 4],
    dev_id: [8, 4],
    out_vdevice_id: [12, 4],
    virt_id: [16, 8],
  }],
  iommu_ioas_change_process: [8, 8, 4, { size: [0, 4], __reserved: [4, 4] }],
  iommu_veventq_alloc: [32, 28, 4, {
    size: [0, 4],
    flags: [4, 4],
    viommu_id: [8, 4],
    type: [12, 4],
    veventq_depth: [16, 4],
    out_veventq_id: [20, 4],
    out_veventq_fd: [24, 4],
    __reserved: [28, 4],
  }],
  iommu_hw_queue_alloc: [40, 40, 8, {
    size: [0, 4],
    flags: [4, 4],
    viommu_id: [8, 4],
    type: [12, 4],
    index: [16, 4],
    out_hw_queue_id: [20, 4],
    nesting_parent_iova: [24, 8],
    length: [32, 8],
  }],
  iommu_test_cmd: [72, 68, 8, {
    size: [0, 4],
    op: [4, 4],
    id: [8, 4],
    __reserved: [12, 4],
    "add_reserved.start": [16, 8],
    "add_reserved.length": [24, 8],
    "mock_domain.out_stdev_id": [16, 4],
    "mock_domain.out_hwpt_id": [20, 4],
    "mock_domain.out_idev_id": [24, 4],
    "mock_domain_flags.dev_flags": [28, 4],
    "mock_domain_replace.pt_id": [16, 4],
    last: [64, 4],
  }],
};

for (const [name, [size, minSize, align, fields]] of Object.entries(EXPECTED)) {
  Deno.test(`struct ${name}: sizeof ${size}, min ${minSize}, field offsets`, () => {
    const desc = STRUCTS[name];
    assert.ok(desc, `${name} is described`);
    assert.equal(desc.size, size, "sizeof");
    assert.equal(desc.minSize, minSize, "min size");
    assert.equal(desc.align, align, "alignment");
    const actual = Object.fromEntries(desc.fields.map((f) => [f.name, [f.offset, f.size]]));
    assert.deepEqual(actual, fields);
  });
}

Deno.test("every described struct has pinned literals", () => {
  assert.deepEqual(Object.keys(STRUCTS).sort(), Object.keys(EXPECTED).sort());
});

Deno.test("fields are naturally aligned and inside sizeof", () => {
  for (const desc of Object.values(STRUCTS)) {
    for (const f of desc.fields) {
      assert.equal(f.offset % f.size, 0, `${desc.name}.${f.name} aligned`);
      assert.ok(f.offset + f.size <= desc.size, `${desc.name}.${f.name} inside`);
    }
    assert.equal(desc.size % desc.align, 0, `${desc.name} size multiple of align`);
  }
});
