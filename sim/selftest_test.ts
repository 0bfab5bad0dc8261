/** IOMMU_TEST_CMD (selftest.c): ids, errors, and the mock domain's geometry. */

import { deepStrictEqual, strictEqual } from "node:assert";
import { E } from "../uapi/errno.ts";
import * as S from "../uapi/structs.ts";
import * as R from "../uapi/ioctl.ts";
import {
  call,
  destroy,
  ioasAlloc,
  iovaRanges,
  mockDomain,
  openIommufd,
} from "../tests/_sim_helpers.ts";
import type { StructValues } from "../uapi/codec.ts";
import type { SimKernel } from "./kernel.ts";

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
  strictEqual(mockDomain(k, fd, ioas, 8).ret, -E.EINVAL);
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

// ---- MOCK_DOMAIN_REPLACE (iommufd_test_mock_domain_replace → iommufd_device_replace) ----

const replace = (k: SimKernel, fd: number, stdev: number, pt: number) => {
  const c = call(k, fd, R.IOMMU_TEST_CMD, S.iommu_test_cmd, {
    op: 10,
    id: stdev,
    "mock_domain_replace.pt_id": pt,
  });
  return { ret: c.ret, pt: Number(c.out["mock_domain_replace.pt_id"]) };
};
const hwptAlloc = (k: SimKernel, fd: number, v: StructValues) =>
  call(k, fd, R.IOMMU_HWPT_ALLOC, S.iommu_hwpt_alloc, v);
/** A nested hwpt of the mock (IOMMU_HWPT_DATA_SELFTEST, iotlb 0) over `pt` (parent or vIOMMU). */
const nestedAlloc = (k: SimKernel, fd: number, idev: number, pt: number) => {
  const buf = k.mmap(4096n);
  return hwptAlloc(k, fd, {
    dev_id: idev,
    pt_id: pt,
    data_type: 0xdead,
    data_len: 4,
    data_uptr: buf,
  });
};

/** IOAS 1 with a mock device (stdev 2, idev 3, automatic hwpt 4). */
function mock(release?: string) {
  const { k, fd } = openIommufd(release ? { release } : {});
  const ioas = ioasAlloc(k, fd);
  const m = mockDomain(k, fd, ioas);
  strictEqual(m.ret, 0);
  return { k, fd, ioas, ...m };
}

Deno.test("MOCK_DOMAIN_REPLACE: absent before iommufd_device_replace (6.2: EOPNOTSUPP)", () => {
  const f = mock("6.2");
  strictEqual(replace(f.k, f.fd, f.stdev, f.ioas).ret, -E.EOPNOTSUPP);
  const g = mock("6.6");
  deepStrictEqual(replace(g.k, g.fd, g.stdev, g.ioas), { ret: 0, pt: g.hwpt });
});

Deno.test("MOCK_DOMAIN_REPLACE: id not a selftest object -> ENOENT (iommufd_get_object by type)", () => {
  const f = mock();
  strictEqual(replace(f.k, f.fd, 99, f.ioas).ret, -E.ENOENT);
  strictEqual(replace(f.k, f.fd, f.ioas, f.ioas).ret, -E.ENOENT);
  strictEqual(
    replace(f.k, f.fd, f.idev, f.ioas).ret,
    -E.ENOENT,
    "the device object is not the stdev",
  );
});

Deno.test("MOCK_DOMAIN_REPLACE: pt_id of nothing -> ENOENT, of a device or selftest object -> EINVAL (change_pt)", () => {
  const f = mock();
  strictEqual(replace(f.k, f.fd, f.stdev, 99).ret, -E.ENOENT);
  strictEqual(replace(f.k, f.fd, f.stdev, f.idev).ret, -E.EINVAL);
  strictEqual(replace(f.k, f.fd, f.stdev, f.stdev).ret, -E.EINVAL);
  strictEqual(destroy(f.k, f.fd, f.hwpt), -E.EBUSY, "still attached to its automatic hwpt");
});

