/**
 * IOMMU_VIOMMU_ALLOC, IOMMU_VDEVICE_ALLOC, IOMMU_HW_QUEUE_ALLOC and the nested hw_pagetables
 * and invalidations that go with them (viommu.c, hw_pagetable.c, the selftest mock driver),
 * after the iommufd_viommu fixture of tools/testing/selftests/iommu/iommufd.c.
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
  iovaRanges,
  mapAuto,
  mapDma,
  mockDomain,
  openIommufd,
  runHandler,
  setCompat,
  unmap,
  unmapDma,
} from "../tests/_sim_helpers.ts";
import type { StructValues } from "../uapi/codec.ts";
import { hwptAllocSize, iommufdHwptAlloc } from "./hwpt_ioctl.ts";
import { iommufdViommuAlloc, viommuAllocSize } from "./viommu.ts";

const SELFTEST = 0xdeadbeef;
/** IOMMU_VIOMMU_INVALIDATE_DATA_SELFTEST (the same number as the vIOMMU type). */
const VIOMMU_INVALIDATE_DATA = 0xdeadbeef;
const NEST_PARENT = 1;
const DATA_SELFTEST = 0xdead;
const viommuAlloc = (k: SimKernel, fd: number, v: StructValues) =>
  call(k, fd, R.IOMMU_VIOMMU_ALLOC, S.iommu_viommu_alloc, { type: SELFTEST, ...v });
const vdevAlloc = (k: SimKernel, fd: number, v: StructValues) =>
  call(k, fd, R.IOMMU_VDEVICE_ALLOC, S.iommu_vdevice_alloc, v);
const hwqAlloc = (k: SimKernel, fd: number, v: StructValues) =>
  call(k, fd, R.IOMMU_HW_QUEUE_ALLOC, S.iommu_hw_queue_alloc, { type: SELFTEST, ...v });

/**
 * The fixture: IOAS 1, mock device (stdev 2, idev 3, auto hwpt 4), a nest-parent hwpt 5 and,
 * unless `viommu` is false, vIOMMU 6 on it.
 */
function fixture(opts: { viommu?: boolean; release?: string } = {}) {
  const { k, fd } = openIommufd(opts.release ? { release: opts.release } : {});
  const ioas = ioasAlloc(k, fd);
  const m = mockDomain(k, fd, ioas);
  strictEqual(m.ret, 0);
  const h = call(k, fd, R.IOMMU_HWPT_ALLOC, S.iommu_hwpt_alloc, {
    flags: NEST_PARENT,
    dev_id: m.idev,
    pt_id: ioas,
  });
  strictEqual(h.ret, 0);
  const hwpt = Number(h.out.out_hwpt_id);
  let viommu = 0;
  if (opts.viommu !== false) {
    const v = viommuAlloc(k, fd, { dev_id: m.idev, hwpt_id: hwpt });
    strictEqual(v.ret, 0);
    viommu = Number(v.out.out_viommu_id);
  }
  return { k, fd, ioas, ...m, parent: hwpt, viommu };
}

/** sizeof(struct iommu_viommu_selftest): in_data, out_data, out_mmap_offset, out_mmap_length. */
const MOCK_DATA_LEN = 24;

/** A mock vIOMMU on the fixture's parent hwpt with its data struct at user address `data`. */
function viommuWithData(f: ReturnType<typeof fixture>, data: bigint) {
  return viommuAlloc(f.k, f.fd, {
    dev_id: f.idev,
    hwpt_id: f.parent,
    data_len: MOCK_DATA_LEN,
    data_uptr: data,
  });
}

// ---- release gating ----

Deno.test("0x8F-0x94 on 6.12 -> ENOTTY: holes before their release", () => {
  const { k, fd } = openIommufd({ release: "6.12.117" });
  for (const r of R.REQUESTS.filter((q) => q.nr >= 0x8f && q.nr <= 0x94)) {
    strictEqual(call(k, fd, r.request, r.struct!).ret, -E.ENOTTY, r.name);
  }
});

Deno.test("0x95 on 6.18 -> ENOTTY: the table ends at HW_QUEUE_ALLOC (and TEST_CMD)", () => {
  const { k, fd } = openIommufd();
  strictEqual(k.ioctl(fd, 0x3b95, new Uint8Array(64)), -E.ENOTTY);
});

Deno.test("entry rules on 6.18: size below offsetofend(last mandatory) -> EINVAL, past sizeof non-zero -> E2BIG", () => {
  const { k, fd } = openIommufd();
  for (const r of R.REQUESTS.filter((q) => q.nr >= 0x8f && q.nr <= 0x94)) {
    const desc = r.struct!;
    strictEqual(call(k, fd, r.request, desc, { size: desc.minSize - 1 }).ret, -E.EINVAL, r.name);
    const b = call(k, fd, r.request, desc, { size: desc.size + 8 }, desc.size + 8).buf;
    b[desc.size + 1] = 1;
    strictEqual(k.ioctl(fd, r.request, b), -E.E2BIG, r.name);
  }
});

// ---- IOMMU_VIOMMU_ALLOC ----

