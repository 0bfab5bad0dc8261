/**
 * The dispatch-table entries 0x89–0x8E (hw_pagetable.c, device.c, fault.c, the selftest mock
 * driver): release gating, the entry's size rules with their own min/sizeof, and the handlers'
 * order of checks.
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
  mockDomain,
  openIommufd,
  runHandler,
} from "../tests/_sim_helpers.ts";
import type { StructValues } from "../uapi/codec.ts";
import { deviceReplace, type IommufdDevice } from "./device.ts";
import { hwptAllocSize, iommufdHwptAlloc, iommufdHwptInvalidate } from "./hwpt_ioctl.ts";

const hwptAlloc = (k: SimKernel, fd: number, v: StructValues, bufferSize?: number) =>
  call(k, fd, R.IOMMU_HWPT_ALLOC, S.iommu_hwpt_alloc, v, bufferSize);
const hwInfo = (k: SimKernel, fd: number, v: StructValues) =>
  call(k, fd, R.IOMMU_GET_HW_INFO, S.iommu_hw_info, v);
/** IOMMU_FAULT_QUEUE_ALLOC; its fd is closed (the object stays). Returns the fault id. */
function faultAlloc(k: SimKernel, fd: number): number {
  const fa = call(k, fd, R.IOMMU_FAULT_QUEUE_ALLOC, S.iommu_fault_alloc);
  strictEqual(fa.ret, 0);
  k.close(Number(fa.out.out_fault_fd));
  return Number(fa.out.out_fault_id);
}

/** An IOAS and a mock device on it: ioas 1, stdev 2, idev 3, automatic hwpt 4. */
function setup(release?: string, devFlags?: number) {
  const { k, fd } = openIommufd(release ? { release } : {});
  const ioas = ioasAlloc(k, fd);
  const m = mockDomain(k, fd, ioas, devFlags);
  strictEqual(m.ret, 0);
  return { k, fd, ioas, ...m };
}

const NEW_REQUESTS: [string, number, S.StructDesc][] = [
  ["IOMMU_HWPT_ALLOC", R.IOMMU_HWPT_ALLOC, S.iommu_hwpt_alloc],
  ["IOMMU_GET_HW_INFO", R.IOMMU_GET_HW_INFO, S.iommu_hw_info],
  [
    "IOMMU_HWPT_SET_DIRTY_TRACKING",
    R.IOMMU_HWPT_SET_DIRTY_TRACKING,
    S.iommu_hwpt_set_dirty_tracking,
  ],
  ["IOMMU_HWPT_GET_DIRTY_BITMAP", R.IOMMU_HWPT_GET_DIRTY_BITMAP, S.iommu_hwpt_get_dirty_bitmap],
  ["IOMMU_HWPT_INVALIDATE", R.IOMMU_HWPT_INVALIDATE, S.iommu_hwpt_invalidate],
  ["IOMMU_FAULT_QUEUE_ALLOC", R.IOMMU_FAULT_QUEUE_ALLOC, S.iommu_fault_alloc],
];

Deno.test("IOMMU_HWPT_ALLOC on 6.2 -> ENOTTY (a hole of the 6.2 table), as every 0x89-0x8E", () => {
  const { k, fd } = openIommufd({ release: "6.2" });
  for (const [name, req, desc] of NEW_REQUESTS) {
    strictEqual(call(k, fd, req, desc).ret, -E.ENOTTY, name);
  }
});

Deno.test("release gating on 6.6: HWPT_ALLOC/GET_HW_INFO present, dirty/invalidate/fault ENOTTY", () => {
  const { k, fd } = openIommufd({ release: "6.6" });
  const got = NEW_REQUESTS.map(([, req, desc]) => call(k, fd, req, desc, { size: 0 }).ret);
  deepStrictEqual(got, [-E.EINVAL, -E.EINVAL, -E.ENOTTY, -E.ENOTTY, -E.ENOTTY, -E.ENOTTY]);
});

Deno.test("entry rules on 6.12: size below offsetofend(last mandatory) -> EINVAL for each", () => {
  const { k, fd } = openIommufd({ release: "6.12" });
  for (const [name, req, desc] of NEW_REQUESTS) {
    strictEqual(call(k, fd, req, desc, { size: desc.minSize - 1 }).ret, -E.EINVAL, name);
  }
});

Deno.test("IOMMU_HWPT_ALLOC: size below offsetofend(__reserved) -> EINVAL", () => {
  const { k, fd } = setup("6.12.117");
  strictEqual(hwptAlloc(k, fd, { size: 23, dev_id: 3, pt_id: 1 }).ret, -E.EINVAL);
  strictEqual(hwptAlloc(k, fd, { size: 24, dev_id: 3, pt_id: 1 }).ret, 0);
});

Deno.test("IOMMU_HWPT_ALLOC: non-zero byte past sizeof (48 on 6.12, 24 on 6.6) -> E2BIG", () => {
  const { k, fd } = setup("6.12");
  const buf = hwptAlloc(k, fd, { size: 56, dev_id: 3, pt_id: 1 }, 56).buf;
  buf[50] = 1;
  strictEqual(k.ioctl(fd, R.IOMMU_HWPT_ALLOC, buf), -E.E2BIG);
  const old = setup("6.6");
  strictEqual(
    hwptAlloc(old.k, old.fd, { size: 40, dev_id: 3, pt_id: 1, data_type: 1 }).ret,
    -E.E2BIG,
  );
});