Deno.test("MOCK_DOMAIN_REPLACE: onto the hwpt already attached (or its IOAS) is a no-op giving its id", () => {
  const f = mock();
  deepStrictEqual(replace(f.k, f.fd, f.stdev, f.hwpt), { ret: 0, pt: f.hwpt });
  deepStrictEqual(replace(f.k, f.fd, f.stdev, f.ioas), { ret: 0, pt: f.hwpt });
  strictEqual(destroy(f.k, f.fd, f.hwpt), -E.EBUSY);
});

Deno.test("MOCK_DOMAIN_REPLACE: a new IOAS gets an automatic hwpt; the old one goes with its last device", () => {
  const f = mock();
  const ioas2 = ioasAlloc(f.k, f.fd);
  deepStrictEqual(replace(f.k, f.fd, f.stdev, ioas2), { ret: 0, pt: 6 });
  strictEqual(destroy(f.k, f.fd, f.hwpt), -E.ENOENT, "the old automatic hwpt is gone");
  deepStrictEqual(iovaRanges(f.k, f.fd, f.ioas).ranges, [[0n, 0xffff_ffff_ffff_ffffn]]);
  deepStrictEqual(iovaRanges(f.k, f.fd, ioas2).ranges, [[0x1000000n, 0x7fffffffn]]);
  strictEqual(replace(f.k, f.fd, f.stdev, f.hwpt).ret, -E.ENOENT);
  strictEqual(destroy(f.k, f.fd, f.ioas), 0, "no hwpt holds the old IOAS any more");
  strictEqual(destroy(f.k, f.fd, ioas2), -E.EBUSY);
  strictEqual(destroy(f.k, f.fd, f.stdev), 0);
  strictEqual(destroy(f.k, f.fd, 6), -E.ENOENT, "the new automatic hwpt went with the device");
  strictEqual(destroy(f.k, f.fd, ioas2), 0);
});

Deno.test("MOCK_DOMAIN_REPLACE: an automatic hwpt shared by two devices stays for the other", () => {
  const f = mock();
  const b = mockDomain(f.k, f.fd, f.ioas);
  strictEqual(b.hwpt, f.hwpt);
  const ioas2 = ioasAlloc(f.k, f.fd);
  deepStrictEqual(replace(f.k, f.fd, f.stdev, ioas2), { ret: 0, pt: 8 });
  strictEqual(destroy(f.k, f.fd, f.hwpt), -E.EBUSY, "the second device still holds it");
  deepStrictEqual(
    replace(f.k, f.fd, b.stdev, ioas2),
    { ret: 0, pt: 8 },
    "reuses the automatic hwpt",
  );
  strictEqual(destroy(f.k, f.fd, f.hwpt), -E.ENOENT);
});

Deno.test("MOCK_DOMAIN_REPLACE: a paging hwpt is held while attached (DESTROY EBUSY), explicit ones outlive it", () => {
  const f = mock();
  const h = Number(hwptAlloc(f.k, f.fd, { dev_id: f.idev, pt_id: f.ioas }).out.out_hwpt_id);
  deepStrictEqual(replace(f.k, f.fd, f.stdev, h), { ret: 0, pt: h });
  strictEqual(destroy(f.k, f.fd, f.hwpt), -E.ENOENT, "the automatic hwpt lost its last device");
  strictEqual(destroy(f.k, f.fd, h), -E.EBUSY);
  const back = replace(f.k, f.fd, f.stdev, f.ioas);
  strictEqual(back.ret, 0);
  strictEqual(back.pt === h, false, "a fresh automatic hwpt, never the explicit one");
  strictEqual(destroy(f.k, f.fd, h), 0);
});

