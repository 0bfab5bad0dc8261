/**
 * The parts of the kernel's iommufd selftest (tools/testing/selftests/iommu/iommufd.c, Linux
 * 6.12) that the retold cases share: the release they run at, FIXTURE(iommufd_ioas) with its
 * four variants, its setup and teardown, and the common teardown_iommufd.
 *
 * @module
 */

import { deepStrictEqual, notStrictEqual, strictEqual } from "node:assert";
import { E } from "../uapi/errno.ts";
import { MOCK } from "../uapi/constants.ts";
import * as S from "../uapi/structs.ts";
import * as R from "../uapi/ioctl.ts";
import type { SimKernel } from "../sim/kernel.ts";
import { call, ioasAlloc, mockDomain, openIommufd } from "./_sim_helpers.ts";

/** The rig's kernel, whose selftest source these cases come from. */
export const RELEASE = "6.12.117";

/** IOMMU_TEST_OP_SET_TEMP_MEMORY_LIMIT, and the default the fixtures restore. */
const OP_SET_TEMP_MEMORY_LIMIT = 9;
export const DEFAULT_MEMORY_LIMIT = 65536;

/**
 * MOCK_FLAGS_DEVICE_PASID as later kernels define it (1 << 2). The 6.12.117 fixture asks for
 * it, yet 6.12's iommufd_test.h knows only NO_DIRTY (1) and HUGE_IOVA (2).
 */
export const MOCK_FLAGS_DEVICE_PASID = 4;

/** test_ioctl_set_temp_memory_limit. */
export function setTempMemoryLimit(k: SimKernel, fd: number, limit: number): number {
  return call(k, fd, R.IOMMU_TEST_CMD, S.iommu_test_cmd, {
    op: OP_SET_TEMP_MEMORY_LIMIT,
    // memory_limit.limit is the u32 at the start of the command's union.
    "add_reserved.start": BigInt(limit),
  }).ret;
}

/** A FIXTURE_VARIANT of iommufd_ioas. */
export interface IoasVariant {
  name: string;
  mockDomains: number;
  memoryLimit: number;
  pasidCapable: boolean;
}

/** FIXTURE_VARIANT_ADD(iommufd_ioas, …), in the selftest's order. */
export const IOAS_VARIANTS: readonly IoasVariant[] = [
  { name: "no_domain", mockDomains: 0, memoryLimit: 0, pasidCapable: false },
  { name: "mock_domain", mockDomains: 1, memoryLimit: 0, pasidCapable: true },
  { name: "two_mock_domain", mockDomains: 2, memoryLimit: 0, pasidCapable: false },
  { name: "mock_domain_limit", mockDomains: 1, memoryLimit: 16, pasidCapable: false },
];

/**
 * FIXTURE_SETUP(iommufd_ioas) for `v`: ids are 0 where the variant makes no device, and
 * `base` is where the IOVA space starts (the mock aperture with a device).
 */
export function ioasSetup(v: IoasVariant) {
  const { k, fd } = openIommufd({ release: RELEASE });
  const ioas = ioasAlloc(k, fd);
  notStrictEqual(ioas, 0);
  strictEqual(setTempMemoryLimit(k, fd, v.memoryLimit || DEFAULT_MEMORY_LIMIT), 0);
  let stdev = 0, hwpt = 0, idev = 0, base = 0n;
  for (let i = 0; i < v.mockDomains; i++) {
    const m = mockDomain(k, fd, ioas);
    strictEqual(m.ret, 0);
    ({ stdev, hwpt, idev } = m);
    base = MOCK.APERTURE_START;
  }
  if (v.pasidCapable) {
    // The fixture's extra PASID-capable mock device: 6.12's mock_dev_create accepts only the
    // NO_DIRTY and HUGE_IOVA flags and answers EINVAL, so on this kernel the fixture goes on
    // without it (no case retold here uses it).
    strictEqual(mockDomain(k, fd, ioas, MOCK_FLAGS_DEVICE_PASID).ret, -E.EINVAL);
  }
  return { k, fd, ioas, stdev, hwpt, idev, base };
}

/**
 * teardown_iommufd: close the fd, open a new one and (MD_CHECK_REFS, not modelled) check that
 * the buffer's pages hold no extra references; here: nothing is left pinned anywhere.
 */
export function teardownIommufd(k: SimKernel, fd: number): void {
  // An EFAULT in the case must have been the modelled one, not a simulator exception.
  deepStrictEqual(k.internalErrors, []);
  strictEqual(k.close(fd), 0);
  const again = k.open("/dev/iommu");
  strictEqual(again >= 0, true);
  strictEqual(k.pinnedPages(), 0n);
  strictEqual(k.close(again), 0);
}

/** FIXTURE_TEARDOWN(iommufd_ioas): restore the memory limit, then teardown_iommufd. */
export function ioasTeardown(k: SimKernel, fd: number): void {
  strictEqual(setTempMemoryLimit(k, fd, DEFAULT_MEMORY_LIMIT), 0);
  teardownIommufd(k, fd);
}
