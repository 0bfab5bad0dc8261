/**
 * More of the kernel's own iommufd selftests (tools/testing/selftests/iommu/iommufd.c as
 * shipped with Linux 6.12), retold against the simulator at the rig's release 6.12.117:
 * iommufd.cmd_length; iommufd_ioas ioas_auto_destroy, get_hw_info and area_allowed in its
 * four variants; iommufd_mock_domain basic and ro_unshare in its four variants; and the
 * iommufd_dirty_tracking cases enforce_dirty, set_dirty_tracking and device_dirty_capability
 * in its nine variants. Each fixture's setup and teardown are retold with the case.
 *
 * Test ops the simulator does not model (MD_CHECK_MAP, MD_CHECK_REFS) are skipped where the
 * selftest only checks state with them; the simulator's own view (`mappings`, `pinnedPages`)
 * is asserted instead where it shows the same thing.
 */

import { deepStrictEqual, strictEqual } from "node:assert";
import { E } from "../uapi/errno.ts";
import { MOCK, PAGE_SIZE } from "../uapi/constants.ts";
import * as S from "../uapi/structs.ts";
import * as R from "../uapi/ioctl.ts";
import type { SimKernel } from "../sim/kernel.ts";
import { call, destroy, ioasAlloc, mapAuto, mockDomain, openIommufd } from "./_sim_helpers.ts";
import {
  IOAS_VARIANTS,
  ioasSetup,
  ioasTeardown,
  RELEASE,
  teardownIommufd,
} from "./_selftest_fixture.ts";

const PS = PAGE_SIZE;
/** The selftest's global `buffer`: 16 pages. */
const BUFFER_SIZE = 16n * PS;
/** HUGEPAGE_SIZE: the selftest reads the THP PMD size, 2 MiB on x86_64. */
const HUGEPAGE_SIZE = 2n * 1024n * 1024n;

/** IOMMU_TEST_OP_ADD_RESERVED. */
const OP_ADD_RESERVED = 1;
/** MOCK_FLAGS_DEVICE_NO_DIRTY, MOCK_FLAGS_DEVICE_HUGE_IOVA (6.12's iommufd_test.h). */
const MOCK_NO_DIRTY = 1;
const MOCK_HUGE_IOVA = 2;
/** IOMMU_HWPT_ALLOC_DIRTY_TRACKING. */
const HWPT_ALLOC_DIRTY_TRACKING = 2;
/** IOMMU_HW_INFO_FLAG_INPUT_TYPE, used by the selftest's helper for a non-default type. */
const HW_INFO_FLAG_INPUT_TYPE = 1;
/** IOMMU_HW_INFO_TYPE_DEFAULT (0) and IOMMU_HW_INFO_TYPE_SELFTEST. */
const HW_INFO_TYPE_DEFAULT = 0;
const HW_INFO_TYPE_SELFTEST = 0xfeedbeef;
/** IOMMU_HW_INFO_SELFTEST_REGVAL and sizeof(struct iommu_test_hw_info) = { flags, test_reg }. */
const HW_INFO_SELFTEST_REGVAL = 0xdeadbeef;
const TEST_HW_INFO_SIZE = 8;
/** IOMMU_HW_CAP_DIRTY_TRACKING. */
const HW_CAP_DIRTY_TRACKING = 1n;
/** IOMMU_IOAS_MAP_WRITEABLE | IOMMU_IOAS_MAP_READABLE, and READABLE alone. */
const MAP_READABLE = 4;
/** IOMMU_READ | IOMMU_WRITE of a mapping row. */
const PROT_READ = 1;
const PROT_RW = 3;

/** IOMMU_HWPT_ALLOC of a paging hwpt with no driver data. */
const hwptAlloc = (k: SimKernel, fd: number, devId: number, ptId: number, flags: number) => {
  const c = call(k, fd, R.IOMMU_HWPT_ALLOC, S.iommu_hwpt_alloc, {
    flags,
    dev_id: devId,
    pt_id: ptId,
  });
  return { ret: c.ret, id: Number(c.out.out_hwpt_id) };
};