Deno.test("IOMMU_HWPT_ALLOC: __reserved -> EOPNOTSUPP before the data and id checks", () => {
  const { k, fd } = setup();
  strictEqual(hwptAlloc(k, fd, { __reserved: 1, data_len: 4 }).ret, -E.EOPNOTSUPP);
});

Deno.test("IOMMU_HWPT_ALLOC: data_type and data_len not both set or both clear -> EINVAL", () => {
  const { k, fd } = setup();
  strictEqual(hwptAlloc(k, fd, { dev_id: 3, pt_id: 1, data_type: 1 }).ret, -E.EINVAL);
  strictEqual(hwptAlloc(k, fd, { dev_id: 3, pt_id: 1, data_len: 8 }).ret, -E.EINVAL);
  // Both set: the mock takes no data for a paging domain.
  strictEqual(
    hwptAlloc(k, fd, { dev_id: 3, pt_id: 1, data_type: 1, data_len: 8 }).ret,
    -E.EOPNOTSUPP,
  );
});

Deno.test("IOMMU_HWPT_ALLOC: dev_id of an IOAS -> ENOENT", () => {
  const { k, fd, ioas } = setup();
  strictEqual(hwptAlloc(k, fd, { dev_id: ioas, pt_id: ioas }).ret, -E.ENOENT);
});

Deno.test("IOMMU_HWPT_ALLOC: pt_id of nothing or of a device -> EINVAL (6.6: not an IOAS -> ENOENT)", () => {
  const { k, fd, idev } = setup("6.12");
  strictEqual(hwptAlloc(k, fd, { dev_id: idev, pt_id: 99 }).ret, -E.EINVAL);
  strictEqual(hwptAlloc(k, fd, { dev_id: idev, pt_id: idev }).ret, -E.EINVAL);
  const old = setup("6.6");
  strictEqual(hwptAlloc(old.k, old.fd, { dev_id: old.idev, pt_id: 99 }).ret, -E.ENOENT);
  strictEqual(
    hwptAlloc(old.k, old.fd, { dev_id: old.idev, pt_id: 1, flags: 1 }).ret,
    -E.EOPNOTSUPP,
  );
});

Deno.test("IOMMU_HWPT_ALLOC: a paging hwpt takes the next free id; DESTROY EBUSY while in use", () => {
  const { k, fd, ioas, idev } = setup();
  const a = hwptAlloc(k, fd, { dev_id: idev, pt_id: ioas });
  deepStrictEqual([a.ret, a.out.out_hwpt_id], [0, 5n]);
  strictEqual(destroy(k, fd, ioas), -E.EBUSY, "the hwpt holds its IOAS");
  const m = mockDomain(k, fd, 5);
  deepStrictEqual([m.ret, m.stdev, m.idev, m.hwpt], [0, 6, 7, 5]);
  strictEqual(destroy(k, fd, 5), -E.EBUSY, "a device is attached");
  strictEqual(destroy(k, fd, m.stdev), 0);
  strictEqual(destroy(k, fd, 5), 0, "explicit hwpts outlive their last device");
  strictEqual(hwptAlloc(k, fd, { dev_id: idev, pt_id: ioas }).out.out_hwpt_id, 5n);
});

Deno.test("iommufd_hwpt_paging_alloc: a flag the release does not know -> EOPNOTSUPP (6.12: FAULT_ID_VALID, PASID)", () => {
  const old = setup("6.12");
  const paging = (flags: number) =>
    hwptAlloc(old.k, old.fd, { dev_id: old.idev, pt_id: old.ioas, flags, fault_id: 99 }).ret;
  deepStrictEqual([paging(4), paging(8), paging(16)], [
    -E.EOPNOTSUPP,
    -E.EOPNOTSUPP,
    -E.EOPNOTSUPP,
  ]);
  const { k, fd, ioas, idev } = setup();
  strictEqual(hwptAlloc(k, fd, { dev_id: idev, pt_id: ioas, flags: 16 }).ret, -E.EOPNOTSUPP);
  strictEqual(hwptAlloc(k, fd, { dev_id: idev, pt_id: ioas, flags: 1 << 31 }).ret, -E.EOPNOTSUPP);
  strictEqual(hwptAlloc(k, fd, { dev_id: idev, pt_id: ioas }).out.out_hwpt_id, 5n, "no id taken");
});

Deno.test("iommufd_hwpt_paging_alloc: DIRTY_TRACKING on a device not dirty-capable (NO_DIRTY mock) -> EOPNOTSUPP", () => {
  const { k, fd, ioas, idev } = setup(undefined, 1);
  strictEqual(hwptAlloc(k, fd, { dev_id: idev, pt_id: ioas, flags: 2 }).ret, -E.EOPNOTSUPP);
  strictEqual(hwptAlloc(k, fd, { dev_id: idev, pt_id: ioas, flags: 2 | 8 }).ret, -E.EOPNOTSUPP);
  strictEqual(hwptAlloc(k, fd, { dev_id: idev, pt_id: ioas, flags: 1 }).ret, 0);
});

