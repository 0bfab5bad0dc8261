/** Native IOAS ioctls (ioas.c): one test per errno path and write-back rule. */

import { deepStrictEqual, strictEqual } from "node:assert";
import { E } from "../uapi/errno.ts";
import { encode } from "../uapi/codec.ts";
import { U64_MAX } from "../uapi/constants.ts";
import * as S from "../uapi/structs.ts";
import * as R from "../uapi/ioctl.ts";
import type { SimKernel } from "./kernel.ts";
import {
  call,
  ioasAlloc,
  iovaRanges,
  mapAuto,
  mapFixed,
  mockDomain,
  openIommufd,
  setCompat,
  unmap,
} from "../tests/_sim_helpers.ts";

/**
 * A selftest HW queue needs a vIOMMU over a nest-parent hwpt of `ioas` with the mock device
 * (the iommufd_viommu fixture). Returns the HW_QUEUE_ALLOC call for queue 0 on that vIOMMU.
 */
function hwQueueOn(k: SimKernel, fd: number, ioas: number) {
  const m = mockDomain(k, fd, ioas);
  strictEqual(m.ret, 0);
  const h = call(k, fd, R.IOMMU_HWPT_ALLOC, S.iommu_hwpt_alloc, {
    flags: 1,
    dev_id: m.idev,
    pt_id: ioas,
  });
  strictEqual(h.ret, 0);
  const v = call(k, fd, R.IOMMU_VIOMMU_ALLOC, S.iommu_viommu_alloc, {
    type: SELFTEST_TYPE,
    dev_id: m.idev,
    hwpt_id: Number(h.out.out_hwpt_id),
  });
  strictEqual(v.ret, 0);
  return (iova: bigint, length: bigint) =>
    call(k, fd, R.IOMMU_HW_QUEUE_ALLOC, S.iommu_hw_queue_alloc, {
      type: SELFTEST_TYPE,
      viommu_id: Number(v.out.out_viommu_id),
      nesting_parent_iova: iova,
      length,
    });
}

/** IOMMU_VIOMMU_TYPE_SELFTEST and IOMMU_HW_QUEUE_TYPE_SELFTEST. */
const SELFTEST_TYPE = 0xdeadbeef;
/** The mock domain's aperture starts here. */
const MOCK_IOVA = 0x1000000n;

/**
 * IOMMU_IOAS_ALLOW_IOVAS on `ioas`: a function that writes its [start, last] pairs into one
 * user array and answers the ioctl's return.
 */
function allowIovas(k: SimKernel, fd: number, ioas: number) {
  const arr = k.mmap(4096n);
  return (ranges: [bigint, bigint][]) => {
    const b = new Uint8Array(16 * ranges.length);
    const v = new DataView(b.buffer);
    ranges.forEach(([s, l], i) => {
      v.setBigUint64(16 * i, s, true);
      v.setBigUint64(16 * i + 8, l, true);
    });
    k.writeMemory(arr, b);
    return call(k, fd, R.IOMMU_IOAS_ALLOW_IOVAS, S.iommu_ioas_allow_iovas, {
      ioas_id: ioas,
      num_iovas: ranges.length,
      allowed_iovas: arr,
    }).ret;
  };
}

function setup(release?: string) {
  const { k, fd } = openIommufd({ release });
  const ioas = ioasAlloc(k, fd);
  const buf = k.mmap(0x100000n);
  return { k, fd, ioas, buf };
}

Deno.test("IOMMU_DESTROY: ENOENT for 0 and unknown ids; any object type can go", () => {
  const { k, fd, ioas } = setup();
  strictEqual(call(k, fd, R.IOMMU_DESTROY, S.iommu_destroy, { id: 0 }).ret, -E.ENOENT);
  strictEqual(call(k, fd, R.IOMMU_DESTROY, S.iommu_destroy, { id: 99 }).ret, -E.ENOENT);
  strictEqual(call(k, fd, R.IOMMU_DESTROY, S.iommu_destroy, { id: ioas }).ret, 0);
  strictEqual(call(k, fd, R.IOMMU_DESTROY, S.iommu_destroy, { id: ioas }).ret, -E.ENOENT);
});