/** test_cmd_set_dirty_tracking. */
const setDirtyTracking = (k: SimKernel, fd: number, hwptId: number, enable: boolean) =>
  call(k, fd, R.IOMMU_HWPT_SET_DIRTY_TRACKING, S.iommu_hwpt_set_dirty_tracking, {
    flags: enable ? 1 : 0,
    hwpt_id: hwptId,
  }).ret;

/**
 * `_test_cmd_get_hw_info`: IOMMU_GET_HW_INFO with the input-type flag for any type but the
 * default, and, when it succeeds, the helper's own checks: the mock's data type and length,
 * zeroed bytes past the data, and the mock's register values inside the given length.
 */
function getHwInfo(
  k: SimKernel,
  fd: number,
  devId: number,
  type: number,
  data: bigint,
  dataLen: number,
): { ret: number; caps: bigint; maxPasid: bigint } {
  const c = call(k, fd, R.IOMMU_GET_HW_INFO, S.iommu_hw_info, {
    flags: type === HW_INFO_TYPE_DEFAULT ? 0 : HW_INFO_FLAG_INPUT_TYPE,
    dev_id: devId,
    data_len: dataLen,
    data_uptr: data,
    // in_data_type shares the word of out_data_type.
    out_data_type: type,
  });
  if (c.ret === 0) {
    strictEqual(c.out.out_data_type, BigInt(HW_INFO_TYPE_SELFTEST));
    strictEqual(c.out.data_len, BigInt(TEST_HW_INFO_SIZE));
    if (data !== 0n && dataLen > 0) {
      const got = new Uint8Array(dataLen);
      strictEqual(k.readMemory(data, got), 0);
      const v = new DataView(got.buffer);
      for (let i = TEST_HW_INFO_SIZE; i < dataLen; i++) strictEqual(got[i], 0, `trailing ${i}`);
      if (dataLen >= 8) strictEqual(v.getUint32(4, true), HW_INFO_SELFTEST_REGVAL);
      if (dataLen >= 4) strictEqual(v.getUint32(0, true), 0);
    }
  }
  return { ret: c.ret, caps: c.out.out_capabilities, maxPasid: c.out.out_max_pasid_log2 };
}

/** A user buffer of `len` bytes filled with `fill`, so untouched bytes stand out. */
function userBuffer(k: SimKernel, len: bigint, fill: number): bigint {
  const at = k.mmap(len);
  strictEqual(at > 0n, true);
  strictEqual(k.writeMemory(at, new Uint8Array(Number(len)).fill(fill)), 0);
  return at;
}

// ---- FIXTURE(iommufd) ----