Deno.test("iommufd_hwpt_paging_alloc on 6.18: FAULT_ID_VALID with NEST_PARENT -> EOPNOTSUPP, before the fault lookup", () => {
  const { k, fd, ioas, idev } = setup();
  const fault = faultAlloc(k, fd);
  strictEqual(
    hwptAlloc(k, fd, { dev_id: idev, pt_id: ioas, flags: 1 | 4, fault_id: fault }).ret,
    -E.EOPNOTSUPP,
  );
  strictEqual(
    hwptAlloc(k, fd, { dev_id: idev, pt_id: ioas, flags: 1 | 4, fault_id: 99 }).ret,
    -E.EOPNOTSUPP,
  );
  strictEqual(destroy(k, fd, fault), 0, "the fault object was not taken");
});

Deno.test("mock domain_alloc_paging_flags on 6.18: ALLOC_PASID (alone or with NEST_PARENT|DIRTY_TRACKING) is accepted", () => {
  const { k, fd, ioas, idev } = setup();
  const a = hwptAlloc(k, fd, { dev_id: idev, pt_id: ioas, flags: 8 });
  deepStrictEqual([a.ret, a.out.out_hwpt_id], [0, 5n]);
  const b = hwptAlloc(k, fd, { dev_id: idev, pt_id: ioas, flags: 1 | 2 | 8 });
  deepStrictEqual([b.ret, b.out.out_hwpt_id], [0, 6n]);
  strictEqual(destroy(k, fd, 5), 0);
});

Deno.test("mock domain_alloc_paging_flags on 6.18: driver data for a paging domain -> EOPNOTSUPP, with or without flags", () => {
  const { k, fd, ioas, idev } = setup();
  const data = { data_type: 0xdead, data_len: 4, data_uptr: k.mmap(0x1000n) };
  strictEqual(hwptAlloc(k, fd, { dev_id: idev, pt_id: ioas, ...data }).ret, -E.EOPNOTSUPP);
  strictEqual(
    hwptAlloc(k, fd, { dev_id: idev, pt_id: ioas, flags: 8, ...data }).ret,
    -E.EOPNOTSUPP,
  );
  strictEqual(hwptAlloc(k, fd, { dev_id: idev, pt_id: ioas }).out.out_hwpt_id, 5n);
});

Deno.test("iommufd_get_fault on 6.18 paging: fault_id of nothing or of a non-fault -> ENOENT; the hwpt's id goes back", () => {
  const { k, fd, ioas, idev } = setup();
  const fa = (fault_id: number) =>
    hwptAlloc(k, fd, { dev_id: idev, pt_id: ioas, flags: 4, fault_id }).ret;
  deepStrictEqual([fa(0), fa(99), fa(ioas), fa(idev)], [
    -E.ENOENT,
    -E.ENOENT,
    -E.ENOENT,
    -E.ENOENT,
  ]);
  strictEqual(destroy(k, fd, ioas), -E.EBUSY, "the device's automatic hwpt still holds it");
  const a = hwptAlloc(k, fd, { dev_id: idev, pt_id: ioas });
  deepStrictEqual([a.ret, a.out.out_hwpt_id], [0, 5n], "the aborted hwpts' ids were freed");
});

Deno.test("iommufd_hwpt_alloc on 6.18 paging FAULT_ID_VALID: the hwpt holds its fault (DESTROY -> EBUSY) until destroyed", () => {
  const { k, fd, ioas, idev } = setup();
  const fault = faultAlloc(k, fd);
  const a = hwptAlloc(k, fd, { dev_id: idev, pt_id: ioas, flags: 4 | 8, fault_id: fault });
  deepStrictEqual([a.ret, a.out.out_hwpt_id], [0, BigInt(fault + 1)]);
  const hwpt = Number(a.out.out_hwpt_id);
  strictEqual(destroy(k, fd, fault), -E.EBUSY);
  const m = mockDomain(k, fd, hwpt);
  strictEqual(m.ret, 0, "a mock device attaches to a fault-capable paging hwpt");
  strictEqual(destroy(k, fd, m.stdev), 0);
  strictEqual(destroy(k, fd, hwpt), 0);
  strictEqual(destroy(k, fd, fault), 0, "the reference went with the hwpt");
});

Deno.test("iommufd_hwpt_alloc: fault_id is read only with FAULT_ID_VALID (no flag: any fault_id is ignored)", () => {
  const { k, fd, ioas, idev } = setup();
  const a = hwptAlloc(k, fd, { dev_id: idev, pt_id: ioas, fault_id: 0xdeadbeef });
  deepStrictEqual([a.ret, a.out.out_hwpt_id], [0, 5n]);
});

Deno.test("IOMMU_HWPT_ALLOC: a 24-byte (6.6) struct works on 6.12 and gets 24 bytes back", () => {
  const { k, fd, ioas, idev } = setup("6.12");
  const c = hwptAlloc(k, fd, { size: 24, dev_id: idev, pt_id: ioas, data_type: 1 });
  // Bytes past size are not the kernel's: data_type there is ignored, nothing written there.
  deepStrictEqual([c.ret, c.out.out_hwpt_id, c.out.data_type], [0, 5n, 1n]);
});