Deno.test("MOCK_DOMAIN_REPLACE: mock_domain_nop_attach refuses dirty ops on a NO_DIRTY device -> EINVAL, unchanged", () => {
  const f = mock();
  const dirty = Number(
    hwptAlloc(f.k, f.fd, { dev_id: f.idev, pt_id: f.ioas, flags: 2 }).out.out_hwpt_id,
  );
  strictEqual(mockDomain(f.k, f.fd, dirty, 1).ret, -E.EINVAL, "MOCK_DOMAIN_FLAGS onto it");
  const nd = mockDomain(f.k, f.fd, f.ioas, 1);
  strictEqual(nd.ret, 0);
  strictEqual(replace(f.k, f.fd, nd.stdev, dirty).ret, -E.EINVAL);
  strictEqual(destroy(f.k, f.fd, dirty), 0, "nothing attached to it");
  strictEqual(destroy(f.k, f.fd, f.hwpt), -E.EBUSY, "both devices still on the automatic hwpt");
});

// ---- a mock device on a nested hwpt ----

Deno.test("MOCK_DOMAIN on a nested hwpt: attaches (no IOAS change); nested and parent held; destroy releases", () => {
  const f = mock();
  const parent = Number(
    hwptAlloc(f.k, f.fd, { dev_id: f.idev, pt_id: f.ioas, flags: 1 }).out.out_hwpt_id,
  );
  const n = nestedAlloc(f.k, f.fd, f.idev, parent);
  strictEqual(n.ret, 0);
  const nested = Number(n.out.out_hwpt_id);
  const m = mockDomain(f.k, f.fd, nested);
  deepStrictEqual([m.ret, m.hwpt], [0, nested]);
  strictEqual(destroy(f.k, f.fd, nested), -E.EBUSY, "a device is attached");
  strictEqual(destroy(f.k, f.fd, parent), -E.EBUSY, "the nested hwpt holds its parent");
  strictEqual(destroy(f.k, f.fd, m.stdev), 0);
  strictEqual(destroy(f.k, f.fd, nested), 0);
  strictEqual(destroy(f.k, f.fd, parent), 0);
});

Deno.test("mock nested hwpt data longer than struct iommu_hwpt_selftest -> EINVAL before it is read (iommu_copy_struct_from_user)", () => {
  for (const release of ["6.12", "6.18"]) {
    const f = mock(release);
    const parent = Number(
      hwptAlloc(f.k, f.fd, { dev_id: f.idev, pt_id: f.ioas, flags: 1 }).out.out_hwpt_id,
    );
    const buf = f.k.mmap(4096n);
    const nested = (data_len: number, data_uptr = buf) =>
      hwptAlloc(f.k, f.fd, {
        dev_id: f.idev,
        pt_id: parent,
        data_type: 0xdead,
        data_len,
        data_uptr,
      })
        .ret;
    // A zero tail would pass copy_struct_from_user; the length check comes first.
    strictEqual(nested(8), -E.EINVAL, `${release}: 8 bytes, zero tail`);
    strictEqual(nested(8, 0x10n), -E.EINVAL, `${release}: before any read (no EFAULT)`);
    strictEqual(nested(3), -E.EINVAL, `${release}: below offsetofend(iotlb)`);
    strictEqual(nested(4), 0, `${release}: exactly the struct`);
  }
});

Deno.test("mock nested hwpt invalidate: entry_len sizeof + 1 -> EINVAL, no entry done (the selftest's structure size sanity)", () => {
  const f = mock();
  const parent = Number(
    hwptAlloc(f.k, f.fd, { dev_id: f.idev, pt_id: f.ioas, flags: 1 }).out.out_hwpt_id,
  );
  const nested = Number(nestedAlloc(f.k, f.fd, f.idev, parent).out.out_hwpt_id);
  const entries = f.k.mmap(4096n);
  const inv = (entry_len: number) =>
    call(f.k, f.fd, R.IOMMU_HWPT_INVALIDATE, S.iommu_hwpt_invalidate, {
      hwpt_id: nested,
      data_uptr: entries,
      data_type: 0xdeadbeef,
      entry_len,
      entry_num: 1,
    });
  const long = inv(9);
  deepStrictEqual([long.ret, long.out.entry_num], [-E.EINVAL, 0n]);
  const short = inv(7);
  deepStrictEqual([short.ret, short.out.entry_num], [-E.EINVAL, 0n]);
  const exact = inv(8);
  deepStrictEqual([exact.ret, exact.out.entry_num], [0, 1n]);
});