Deno.test("viommu_alloc: flags or type DEFAULT -> EOPNOTSUPP", () => {
  const f = fixture({ viommu: false });
  strictEqual(
    viommuAlloc(f.k, f.fd, { flags: 1, dev_id: f.idev, hwpt_id: f.parent }).ret,
    -E.EOPNOTSUPP,
  );
  strictEqual(
    viommuAlloc(f.k, f.fd, { type: 0, dev_id: f.idev, hwpt_id: f.parent }).ret,
    -E.EOPNOTSUPP,
  );
});

Deno.test("viommu_alloc: dev_id not a device -> ENOENT", () => {
  const f = fixture({ viommu: false });
  strictEqual(viommuAlloc(f.k, f.fd, { dev_id: f.ioas, hwpt_id: f.parent }).ret, -E.ENOENT);
});

Deno.test("viommu_alloc: a type the mock has no size for -> EOPNOTSUPP", () => {
  const f = fixture({ viommu: false });
  strictEqual(
    viommuAlloc(f.k, f.fd, { type: 1, dev_id: f.idev, hwpt_id: f.parent }).ret,
    -E.EOPNOTSUPP,
  );
});

Deno.test("viommu_alloc: hwpt_id not a paging hwpt -> ENOENT", () => {
  const f = fixture({ viommu: false });
  strictEqual(viommuAlloc(f.k, f.fd, { dev_id: f.idev, hwpt_id: f.ioas }).ret, -E.ENOENT);
});

Deno.test("viommu_alloc: hwpt not a nest parent -> EINVAL", () => {
  const f = fixture({ viommu: false });
  strictEqual(viommuAlloc(f.k, f.fd, { dev_id: f.idev, hwpt_id: f.hwpt }).ret, -E.EINVAL);
});

Deno.test("viommu_alloc: the vIOMMU holds its parent hwpt (DESTROY -> EBUSY) until destroyed", () => {
  const f = fixture();
  strictEqual(f.viommu, 6);
  strictEqual(destroy(f.k, f.fd, f.parent), -E.EBUSY);
  strictEqual(destroy(f.k, f.fd, f.viommu), 0);
  strictEqual(destroy(f.k, f.fd, f.parent), 0);
});

Deno.test("viommu_alloc: non-mock IOMMUs have no vIOMMU of any type -> EOPNOTSUPP", () => {
  for (const profile of ["intel-vtd", "amd-vi", "arm-smmuv3"]) {
    const { k, fd } = openIommufd({ profile });
    const ioas = ioasAlloc(k, fd);
    const name = k.groups()[0].devices[0];
    strictEqual(k.attachDevice(fd, name, ioas).errno, 0);
    const idev = [...k.iommufdContext(fd)!.objects.objects()].find((o) => o.type === "device")!.id;
    for (const type of [1, 2, SELFTEST]) {
      strictEqual(
        viommuAlloc(k, fd, { type, dev_id: idev, hwpt_id: 99 }).ret,
        -E.EOPNOTSUPP,
        profile,
      );
    }
  }
});

Deno.test("viommu_alloc: mock data loops in_data back and reports a two-page mmap window", () => {
  const f = fixture({ viommu: false });
  const buf = f.k.mmap(4096n);
  const data = new Uint8Array(MOCK_DATA_LEN);
  new DataView(data.buffer).setUint32(0, 0xcafe, true);
  f.k.writeMemory(buf, data);
  const v = viommuWithData(f, buf);
  strictEqual(v.ret, 0);
  const out = new Uint8Array(MOCK_DATA_LEN);
  f.k.readMemory(buf, out);
  const o = new DataView(out.buffer);
  deepStrictEqual(
    [o.getUint32(4, true), o.getBigUint64(8, true), o.getBigUint64(16, true)],
    [0xcafe, 0x1000n, 0x2000n],
  );
  // A second window goes after the first.
  const v2 = viommuWithData(f, buf);
  strictEqual(v2.ret, 0);
  f.k.readMemory(buf, out);
  strictEqual(o.getBigUint64(8, true), 0x3000n);
});

Deno.test("viommu_alloc: mock data_len below offsetofend(out_data) -> EINVAL, above sizeof -> EINVAL", () => {
  const f = fixture({ viommu: false });
  const buf = f.k.mmap(4096n);
  const base = { dev_id: f.idev, hwpt_id: f.parent, data_uptr: buf };
  strictEqual(viommuAlloc(f.k, f.fd, { ...base, data_len: 4 }).ret, -E.EINVAL);
  strictEqual(viommuAlloc(f.k, f.fd, { ...base, data_len: 32 }).ret, -E.EINVAL);
  // The length is refused before anything is read: a non-zero tail makes no E2BIG.
  f.k.writeMemory(buf + 24n, new Uint8Array([1]));
  strictEqual(viommuAlloc(f.k, f.fd, { ...base, data_len: 32 }).ret, -E.EINVAL);
  strictEqual(viommuAlloc(f.k, f.fd, { ...base, data_len: 32, data_uptr: 0x10n }).ret, -E.EINVAL);
  strictEqual(viommuAlloc(f.k, f.fd, { ...base, data_len: 24, data_uptr: 0x10n }).ret, -E.EFAULT);
  // Failures gave every id back: the next vIOMMU is 6.
  strictEqual(viommuAlloc(f.k, f.fd, { ...base, data_len: 0 }).out.out_viommu_id, 6n);
});