Deno.test("IOMMU_HWPT_ALLOC nested: parent must be an explicit NEST_PARENT hwpt (EINVAL)", () => {
  const { k, fd, ioas, idev, hwpt } = setup();
  const nested = (pt: number, extra: StructValues = {}) =>
    hwptAlloc(k, fd, { dev_id: idev, pt_id: pt, data_type: 0xdead, data_len: 4, ...extra }).ret;
  strictEqual(nested(hwpt), -E.EINVAL, "automatic parent");
  const plain = Number(hwptAlloc(k, fd, { dev_id: idev, pt_id: ioas }).out.out_hwpt_id);
  strictEqual(nested(plain), -E.EINVAL, "not a nest parent");
  const parent = Number(hwptAlloc(k, fd, { dev_id: idev, pt_id: ioas, flags: 1 }).out.out_hwpt_id);
  strictEqual(nested(parent, { flags: 2 }), -E.EOPNOTSUPP, "flags other than FAULT_ID_VALID");
  strictEqual(nested(parent, { data_type: 1 }), -E.EOPNOTSUPP, "not the selftest data type");
});

Deno.test("IOMMU_GET_HW_INFO: dev_id of an IOAS -> ENOENT", () => {
  const { k, fd, ioas } = setup();
  strictEqual(hwInfo(k, fd, { dev_id: ioas }).ret, -E.ENOENT);
});

Deno.test("IOMMU_GET_HW_INFO: flags or __reserved -> EOPNOTSUPP, before the device lookup", () => {
  const { k, fd } = setup("6.12.117");
  strictEqual(hwInfo(k, fd, { flags: 1, dev_id: 99 }).ret, -E.EOPNOTSUPP);
  strictEqual(hwInfo(k, fd, { "__reserved[2]": 1, dev_id: 99 }).ret, -E.EOPNOTSUPP);
  // 6.12.117 (PASID report backported): byte 28 is out_max_pasid_log2, not checked, zeroed.
  const c = hwInfo(k, fd, { out_max_pasid_log2: 5, dev_id: 3 });
  deepStrictEqual([c.ret, c.out.out_max_pasid_log2], [0, 0n]);
  const v612 = setup("6.12");
  strictEqual(hwInfo(v612.k, v612.fd, { out_max_pasid_log2: 5, dev_id: 3 }).ret, -E.EOPNOTSUPP);
  // 6.18 accepts IOMMU_HW_INFO_FLAG_INPUT_TYPE with the selftest type, not another.
  const v618 = setup("6.18");
  strictEqual(
    hwInfo(v618.k, v618.fd, { flags: 1, dev_id: 3, out_data_type: 1 }).ret,
    -E.EOPNOTSUPP,
  );
  strictEqual(hwInfo(v618.k, v618.fd, { flags: 1, dev_id: 3, out_data_type: 0xfeedbeef }).ret, 0);
  strictEqual(hwInfo(v612.k, v612.fd, { flags: 1, dev_id: 3 }).ret, -E.EOPNOTSUPP);
});

Deno.test("IOMMU_GET_HW_INFO: mock data copied and zero-filled; type SELFTEST; dirty capability", () => {
  const { k, fd, idev } = setup();
  const mem = k.mmap(0x1000n);
  k.writeMemory(mem, new Uint8Array(16).fill(0xaa));
  const c = hwInfo(k, fd, { dev_id: idev, data_len: 16, data_uptr: mem });
  strictEqual(c.ret, 0);
  deepStrictEqual(
    [c.out.data_len, c.out.out_data_type, c.out.out_capabilities],
    [8n, 0xfeedbeefn, 1n],
  );
  const data = new Uint8Array(16);
  k.readMemory(mem, data);
  deepStrictEqual([...data], [0, 0, 0, 0, 0xef, 0xbe, 0xad, 0xde, 0, 0, 0, 0, 0, 0, 0, 0]);
  // A short buffer gets only its length; data_len still reports 8.
  k.writeMemory(mem, new Uint8Array(8).fill(0xaa));
  const s = hwInfo(k, fd, { dev_id: idev, data_len: 2, data_uptr: mem });
  k.readMemory(mem, data.subarray(0, 4));
  deepStrictEqual([s.ret, s.out.data_len, ...data.subarray(0, 4)], [0, 8n, 0, 0, 0xaa, 0xaa]);
  const nd = setup(undefined, 1);
  strictEqual(hwInfo(nd.k, nd.fd, { dev_id: nd.idev }).out.out_capabilities, 0n);
});

Deno.test("IOMMU_GET_HW_INFO: data_uptr not mapped -> EFAULT; 6.6 knows 32 bytes", () => {
  const { k, fd, idev } = setup();
  strictEqual(hwInfo(k, fd, { dev_id: idev, data_len: 8, data_uptr: 0x10n }).ret, -E.EFAULT);
  strictEqual(hwInfo(k, fd, { dev_id: idev, data_len: 0, data_uptr: 0n }).ret, 0);
  const old = setup("6.6");
  strictEqual(hwInfo(old.k, old.fd, { dev_id: old.idev, out_capabilities: 1n }).ret, -E.E2BIG);
  const c = hwInfo(old.k, old.fd, { size: 32, dev_id: old.idev });
  deepStrictEqual([c.ret, c.out.out_data_type, c.out.out_capabilities], [0, 0xfeedbeefn, 0n]);
});

