/** IOMMU_TEST_CMD (selftest.c): ids, errors, and the mock domain's geometry. */

import { deepStrictEqual, strictEqual } from "node:assert";
import { E } from "../uapi/errno.ts";
import * as S from "../uapi/structs.ts";
import * as R from "../uapi/ioctl.ts";
import { call, ioasAlloc, iovaRanges, mockDomain, openIommufd } from "../tests/_sim_helpers.ts";

Deno.test("MOCK_DOMAIN: ids go stdev, idev, hwpt (rig: 2, 3, 4 after IOAS 1)", () => {
  const { k, fd } = openIommufd();
  const ioas = ioasAlloc(k, fd);
  deepStrictEqual(mockDomain(k, fd, ioas), { ret: 0, stdev: 2, hwpt: 4, idev: 3 });
  const r = iovaRanges(k, fd, ioas);
  deepStrictEqual(r.ranges, [[0x1000000n, 0x7fffffffn]]);
  strictEqual(r.alignment, 0x800n);
});

Deno.test("MOCK_DOMAIN: a second mock device reuses the automatic hwpt", () => {
  const { k, fd } = openIommufd();
  const ioas = ioasAlloc(k, fd);
  const a = mockDomain(k, fd, ioas);
  const b = mockDomain(k, fd, ioas);
  deepStrictEqual([b.ret, b.stdev, b.idev, b.hwpt], [0, 5, 6, a.hwpt]);
});

Deno.test("MOCK_DOMAIN: attaching to an existing hwpt id, ENOENT for no object, EINVAL for others", () => {
  const { k, fd } = openIommufd();
  const ioas = ioasAlloc(k, fd);
  strictEqual(mockDomain(k, fd, 9).ret, -E.ENOENT);
  const a = mockDomain(k, fd, ioas);
  const b = mockDomain(k, fd, a.hwpt);
  strictEqual(b.ret, 0);
  strictEqual(b.hwpt, a.hwpt);
  strictEqual(mockDomain(k, fd, a.idev).ret, -E.EINVAL);
  // Failed attempts give their ids back.
  strictEqual(ioasAlloc(k, fd), 7);
});

Deno.test("MOCK_DOMAIN: destroying the stdev detaches; the automatic hwpt goes with it", () => {
  const { k, fd } = openIommufd();
  const ioas = ioasAlloc(k, fd);
  const m = mockDomain(k, fd, ioas);
  strictEqual(call(k, fd, R.IOMMU_DESTROY, S.iommu_destroy, { id: m.stdev }).ret, 0);
  strictEqual(call(k, fd, R.IOMMU_DESTROY, S.iommu_destroy, { id: m.hwpt }).ret, -E.ENOENT);
  strictEqual(call(k, fd, R.IOMMU_DESTROY, S.iommu_destroy, { id: m.idev }).ret, -E.ENOENT);
  deepStrictEqual(iovaRanges(k, fd, ioas).ranges, [[0n, 0xffff_ffff_ffff_ffffn]]);
});

Deno.test("MOCK_DOMAIN_FLAGS: unknown flags EINVAL; HUGE_IOVA adds 1 MiB pages; absent before 6.7", () => {
  const { k, fd } = openIommufd();
  const ioas = ioasAlloc(k, fd);
  strictEqual(mockDomain(k, fd, ioas, 4).ret, -E.EINVAL);
  strictEqual(mockDomain(k, fd, ioas, 2).ret, 0);
  const old = openIommufd({ release: "6.6" });
  strictEqual(mockDomain(old.k, old.fd, ioasAlloc(old.k, old.fd), 2).ret, -E.EOPNOTSUPP);
});

Deno.test("IOMMU_TEST_CMD: unknown ops are EOPNOTSUPP", () => {
  const { k, fd } = openIommufd();
  for (const op of [0, 3, 5, 99]) {
    strictEqual(call(k, fd, R.IOMMU_TEST_CMD, S.iommu_test_cmd, { op }).ret, -E.EOPNOTSUPP);
  }
});

Deno.test("ADD_RESERVED: ENOENT without an IOAS; the range leaves IOVA_RANGES", () => {
  const { k, fd } = openIommufd();
  const add = (id: number) =>
    call(k, fd, R.IOMMU_TEST_CMD, S.iommu_test_cmd, {
      op: 1,
      id,
      "add_reserved.start": 0x1000n,
      "add_reserved.length": 0x1000n,
    }).ret;
  strictEqual(add(1), -E.ENOENT);
  const ioas = ioasAlloc(k, fd);
  strictEqual(add(ioas), 0);
  deepStrictEqual(iovaRanges(k, fd, ioas).ranges, [[0n, 0xfffn], [
    0x2000n,
    0xffff_ffff_ffff_ffffn,
  ]]);
});

Deno.test("SET_TEMP_MEMORY_LIMIT: below one batch element is EINVAL", () => {
  const { k, fd } = openIommufd();
  strictEqual(
    call(k, fd, R.IOMMU_TEST_CMD, S.iommu_test_cmd, { op: 9, "add_reserved.start": 11n }).ret,
    -E.EINVAL,
  );
  strictEqual(
    call(k, fd, R.IOMMU_TEST_CMD, S.iommu_test_cmd, { op: 9, "add_reserved.start": 16n }).ret,
    0,
  );
});