Deno.test("mmap of the iommufd (iommufd_fops_mmap, 6.17): only a whole window from its start (ENXIO); it holds the vIOMMU (EBUSY)", () => {
  const f = fixture({ viommu: false });
  const buf = f.k.mmap(4096n);
  const v = viommuWithData(f, buf);
  strictEqual(v.ret, 0);
  const id = Number(v.out.out_viommu_id);
  const win = { offset: 0x1000n, length: 0x2000n }; // what the data reported
  strictEqual(f.k.mmap(0x1000n, f.fd, win.offset), -BigInt(E.ENXIO), "part of the window");
  strictEqual(f.k.mmap(0x3000n, f.fd, win.offset), -BigInt(E.ENXIO), "more than the window");
  strictEqual(f.k.mmap(0x1000n, f.fd, 0x2000n), -BigInt(E.ENXIO), "not from its start");
  strictEqual(f.k.mmap(0x2000n, f.fd, 0x5000n), -BigInt(E.ENXIO), "no window there");
  const at = f.k.mmap(win.length, f.fd, win.offset);
  strictEqual(at > 0n, true, `mapped: ${at}`);
  strictEqual(
    f.k.readMemory(at, new Uint8Array(4)),
    -E.EFAULT,
    "device memory: vfsh never reads it",
  );
  strictEqual(destroy(f.k, f.fd, id), -E.EBUSY, "the mapping holds the vIOMMU");
  // Unmapping one page leaves the other piece, which still holds it.
  strictEqual(f.k.munmap(at, 0x1000n), 0);
  strictEqual(destroy(f.k, f.fd, id), -E.EBUSY, "the other page still holds it");
  strictEqual(f.k.munmap(at + 0x1000n, 0x1000n), 0);
  strictEqual(destroy(f.k, f.fd, id), 0);
});

Deno.test("mmap of the iommufd before 6.17 is ENODEV: no mmap op", () => {
  const { k, fd } = openIommufd({ release: "6.12.117" });
  strictEqual(k.mmap(0x1000n, fd, 0x1000n), -BigInt(E.ENODEV));
});

// ---- IOMMU_VDEVICE_ALLOC ----

Deno.test("vdevice_alloc: viommu_id not a vIOMMU -> ENOENT; dev_id not a device -> ENOENT", () => {
  const f = fixture();
  strictEqual(vdevAlloc(f.k, f.fd, { viommu_id: f.ioas, dev_id: f.idev }).ret, -E.ENOENT);
  strictEqual(vdevAlloc(f.k, f.fd, { viommu_id: f.viommu, dev_id: f.ioas }).ret, -E.ENOENT);
});

Deno.test("vdevice_alloc: second vDEVICE of a device -> EEXIST; virt_id taken -> EEXIST", () => {
  const f = fixture();
  const a = vdevAlloc(f.k, f.fd, { viommu_id: f.viommu, dev_id: f.idev, virt_id: 0x99 });
  strictEqual(a.ret, 0);
  strictEqual(a.out.out_vdevice_id, 7n);
  strictEqual(
    vdevAlloc(f.k, f.fd, { viommu_id: f.viommu, dev_id: f.idev, virt_id: 0x88 }).ret,
    -E.EEXIST,
  );
  const m2 = mockDomain(f.k, f.fd, f.ioas);
  strictEqual(m2.ret, 0);
  strictEqual(
    vdevAlloc(f.k, f.fd, { viommu_id: f.viommu, dev_id: m2.idev, virt_id: 0x99 }).ret,
    -E.EEXIST,
  );
  // The vDEVICE holds the vIOMMU.
  strictEqual(destroy(f.k, f.fd, f.viommu), -E.EBUSY);
  strictEqual(destroy(f.k, f.fd, 7), 0);
  strictEqual(vdevAlloc(f.k, f.fd, { viommu_id: f.viommu, dev_id: f.idev, virt_id: 0x88 }).ret, 0);
});

Deno.test("vdevice_alloc: device behind another IOMMU -> EINVAL", () => {
  const f = fixture();
  f.k.addDevice("other", { profile: "intel-vtd" });
  const ioas2 = ioasAlloc(f.k, f.fd);
  strictEqual(f.k.attachDevice(f.fd, "other", ioas2).errno, 0);
  const idev = [...f.k.iommufdContext(f.fd)!.objects.objects()].filter((o) => o.type === "device")
    .at(-1)!.id;
  strictEqual(vdevAlloc(f.k, f.fd, { viommu_id: f.viommu, dev_id: idev }).ret, -E.EINVAL);
});