Deno.test("IOMMU_HWPT_SET_DIRTY_TRACKING: flags EOPNOTSUPP, non-hwpt ENOENT, no dirty ops EOPNOTSUPP", () => {
  const { k, fd, ioas, idev, hwpt } = setup();
  const set = (hwpt_id: number, flags = 1) =>
    call(k, fd, R.IOMMU_HWPT_SET_DIRTY_TRACKING, S.iommu_hwpt_set_dirty_tracking, {
      hwpt_id,
      flags,
    }).ret;
  strictEqual(set(hwpt, 2), -E.EOPNOTSUPP);
  strictEqual(set(ioas), -E.ENOENT);
  strictEqual(set(hwpt), -E.EOPNOTSUPP, "automatic domains have no dirty ops");
  const d = Number(hwptAlloc(k, fd, { dev_id: idev, pt_id: ioas, flags: 2 }).out.out_hwpt_id);
  strictEqual(set(d), 0);
  strictEqual(set(d, 0), 0);
});

Deno.test("IOMMU_HWPT_GET_DIRTY_BITMAP: order of checks, zero length per release", () => {
  for (const release of ["6.12", "6.12.117"]) {
    const { k, fd, ioas, idev, hwpt } = setup(release);
    const d = Number(hwptAlloc(k, fd, { dev_id: idev, pt_id: ioas, flags: 2 }).out.out_hwpt_id);
    const get = (v: StructValues) =>
      call(k, fd, R.IOMMU_HWPT_GET_DIRTY_BITMAP, S.iommu_hwpt_get_dirty_bitmap, {
        hwpt_id: d,
        iova: 0x1000000n,
        length: 0x1000n,
        page_size: 0x1000n,
        ...v,
      }).ret;
    strictEqual(get({ __reserved: 1 }), -E.EOPNOTSUPP);
    strictEqual(get({ flags: 2 }), -E.EOPNOTSUPP);
    strictEqual(get({ hwpt_id: ioas }), -E.ENOENT);
    strictEqual(get({ length: 0n }), release === "6.12" ? -E.EOVERFLOW : -E.EINVAL);
    strictEqual(get({ iova: 0xffff_ffff_ffff_f000n, length: 0x2000n }), -E.EOVERFLOW);
    strictEqual(get({ iova: 0x1000400n }), -E.EINVAL, "below the IOAS alignment");
    strictEqual(get({ page_size: 0n }), -E.EINVAL);
    strictEqual(get({ page_size: 0x2000n }), -E.EINVAL);
    strictEqual(get({ hwpt_id: hwpt }), -E.EOPNOTSUPP, "no dirty ops");
    strictEqual(get({}), 0);
  }
});

Deno.test("IOMMU_HWPT_INVALIDATE: reserved EOPNOTSUPP, entries need uptr/len EINVAL, else ENOENT", () => {
  const { k, fd, hwpt } = setup("6.12.117");
  const inv = (v: StructValues, kk = k, f = fd) =>
    call(kk, f, R.IOMMU_HWPT_INVALIDATE, S.iommu_hwpt_invalidate, {
      hwpt_id: hwpt,
      entry_num: 1,
      entry_len: 8,
      data_uptr: 0x1000n,
      ...v,
    });
  const r = inv({ __reserved: 1 });
  deepStrictEqual([r.ret, r.out.entry_num], [-E.EOPNOTSUPP, 0n], "entry_num is written back");
  strictEqual(inv({ data_uptr: 0n }).ret, -E.EINVAL);
  strictEqual(inv({ entry_len: 0 }).ret, -E.EINVAL);
  strictEqual(inv({ entry_len: 4097 }).ret, -E.EINVAL, "6.12.117 bounds entry_len");
  strictEqual(inv({}).ret, -E.ENOENT, "a paging hwpt is not a nested one");
  const v612 = setup("6.12");
  strictEqual(inv({ entry_len: 4097 }, v612.k, v612.fd).ret, -E.ENOENT);
});

Deno.test("IOMMU_FAULT_QUEUE_ALLOC: size below offsetofend(out_fault_fd) -> EINVAL; flags -> EOPNOTSUPP", () => {
  const { k, fd } = openIommufd({ release: "6.12.117" });
  const fa = (v: StructValues) =>
    call(k, fd, R.IOMMU_FAULT_QUEUE_ALLOC, S.iommu_fault_alloc, v).ret;
  strictEqual(fa({ size: 12 }), -E.EINVAL);
  strictEqual(fa({ flags: 1 }), -E.EOPNOTSUPP);
});

/** The intel-vtd profile's edu device bound to iommufd (as group + GET_DEVICE_FD does). */
function vtdDevice(profile = "intel-vtd", release?: string) {
  const { k, fd } = openIommufd({ profile, ...(release ? { release } : {}) });
  const ioas = ioasAlloc(k, fd);
  const dev = profile === "intel-vtd" ? "0000:00:03.0" : k.simulator.groups!()[0].devices[0];
  strictEqual(k.simulator.attachDevice(fd, dev, ioas).errno, 0);
  return { k, fd, ioas, idev: ioas + 1 };
}

