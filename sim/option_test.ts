/** IOMMU_OPTION (ioas.c iommufd_option): RLIMIT_MODE and HUGE_PAGES. */

import { strictEqual } from "node:assert";
import { E } from "../uapi/errno.ts";
import * as S from "../uapi/structs.ts";
import * as R from "../uapi/ioctl.ts";
import type { SimKernel } from "./kernel.ts";
import { call, ioasAlloc, mapFixed, mockDomain, openIommufd } from "../tests/_sim_helpers.ts";

const opt = (k: SimKernel, fd: number, v: Record<string, bigint | number>) =>
  call(k, fd, R.IOMMU_OPTION, S.iommu_option, v);

Deno.test("IOMMU_OPTION: __reserved and unknown option ids are EOPNOTSUPP", () => {
  const { k, fd } = openIommufd();
  strictEqual(opt(k, fd, { __reserved: 1, op: 1 }).ret, -E.EOPNOTSUPP);
  strictEqual(opt(k, fd, { option_id: 2, op: 1 }).ret, -E.EOPNOTSUPP);
});

Deno.test("RLIMIT_MODE: object_id must be 0; GET is 0 on /dev/iommu and 1 on /dev/vfio/vfio", () => {
  const { k, fd } = openIommufd();
  strictEqual(opt(k, fd, { option_id: 0, op: 1, object_id: 1 }).ret, -E.EOPNOTSUPP);
  const g = opt(k, fd, { option_id: 0, op: 1, val64: 7n });
  strictEqual(g.ret, 0);
  strictEqual(g.out.val64, 0n);
  const vfd = k.open("/dev/vfio/vfio");
  strictEqual(opt(k, vfd, { option_id: 0, op: 1 }).out.val64, 1n);
  strictEqual(opt(k, fd, { option_id: 0, op: 2 }).ret, -E.EOPNOTSUPP);
});

Deno.test("RLIMIT_MODE: SET needs CAP_SYS_RESOURCE (EPERM), an empty table (EBUSY), 0 or 1", () => {
  const { k, fd } = openIommufd();
  strictEqual(opt(k, fd, { option_id: 0, op: 0, val64: 1n }).ret, 0);
  strictEqual(opt(k, fd, { option_id: 0, op: 1 }).out.val64, 1n);
  strictEqual(opt(k, fd, { option_id: 0, op: 0, val64: 2n }).ret, -E.EINVAL);
  k.setPrivileged(false);
  strictEqual(opt(k, fd, { option_id: 0, op: 0, val64: 0n }).ret, -E.EPERM);
  k.setPrivileged(true);
  ioasAlloc(k, fd);
  strictEqual(opt(k, fd, { option_id: 0, op: 0, val64: 0n }).ret, -E.EBUSY);
});

Deno.test("HUGE_PAGES: ENOENT without an IOAS; GET/SET; other values EINVAL; only val64 written", () => {
  const { k, fd } = openIommufd();
  strictEqual(opt(k, fd, { option_id: 1, op: 1, object_id: 1 }).ret, -E.ENOENT);
  strictEqual(opt(k, fd, { option_id: 1, op: 0, object_id: 1 }).ret, -E.ENOENT);
  const id = ioasAlloc(k, fd);
  const g = opt(k, fd, { option_id: 1, op: 1, object_id: id, val64: 3n });
  strictEqual(g.out.val64, 1n);
  strictEqual(opt(k, fd, { option_id: 1, op: 0, object_id: id, val64: 0n }).ret, 0);
  strictEqual(opt(k, fd, { option_id: 1, op: 1, object_id: id, val64: 3n }).out.val64, 0n);
  strictEqual(opt(k, fd, { option_id: 1, op: 0, object_id: id, val64: 2n }).ret, -E.EINVAL);
  strictEqual(opt(k, fd, { option_id: 1, op: 0, object_id: id, val64: 1n }).ret, 0);
  strictEqual(opt(k, fd, { option_id: 1, op: 5, object_id: id }).ret, -E.EOPNOTSUPP);
});

Deno.test("HUGE_PAGES=0 with a domain and an area is EINVAL; over a misaligned area EADDRINUSE", () => {
  const { k, fd } = openIommufd();
  const buf = k.mmap(0x10000n);
  const a = ioasAlloc(k, fd);
  mockDomain(k, fd, a);
  strictEqual(mapFixed(k, fd, a, buf, 0x1000n, 0x1000000n), 0);
  strictEqual(opt(k, fd, { option_id: 1, op: 0, object_id: a, val64: 0n }).ret, -E.EINVAL);
  const b = ioasAlloc(k, fd);
  strictEqual(mapFixed(k, fd, b, buf + 0x800n, 0x1000n, 0x1000000n), 0);
  strictEqual(opt(k, fd, { option_id: 1, op: 0, object_id: b, val64: 0n }).ret, -E.EADDRINUSE);
});