Deno.test("IOMMU_DESTROY: EBUSY for an IOAS with a hwpt, a bound device and an attached hwpt", () => {
  const { k, fd, ioas } = setup();
  const m = mockDomain(k, fd, ioas);
  for (const id of [ioas, m.idev, m.hwpt]) {
    strictEqual(call(k, fd, R.IOMMU_DESTROY, S.iommu_destroy, { id }).ret, -E.EBUSY, `id ${id}`);
  }
  strictEqual(call(k, fd, R.IOMMU_DESTROY, S.iommu_destroy, { id: m.stdev }).ret, 0);
  strictEqual(call(k, fd, R.IOMMU_DESTROY, S.iommu_destroy, { id: ioas }).ret, 0);
});

Deno.test("IOMMU_DESTROY of the compat IOAS clears the compat pointer", () => {
  const { k, fd, ioas } = setup();
  setCompat(k, fd, ioas);
  strictEqual(call(k, fd, R.IOMMU_DESTROY, S.iommu_destroy, { id: ioas }).ret, 0);
  strictEqual(call(k, fd, R.IOMMU_VFIO_IOAS, S.iommu_vfio_ioas, { op: 0 }).ret, -E.ENODEV);
  strictEqual(ioasAlloc(k, fd), ioas, "the id is reused");
  strictEqual(call(k, fd, R.IOMMU_VFIO_IOAS, S.iommu_vfio_ioas, { op: 0 }).ret, -E.ENODEV);
});

Deno.test("IOMMU_IOAS_ALLOC: flags must be 0 (EOPNOTSUPP); ids are the lowest free", () => {
  const { k, fd } = openIommufd();
  strictEqual(call(k, fd, R.IOMMU_IOAS_ALLOC, S.iommu_ioas_alloc, { flags: 1 }).ret, -E.EOPNOTSUPP);
  deepStrictEqual([ioasAlloc(k, fd), ioasAlloc(k, fd), ioasAlloc(k, fd)], [1, 2, 3]);
  call(k, fd, R.IOMMU_DESTROY, S.iommu_destroy, { id: 2 });
  strictEqual(ioasAlloc(k, fd), 2);
});

Deno.test("IOMMU_IOAS_IOVA_RANGES: reserved EOPNOTSUPP, unknown IOAS ENOENT, fresh [0, U64_MAX]", () => {
  const { k, fd, ioas } = setup();
  const arr = k.mmap(4096n);
  strictEqual(
    call(k, fd, R.IOMMU_IOAS_IOVA_RANGES, S.iommu_ioas_iova_ranges, {
      ioas_id: ioas,
      __reserved: 1,
      num_iovas: 1,
      allowed_iovas: arr,
    }).ret,
    -E.EOPNOTSUPP,
  );
  strictEqual(iovaRanges(k, fd, 77).ret, -E.ENOENT);
  deepStrictEqual(iovaRanges(k, fd, ioas), {
    ret: 0,
    num: 1,
    alignment: 1n,
    ranges: [[0n, U64_MAX]],
  });
});

Deno.test("IOMMU_IOAS_IOVA_RANGES: EMSGSIZE after writing back the needed count", () => {
  const { k, fd, ioas } = setup();
  const r = iovaRanges(k, fd, ioas, 0);
  strictEqual(r.ret, -E.EMSGSIZE);
  strictEqual(r.num, 1);
});

Deno.test("IOMMU_IOAS_IOVA_RANGES: an unwritable array is EFAULT and the struct is not written", () => {
  const { k, fd, ioas } = setup();
  const c = call(k, fd, R.IOMMU_IOAS_IOVA_RANGES, S.iommu_ioas_iova_ranges, {
    ioas_id: ioas,
    num_iovas: 4,
    allowed_iovas: 0n,
  });
  strictEqual(c.ret, -E.EFAULT);
  strictEqual(c.out.num_iovas, 4n);
  strictEqual(c.out.out_iova_alignment, 0n);
});