Deno.test("IOMMU_GET_HW_INFO on VT-d: intel_iommu_hw_info's flags, CAP_REG and ECAP_REG (the rig's)", () => {
  const { k, fd, ioas, idev } = vtdDevice();
  strictEqual(hwInfo(k, fd, { dev_id: ioas }).ret, -E.ENOENT);
  const mem = k.mmap(0x1000n);
  k.writeMemory(mem, new Uint8Array(32).fill(0xaa));
  const c = hwInfo(k, fd, { dev_id: idev, data_len: 32, data_uptr: mem });
  deepStrictEqual(
    [c.ret, c.out.data_len, c.out.out_data_type, c.out.out_capabilities, c.out.out_max_pasid_log2],
    [0, 24n, 1n, 0n, 0n],
  );
  const data = new Uint8Array(32);
  k.readMemory(mem, data);
  const v = new DataView(data.buffer);
  deepStrictEqual(
    [v.getUint32(0, true), v.getBigUint64(8, true), v.getBigUint64(16, true)],
    [1, 0x00d2008c22260206n, 0xf00f4an],
  );
  deepStrictEqual([...data.subarray(24)], [0, 0, 0, 0, 0, 0, 0, 0], "zeroed past the data");
  // A buffer shorter than the struct gets its length; data_len still says 24.
  const s = hwInfo(k, fd, { dev_id: idev, data_len: 0, data_uptr: 0n });
  deepStrictEqual([s.ret, s.out.data_len], [0, 24n]);
});

Deno.test("IOMMU_GET_HW_INFO on 6.18 with INPUT_TYPE: the driver's own type or DEFAULT, else EOPNOTSUPP", () => {
  const { k, fd, idev } = vtdDevice("intel-vtd", "6.18");
  const ask = (type: number) => hwInfo(k, fd, { dev_id: idev, flags: 1, out_data_type: type }).ret;
  deepStrictEqual([ask(0), ask(1), ask(2), ask(0xfeedbeef)], [0, 0, -E.EOPNOTSUPP, -E.EOPNOTSUPP]);
});

Deno.test("IOMMU_GET_HW_INFO with a driver without a hw_info op (AMD to 6.18, SMMUv3 to 6.12): TYPE_NONE, no data, buffer zeroed", () => {
  for (
    const [profile, release] of [["amd-vi", "6.12"], ["amd-vi", "6.18"], ["arm-smmuv3", "6.12"]]
  ) {
    const { k, fd, idev } = vtdDevice(profile, release);
    const mem = k.mmap(0x1000n);
    k.writeMemory(mem, new Uint8Array(16).fill(0xaa));
    const c = hwInfo(k, fd, { dev_id: idev, data_len: 12, data_uptr: mem, out_data_type: 7 });
    deepStrictEqual(
      [c.ret, c.out.data_len, c.out.out_data_type, c.out.out_capabilities],
      [0, 0n, 0n, 0n],
      `${profile} ${release}`,
    );
    const data = new Uint8Array(16);
    k.readMemory(mem, data);
    deepStrictEqual(
      [...data],
      [...new Uint8Array(12), 0xaa, 0xaa, 0xaa, 0xaa],
      "data_len bytes zeroed",
    );
  }
  // 6.18's INPUT_TYPE goes to the driver's op; without one any type gets NONE.
  const { k, fd, idev } = vtdDevice("amd-vi", "6.18");
  const c = hwInfo(k, fd, { dev_id: idev, flags: 1, out_data_type: 2 });
  deepStrictEqual([c.ret, c.out.out_data_type], [0, 0n]);
});

Deno.test("IOMMU_GET_HW_INFO on SMMUv3 from 6.13: arm_smmu_hw_info's raw IDR0-5, IIDR, AIDR (QEMU's)", () => {
  const { k, fd, idev } = vtdDevice("arm-smmuv3", "6.18");
  const mem = k.mmap(0x1000n);
  const c = hwInfo(k, fd, { dev_id: idev, data_len: 40, data_uptr: mem });
  deepStrictEqual([c.ret, c.out.data_len, c.out.out_data_type], [0, 40n, 2n]);
  const data = new Uint8Array(40);
  k.readMemory(mem, data);
  const v = new DataView(data.buffer);
  const words = Array.from({ length: 10 }, (_, i) => v.getUint32(4 * i, true));
  deepStrictEqual(words, [0, 0, 0x0d44101a, 0x02730010, 0, 0x1404, 0, 0x74, 0, 1]);
});

Deno.test("domain_alloc_paging_flags on real IOMMUs (6.18): PASID makes a domain on VT-d and SMMUv3, EOPNOTSUPP on AMD-Vi without GT; NEST_PARENT and data EOPNOTSUPP", () => {
  const PASID = 8, NEST_PARENT = 1, DIRTY = 2;
  for (
    const [profile, pasid] of [["intel-vtd", 0], ["arm-smmuv3", 0], [
      "amd-vi",
      -E.EOPNOTSUPP,
    ]] as const
  ) {
    const { k, fd, ioas, idev } = vtdDevice(profile, "6.18");
    const alloc = (flags: number) => hwptAlloc(k, fd, { dev_id: idev, pt_id: ioas, flags }).ret;
    deepStrictEqual(
      [alloc(PASID), alloc(NEST_PARENT), alloc(DIRTY), alloc(PASID | NEST_PARENT)],
      [pasid, -E.EOPNOTSUPP, -E.EOPNOTSUPP, -E.EOPNOTSUPP],
      profile,
    );
  }
  // 6.12 knows no PASID flag: the core refuses it before any driver.
  const { k, fd, ioas, idev } = vtdDevice("intel-vtd", "6.12");
  strictEqual(hwptAlloc(k, fd, { dev_id: idev, pt_id: ioas, flags: PASID }).ret, -E.EOPNOTSUPP);
});