Deno.test("vdevice_tombstone: unbinding the device leaves the vDEVICE id as a tombstone (DESTROY -> ENOENT)", () => {
  const f = fixture();
  const a = vdevAlloc(f.k, f.fd, { viommu_id: f.viommu, dev_id: f.idev, virt_id: 0x99 });
  const vdev = Number(a.out.out_vdevice_id);
  strictEqual(destroy(f.k, f.fd, f.stdev), 0);
  strictEqual(destroy(f.k, f.fd, vdev), -E.ENOENT);
  // The id is not reused, and the vIOMMU is free again.
  // stdev 2, idev 3 and the automatic hwpt 4 went with the device; 7 stays taken.
  deepStrictEqual([2, 3, 4, 8].map(() => ioasAlloc(f.k, f.fd)), [2, 3, 4, 8]);
  strictEqual(destroy(f.k, f.fd, f.viommu), 0);
  strictEqual(f.k.close(f.fd), 0);
  strictEqual(f.k.pinnedPages(), 0n);
});

// ---- nested hwpts and invalidation ----

const hwptNested = (k: SimKernel, fd: number, v: StructValues, iotlb = 0xbadbeef) => {
  const buf = k.mmap(4096n);
  const d = new Uint8Array(4);
  new DataView(d.buffer).setUint32(0, iotlb, true);
  k.writeMemory(buf, d);
  return call(k, fd, R.IOMMU_HWPT_ALLOC, S.iommu_hwpt_alloc, {
    data_type: DATA_SELFTEST,
    data_len: 4,
    data_uptr: buf,
    ...v,
  });
};

Deno.test("hwpt_alloc nested: through a vIOMMU takes an id and holds the vIOMMU", () => {
  const f = fixture();
  const n = hwptNested(f.k, f.fd, { dev_id: f.idev, pt_id: f.viommu });
  strictEqual(n.ret, 0);
  strictEqual(n.out.out_hwpt_id, 7n);
  strictEqual(destroy(f.k, f.fd, f.viommu), -E.EBUSY);
  strictEqual(destroy(f.k, f.fd, 7), 0);
  strictEqual(destroy(f.k, f.fd, f.viommu), 0);
});

Deno.test("hwpt_alloc nested: mock wants IOMMU_HWPT_DATA_SELFTEST -> EOPNOTSUPP; data_len below 4 -> EINVAL", () => {
  const f = fixture();
  strictEqual(
    hwptNested(f.k, f.fd, { dev_id: f.idev, pt_id: f.parent, data_type: 1 }).ret,
    -E.EOPNOTSUPP,
  );
  strictEqual(
    hwptNested(f.k, f.fd, { dev_id: f.idev, pt_id: f.parent, data_len: 2 }).ret,
    -E.EINVAL,
  );
  const ok = hwptNested(f.k, f.fd, { dev_id: f.idev, pt_id: f.parent });
  strictEqual(ok.ret, 0);
  strictEqual(destroy(f.k, f.fd, f.parent), -E.EBUSY, "the nested hwpt holds its parent");
});

Deno.test("hwpt_alloc nested: FAULT_ID_VALID with fault_id not a fault -> ENOENT; with one it holds the fault", () => {
  const f = fixture();
  strictEqual(
    hwptNested(f.k, f.fd, { dev_id: f.idev, pt_id: f.viommu, flags: 4, fault_id: f.ioas }).ret,
    -E.ENOENT,
  );
  const fa = call(f.k, f.fd, R.IOMMU_FAULT_QUEUE_ALLOC, S.iommu_fault_alloc);
  strictEqual(fa.ret, 0);
  const fault = Number(fa.out.out_fault_id);
  f.k.close(Number(fa.out.out_fault_fd));
  const n = hwptNested(f.k, f.fd, { dev_id: f.idev, pt_id: f.viommu, flags: 4, fault_id: fault });
  strictEqual(n.ret, 0);
  strictEqual(destroy(f.k, f.fd, fault), -E.EBUSY);
});

const invalidate = (k: SimKernel, fd: number, v: StructValues) =>
  call(k, fd, R.IOMMU_HWPT_INVALIDATE, S.iommu_hwpt_invalidate, v);

Deno.test("hwpt_invalidate: an object neither nested hwpt nor vIOMMU -> EINVAL on 6.18, ENOENT on 6.12", () => {
  const f = fixture();
  strictEqual(invalidate(f.k, f.fd, { hwpt_id: f.ioas }).ret, -E.EINVAL);
  strictEqual(invalidate(f.k, f.fd, { hwpt_id: 99 }).ret, -E.ENOENT);
  const old = openIommufd({ release: "6.12" });
  const ioas = ioasAlloc(old.k, old.fd);
  strictEqual(invalidate(old.k, old.fd, { hwpt_id: ioas }).ret, -E.ENOENT);
});

Deno.test("hwpt_invalidate: vIOMMU: empty SELFTEST array is a probe (0); unknown vdev_id -> EINVAL after the whole copy", () => {
  const f = fixture();
  strictEqual(
    invalidate(f.k, f.fd, { hwpt_id: f.viommu, data_type: VIOMMU_INVALIDATE_DATA }).ret,
    0,
  );
  strictEqual(invalidate(f.k, f.fd, { hwpt_id: f.viommu, data_type: 1 }).ret, -E.EINVAL);
  vdevAlloc(f.k, f.fd, { viommu_id: f.viommu, dev_id: f.idev, virt_id: 0x99 });
  const buf = f.k.mmap(4096n);
  const cmds = new Uint8Array(24);
  const v = new DataView(cmds.buffer);
  v.setUint32(4, 0x99, true); // entry 0: vdev 0x99, cache 0
  v.setUint32(16, 0x98, true); // entry 1: vdev 0x98 does not exist
  f.k.writeMemory(buf, cmds);
  const r = invalidate(f.k, f.fd, {
    hwpt_id: f.viommu,
    data_type: VIOMMU_INVALIDATE_DATA,
    data_uptr: buf,
    entry_len: 12,
    entry_num: 2,
  });
  deepStrictEqual([r.ret, r.out.entry_num], [-E.EINVAL, 1n]);
});

