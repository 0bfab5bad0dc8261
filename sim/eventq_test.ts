/**
 * IOMMU_FAULT_QUEUE_ALLOC and IOMMU_VEVENTQ_ALLOC (eventq.c): the object, its
 * anonymous-inode fd, and who holds whom.
 */

import { deepStrictEqual, strictEqual } from "node:assert";
import { E } from "../uapi/errno.ts";
import * as S from "../uapi/structs.ts";
import * as R from "../uapi/ioctl.ts";
import type { SimKernel } from "./kernel.ts";
import {
  call,
  destroy,
  ioasAlloc,
  mapAuto,
  mockDomain,
  openIommufd,
} from "../tests/_sim_helpers.ts";
import type { StructValues } from "../uapi/codec.ts";

const VEVENTQ_SELFTEST = 0xbeefbeef;
const veventq = (k: SimKernel, fd: number, v: StructValues) =>
  call(k, fd, R.IOMMU_VEVENTQ_ALLOC, S.iommu_veventq_alloc, {
    type: VEVENTQ_SELFTEST,
    veventq_depth: 2,
    ...v,
  });

/** IOAS 1, mock device (stdev 2, idev 3, hwpt 4), nest parent 5, vIOMMU 6. */
function withViommu() {
  const { k, fd } = openIommufd();
  const ioas = ioasAlloc(k, fd);
  const m = mockDomain(k, fd, ioas);
  const p = call(k, fd, R.IOMMU_HWPT_ALLOC, S.iommu_hwpt_alloc, {
    flags: 1,
    dev_id: m.idev,
    pt_id: ioas,
  });
  const v = call(k, fd, R.IOMMU_VIOMMU_ALLOC, S.iommu_viommu_alloc, {
    type: 0xdeadbeef,
    dev_id: m.idev,
    hwpt_id: Number(p.out.out_hwpt_id),
  });
  strictEqual(v.ret, 0);
  return { k, fd, ioas, viommu: Number(v.out.out_viommu_id) };
}

Deno.test("fault_alloc: the fault object takes the next id, its file the lowest free fd", () => {
  const { k, fd } = openIommufd();
  const a = call(k, fd, R.IOMMU_FAULT_QUEUE_ALLOC, S.iommu_fault_alloc);
  deepStrictEqual([a.ret, a.out.out_fault_id, a.out.out_fault_fd], [0, 1n, 4n]);
});

Deno.test("fault_alloc: DESTROY while its fd is open -> EBUSY; after close -> 0", () => {
  const { k, fd } = openIommufd();
  const a = call(k, fd, R.IOMMU_FAULT_QUEUE_ALLOC, S.iommu_fault_alloc);
  strictEqual(destroy(k, fd, 1), -E.EBUSY);
  strictEqual(k.close(Number(a.out.out_fault_fd)), 0);
  strictEqual(destroy(k, fd, 1), 0);
});

Deno.test("fault fd: read of a size not a multiple of struct iommu_hwpt_pgfault -> ESPIPE; else 0 (empty); ioctl -> ENOTTY", () => {
  const { k, fd } = openIommufd();
  const qfd = Number(call(k, fd, R.IOMMU_FAULT_QUEUE_ALLOC, S.iommu_fault_alloc).out.out_fault_fd);
  strictEqual(k.read(qfd, new Uint8Array(33)), -E.ESPIPE);
  strictEqual(k.read(qfd, new Uint8Array(80)), 0);
  strictEqual(k.ioctl(qfd, R.IOMMU_DESTROY, new Uint8Array(8)), -E.ENOTTY);
});

Deno.test("fault fd holds the iommufd: closing /dev/iommu first keeps the context until the queue's fd goes", () => {
  const { k, fd } = openIommufd();
  const ioas = ioasAlloc(k, fd);
  strictEqual(mockDomain(k, fd, ioas).ret, 0);
  const buf = k.mmap(0x2000n);
  strictEqual(mapAuto(k, fd, ioas, buf, 0x2000n).ret, 0);
  const qfd = Number(call(k, fd, R.IOMMU_FAULT_QUEUE_ALLOC, S.iommu_fault_alloc).out.out_fault_fd);
  strictEqual(k.close(fd), 0);
  strictEqual(k.pinnedPages(), 2n, "still pinned: the context lives on");
  strictEqual(k.close(qfd), 0);
  strictEqual(k.pinnedPages(), 0n);
});

Deno.test("veventq_alloc: flags, __reserved or type DEFAULT -> EOPNOTSUPP; depth 0 -> EINVAL; not a vIOMMU -> ENOENT", () => {
  const { k, fd, ioas, viommu } = withViommu();
  strictEqual(veventq(k, fd, { viommu_id: viommu, flags: 1 }).ret, -E.EOPNOTSUPP);
  strictEqual(veventq(k, fd, { viommu_id: viommu, __reserved: 1 }).ret, -E.EOPNOTSUPP);
  strictEqual(veventq(k, fd, { viommu_id: viommu, type: 0 }).ret, -E.EOPNOTSUPP);
  strictEqual(veventq(k, fd, { viommu_id: viommu, veventq_depth: 0 }).ret, -E.EINVAL);
  strictEqual(veventq(k, fd, { viommu_id: ioas }).ret, -E.ENOENT);
});

Deno.test("veventq_alloc: one queue per type and vIOMMU -> EEXIST; the queue holds the vIOMMU", () => {
  const { k, fd, viommu } = withViommu();
  const a = veventq(k, fd, { viommu_id: viommu });
  deepStrictEqual([a.ret, a.out.out_veventq_id, a.out.out_veventq_fd], [0, 7n, 4n]);
  strictEqual(veventq(k, fd, { viommu_id: viommu }).ret, -E.EEXIST);
  strictEqual(veventq(k, fd, { viommu_id: viommu, type: 1 }).ret, 0, "another type is accepted");
  strictEqual(destroy(k, fd, viommu), -E.EBUSY);
  strictEqual(k.read(4, new Uint8Array(3)), 0, "any size; an empty queue reads 0");
  strictEqual(destroy(k, fd, 7), -E.EBUSY, "its fd is open");
  strictEqual(k.close(4), 0);
  strictEqual(destroy(k, fd, 7), 0);
  strictEqual(veventq(k, fd, { viommu_id: viommu }).ret, 0, "the type is free again");
});

Deno.test("veventq on 6.12 -> ENOTTY (added in 6.15)", () => {
  const { k, fd } = openIommufd({ release: "6.12.117" });
  strictEqual(veventq(k, fd, {}).ret, -E.ENOTTY);
});