Deno.test("selftest iommufd.cmd_length: short EINVAL, non-zero tail E2BIG, zero tail as exact", () => {
  const { k, fd } = openIommufd({ release: RELEASE });
  // sizeof, and offsetofend of the member the selftest names, in 6.12's uapi header; then
  // what the kernel answers at the exact size with every field but `size` zero, on this fd
  // in this order (the two IOAS_ALLOCs leave objects, so the RLIMIT_MODE set is EBUSY).
  const cases: [string, number, number, number, number][] = [
    ["IOMMU_DESTROY", R.IOMMU_DESTROY, 8, 8, -E.ENOENT],
    ["IOMMU_GET_HW_INFO", R.IOMMU_GET_HW_INFO, 40, 32, -E.ENOENT],
    ["IOMMU_HWPT_ALLOC", R.IOMMU_HWPT_ALLOC, 48, 24, -E.ENOENT],
    ["IOMMU_HWPT_INVALIDATE", R.IOMMU_HWPT_INVALIDATE, 32, 32, -E.ENOENT],
    ["IOMMU_IOAS_ALLOC", R.IOMMU_IOAS_ALLOC, 12, 12, 0],
    ["IOMMU_IOAS_IOVA_RANGES", R.IOMMU_IOAS_IOVA_RANGES, 32, 32, -E.ENOENT],
    ["IOMMU_IOAS_ALLOW_IOVAS", R.IOMMU_IOAS_ALLOW_IOVAS, 24, 24, -E.ENOENT],
    ["IOMMU_IOAS_MAP", R.IOMMU_IOAS_MAP, 40, 40, -E.EINVAL],
    ["IOMMU_IOAS_COPY", R.IOMMU_IOAS_COPY, 40, 40, -E.EINVAL],
    ["IOMMU_IOAS_UNMAP", R.IOMMU_IOAS_UNMAP, 24, 24, -E.ENOENT],
    ["IOMMU_OPTION", R.IOMMU_OPTION, 24, 24, -E.EBUSY],
    ["IOMMU_VFIO_IOAS", R.IOMMU_VFIO_IOAS, 12, 12, -E.ENODEV],
  ];
  for (const [name, request, size, minSize, exact] of cases) {
    // The command followed by one extra byte, 0xff at first.
    const b = new Uint8Array(size + 1);
    const v = new DataView(b.buffer);
    b[size] = 0xff;
    v.setUint32(0, minSize - 1, true);
    strictEqual(k.ioctl(fd, request, b), -E.EINVAL, `${name} below the minimum`);
    v.setUint32(0, size + 1, true);
    strictEqual(k.ioctl(fd, request, b), -E.E2BIG, `${name} non-zero tail`);
    v.setUint32(0, size, true);
    const rc = k.ioctl(fd, request, b);
    strictEqual(rc, exact, `${name} exact size`);
    v.setUint32(0, size + 1, true);
    b[size] = 0;
    strictEqual(k.ioctl(fd, request, b), rc, `${name} zero tail answers as the exact size`);
  }
  teardownIommufd(k, fd);
});

// ---- FIXTURE(iommufd_ioas) ----