Deno.test("hwpt_invalidate: nested: iotlb_id above 3 -> EINVAL, unknown flags -> EOPNOTSUPP, entries counted", () => {
  const f = fixture();
  const n = Number(hwptNested(f.k, f.fd, { dev_id: f.idev, pt_id: f.parent }).out.out_hwpt_id);
  const buf = f.k.mmap(4096n);
  const e = new Uint8Array(24);
  const v = new DataView(e.buffer);
  v.setUint32(4, 1, true);
  v.setUint32(12, 4, true);
  v.setUint32(16, 2, true);
  f.k.writeMemory(buf, e);
  const base = { hwpt_id: n, data_type: 0xdeadbeef, data_uptr: buf, entry_len: 8 };
  deepStrictEqual([invalidate(f.k, f.fd, { ...base, entry_num: 2 }).ret], [-E.EINVAL]);
  strictEqual(invalidate(f.k, f.fd, { ...base, entry_num: 2 }).out.entry_num, 1n);
  v.setUint32(8, 2, true);
  f.k.writeMemory(buf, e);
  strictEqual(invalidate(f.k, f.fd, { ...base, entry_num: 2 }).ret, -E.EOPNOTSUPP);
  strictEqual(invalidate(f.k, f.fd, { ...base, entry_len: 4, entry_num: 1 }).ret, -E.EINVAL);
});

// ---- IOMMU_HW_QUEUE_ALLOC ----

Deno.test("hw_queue_alloc: the selftest's sequence (type, length, overflow, ENOENT, index rules, EBUSY unmap, dependency)", () => {
  const f = fixture();
  const { k, fd, viommu } = f;
  const iova = 0x1000000n;
  const base = { viommu_id: viommu, nesting_parent_iova: iova, length: 4096n };
  strictEqual(hwqAlloc(k, fd, { ...base, type: 0 }).ret, -E.EOPNOTSUPP, "type DEFAULT");
  strictEqual(hwqAlloc(k, fd, { ...base, length: 0n }).ret, -E.EINVAL, "length 0");
  strictEqual(
    hwqAlloc(k, fd, { ...base, nesting_parent_iova: (1n << 64n) - 1n }).ret,
    -E.EOVERFLOW,
  );
  strictEqual(hwqAlloc(k, fd, base).ret, -E.ENOENT, "iova not mapped");
  const buf = k.mmap(0x4000n);
  const m1 = mapAuto(k, fd, f.ioas, buf, 4096n);
  const m2 = mapAuto(k, fd, f.ioas, buf + 4096n, 4096n);
  strictEqual(m1.iova, iova);
  strictEqual(hwqAlloc(k, fd, { ...base, index: 1 }).ret, -E.EIO, "index 1 before 0");
  strictEqual(hwqAlloc(k, fd, { ...base, index: 2 }).ret, -E.EINVAL, "index MAX");
  const q0 = hwqAlloc(k, fd, base);
  strictEqual(q0.ret, 0);
  strictEqual(q0.out.out_hw_queue_id, 7n, "the queue takes its id before the access (8)");
  strictEqual(hwqAlloc(k, fd, base).ret, -E.EEXIST, "index 0 again");
  strictEqual(unmap(k, fd, f.ioas, iova, 4096n).ret, -E.EBUSY, "the queue locks its area");
  strictEqual(unmap(k, fd, f.ioas, m2.iova, 4096n).ret, 0, "the next page is not locked");
  const q1 = hwqAlloc(k, fd, {
    ...base,
    index: 1,
    nesting_parent_iova: iova + 2048n,
    length: 2048n,
  });
  strictEqual(q1.ret, 0);
  strictEqual(q1.out.out_hw_queue_id, 9n);
  strictEqual(destroy(k, fd, 7), -E.EBUSY, "queue 1 holds queue 0");
  strictEqual(destroy(k, fd, 8), -E.EBUSY, "the internal access is held by its queue");
  strictEqual(destroy(k, fd, viommu), -E.EBUSY);
  strictEqual(destroy(k, fd, 9), 0);
  strictEqual(destroy(k, fd, 7), 0);
  strictEqual(unmap(k, fd, f.ioas, iova, 4096n).ret, 0);
});