Deno.test("IOMMU_IOAS_ALLOW_IOVAS: EFAULT, start ≥ last EINVAL, overlap EINVAL, EADDRINUSE", () => {
  const { k, fd, ioas } = setup();
  const put = allowIovas(k, fd, ioas);
  strictEqual(
    call(k, fd, R.IOMMU_IOAS_ALLOW_IOVAS, S.iommu_ioas_allow_iovas, {
      ioas_id: ioas,
      num_iovas: 1,
      allowed_iovas: 0n,
    }).ret,
    -E.EFAULT,
  );
  strictEqual(put([[0x1000n, 0x1000n]]), -E.EINVAL, "one-byte range");
  strictEqual(put([[0x1000n, 0x2fffn], [0x2000n, 0x3fffn]]), -E.EINVAL);
  strictEqual(put([[0x1000n, 0x1fffn], [0x3000n, 0x3fffn]]), 0);
  const t = call(k, fd, R.IOMMU_TEST_CMD, S.iommu_test_cmd, {
    op: 1,
    id: ioas,
    "add_reserved.start": 0x1000n,
    "add_reserved.length": 0x1000n,
  });
  strictEqual(t.ret, -E.EADDRINUSE, "reserving over an allowed range");
  strictEqual(put([]), 0, "num_iovas 0 clears the list");
  strictEqual(
    call(k, fd, R.IOMMU_TEST_CMD, S.iommu_test_cmd, {
      op: 1,
      id: ioas,
      "add_reserved.start": 0x1000n,
      "add_reserved.length": 0x1000n,
    }).ret,
    0,
  );
  strictEqual(put([[0x1000n, 0x1fffn]]), -E.EADDRINUSE);
});

Deno.test("IOMMU_IOAS_ALLOW_IOVAS: a range overlapping one listed earlier but starting above it -> EINVAL", () => {
  const { k, fd, ioas, buf } = setup();
  const put = allowIovas(k, fd, ioas);
  strictEqual(put([[0x8000n, 0x8fffn]]), 0);
  // interval_tree_iter_first finds any overlap, whatever the order the ranges came in.
  strictEqual(put([[0x3000n, 0x3fffn], [0x1000n, 0x3000n]]), -E.EINVAL, "last byte overlaps");
  strictEqual(put([[0x3000n, 0x3fffn], [0x1000n, 0x5fffn]]), -E.EINVAL, "covers it");
  strictEqual(put([[0x5000n, 0x5fffn], [0x3000n, 0x3fffn], [0x1000n, 0x4fffn]]), -E.EINVAL);
  // The old list stays: an automatic IOVA still comes from it (without one it would be 0x1000).
  deepStrictEqual(mapAuto(k, fd, ioas, buf, 0x1000n), { ret: 0, iova: 0x8000n });
  strictEqual(put([[0x3000n, 0x3fffn], [0x1000n, 0x2fffn]]), 0, "adjacent is fine");
});

Deno.test("IOMMU_IOAS_MAP: EOPNOTSUPP, EOVERFLOW, EINVAL without R/W (6.11+), ENOENT — in that order", () => {
  const { k, fd, ioas, buf } = setup();
  strictEqual(mapFixed(k, fd, ioas, buf, 0x1000n, 0x1000n, 8), -E.EOPNOTSUPP);
  strictEqual(
    call(k, fd, R.IOMMU_IOAS_MAP, S.iommu_ioas_map, { flags: 7, ioas_id: ioas, __reserved: 1 })
      .ret,
    -E.EOPNOTSUPP,
  );
  strictEqual(mapFixed(k, fd, 99, buf, 0x1000n, U64_MAX, 1), -E.EOVERFLOW);
  strictEqual(mapFixed(k, fd, 99, buf, U64_MAX, 0x1000n, 1), -E.EOVERFLOW);
  strictEqual(mapFixed(k, fd, 99, buf, 0x1000n, 0x1000n, 1), -E.EINVAL);
  strictEqual(mapFixed(k, fd, 99, buf, 0x1000n, 0x1000n, 7), -E.ENOENT);
});

Deno.test("IOMMU_IOAS_MAP: 6.6 accepts a map without READABLE/WRITEABLE", () => {
  const { k, fd, ioas, buf } = setup("6.6");
  strictEqual(mapFixed(k, fd, ioas, buf, 0x1000n, 0x1000n, 1), 0);
});

