import assert from "node:assert/strict";
import { _IOC, _IOC_NR, requestByName, REQUESTS, requestsByNumber } from "./ioctl.ts";
import * as R from "./ioctl.ts";

// Independent literals from shared/reference/abi.md §1.1 and §1.3: every request is _IO(';', nr).
const EXPECTED: Record<string, number> = {
  VFIO_GET_API_VERSION: 0x3b64,
  VFIO_CHECK_EXTENSION: 0x3b65,
  VFIO_SET_IOMMU: 0x3b66,
  VFIO_GROUP_GET_STATUS: 0x3b67,
  VFIO_GROUP_SET_CONTAINER: 0x3b68,
  VFIO_GROUP_UNSET_CONTAINER: 0x3b69,
  VFIO_GROUP_GET_DEVICE_FD: 0x3b6a,
  VFIO_DEVICE_GET_INFO: 0x3b6b,
  VFIO_DEVICE_GET_REGION_INFO: 0x3b6c,
  VFIO_DEVICE_GET_IRQ_INFO: 0x3b6d,
  VFIO_DEVICE_SET_IRQS: 0x3b6e,
  VFIO_DEVICE_RESET: 0x3b6f,
  VFIO_IOMMU_GET_INFO: 0x3b70,
  VFIO_IOMMU_MAP_DMA: 0x3b71,
  VFIO_IOMMU_UNMAP_DMA: 0x3b72,
  VFIO_IOMMU_ENABLE: 0x3b73,
  VFIO_IOMMU_DISABLE: 0x3b74,
  VFIO_IOMMU_DIRTY_PAGES: 0x3b75,
  IOMMU_DESTROY: 0x3b80,
  IOMMU_IOAS_ALLOC: 0x3b81,
  IOMMU_IOAS_ALLOW_IOVAS: 0x3b82,
  IOMMU_IOAS_COPY: 0x3b83,
  IOMMU_IOAS_IOVA_RANGES: 0x3b84,
  IOMMU_IOAS_MAP: 0x3b85,
  IOMMU_IOAS_UNMAP: 0x3b86,
  IOMMU_OPTION: 0x3b87,
  IOMMU_VFIO_IOAS: 0x3b88,
  IOMMU_HWPT_ALLOC: 0x3b89,
  IOMMU_GET_HW_INFO: 0x3b8a,
  IOMMU_HWPT_SET_DIRTY_TRACKING: 0x3b8b,
  IOMMU_HWPT_GET_DIRTY_BITMAP: 0x3b8c,
  IOMMU_HWPT_INVALIDATE: 0x3b8d,
  IOMMU_FAULT_QUEUE_ALLOC: 0x3b8e,
  IOMMU_IOAS_MAP_FILE: 0x3b8f,
  IOMMU_VIOMMU_ALLOC: 0x3b90,
  IOMMU_VDEVICE_ALLOC: 0x3b91,
  IOMMU_IOAS_CHANGE_PROCESS: 0x3b92,
  IOMMU_VEVENTQ_ALLOC: 0x3b93,
  IOMMU_HW_QUEUE_ALLOC: 0x3b94,
  IOMMU_TEST_CMD: 0x3ba0,
};

for (const [name, value] of Object.entries(EXPECTED)) {
  Deno.test(`request number ${name} = 0x${value.toString(16)}`, () => {
    const r = requestByName(name);
    assert.ok(r, `${name} is described`);
    assert.equal(r.request, value);
    assert.equal(r.nr, value & 0xff);
  });
}

Deno.test("every described request has a pinned number", () => {
  assert.deepEqual(REQUESTS.map((r) => r.name).sort(), Object.keys(EXPECTED).sort());
});

Deno.test("first releases of 0x8F-0x94: MAP_FILE/vIOMMU/vDEVICE 6.13, CHANGE_PROCESS 6.14, vEVENTQ 6.15, HW_QUEUE 6.17", () => {
  const since = (n: string) => requestByName(n)?.since;
  assert.deepEqual(
    [
      "IOMMU_IOAS_MAP_FILE",
      "IOMMU_VIOMMU_ALLOC",
      "IOMMU_VDEVICE_ALLOC",
      "IOMMU_IOAS_CHANGE_PROCESS",
      "IOMMU_VEVENTQ_ALLOC",
      "IOMMU_HW_QUEUE_ALLOC",
    ].map(since),
    ["6.13", "6.13", "6.13", "6.14", "6.15", "6.17"],
  );
  for (const r of REQUESTS.filter((q) => q.fd === "iommufd")) assert.ok(r.struct, r.name);
});

Deno.test("named request exports match the table", () => {
  assert.equal(R.VFIO_IOMMU_MAP_DMA, 0x3b71);
  assert.equal(R.VFIO_IOMMU_UNMAP_DMA, 0x3b72);
  assert.equal(R.IOMMU_VFIO_IOAS, 0x3b88);
  assert.equal(R.IOMMU_TEST_CMD, 0x3ba0);
});

Deno.test("_IOC encodes dir/size/type/nr as asm-generic/ioctl.h", () => {
  // The commented-but-wrong _IOW(';', 101, __u32) encoding from vfio.h (abi.md §1).
  assert.equal(_IOC(1, 0x3b, 101, 4), 0x40043b65);
  assert.equal(_IOC(3, 0x3b, 0x85, 40), 0xc0283b85);
  assert.equal(_IOC_NR(0x40043b65), 0x65);
});

Deno.test("number collisions are kept apart by fd kind", () => {
  const kinds = requestsByNumber(0x3b70).map((r) => r.fd);
  assert.deepEqual(kinds, ["container"]);
  assert.equal(requestsByNumber(0x40043b65).length, 0);
});

Deno.test("requestByName accepts a prefix-less spelling", () => {
  assert.equal(requestByName("ioas_map")?.request, 0x3b85);
  assert.equal(requestByName("iommu_get_info")?.request, 0x3b70);
});