Deno.test("iopt_unmap_iova_range: an area locked by an HW queue -> EBUSY before the partial-unmap ENOENT", () => {
  const f = fixture();
  const buf = f.k.mmap(0x4000n);
  const m = mapAuto(f.k, f.fd, f.ioas, buf, 0x4000n);
  strictEqual(m.ret, 0);
  const q = hwqAlloc(f.k, f.fd, {
    viommu_id: f.viommu,
    nesting_parent_iova: m.iova,
    length: 4096n,
  });
  strictEqual(q.ret, 0);
  // A range cutting into the area: ENOENT for an unlocked area, but num_locks comes first.
  strictEqual(unmap(f.k, f.fd, f.ioas, m.iova + 0x1000n, 0x1000n).ret, -E.EBUSY);
  strictEqual(unmap(f.k, f.fd, f.ioas, m.iova, 0x8000n).ret, -E.EBUSY, "a range covering it");
  strictEqual(destroy(f.k, f.fd, Number(q.out.out_hw_queue_id)), 0);
  strictEqual(unmap(f.k, f.fd, f.ioas, m.iova + 0x1000n, 0x1000n).ret, -E.ENOENT);
});

Deno.test("iopt_area_split: an area with an access (HW queue) -> EINVAL (num_accesses), not EBUSY", () => {
  const f = fixture();
  strictEqual(setCompat(f.k, f.fd, f.ioas), 0);
  strictEqual(f.k.ioctl(f.fd, R.VFIO_SET_IOMMU, 1n), 0, "TYPE1: cuts on unmap");
  const buf = f.k.mmap(0x4000n);
  const iova = 0x1000000n;
  strictEqual(mapDma(f.k, f.fd, buf, iova, 0x4000n), 0);
  const q = hwqAlloc(f.k, f.fd, { viommu_id: f.viommu, nesting_parent_iova: iova, length: 4096n });
  strictEqual(q.ret, 0);
  // An unaligned cut: EINVAL, as for any area (the kernel checks alignment first).
  deepStrictEqual(unmapDma(f.k, f.fd, iova + 0x800n, 0x800n), { ret: -E.EINVAL, size: 0x800n });
  // An aligned cut into the locked area: num_accesses -> EINVAL (not EBUSY), nothing unmapped.
  deepStrictEqual(unmapDma(f.k, f.fd, iova + 0x1000n, 0x1000n), {
    ret: -E.EINVAL,
    size: 0x1000n,
  });
  // Cuts at the area's own bounds split nothing: the whole area reaches num_locks -> EBUSY.
  deepStrictEqual(unmapDma(f.k, f.fd, iova, 0x4000n), { ret: -E.EBUSY, size: 0n });
  strictEqual(destroy(f.k, f.fd, Number(q.out.out_hw_queue_id)), 0);
  deepStrictEqual(unmapDma(f.k, f.fd, iova + 0x1000n, 0x1000n), { ret: 0, size: 0x1000n });
});

Deno.test("hw_queue_alloc: the internal access raises the IOAS alignment to PAGE_SIZE; a 2 KiB area -> EADDRINUSE", () => {
  const f = fixture();
  const buf = f.k.mmap(0x4000n);
  strictEqual(mapAuto(f.k, f.fd, f.ioas, buf, 4096n).ret, 0);
  strictEqual(iovaRanges(f.k, f.fd, f.ioas).alignment, 2048n);
  const q = hwqAlloc(f.k, f.fd, {
    viommu_id: f.viommu,
    nesting_parent_iova: 0x1000000n,
    length: 4096n,
  });
  strictEqual(q.ret, 0);
  strictEqual(iovaRanges(f.k, f.fd, f.ioas).alignment, 4096n);
  strictEqual(destroy(f.k, f.fd, Number(q.out.out_hw_queue_id)), 0);
  strictEqual(iovaRanges(f.k, f.fd, f.ioas).alignment, 2048n);
  const g = fixture();
  const b2 = g.k.mmap(0x4000n);
  strictEqual(mapAuto(g.k, g.fd, g.ioas, b2 + 2048n, 2048n).ret, 0);
  const r = hwqAlloc(g.k, g.fd, {
    viommu_id: g.viommu,
    nesting_parent_iova: 0x1000000n,
    length: 2048n,
  });
  strictEqual(r.ret, -E.EADDRINUSE);
});

Deno.test("hw_queue_alloc: queue over more than one page -> EFAULT (no physically contiguous run)", () => {
  const f = fixture();
  const buf = f.k.mmap(0x4000n);
  strictEqual(mapAuto(f.k, f.fd, f.ioas, buf, 0x4000n).ret, 0);
  const r = hwqAlloc(f.k, f.fd, {
    viommu_id: f.viommu,
    nesting_parent_iova: 0x1000000n,
    length: 8192n,
  });
  strictEqual(r.ret, -E.EFAULT);
  strictEqual(unmap(f.k, f.fd, f.ioas, 0x1000000n, 0x4000n).ret, 0, "nothing stayed locked");
});

Deno.test("hw_queue_alloc: an area not readable -> EPERM", () => {
  const f = fixture();
  const buf = f.k.mmap(0x4000n);
  const c = call(f.k, f.fd, R.IOMMU_IOAS_MAP, S.iommu_ioas_map, {
    flags: 2,
    ioas_id: f.ioas,
    user_va: buf,
    length: 4096n,
  });
  strictEqual(c.ret, 0);
  const r = hwqAlloc(f.k, f.fd, {
    viommu_id: f.viommu,
    nesting_parent_iova: c.out.iova,
    length: 4096n,
  });
  strictEqual(r.ret, -E.EPERM);
});