for (const variant of IOAS_VARIANTS) {
  const setup = () => ioasSetup(variant);
  const t = (name: string, fn: (s: ReturnType<typeof setup>) => void) =>
    Deno.test(`selftest iommufd_ioas/${variant.name}.${name}`, () => {
      const s = setup();
      fn(s);
      ioasTeardown(s.k, s.fd);
    });

  t("ioas_auto_destroy: closing the fd frees the IOAS and any devices on it", ({ k, fd, ioas }) => {
    // The case body is empty: the fixture's setup and teardown are the test. The IOAS is
    // live until then.
    deepStrictEqual(k.mappings(fd, ioas), []);
  });

  t("get_hw_info: mock hw info in every buffer size; ENOENT without a device", (s) => {
    const { k, fd, idev: device } = s;
    // struct iommu_test_hw_info, and one with a u64 after it; 0xaa marks untouched bytes.
    const exact = userBuffer(k, PS, 0xaa);
    const larger = userBuffer(k, PS, 0xaa);
    if (device) {
      strictEqual(getHwInfo(k, fd, device, HW_INFO_TYPE_DEFAULT, 0n, 0).ret, 0);
      strictEqual(getHwInfo(k, fd, device, HW_INFO_TYPE_DEFAULT, exact, TEST_HW_INFO_SIZE).ret, 0);
      strictEqual(
        getHwInfo(k, fd, device, HW_INFO_TYPE_SELFTEST + 1, exact, TEST_HW_INFO_SIZE).ret,
        -E.EOPNOTSUPP,
      );
      // The selftest expects success for its own type asked with IOMMU_HW_INFO_FLAG_INPUT_TYPE;
      // 6.12's iommufd_get_hw_info (device.c) takes no flags at all and answers EOPNOTSUPP.
      strictEqual(
        getHwInfo(k, fd, device, HW_INFO_TYPE_SELFTEST, exact, TEST_HW_INFO_SIZE).ret,
        -E.EOPNOTSUPP,
      );
      strictEqual(
        getHwInfo(k, fd, device, HW_INFO_TYPE_DEFAULT, larger, TEST_HW_INFO_SIZE + 8).ret,
        0,
      );
      // Only offsetofend(flags) = 4 bytes: those are written, the rest stays as it was.
      strictEqual(k.writeMemory(exact, new Uint8Array(8).fill(0xaa)), 0);
      strictEqual(getHwInfo(k, fd, device, HW_INFO_TYPE_DEFAULT, exact, 4).ret, 0);
      const after = new Uint8Array(8);
      strictEqual(k.readMemory(exact, after), 0);
      deepStrictEqual([...after], [0, 0, 0, 0, 0xaa, 0xaa, 0xaa, 0xaa]);
      const pasid = getHwInfo(k, fd, device, HW_INFO_TYPE_DEFAULT, 0n, 0);
      deepStrictEqual([pasid.ret, pasid.maxPasid], [0, 0n]);
      // The pasid_capable branch (MOCK_PASID_WIDTH from the PASID-capable device) has no
      // device to ask on 6.12: see the fixture setup.
    } else {
      strictEqual(
        getHwInfo(k, fd, device, HW_INFO_TYPE_DEFAULT, exact, TEST_HW_INFO_SIZE).ret,
        -E.ENOENT,
      );
      strictEqual(
        getHwInfo(k, fd, device, HW_INFO_TYPE_DEFAULT, larger, TEST_HW_INFO_SIZE + 8).ret,
        -E.ENOENT,
      );
    }
  });

  t("area_allowed: a reserved range may not meet an allowed one, either way round", (s) => {
    const { k, fd, ioas, base } = s;
    const ranges = k.mmap(PS);
    const setRange = (start: bigint, last: bigint) => {
      const b = new Uint8Array(16);
      new DataView(b.buffer).setBigUint64(0, start, true);
      new DataView(b.buffer).setBigUint64(8, last, true);
      strictEqual(k.writeMemory(ranges, b), 0);
    };
    const allow = (num: number) =>
      call(k, fd, R.IOMMU_IOAS_ALLOW_IOVAS, S.iommu_ioas_allow_iovas, {
        ioas_id: ioas,
        num_iovas: num,
        allowed_iovas: ranges,
      }).ret;
    const reserve = () =>
      call(k, fd, R.IOMMU_TEST_CMD, S.iommu_test_cmd, {
        op: OP_ADD_RESERVED,
        id: ioas,
        "add_reserved.start": base + PS,
        "add_reserved.length": PS,
      }).ret;
    setRange(base, base + PS * 600n);
    strictEqual(allow(1), 0);
    strictEqual(reserve(), -E.EADDRINUSE, "reserved inside an allowed range");
    strictEqual(allow(0), 0);
    strictEqual(reserve(), 0);
    setRange(base, base + PS * 600n);
    strictEqual(allow(1), -E.EADDRINUSE, "allowed range over a reserved one");
  });
}

// ---- FIXTURE(iommufd_mock_domain) ----

const MOCK_DOMAIN_VARIANTS = [
  { name: "one_domain", domains: 1, hugepages: false },
  { name: "two_domains", domains: 2, hugepages: false },
  { name: "one_domain_hugepage", domains: 1, hugepages: true },
  { name: "two_domains_hugepage", domains: 2, hugepages: true },
];