Deno.test("iommufd_hwpt_paging_alloc on a real IOMMU (6.18): FAULT_ID_VALID alone reaches the driver as a plain domain", () => {
  const { k, fd, ioas, idev } = vtdDevice("intel-vtd", "6.18");
  const fault = faultAlloc(k, fd);
  strictEqual(
    hwptAlloc(k, fd, { dev_id: idev, pt_id: ioas, flags: 4, fault_id: ioas }).ret,
    -E.ENOENT,
  );
  const a = hwptAlloc(k, fd, { dev_id: idev, pt_id: ioas, flags: 4, fault_id: fault });
  strictEqual(a.ret, 0);
  strictEqual(destroy(k, fd, fault), -E.EBUSY, "the hwpt holds its fault object");
  strictEqual(destroy(k, fd, Number(a.out.out_hwpt_id)), 0);
  strictEqual(destroy(k, fd, fault), 0);
});

Deno.test("iommufd_hwpt_paging_alloc on a real IOMMU (6.18): unknown flags and FAULT_ID_VALID|NEST_PARENT -> EOPNOTSUPP", () => {
  const { k, fd, ioas, idev } = vtdDevice("intel-vtd", "6.18");
  const fault = faultAlloc(k, fd);
  const paging = (flags: number) =>
    hwptAlloc(k, fd, { dev_id: idev, pt_id: ioas, flags, fault_id: fault }).ret;
  deepStrictEqual([paging(16), paging(1 | 4)], [-E.EOPNOTSUPP, -E.EOPNOTSUPP]);
  const old = vtdDevice("intel-vtd", "6.12");
  const f12 = hwptAlloc(old.k, old.fd, { dev_id: old.idev, pt_id: old.ioas, flags: 4 });
  strictEqual(f12.ret, -E.EOPNOTSUPP, "6.12 knows no FAULT_ID_VALID for a paging hwpt");
});

Deno.test("attach to a hwpt with a fault object (6.18): the driver enables IOPF; VT-d refuses a device without PRI (ENODEV), AMD-Vi and SMMUv3 attach", () => {
  for (
    const [profile, errno] of [["intel-vtd", -E.ENODEV], ["amd-vi", 0], ["arm-smmuv3", 0]] as const
  ) {
    const { k, fd, ioas, idev } = vtdDevice(profile, "6.18");
    const fault = faultAlloc(k, fd);
    const a = hwptAlloc(k, fd, { dev_id: idev, pt_id: ioas, flags: 4, fault_id: fault });
    strictEqual(a.ret, 0, `${profile}: FAULT_ID_VALID never reaches the driver's alloc`);
    const dev = k.iommufdContext(fd)!.objects.get(idev, "device") as IommufdDevice;
    const hwpt = Number(a.out.out_hwpt_id);
    strictEqual(deviceReplace(dev, hwpt), errno === 0 ? hwpt : errno, profile);
  }
});

Deno.test("iommufd_hwpt_alloc on 6.6: dev_id not a device -> ENOENT, nothing allocated", () => {
  const { k, fd, ioas, idev } = setup("6.6");
  strictEqual(hwptAlloc(k, fd, { dev_id: ioas, pt_id: ioas }).ret, -E.ENOENT);
  strictEqual(hwptAlloc(k, fd, { dev_id: 99, pt_id: ioas }).ret, -E.ENOENT);
  const a = hwptAlloc(k, fd, { dev_id: idev, pt_id: ioas });
  deepStrictEqual([a.ret, a.out.out_hwpt_id], [0, 5n], "no id was taken");
});

Deno.test("iommufd_hwpt_alloc paging: iommufd_ucmd_respond faults (read-only struct) -> EFAULT; the hwpt, its IOAS and fault references go", () => {
  const { k, fd, ioas, idev, stdev } = setup();
  const fault = faultAlloc(k, fd);
  // The struct on a read-only page: the handler's write-back faults.
  const r = runHandler(k, fd, iommufdHwptAlloc, S.iommu_hwpt_alloc, hwptAllocSize, {
    flags: 4,
    dev_id: idev,
    pt_id: ioas,
    fault_id: fault,
  }, { structReadOnly: true });
  deepStrictEqual([r.ret, r.out.out_hwpt_id], [-E.EFAULT, 0n], "nothing written back");
  const a = hwptAlloc(k, fd, { dev_id: idev, pt_id: ioas });
  deepStrictEqual([a.ret, a.out.out_hwpt_id], [0, BigInt(fault + 1)], "its id went back");
  strictEqual(destroy(k, fd, fault), 0, "the aborted hwpt let its fault object go");
  strictEqual(destroy(k, fd, Number(a.out.out_hwpt_id)), 0);
  strictEqual(destroy(k, fd, stdev), 0);
  strictEqual(destroy(k, fd, ioas), 0, "the aborted hwpt let its IOAS go");
});