Deno.test("close releases vIOMMU, vDEVICE, HW queue and access: every pin goes", () => {
  const f = fixture();
  const buf = f.k.mmap(0x4000n);
  mapAuto(f.k, f.fd, f.ioas, buf, 4096n);
  strictEqual(
    hwqAlloc(f.k, f.fd, { viommu_id: f.viommu, nesting_parent_iova: 0x1000000n, length: 4096n })
      .ret,
    0,
  );
  strictEqual(vdevAlloc(f.k, f.fd, { viommu_id: f.viommu, dev_id: f.idev, virt_id: 1 }).ret, 0);
  strictEqual(f.k.pinnedPages() > 0n, true);
  strictEqual(f.k.close(f.fd), 0);
  strictEqual(f.k.pinnedPages(), 0n);
  strictEqual(f.k.internalErrors.length, 0);
});

// ---- copy-back faults, nested allocation through a vIOMMU, HW queue ranges ----

Deno.test("viommu_alloc: iommufd_ucmd_respond faults (read-only struct) -> EFAULT; the vIOMMU goes with its parent reference, id and mmap window", () => {
  const f = fixture({ viommu: false });
  const data = f.k.mmap(0x1000n);
  const base = { type: SELFTEST, dev_id: f.idev, hwpt_id: f.parent, data_len: 24, data_uptr: data };
  const r = runHandler(f.k, f.fd, iommufdViommuAlloc, S.iommu_viommu_alloc, viommuAllocSize, base, {
    structReadOnly: true,
  });
  deepStrictEqual([r.ret, r.out.out_viommu_id], [-E.EFAULT, 0n], "nothing written back");
  const out = new Uint8Array(24);
  f.k.readMemory(data, out);
  strictEqual(new DataView(out.buffer).getBigUint64(8, true), 0x1000n, "the driver's copy-out");
  const v = viommuAlloc(f.k, f.fd, base);
  deepStrictEqual([v.ret, v.out.out_viommu_id], [0, 6n], "the id went back");
  f.k.readMemory(data, out);
  strictEqual(new DataView(out.buffer).getBigUint64(8, true), 0x1000n, "and the window");
  strictEqual(destroy(f.k, f.fd, 6), 0);
  strictEqual(destroy(f.k, f.fd, f.parent), 0, "the parent hwpt is free again");
});

Deno.test("viommu_alloc: copy-back of the mock data faults (read-only page) -> EFAULT; the mmap window and the id go back", () => {
  const f = fixture({ viommu: false });
  const data = f.k.mmap(0x1000n);
  f.k.writeMemory(data, new Uint8Array([0xfe, 0xca, 0, 0]));
  const base = { type: SELFTEST, dev_id: f.idev, hwpt_id: f.parent, data_len: 24, data_uptr: data };
  const r = runHandler(f.k, f.fd, iommufdViommuAlloc, S.iommu_viommu_alloc, viommuAllocSize, base, {
    readOnly: data,
  });
  deepStrictEqual([r.ret, r.out.out_viommu_id], [-E.EFAULT, 0n]);
  const out = new Uint8Array(24);
  f.k.readMemory(data, out);
  deepStrictEqual([...out], [0xfe, 0xca, ...new Uint8Array(22)], "out_data not written");
  const v = viommuAlloc(f.k, f.fd, base);
  deepStrictEqual([v.ret, v.out.out_viommu_id], [0, 6n], "the id went back");
  f.k.readMemory(data, out);
  strictEqual(new DataView(out.buffer).getBigUint64(8, true), 0x1000n, "and the first window");
});

Deno.test("hwpt_alloc through a vIOMMU: a device behind another IOMMU -> EINVAL, before the flags and data checks", () => {
  const f = fixture();
  f.k.addDevice("other", { profile: "intel-vtd" });
  const ioas2 = ioasAlloc(f.k, f.fd);
  strictEqual(f.k.attachDevice(f.fd, "other", ioas2).errno, 0);
  const idev = [...f.k.iommufdContext(f.fd)!.objects.objects()].filter((o) => o.type === "device")
    .at(-1)!.id;
  strictEqual(hwptNested(f.k, f.fd, { dev_id: idev, pt_id: f.viommu }).ret, -E.EINVAL);
  strictEqual(
    hwptNested(f.k, f.fd, { dev_id: idev, pt_id: f.viommu, flags: NEST_PARENT }).ret,
    -E.EINVAL,
  );
});

Deno.test("hwpt_alloc through a vIOMMU: flags beyond FAULT_ID_VALID|PASID or no data -> EOPNOTSUPP, no id taken", () => {
  const f = fixture();
  const nested = (v: StructValues) =>
    hwptNested(f.k, f.fd, { dev_id: f.idev, pt_id: f.viommu, ...v });
  deepStrictEqual(
    [nested({ flags: NEST_PARENT }).ret, nested({ flags: 2 }).ret, nested({ flags: 16 }).ret],
    [-E.EOPNOTSUPP, -E.EOPNOTSUPP, -E.EOPNOTSUPP],
  );
  strictEqual(nested({ data_type: 0, data_len: 0 }).ret, -E.EOPNOTSUPP, "no driver data");
  const ok = nested({ flags: 8 });
  deepStrictEqual([ok.ret, ok.out.out_hwpt_id], [0, 7n], "PASID is accepted; no id was taken");
});