for (const variant of MOCK_DOMAIN_VARIANTS) {
  const setup = () => {
    const { k, fd } = openIommufd({ release: RELEASE });
    const ioas = ioasAlloc(k, fd);
    const devs = Array.from({ length: variant.domains }, () => mockDomain(k, fd, ioas));
    for (const d of devs) strictEqual(d.ret, 0);
    // The hugepage variants mmap MAP_HUGETLB | MAP_POPULATE; the simulator has plain
    // anonymous memory only, of the same size.
    const mmapBufSize = variant.hugepages ? HUGEPAGE_SIZE * 2n : PS * 8n;
    return { k, fd, ioas, devs, mmapBufSize };
  };
  const t = (name: string, fn: (s: ReturnType<typeof setup>) => void) =>
    Deno.test(`selftest iommufd_mock_domain/${variant.name}.${name}`, () => {
      const s = setup();
      fn(s);
      teardownIommufd(s.k, s.fd);
    });

  t("basic: a one page map, then EFAULT for a hole at the end and at the start", (s) => {
    const { k, fd, ioas, mmapBufSize } = s;
    const buffer = userBuffer(k, BUFFER_SIZE, 0);
    const m = mapAuto(k, fd, ioas, buffer, PS);
    strictEqual(m.ret, 0);
    // check_mock_iova (MD_CHECK_MAP on each hwpt) is not modelled: the IOAS holds the area,
    // inside the mock aperture, with its pages pinned for the domains.
    const area = { iova: m.iova, last: m.iova + PS - 1n, vaddr: buffer, prot: PROT_RW };
    deepStrictEqual(k.mappings(fd, ioas), [{ ...area, pinned: true }]);
    strictEqual(m.iova >= MOCK.APERTURE_START && area.last <= MOCK.APERTURE_LAST, true);

    const buf = userBuffer(k, mmapBufSize, 0);
    const half = mmapBufSize / 2n;
    strictEqual(k.munmap(buf + half, half), 0);
    strictEqual(mapAuto(k, fd, ioas, buf, mmapBufSize).ret, -E.EFAULT);
    strictEqual(k.munmap(buf, half), 0);
    strictEqual(mapAuto(k, fd, ioas, buf, mmapBufSize).ret, -E.EFAULT);
    // Neither failure left an area or a pin behind.
    deepStrictEqual(k.mappings(fd, ioas), [{ ...area, pinned: true }]);
    strictEqual(k.pinnedPages(), 1n);
  });

  t("ro_unshare: a read-only map of a private page, then a CPU write to it", (s) => {
    const { k, fd, ioas } = s;
    // The selftest maps a page of /proc/self/exe MAP_PRIVATE; the simulator has no such
    // file, so a private anonymous page holding bytes of its own stands in for it.
    const buf = userBuffer(k, PS, 0x7f);
    const c = call(k, fd, R.IOMMU_IOAS_MAP, S.iommu_ioas_map, {
      flags: MAP_READABLE,
      ioas_id: ioas,
      user_va: buf,
      length: PS,
    });
    strictEqual(c.ret, 0);
    const iova = c.out.iova;
    // check_mock_iova (MD_CHECK_MAP) is not modelled: the area is read-only and pinned.
    const row = { iova, last: iova + PS - 1n, vaddr: buf, prot: PROT_READ, pinned: true };
    deepStrictEqual(k.mappings(fd, ioas), [row]);
    strictEqual(k.writeMemory(buf, new Uint8Array(Number(PS)).fill(1)), 0);
    // The second check_mock_iova (same content after the write) is not modelled either.
    deepStrictEqual(k.mappings(fd, ioas), [row]);
    strictEqual(k.munmap(buf, PS), 0);
  });
}

// ---- FIXTURE(iommufd_dirty_tracking) ----

const KiB = 1024n;
const MiB = 1024n * KiB;
const DIRTY_VARIANTS = [
  { name: "domain_dirty8k", bufferSize: 8n * KiB, hugepages: false },
  { name: "domain_dirty16k", bufferSize: 16n * KiB, hugepages: false },
  { name: "domain_dirty64k", bufferSize: 64n * KiB, hugepages: false },
  { name: "domain_dirty128k", bufferSize: 128n * KiB, hugepages: false },
  { name: "domain_dirty320k", bufferSize: 320n * KiB, hugepages: false },
  { name: "domain_dirty64M", bufferSize: 64n * MiB, hugepages: false },
  { name: "domain_dirty64M_huge", bufferSize: 64n * MiB, hugepages: true },
  { name: "domain_dirty128M", bufferSize: 128n * MiB, hugepages: false },
  { name: "domain_dirty128M_huge", bufferSize: 128n * MiB, hugepages: true },
];