Deno.test("MOCK_DOMAIN_REPLACE: paging -> nested -> nested -> parent -> IOAS (iommufd_ioas.nested_hwpt_alloc)", () => {
  const f = mock();
  const parent = Number(
    hwptAlloc(f.k, f.fd, { dev_id: f.idev, pt_id: f.ioas, flags: 1 }).out.out_hwpt_id,
  );
  const n0 = Number(nestedAlloc(f.k, f.fd, f.idev, parent).out.out_hwpt_id);
  const n1 = Number(nestedAlloc(f.k, f.fd, f.idev, parent).out.out_hwpt_id);
  deepStrictEqual(replace(f.k, f.fd, f.stdev, n0), { ret: 0, pt: n0 });
  strictEqual(destroy(f.k, f.fd, f.hwpt), -E.ENOENT, "the automatic hwpt went with its device");
  strictEqual(destroy(f.k, f.fd, n0), -E.EBUSY);
  deepStrictEqual(replace(f.k, f.fd, f.stdev, n1), { ret: 0, pt: n1 });
  strictEqual(destroy(f.k, f.fd, n1), -E.EBUSY);
  strictEqual(destroy(f.k, f.fd, n0), 0);
  deepStrictEqual(replace(f.k, f.fd, f.stdev, parent), { ret: 0, pt: parent });
  strictEqual(destroy(f.k, f.fd, n1), 0);
  strictEqual(destroy(f.k, f.fd, parent), -E.EBUSY, "the device is on it");
  const back = replace(f.k, f.fd, f.stdev, f.ioas);
  strictEqual(back.ret, 0);
  strictEqual(destroy(f.k, f.fd, parent), 0);
  strictEqual(destroy(f.k, f.fd, back.pt), -E.EBUSY);
});

Deno.test("attach to a vIOMMU's nested hwpt needs a vDEVICE there from 6.15 (iommufd_viommu_get_vdev_id: ENOENT)", () => {
  const f = mock("6.18");
  const parent = Number(
    hwptAlloc(f.k, f.fd, { dev_id: f.idev, pt_id: f.ioas, flags: 1 }).out.out_hwpt_id,
  );
  const v = call(f.k, f.fd, R.IOMMU_VIOMMU_ALLOC, S.iommu_viommu_alloc, {
    type: 0xdeadbeef,
    dev_id: f.idev,
    hwpt_id: parent,
  });
  strictEqual(v.ret, 0);
  const viommu = Number(v.out.out_viommu_id);
  const nested = Number(nestedAlloc(f.k, f.fd, f.idev, viommu).out.out_hwpt_id);
  strictEqual(mockDomain(f.k, f.fd, nested).ret, -E.ENOENT, "a new mock device has no vDEVICE");
  strictEqual(replace(f.k, f.fd, f.stdev, nested).ret, -E.ENOENT);
  strictEqual(destroy(f.k, f.fd, f.hwpt), -E.EBUSY, "still on its automatic hwpt");
  const vd = call(f.k, f.fd, R.IOMMU_VDEVICE_ALLOC, S.iommu_vdevice_alloc, {
    viommu_id: viommu,
    dev_id: f.idev,
    virt_id: 0x99n,
  });
  strictEqual(vd.ret, 0);
  deepStrictEqual(replace(f.k, f.fd, f.stdev, nested), { ret: 0, pt: nested });
  strictEqual(destroy(f.k, f.fd, nested), -E.EBUSY);
  strictEqual(replace(f.k, f.fd, f.stdev, f.ioas).ret, 0);
  strictEqual(destroy(f.k, f.fd, nested), 0);
});