Deno.test("hwpt_alloc nested: iommufd_ucmd_respond faults (read-only struct) -> EFAULT; the nested hwpt lets its parent or vIOMMU go", () => {
  const f = fixture();
  const data = f.k.mmap(0x1000n);
  const base = { data_type: DATA_SELFTEST, data_len: 4, data_uptr: data, dev_id: f.idev };
  for (const pt_id of [f.parent, f.viommu]) {
    const r = runHandler(
      f.k,
      f.fd,
      iommufdHwptAlloc,
      S.iommu_hwpt_alloc,
      hwptAllocSize,
      { ...base, pt_id },
      { structReadOnly: true },
    );
    deepStrictEqual([r.ret, r.out.out_hwpt_id], [-E.EFAULT, 0n], `pt_id ${pt_id}`);
  }
  strictEqual(destroy(f.k, f.fd, f.viommu), 0, "nothing holds the vIOMMU");
  strictEqual(destroy(f.k, f.fd, f.parent), 0, "nothing holds the parent");
});

Deno.test("hwpt_invalidate: vIOMMU: unknown flags -> EOPNOTSUPP after the whole copy, the entries before counted", () => {
  const f = fixture();
  strictEqual(vdevAlloc(f.k, f.fd, { viommu_id: f.viommu, dev_id: f.idev, virt_id: 0x99 }).ret, 0);
  const buf = f.k.mmap(4096n);
  const cmds = new Uint8Array(36);
  const v = new DataView(cmds.buffer);
  for (let i = 0; i < 3; i++) v.setUint32(12 * i + 4, 0x99, true);
  v.setUint32(12, 2, true); // entry 1: flags 2 (only IOMMU_TEST_INVALIDATE_FLAG_ALL is known)
  v.setUint32(32, 9, true); // entry 2: cache_id 9, never reached
  f.k.writeMemory(buf, cmds);
  const r = invalidate(f.k, f.fd, {
    hwpt_id: f.viommu,
    data_type: VIOMMU_INVALIDATE_DATA,
    data_uptr: buf,
    entry_len: 12,
    entry_num: 3,
  });
  deepStrictEqual([r.ret, r.out.entry_num], [-E.EOPNOTSUPP, 1n]);
});

Deno.test("hw_queue_alloc: viommu_id not a vIOMMU -> ENOENT before the type; a type the mock has no queue for -> EOPNOTSUPP", () => {
  const f = fixture();
  const base = { nesting_parent_iova: 0x1000000n, length: 4096n };
  strictEqual(hwqAlloc(f.k, f.fd, { ...base, viommu_id: f.ioas, type: 1 }).ret, -E.ENOENT);
  strictEqual(hwqAlloc(f.k, f.fd, { ...base, viommu_id: 99 }).ret, -E.ENOENT);
  strictEqual(hwqAlloc(f.k, f.fd, { ...base, viommu_id: f.viommu, type: 1 }).ret, -E.EOPNOTSUPP);
});

Deno.test("iommufd_hw_queue_alloc_phys: offset + length, or that + PAGE_SIZE - 1, past u64 -> ERANGE; the queue's id goes back", () => {
  const f = fixture();
  const q = (nesting_parent_iova: bigint, length: bigint) =>
    hwqAlloc(f.k, f.fd, { viommu_id: f.viommu, nesting_parent_iova, length });
  const U64_MAX = (1n << 64n) - 1n;
  strictEqual(q(1n, U64_MAX).ret, -E.ERANGE, "offset 1 + length wraps");
  strictEqual(q(0n, U64_MAX).ret, -E.ERANGE, "rounding up to pages wraps");
  strictEqual(q(0x800n, U64_MAX - 0x800n - 0xffen).ret, -E.ERANGE, "one byte past the last page");
  strictEqual(q(0x800n, U64_MAX - 0x800n - 0xfffn).ret, -E.ENOMEM, "that page itself: no wrap");
  strictEqual(mapAuto(f.k, f.fd, f.ioas, f.k.mmap(4096n), 4096n).ret, 0);
  const ok = q(0x1000000n, 4096n);
  deepStrictEqual([ok.ret, ok.out.out_hw_queue_id], [0, 7n]);
});

Deno.test("iommufd_hw_queue_alloc_phys: a page array over INT_MAX bytes (kvcalloc) -> ENOMEM", () => {
  const f = fixture();
  const q = (length: bigint) =>
    hwqAlloc(f.k, f.fd, { viommu_id: f.viommu, nesting_parent_iova: 0x1000000n, length }).ret;
  strictEqual(q(1n << 40n), -E.ENOMEM, "2^28 pages: 2 GiB of page pointers");
  strictEqual(q((1n << 40n) - 0xfffn), -E.ENOMEM, "rounded up to the same 2^28 pages");
  strictEqual(q(4096n), -E.ENOENT, "a small queue reaches the pin: nothing is mapped");
});