Deno.test("IOMMU_IOAS_MAP: fixed EEXIST / size 0 EINVAL; automatic IOVA is written back", () => {
  const { k, fd, ioas, buf } = setup();
  strictEqual(mapFixed(k, fd, ioas, buf, 0x2000n, 0x100000n), 0);
  strictEqual(mapFixed(k, fd, ioas, buf, 0x1000n, 0x101000n), -E.EEXIST);
  strictEqual(mapFixed(k, fd, ioas, buf, 0n, 0x900000n), -E.EINVAL);
  const a = mapAuto(k, fd, ioas, buf, 0x1000n);
  strictEqual(a.ret, 0);
  strictEqual(a.iova !== 0n && a.iova % 0x1000n === 0n, true);
  strictEqual(mapFixed(k, fd, ioas, buf, 0x1000n, a.iova), -E.EEXIST);
});

Deno.test("IOMMU_IOAS_MAP: errors write nothing back", () => {
  const { k, fd, ioas, buf } = setup();
  const b = encode(S.iommu_ioas_map, {
    flags: 7,
    ioas_id: ioas,
    user_va: buf,
    length: 0n,
    iova: 5n,
  });
  strictEqual(k.ioctl(fd, R.IOMMU_IOAS_MAP, b), -E.EINVAL);
  strictEqual(new DataView(b.buffer).getBigUint64(32, true), 5n);
});

Deno.test("IOMMU_IOAS_UNMAP: ENOENT first for an unknown IOAS, then EOVERFLOW, ENOENT for empty", () => {
  const { k, fd, ioas } = setup();
  strictEqual(unmap(k, fd, 99, U64_MAX, 1n).ret, -E.ENOENT);
  strictEqual(unmap(k, fd, ioas, U64_MAX, 1n).ret, -E.EOVERFLOW);
  strictEqual(unmap(k, fd, ioas, 1n, U64_MAX).ret, -E.EOVERFLOW);
  strictEqual(unmap(k, fd, ioas, 0x1000n, 0n).ret, -E.EINVAL);
  for (const rel of ["6.2", "6.12.117", "6.18"]) {
    const s = setup(rel);
    const r = unmap(s.k, s.fd, s.ioas, 0x1000n, 0x1000n);
    strictEqual(r.ret, -E.ENOENT, `native unmap of nothing stays ENOENT on ${rel}`);
    strictEqual(r.length, 0x1000n, "nothing written back");
  }
  deepStrictEqual(unmap(k, fd, ioas, 0n, U64_MAX), { ret: 0, length: 0n });
});

Deno.test("IOMMU_IOAS_UNMAP: whole areas only; the bytes unmapped come back", () => {
  const { k, fd, ioas, buf } = setup();
  strictEqual(mapFixed(k, fd, ioas, buf, 0x2000n, 0x10000n), 0);
  strictEqual(mapFixed(k, fd, ioas, buf, 0x1000n, 0x20000n), 0);
  strictEqual(unmap(k, fd, ioas, 0x10000n, 0x1000n).ret, -E.ENOENT);
  deepStrictEqual(unmap(k, fd, ioas, 0n, 0x100000n), { ret: 0, length: 0x3000n });
});

Deno.test("IOMMU_IOAS_UNMAP (0, U64_MAX): an area locked by an HW queue -> EBUSY, nothing written back; areas below it are gone", () => {
  const { k, fd, ioas, buf } = setup();
  const hwq = hwQueueOn(k, fd, ioas);
  strictEqual(mapFixed(k, fd, ioas, buf, 0x1000n, MOCK_IOVA), 0);
  strictEqual(mapFixed(k, fd, ioas, buf + 0x1000n, 0x1000n, MOCK_IOVA + 0x2000n), 0);
  strictEqual(mapFixed(k, fd, ioas, buf + 0x2000n, 0x1000n, MOCK_IOVA + 0x4000n), 0);
  const q = hwq(MOCK_IOVA + 0x2000n, 0x1000n);
  strictEqual(q.ret, 0);
  // iopt_unmap_all turns only ENOENT into 0; num_locks' EBUSY comes back as is.
  deepStrictEqual(unmap(k, fd, ioas, 0n, U64_MAX), { ret: -E.EBUSY, length: U64_MAX });
  strictEqual(unmap(k, fd, ioas, MOCK_IOVA, 0x1000n).ret, -E.ENOENT, "the area below went");
  strictEqual(
    call(k, fd, R.IOMMU_DESTROY, S.iommu_destroy, { id: Number(q.out.out_hw_queue_id) }).ret,
    0,
  );
  deepStrictEqual(unmap(k, fd, ioas, 0n, U64_MAX), { ret: 0, length: 0x2000n });
});