for (const variant of DIRTY_VARIANTS) {
  const setup = () => {
    // No variant is smaller than MOCK_PAGE_SIZE, so none is skipped.
    strictEqual(variant.bufferSize >= MOCK.IO_PAGE_SIZE, true);
    const { k, fd } = openIommufd({ release: RELEASE });
    // The buffer (MAP_HUGETLB for the huge variants, at least a huge page: plain anonymous
    // memory here) and the bitmap are used only by the get_dirty_bitmap cases.
    const mmapSize = variant.hugepages && variant.bufferSize < HUGEPAGE_SIZE
      ? HUGEPAGE_SIZE
      : variant.bufferSize;
    const buffer = k.mmap(mmapSize);
    strictEqual(buffer > 0n, true);
    const bitmapBytes = (variant.bufferSize / MOCK.IO_PAGE_SIZE + 7n) / 8n;
    strictEqual(k.mmap(bitmapBytes + PS) > 0n, true);
    const ioas = ioasAlloc(k, fd);
    const m = variant.hugepages ? mockDomain(k, fd, ioas, MOCK_HUGE_IOVA) : mockDomain(k, fd, ioas);
    strictEqual(m.ret, 0);
    return { k, fd, ioas, stdev: m.stdev, hwpt: m.hwpt, idev: m.idev };
  };
  const t = (name: string, fn: (s: ReturnType<typeof setup>) => void) =>
    Deno.test(`selftest iommufd_dirty_tracking/${variant.name}.${name}`, () => {
      const s = setup();
      fn(s);
      teardownIommufd(s.k, s.fd);
    });

  t("enforce_dirty: no-dirty devices cannot join a dirty hwpt nor make one", (s) => {
    const { k, fd, ioas, idev } = s;
    const hwpt = hwptAlloc(k, fd, idev, ioas, HWPT_ALLOC_DIRTY_TRACKING);
    strictEqual(hwpt.ret, 0);
    const dev = mockDomain(k, fd, hwpt.id);
    strictEqual(dev.ret, 0);
    strictEqual(mockDomain(k, fd, hwpt.id, MOCK_NO_DIRTY).ret, -E.EINVAL);
    strictEqual(destroy(k, fd, dev.stdev), 0);
    strictEqual(destroy(k, fd, hwpt.id), 0);

    const ioas2 = ioasAlloc(k, fd);
    const noDirty = mockDomain(k, fd, ioas2, MOCK_NO_DIRTY);
    strictEqual(noDirty.ret, 0);
    strictEqual(
      hwptAlloc(k, fd, noDirty.idev, ioas2, HWPT_ALLOC_DIRTY_TRACKING).ret,
      -E.EOPNOTSUPP,
    );
    strictEqual(destroy(k, fd, noDirty.stdev), 0);
  });

  t("set_dirty_tracking: on and off for a dirty-capable hwpt with a device", (s) => {
    const { k, fd, ioas, idev } = s;
    const hwpt = hwptAlloc(k, fd, idev, ioas, HWPT_ALLOC_DIRTY_TRACKING);
    strictEqual(hwpt.ret, 0);
    const dev = mockDomain(k, fd, hwpt.id);
    strictEqual(dev.ret, 0);
    strictEqual(setDirtyTracking(k, fd, hwpt.id, true), 0);
    strictEqual(setDirtyTracking(k, fd, hwpt.id, false), 0);
    strictEqual(destroy(k, fd, dev.stdev), 0);
    strictEqual(destroy(k, fd, hwpt.id), 0);
  });

  t("device_dirty_capability: GET_HW_INFO reports IOMMU_HW_CAP_DIRTY_TRACKING", (s) => {
    const { k, fd, ioas, idev } = s;
    const hwpt = hwptAlloc(k, fd, idev, ioas, 0);
    strictEqual(hwpt.ret, 0);
    const dev = mockDomain(k, fd, hwpt.id);
    strictEqual(dev.ret, 0);
    const info = getHwInfo(k, fd, idev, HW_INFO_TYPE_DEFAULT, 0n, 0);
    strictEqual(info.ret, 0);
    strictEqual(info.caps & HW_CAP_DIRTY_TRACKING, HW_CAP_DIRTY_TRACKING);
    strictEqual(destroy(k, fd, dev.stdev), 0);
    strictEqual(destroy(k, fd, hwpt.id), 0);
  });
}