Deno.test("close of the iommufd with a device on a nested hwpt: the device goes first, then the hwpts", () => {
  const f = mock();
  const parent = Number(
    hwptAlloc(f.k, f.fd, { dev_id: f.idev, pt_id: f.ioas, flags: 1 }).out.out_hwpt_id,
  );
  const nested = Number(nestedAlloc(f.k, f.fd, f.idev, parent).out.out_hwpt_id);
  strictEqual(replace(f.k, f.fd, f.stdev, nested).ret, 0);
  strictEqual(mockDomain(f.k, f.fd, nested).ret, 0);
  const ctx = f.k.iommufdContext(f.fd)!;
  strictEqual(f.k.close(f.fd), 0);
  strictEqual(ctx.objects.count, 0);
  strictEqual(f.k.internalErrors.length, 0);
  strictEqual(f.k.pinnedPages(), 0n);
});

Deno.test("ADD_RESERVED: length 0 -> EINVAL and a range past 2^64 -> EOVERFLOW before the IOAS is looked up, where the release checks (6.12.117)", () => {
  const add = (release: string, id: number, start: bigint, length: bigint) => {
    const { k, fd } = openIommufd({ release });
    const ioas = ioasAlloc(k, fd);
    return call(k, fd, R.IOMMU_TEST_CMD, S.iommu_test_cmd, {
      size: 72,
      op: 1,
      id: id === 0 ? ioas : id,
      "add_reserved.start": start,
      "add_reserved.length": length,
    }).ret;
  };
  strictEqual(add("6.12.117", 0, 0x1000n, 0n), -E.EINVAL);
  strictEqual(add("6.12.117", 99, 0x1000n, 0n), -E.EINVAL, "before the IOAS lookup");
  strictEqual(add("6.12.117", 0, 0xffff_ffff_ffff_f000n, 0x2000n), -E.EOVERFLOW);
  strictEqual(add("6.12.117", 0, 0xffff_ffff_ffff_f000n, 0x1000n), 0, "ending at 2^64 - 1");
  strictEqual(add("6.12.117", 99, 0x1000n, 0x1000n), -E.ENOENT);
  // Without the checks a zero length reserves start through start - 1, wrapping: no error.
  strictEqual(add("6.18", 0, 0x1000n, 0n), 0);
  strictEqual(add("6.12", 0, 0xffff_ffff_ffff_f000n, 0x2000n), 0);
});

Deno.test("MOCK_DOMAIN_FLAGS PASID (6.15): a device with 20 PASID bits, which GET_HW_INFO reports; EINVAL before", () => {
  const withFlags = (release: string, dev_flags: number) => {
    const { k, fd } = openIommufd({ release });
    const ioas = ioasAlloc(k, fd);
    const m = call(k, fd, R.IOMMU_TEST_CMD, S.iommu_test_cmd, {
      size: 72,
      op: 12, // IOMMU_TEST_OP_MOCK_DOMAIN_FLAGS
      id: ioas,
      "mock_domain_flags.dev_flags": dev_flags,
    });
    if (m.ret !== 0) return { ret: m.ret, pasidLog2: -1n };
    const idev = Number(m.out["mock_domain.out_idev_id"]);
    const info = call(k, fd, R.IOMMU_GET_HW_INFO, S.iommu_hw_info, { dev_id: idev });
    strictEqual(info.ret, 0);
    return { ret: 0, pasidLog2: info.out.out_max_pasid_log2 };
  };
  deepStrictEqual(withFlags("6.18", 4), { ret: 0, pasidLog2: 20n });
  deepStrictEqual(withFlags("6.18", 4 | 2), { ret: 0, pasidLog2: 20n }, "with HUGE_IOVA");
  deepStrictEqual(withFlags("6.18", 0), { ret: 0, pasidLog2: 0n }, "no PASID bits");
  deepStrictEqual(withFlags("6.12.117", 4), { ret: -E.EINVAL, pasidLog2: -1n });
  deepStrictEqual(withFlags("6.18", 8), { ret: -E.EINVAL, pasidLog2: -1n }, "an unknown flag");
});