Deno.test("iommufd_access_pin_pages: an HW queue over two pages with a hole between their areas -> ENOENT", () => {
  const { k, fd, ioas, buf } = setup();
  const hwq = hwQueueOn(k, fd, ioas);
  strictEqual(mapFixed(k, fd, ioas, buf, 0x1000n, MOCK_IOVA), 0);
  strictEqual(mapFixed(k, fd, ioas, buf + 0x2000n, 0x1000n, MOCK_IOVA + 0x2000n), 0);
  strictEqual(hwq(MOCK_IOVA, 0x2000n).ret, -E.ENOENT);
  // Nothing stayed pinned or locked: the first area unmaps.
  deepStrictEqual(unmap(k, fd, ioas, MOCK_IOVA, 0x1000n), { ret: 0, length: 0x1000n });
});

/** IOMMU_IOAS_COPY of one page within `ioas`: `base` and then `v` over the defaults. */
function copyIn(k: SimKernel, fd: number, ioas: number, base: Record<string, bigint | number>) {
  return (v: Record<string, bigint | number>) =>
    call(k, fd, R.IOMMU_IOAS_COPY, S.iommu_ioas_copy, {
      dst_ioas_id: ioas,
      src_ioas_id: ioas,
      length: 0x1000n,
      ...base,
      ...v,
    });
}

Deno.test("IOMMU_IOAS_COPY: EOPNOTSUPP, EOVERFLOW, EINVAL, source ENOENT, destination ENOENT", () => {
  const { k, fd, ioas, buf } = setup();
  strictEqual(mapFixed(k, fd, ioas, buf, 0x4000n, 0x100000n), 0);
  const copy = copyIn(k, fd, ioas, { flags: 7, src_iova: 0x100000n, dst_iova: 0x200000n });
  strictEqual(copy({ flags: 8 }).ret, -E.EOPNOTSUPP);
  strictEqual(copy({ length: U64_MAX }).ret, -E.EOVERFLOW);
  strictEqual(copy({ flags: 1 }).ret, -E.EINVAL);
  strictEqual(copy({ src_ioas_id: 9 }).ret, -E.ENOENT);
  strictEqual(copy({ src_iova: 0x300000n }).ret, -E.ENOENT);
  strictEqual(copy({ dst_ioas_id: 9 }).ret, -E.ENOENT);
  const ok = copy({});
  strictEqual(ok.ret, 0);
  strictEqual(ok.out.dst_iova, 0x200000n);
  strictEqual(copy({}).ret, -E.EEXIST);
});

Deno.test("IOMMU_IOAS_COPY: MOCK_FLAGS_ACCESS_SYZ (selftest kernel) reads src_iova as area index and offset", () => {
  const { k, fd, ioas, buf } = setup();
  strictEqual(mapFixed(k, fd, ioas, buf, 0x4000n, 0x100000n), 0);
  strictEqual(mapFixed(k, fd, ioas, buf, 0x4000n, 0x400000n), 0);
  const copy = copyIn(k, fd, ioas, { flags: 0x10007, dst_iova: 0x700000n });
  // Area 1 (at 0x400000) plus 0x2000: the flag dropped and both written back.
  const ok = copy({ src_iova: (0x2000n << 32n) | 1n });
  strictEqual(ok.ret, 0);
  strictEqual(ok.out.flags, 7n);
  strictEqual(ok.out.src_iova, 0x402000n);
  // Three areas now (the copy made one at 0x700000); no fourth: IOVA 0, which none covers.
  strictEqual(copy({ src_iova: 3n, dst_iova: 0x900000n }).ret, -E.ENOENT);
  // The flag alone is not EOPNOTSUPP; other unknown flags still are, after the conversion.
  strictEqual(copy({ flags: 0x10008 }).ret, -E.EOPNOTSUPP);
  // A bad source IOAS: flag dropped, IOVA kept, then the source lookup fails.
  const bad = copy({ src_ioas_id: 99, src_iova: 0x100000n });
  strictEqual(bad.ret, -E.ENOENT);
  strictEqual(bad.out.flags, 0x10007n, "nothing written back on error");
});
