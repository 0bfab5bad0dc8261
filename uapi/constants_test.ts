import assert from "node:assert/strict";
import {
  constantNames,
  formatConstant,
  IOMMU_IOAS_MAP_FLAGS,
  lookupConstant,
  VFIO_DMA_MAP_FLAGS,
  VFIO_EXTENSIONS,
} from "./constants.ts";

// abi.md §1.2, §2, §3 literals.
const PINNED: Record<string, number> = {
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
  VFIO_GROUP_FLAGS_VIABLE: 1,
  VFIO_GROUP_FLAGS_CONTAINER_SET: 2,
  VFIO_IOMMU_INFO_PGSIZES: 1,
  VFIO_IOMMU_INFO_CAPS: 2,
  VFIO_IOMMU_TYPE1_INFO_CAP_IOVA_RANGE: 1,
  VFIO_IOMMU_TYPE1_INFO_CAP_MIGRATION: 2,
  VFIO_IOMMU_TYPE1_INFO_DMA_AVAIL: 3,
  VFIO_DMA_MAP_FLAG_READ: 1,
  VFIO_DMA_MAP_FLAG_WRITE: 2,
  VFIO_DMA_MAP_FLAG_VADDR: 4,
  VFIO_DMA_UNMAP_FLAG_GET_DIRTY_BITMAP: 1,
  VFIO_DMA_UNMAP_FLAG_ALL: 2,
  VFIO_DMA_UNMAP_FLAG_VADDR: 4,
  VFIO_IOMMU_DIRTY_PAGES_FLAG_START: 1,
  VFIO_IOMMU_DIRTY_PAGES_FLAG_STOP: 2,
  VFIO_IOMMU_DIRTY_PAGES_FLAG_GET_BITMAP: 4,
  IOMMU_IOAS_MAP_FIXED_IOVA: 1,
  IOMMU_IOAS_MAP_WRITEABLE: 2,
  IOMMU_IOAS_MAP_READABLE: 4,
  IOMMU_OPTION_RLIMIT_MODE: 0,
  IOMMU_OPTION_HUGE_PAGES: 1,
  IOMMU_OPTION_OP_SET: 0,
  IOMMU_OPTION_OP_GET: 1,
  IOMMU_VFIO_IOAS_GET: 0,
  IOMMU_VFIO_IOAS_SET: 1,
  IOMMU_VFIO_IOAS_CLEAR: 2,
  IOMMU_TEST_OP_ADD_RESERVED: 1,
  IOMMU_TEST_OP_MOCK_DOMAIN: 2,
  MOCK_FLAGS_DEVICE_HUGE_IOVA: 2,
  MOCK_FLAGS_DEVICE_PASID: 4,
  // linux/iommufd.h of 6.18 and drivers/iommu/iommufd/iommufd_test.h.
  IOMMU_VIOMMU_TYPE_DEFAULT: 0,
  IOMMU_VIOMMU_TYPE_ARM_SMMUV3: 1,
  IOMMU_VIOMMU_TYPE_TEGRA241_CMDQV: 2,
  IOMMU_VIOMMU_TYPE_SELFTEST: 0xdeadbeef,
  IOMMU_VEVENTQ_TYPE_DEFAULT: 0,
  IOMMU_VEVENTQ_TYPE_ARM_SMMUV3: 1,
  IOMMU_VEVENTQ_TYPE_TEGRA241_CMDQV: 2,
  IOMMU_VEVENTQ_TYPE_SELFTEST: 0xbeefbeef,
  IOMMU_HW_QUEUE_TYPE_DEFAULT: 0,
  IOMMU_HW_QUEUE_TYPE_TEGRA241_CMDQV: 1,
  IOMMU_HW_QUEUE_TYPE_SELFTEST: 0xdeadbeef,
};

for (const [name, value] of Object.entries(PINNED)) {
  Deno.test(`constant ${name} = ${value}`, () => {
    const c = lookupConstant(name);
    assert.ok(c, name);
    assert.equal(c.value, value);
    assert.equal(c.name, name);
  });
}

Deno.test("constants are case-insensitive with the VFIO_/IOMMU_ prefix and _IOMMU suffix optional", () => {
  assert.equal(lookupConstant("TYPE1")?.value, 1);
  assert.equal(lookupConstant("type1v2")?.value, 3);
  assert.equal(lookupConstant("TYPE1V2_IOMMU")?.value, 3);
  assert.equal(lookupConstant("UNMAP_ALL")?.value, 9);
  assert.equal(lookupConstant("DMA_CC_IOMMU")?.value, 4);
  assert.equal(lookupConstant("dma_cc")?.value, 4);
  assert.equal(lookupConstant("IOAS_MAP_FIXED_IOVA")?.value, 1);
  assert.equal(lookupConstant("NOPE"), undefined);
});

Deno.test("completion names include the short spellings", () => {
  const names = constantNames();
  for (const n of ["TYPE1", "TYPE1v2", "VFIO_TYPE1v2_IOMMU", "UNMAP_ALL", "DMA_UNMAP_FLAG_ALL"]) {
    assert.ok(names.includes(n), n);
  }
});

Deno.test("formatConstant names flags, keeps unknown bits, names enums", () => {
  assert.equal(formatConstant(VFIO_DMA_MAP_FLAGS, 3), "DMA_MAP_FLAG_READ|DMA_MAP_FLAG_WRITE");
  assert.equal(formatConstant(VFIO_DMA_MAP_FLAGS, 0x80000001), "DMA_MAP_FLAG_READ|0x80000000");
  assert.equal(formatConstant(VFIO_DMA_MAP_FLAGS, 0), "0");
  assert.equal(formatConstant(IOMMU_IOAS_MAP_FLAGS, 6), "IOAS_MAP_WRITEABLE|IOAS_MAP_READABLE");
  assert.equal(formatConstant(VFIO_EXTENSIONS, 3), "TYPE1v2_IOMMU");
  assert.equal(formatConstant(VFIO_EXTENSIONS, 99), "0x63");
});