Deno.test("iommufd_hwpt_nested_alloc: a device other than a selftest mock one behind the parent's IOMMU (the mock profile's VFIO device) -> EOPNOTSUPP, no id taken", () => {
  const { k, fd } = openIommufd();
  const ioas = ioasAlloc(k, fd);
  const m = mockDomain(k, fd, ioas);
  strictEqual(m.ret, 0);
  const parent = hwptAlloc(k, fd, { flags: 1, dev_id: m.idev, pt_id: ioas });
  strictEqual(parent.ret, 0);
  strictEqual(k.attachDevice(fd, "mock0", ioas).errno, 0);
  const vfioDev = [...k.iommufdContext(fd)!.objects.objects()].filter((o) => o.type === "device")
    .at(-1)!.id;
  const data = k.mmap(0x1000n);
  const nested = (dev_id: number) =>
    hwptAlloc(k, fd, {
      dev_id,
      pt_id: Number(parent.out.out_hwpt_id),
      data_type: 0xdead,
      data_len: 4,
      data_uptr: data,
    });
  strictEqual(nested(vfioDev).ret, -E.EOPNOTSUPP);
  const ok = nested(m.idev);
  deepStrictEqual([ok.ret, ok.out.out_hwpt_id], [0, BigInt(vfioDev + 1)]);
});

Deno.test("iommufd_get_hw_info: clear_user of data_len past the driver's data faults -> EFAULT, the struct not copied back", () => {
  const { k, fd, idev } = setup();
  const mem = k.mmap(0x1000n);
  // The mock's 8 bytes fit in the page's last 8; the zeroing runs into the unmapped next page.
  const c = hwInfo(k, fd, { dev_id: idev, data_len: 16, data_uptr: mem + 0xff8n });
  deepStrictEqual([c.ret, c.out.data_len, c.out.out_data_type], [-E.EFAULT, 16n, 0n]);
  const data = new Uint8Array(8);
  k.readMemory(mem + 0xff8n, data);
  deepStrictEqual([...data], [0, 0, 0, 0, 0xef, 0xbe, 0xad, 0xde], "the data itself was copied");
  // A driver without a hw_info op copies nothing and zeroes the whole buffer: EFAULT too.
  const amd = vtdDevice("amd-vi", "6.18");
  const a = hwInfo(amd.k, amd.fd, {
    dev_id: amd.idev,
    data_len: 8,
    data_uptr: amd.k.mmap(0x1000n) + 0x1000n,
  });
  deepStrictEqual([a.ret, a.out.data_len], [-E.EFAULT, 8n]);
});

Deno.test("iommufd_hwpt_invalidate: copying entry_num back faults (read-only struct) -> EFAULT, over the invalidation's own errno", () => {
  const { k, fd, hwpt } = setup();
  const inv = (v: StructValues) =>
    runHandler(k, fd, iommufdHwptInvalidate, S.iommu_hwpt_invalidate, () => 32, {
      entry_num: 1,
      entry_len: 8,
      data_uptr: 0x1000n,
      ...v,
    }, { structReadOnly: true });
  const cases: StructValues[] = [{ __reserved: 1 }, { entry_len: 0 }, { hwpt_id: 99 }, {
    hwpt_id: hwpt,
  }];
  for (const v of cases) {
    const r = inv(v);
    deepStrictEqual([r.ret, r.out.entry_num], [-E.EFAULT, 1n], JSON.stringify(v));
  }
});

Deno.test("iommufd_hwpt_nested_alloc from 6.13: a driver without domain_alloc_nested -> EOPNOTSUPP before the parent's owner (EINVAL)", () => {
  const cases: [string, string, number][] = [
    ["arm-smmuv3", "6.18", -E.EOPNOTSUPP],
    ["amd-vi", "6.18", -E.EOPNOTSUPP],
    ["intel-vtd", "6.18", -E.EINVAL],
    ["amd-vi", "6.12", -E.EINVAL],
  ];
  for (const [profile, release, want] of cases) {
    const { k, fd, ioas, idev } = vtdDevice(profile, release);
    // A nest parent that the selftest's mock driver owns: another driver's than the device's.
    const m = mockDomain(k, fd, ioas);
    strictEqual(m.ret, 0);
    const parent = hwptAlloc(k, fd, { flags: 1, dev_id: m.idev, pt_id: ioas });
    strictEqual(parent.ret, 0);
    const r = hwptAlloc(k, fd, {
      dev_id: idev,
      pt_id: Number(parent.out.out_hwpt_id),
      data_type: 0xdead,
      data_len: 4,
      data_uptr: k.mmap(0x1000n),
    });
    strictEqual(r.ret, want, `${profile} on ${release}`);
  }
});

Deno.test("iommufd_get_hw_info: clear_user zeroes the bytes before the fault, then EFAULT", () => {
  const { k, fd, idev } = setup();
  const mem = k.mmap(0x1000n);
  k.writeMemory(mem + 0xff0n, new Uint8Array(16).fill(0xaa));
  // The mock's 8 bytes at 0xff0, zeroes from 0xff8: 8 of them fit before the unmapped page.
  const c = hwInfo(k, fd, { dev_id: idev, data_len: 32, data_uptr: mem + 0xff0n });
  strictEqual(c.ret, -E.EFAULT);
  const after = new Uint8Array(16);
  k.readMemory(mem + 0xff0n, after);
  deepStrictEqual([...after.subarray(8)], [0, 0, 0, 0, 0, 0, 0, 0]);
});
