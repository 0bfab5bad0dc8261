/**
 * vfio_iommu_type1 as a legacy container's backend: one test per errno path and write-back
 * rule of vfio_iommu_type1.c, each named after the rule it checks.
 */

import { deepStrictEqual, strictEqual } from "node:assert";
import { E } from "../uapi/errno.ts";
import { decodeInfoCaps } from "../uapi/caps.ts";
import { encode } from "../uapi/codec.ts";
import * as S from "../uapi/structs.ts";
import * as R from "../uapi/ioctl.ts";
import { SimKernel } from "./kernel.ts";
import { call, mapDma, unmapDma } from "../tests/_sim_helpers.ts";
import { type Iommu, parseProfile } from "./profiles.ts";
import { Platform } from "./platform.ts";
import { findRelease } from "./release.ts";
import { Type1Iommu, type Type1Machine } from "./vfio_type1.ts";
import { UserArg } from "./uaccess.ts";

const MiB = 0x100000n;
const TOP_PAGE = 0xffff_ffff_ffff_f000n;

/** A legacy container with the profile's first group attached and SET_IOMMU(type) done. */
function type1(
  opts: { type?: bigint; profile?: string; release?: string; dmaEntryLimit?: number } = {},
) {
  const k = new SimKernel({
    profile: opts.profile ?? "intel-vtd",
    release: opts.release,
    container: "legacy",
    dmaEntryLimit: opts.dmaEntryLimit,
  });
  const fd = k.open("/dev/vfio/vfio");
  const group = k.groups()[0].group;
  const gfd = k.open(`/dev/vfio/${group}`);
  const fdArg = new Uint8Array(4);
  new DataView(fdArg.buffer).setInt32(0, fd, true);
  strictEqual(k.ioctl(gfd, R.VFIO_GROUP_SET_CONTAINER, fdArg), 0);
  strictEqual(k.ioctl(fd, R.VFIO_SET_IOMMU, opts.type ?? 3n), 0);
  const buf = k.mmap(16n * MiB);
  return { k, fd, gfd, buf };
}

function mapFlags(
  k: SimKernel,
  fd: number,
  flags: number,
  vaddr: bigint,
  iova: bigint,
  size: bigint,
) {
  return call(k, fd, R.VFIO_IOMMU_MAP_DMA, S.vfio_iommu_type1_dma_map, {
    flags,
    vaddr,
    iova,
    size,
  }).ret;
}

function info(k: SimKernel, fd: number, argsz: number) {
  const buf = new Uint8Array(Math.max(argsz, 24)).fill(0xaa);
  new DataView(buf.buffer).setUint32(0, argsz, true);
  const ret = k.ioctl(fd, R.VFIO_IOMMU_GET_INFO, buf);
  const v = new DataView(buf.buffer);
  return {
    ret,
    buf,
    argsz: v.getUint32(0, true),
    flags: v.getUint32(4, true),
    pgsizes: v.getBigUint64(8, true),
    capOffset: v.getUint32(16, true),
  };
}

function dmaAvail(k: SimKernel, fd: number): bigint {
  const i = info(k, fd, 256);
  return decodeInfoCaps(i.buf).caps.find((c) => c.kind === "dma_avail")!.fields.avail;
}

/** UNMAP_DMA with a raw buffer (to see exactly what is written back). */
function unmapRaw(
  k: SimKernel,
  fd: number,
  fields: { argsz?: number; flags?: number; iova: bigint; size: bigint },
  extra = 0,
) {
  const b = new Uint8Array(24 + extra);
  const v = new DataView(b.buffer);
  v.setUint32(0, fields.argsz ?? 24 + extra, true);
  v.setUint32(4, fields.flags ?? 0, true);
  v.setBigUint64(8, fields.iova, true);
  v.setBigUint64(16, fields.size, true);
  return {
    b,
    v,
    ret: () => k.ioctl(fd, R.VFIO_IOMMU_UNMAP_DMA, b),
    size: () => v.getBigUint64(16, true),
  };
}

function dirty(k: SimKernel, fd: number, flags: number, argsz = 8) {
  const b = new Uint8Array(Math.max(argsz, 8));
  const v = new DataView(b.buffer);
  v.setUint32(0, argsz, true);
  v.setUint32(4, flags, true);
  return k.ioctl(fd, R.VFIO_IOMMU_DIRTY_PAGES, b);
}

/**
 * VFIO_IOMMU_DIRTY_PAGES GET_BITMAP of [iova, iova + size) into the bitmap at user address
 * `data` (bmSize bytes, default as many as the pages need); the ioctl's answer.
 */
function getBitmapAt(
  k: SimKernel,
  fd: number,
  iova: bigint,
  size: bigint,
  data: bigint,
  pgsize = 0x1000n,
  bmSize?: bigint,
): number {
  const b = new Uint8Array(48);
  const v = new DataView(b.buffer);
  v.setUint32(0, 48, true);
  v.setUint32(4, 4, true);
  v.setBigUint64(8, iova, true);
  v.setBigUint64(16, size, true);
  v.setBigUint64(24, pgsize, true);
  v.setBigUint64(32, bmSize ?? ((size / pgsize + 63n) / 64n) * 8n, true);
  v.setBigUint64(40, data, true);
  return k.ioctl(fd, R.VFIO_IOMMU_DIRTY_PAGES, b);
}

/** {@link getBitmapAt} into fresh memory; the answer and the bitmap's first 16 bytes. */
function getBitmap(
  k: SimKernel,
  fd: number,
  iova: bigint,
  size: bigint,
  pgsize = 0x1000n,
  bmSize?: bigint,
) {
  const bitmap = k.mmap(0x10000n);
  const ret = getBitmapAt(k, fd, iova, size, bitmap, pgsize, bmSize);
  const out = new Uint8Array(16);
  k.readMemory(bitmap, out);
  return { ret, out };
}

// ---- GET_INFO ----

Deno.test("type1 get_info: argsz below offsetofend(iova_pgsizes) is EINVAL", () => {
  const { k, fd } = type1();
  strictEqual(info(k, fd, 15).ret, -E.EINVAL);
  strictEqual(info(k, fd, 16).ret, 0);
});

Deno.test("type1 get_info: too small for the caps: argsz := needed, cap_offset 0, no cap bytes written", () => {
  const { k, fd } = type1();
  for (const argsz of [24, 119]) {
    const i = info(k, fd, argsz);
    strictEqual(i.ret, 0);
    strictEqual(i.argsz, 120);
    strictEqual(i.flags, 3, "CAPS is flagged even when none was copied");
    strictEqual(i.pgsizes, 0x40201000n);
    strictEqual(i.capOffset, 0);
    strictEqual(i.buf.subarray(24).every((x) => x === 0xaa), true, "nothing past the struct");
  }
});

Deno.test("type1 get_info: big enough: argsz left as passed, caps MIGRATION, DMA_AVAIL, IOVA_RANGE", () => {
  const { k, fd } = type1();
  const i = info(k, fd, 200);
  strictEqual(i.argsz, 200, "not the exact size (compat would write 120 here)");
  strictEqual(i.capOffset, 24);
  const caps = decodeInfoCaps(i.buf).caps;
  deepStrictEqual(caps.map((c) => [c.offset, c.kind, c.next]), [
    [24, "migration", 56],
    [56, "dma_avail", 72],
    [72, "iova_range", 0],
  ]);
  strictEqual(caps[0].fields.pgsize_bitmap, 0x1000n);
  strictEqual(caps[0].fields.max_dirty_bitmap_size, 0x10000000n);
  strictEqual(caps[0].fields.flags, 0n);
  strictEqual(caps[1].fields.avail, 65535n);
  deepStrictEqual(caps[2].ranges, [
    { start: 0n, end: 0xfedfffffn },
    { start: 0xfef00000n, end: 0x7f_ffff_ffffn },
  ]);
  strictEqual(i.buf.subarray(68, 72).every((x) => x === 0), true, "DMA_AVAIL padding zeroed");
  strictEqual(i.buf.subarray(120).every((x) => x === 0xaa), true, "nothing past the caps");
});

Deno.test("type1 get_info: before 6.6 caps are not padded and 16 or 20 struct bytes come back", () => {
  const { k, fd } = type1({ release: "6.2" });
  const small = info(k, fd, 24);
  strictEqual(small.argsz, 116, "32 + 12 + 48 bytes of caps after the 24-byte struct");
  strictEqual(small.buf.subarray(20, 24).every((x) => x === 0xaa), true, "20 bytes written");
  const i = info(k, fd, 116);
  deepStrictEqual(decodeInfoCaps(i.buf).caps.map((c) => [c.offset, c.next]), [
    [24, 56],
    [56, 68],
    [68, 0],
  ]);
  const tiny = info(k, fd, 16);
  strictEqual(tiny.buf.subarray(16, 24).every((x) => x === 0xaa), true, "16 bytes written");
});

Deno.test("type1 get_info: iova_pgsizes folds sub-PAGE_SIZE sizes into PAGE_SIZE (vfio_update_pgsize_bitmap)", () => {
  const { k, fd } = type1({ profile: "mock" });
  const i = info(k, fd, 256);
  strictEqual(i.pgsizes, 0x1000n, "the mock IOMMU's 2 KiB pages become 4 KiB");
  const caps = decodeInfoCaps(i.buf).caps;
  deepStrictEqual(caps[2].ranges, [{ start: 0x1000000n, end: 0x7fffffffn }]);
});

Deno.test("type1 get_info: DMA_AVAIL counts the dma_entry_limit down and back up", () => {
  const { k, fd, buf } = type1();
  strictEqual(dmaAvail(k, fd), 65535n);
  strictEqual(mapDma(k, fd, buf, MiB, MiB), 0);
  strictEqual(dmaAvail(k, fd), 65534n);
  strictEqual(unmapDma(k, fd, MiB, MiB).ret, 0);
  strictEqual(dmaAvail(k, fd), 65535n);
});

// ---- MAP_DMA ----

Deno.test("type1 map: argsz below 32 or a flag outside READ|WRITE|VADDR is EINVAL", () => {
  const { k, fd, buf } = type1();
  strictEqual(
    call(k, fd, R.VFIO_IOMMU_MAP_DMA, S.vfio_iommu_type1_dma_map, {
      argsz: 31,
      flags: 3,
      vaddr: buf,
      iova: MiB,
      size: MiB,
    }).ret,
    -E.EINVAL,
  );
  strictEqual(mapFlags(k, fd, 3 | 8, buf, MiB, MiB), -E.EINVAL);
});

Deno.test("type1 map: flags 0 (no READ/WRITE, no VADDR) is EINVAL", () => {
  const { k, fd, buf } = type1();
  strictEqual(mapFlags(k, fd, 0, buf, MiB, MiB), -E.EINVAL);
});

Deno.test("type1 map: READ|WRITE together with VADDR is EINVAL", () => {
  const { k, fd, buf } = type1();
  strictEqual(mapFlags(k, fd, 3 | 4, buf, MiB, MiB), -E.EINVAL);
});

Deno.test("type1 map: size 0 is EINVAL", () => {
  const { k, fd, buf } = type1();
  strictEqual(mapDma(k, fd, buf, MiB, 0n), -E.EINVAL);
});

Deno.test("type1 map: iova, size and vaddr must be multiples of the smallest page size", () => {
  const { k, fd, buf } = type1();
  strictEqual(mapDma(k, fd, buf, MiB + 0x800n, 0x1000n), -E.EINVAL);
  strictEqual(mapDma(k, fd, buf, MiB, 0x1800n), -E.EINVAL);
  strictEqual(mapDma(k, fd, buf + 0x800n, MiB, 0x1000n), -E.EINVAL);
});

Deno.test("type1 map: alignment is PAGE_SIZE even where the IOMMU has smaller pages", () => {
  const { k, fd, buf } = type1({ profile: "mock" });
  strictEqual(mapDma(k, fd, buf, 0x1000800n, 0x800n), -E.EINVAL);
  strictEqual(mapDma(k, fd, buf, 0x1001000n, 0x1000n), 0);
});

Deno.test("type1 map: a wrapping iova range is EINVAL before 6.18", () => {
  const { k, fd, buf } = type1({ release: "6.12" });
  strictEqual(mapDma(k, fd, buf, TOP_PAGE, 0x2000n), -E.EINVAL);
});

Deno.test("type1 map: a wrapping iova range is EOVERFLOW from 6.18, checked before the flags", () => {
  const { k, fd, buf } = type1({ release: "6.18" });
  strictEqual(mapDma(k, fd, buf, TOP_PAGE, 0x2000n), -E.EOVERFLOW);
  strictEqual(mapFlags(k, fd, 0, buf, TOP_PAGE, 0x2000n), -E.EOVERFLOW, "flags 0 comes later");
  strictEqual(mapFlags(k, fd, 0, buf, TOP_PAGE, 0n), -E.EINVAL, "size 0 comes first");
  const old = type1({ release: "6.12" });
  strictEqual(mapFlags(old.k, old.fd, 0, old.buf, TOP_PAGE, 0x2000n), -E.EINVAL);
});

Deno.test("type1 map: a wrapping vaddr range is EINVAL before 6.18, EOVERFLOW from 6.18", () => {
  for (const [release, errno] of [["6.6", E.EINVAL], ["6.18", E.EOVERFLOW]] as const) {
    const { k, fd } = type1({ release });
    strictEqual(mapDma(k, fd, TOP_PAGE, MiB, 0x2000n), -errno, release);
  }
});

Deno.test("type1 map: an overlap with an existing mapping is EEXIST", () => {
  const { k, fd, buf } = type1();
  strictEqual(mapDma(k, fd, buf, MiB, 2n * MiB), 0);
  strictEqual(mapDma(k, fd, buf, MiB, 2n * MiB), -E.EEXIST);
  strictEqual(mapDma(k, fd, buf, 2n * MiB, 2n * MiB), -E.EEXIST);
  strictEqual(mapDma(k, fd, buf, 0n, MiB + 0x1000n), -E.EEXIST);
});

Deno.test("type1 map: no entry left of dma_entry_limit is ENOSPC", () => {
  const { k, fd, buf } = type1({ dmaEntryLimit: 2 });
  strictEqual(mapDma(k, fd, buf, MiB, 0x1000n), 0);
  strictEqual(mapDma(k, fd, buf, 2n * MiB, 0x1000n), 0);
  strictEqual(mapDma(k, fd, buf, 3n * MiB, 0x1000n), -E.ENOSPC);
  strictEqual(dmaAvail(k, fd), 0n);
  strictEqual(mapDma(k, fd, buf, MiB, 0x1000n), -E.EEXIST, "the overlap check comes first");
});

Deno.test("type1 map: a range outside every valid IOVA range is EINVAL (vfio_iommu_iova_dma_valid)", () => {
  const { k, fd, buf } = type1();
  strictEqual(mapDma(k, fd, buf, 0xfee00000n, 0x1000n), -E.EINVAL, "the MSI window");
  strictEqual(mapDma(k, fd, buf, 0xfed00000n, 2n * MiB), -E.EINVAL, "across the MSI window");
  strictEqual(mapDma(k, fd, buf, 0x80_0000_0000n, 0x1000n), -E.EINVAL, "past the 39-bit aperture");
  strictEqual(mapDma(k, fd, buf, 0x7f_ffff_f000n, 0x1000n), 0, "the aperture's last page");
});

Deno.test("type1 map: pinning an unmapped user range is EFAULT and leaves no mapping", () => {
  const { k, fd } = type1();
  strictEqual(mapDma(k, fd, 0x1000n, MiB, 0x1000n), -E.EFAULT);
  strictEqual(dmaAvail(k, fd), 65535n);
});

Deno.test("type1 map: pinning past RLIMIT_MEMLOCK without CAP_IPC_LOCK is ENOMEM", () => {
  const { k, fd, buf } = type1();
  k.setPrivileged(false);
  k.setMemlockLimit(MiB);
  strictEqual(mapDma(k, fd, buf, MiB, MiB), 0);
  strictEqual(mapDma(k, fd, buf + MiB, 2n * MiB, 0x1000n), -E.ENOMEM);
  strictEqual(unmapDma(k, fd, MiB, MiB).ret, 0);
  strictEqual(mapDma(k, fd, buf + MiB, 2n * MiB, 0x1000n), 0, "unmap gave the pages back");
});

Deno.test("type1 map: the same user memory mapped twice is charged twice", () => {
  const { k, fd, buf } = type1();
  k.setPrivileged(false);
  k.setMemlockLimit(MiB + 0x1000n);
  strictEqual(mapDma(k, fd, buf, MiB, MiB), 0);
  strictEqual(mapDma(k, fd, buf, 4n * MiB, MiB), -E.ENOMEM);
});

/** Open the group's device and mmap `size` bytes of its BAR0 (VM_PFNMAP device memory). */
function bar0(k: SimKernel, gfd: number, size = MiB): bigint {
  const dfd = k.ioctl(gfd, R.VFIO_GROUP_GET_DEVICE_FD, new TextEncoder().encode("0000:00:03.0\0"));
  strictEqual(dfd > 0, true);
  const a = k.mmap(size, dfd, 0n);
  strictEqual(a > 0n, true);
  return a;
}

Deno.test("type1 map: a VM_PFNMAP vaddr (a device BAR) maps via follow_fault_pfn (P2P)", () => {
  for (const type of [1n, 3n]) {
    const { k, fd, gfd } = type1({ type });
    const bar = bar0(k, gfd);
    strictEqual(mapDma(k, fd, bar, MiB, MiB), 0);
    strictEqual(mapDma(k, fd, bar, 4n * MiB, 0x1000n), 0, "the same BAR twice");
    strictEqual(unmapDma(k, fd, MiB, MiB).ret, 0);
  }
});

Deno.test("type1 map: reserved/invalid pfns are not charged to RLIMIT_MEMLOCK", () => {
  const { k, fd, gfd, buf } = type1();
  k.setPrivileged(false);
  k.setMemlockLimit(0x1000n);
  const bar = bar0(k, gfd);
  strictEqual(mapDma(k, fd, bar, MiB, MiB), 0);
  strictEqual(k.accounting.lockedBytes("mm"), 0n);
  strictEqual(mapDma(k, fd, buf, 4n * MiB, 0x2000n), -E.ENOMEM, "anonymous memory still is");
});

Deno.test("type1 map: a BAR mapping unmapped from the process is EFAULT (nothing to look up)", () => {
  const { k, fd, gfd } = type1();
  const bar = bar0(k, gfd, 2n * 0x1000n);
  strictEqual(k.munmap(bar, 0x2000n), 0);
  strictEqual(mapDma(k, fd, bar, MiB, 0x1000n), -E.EFAULT);
});

Deno.test("type1 map VADDR: no mapping at that range is ENOENT", () => {
  const { k, fd, buf } = type1();
  strictEqual(mapFlags(k, fd, 4, buf, MiB, MiB), -E.ENOENT);
});

Deno.test("type1 map VADDR: a mapping whose vaddr is valid, or of another range, is EINVAL", () => {
  const { k, fd, buf } = type1();
  strictEqual(mapDma(k, fd, buf, MiB, 2n * MiB), 0);
  strictEqual(mapFlags(k, fd, 4, buf, MiB, 2n * MiB), -E.EINVAL, "not invalidated");
  strictEqual(unmapDma(k, fd, MiB, 2n * MiB, 4).ret, 0);
  strictEqual(mapFlags(k, fd, 4, buf, MiB, MiB), -E.EINVAL, "another size");
  strictEqual(mapFlags(k, fd, 4, buf + MiB, MiB, 2n * MiB), 0, "the exact range");
  strictEqual(mapFlags(k, fd, 4, buf, MiB, 2n * MiB), -E.EINVAL, "valid again");
});

Deno.test("type1 unmap VADDR: invalidates without unmapping; size is the bytes invalidated", () => {
  const { k, fd, buf } = type1();
  strictEqual(mapDma(k, fd, buf, MiB, MiB), 0);
  strictEqual(mapDma(k, fd, buf, 2n * MiB, MiB), 0);
  const r = unmapDma(k, fd, 0n, 4n * MiB, 4);
  deepStrictEqual(r, { ret: 0, size: 2n * MiB });
  strictEqual(dmaAvail(k, fd), 65533n, "both mappings are still there");
  strictEqual(mapDma(k, fd, buf, MiB, MiB), -E.EEXIST);
});

Deno.test("type1 unmap VADDR: meeting an invalidated mapping is EINVAL and reverts the ones before", () => {
  const { k, fd, buf } = type1();
  strictEqual(mapDma(k, fd, buf, MiB, MiB), 0);
  strictEqual(mapDma(k, fd, buf, 2n * MiB, MiB), 0);
  strictEqual(unmapDma(k, fd, 2n * MiB, MiB, 4).ret, 0);
  strictEqual(unmapRaw(k, fd, { flags: 4, iova: 0n, size: 4n * MiB }).ret(), -E.EINVAL);
  // The first mapping's vaddr is valid again: updating it is refused.
  strictEqual(mapFlags(k, fd, 4, buf, MiB, MiB), -E.EINVAL);
  strictEqual(mapFlags(k, fd, 4, buf, 2n * MiB, MiB), 0);
});

Deno.test("type1 attach: a group cannot join while a vaddr is invalidated (EBUSY)", () => {
  const { k, fd, buf } = type1();
  strictEqual(mapDma(k, fd, buf, MiB, MiB), 0);
  strictEqual(unmapDma(k, fd, MiB, MiB, 4).ret, 0);
  const g = k.addDevice("extra0");
  const gfd = k.open(`/dev/vfio/${g}`);
  const fdArg = new Uint8Array(4);
  new DataView(fdArg.buffer).setInt32(0, fd, true);
  strictEqual(k.ioctl(gfd, R.VFIO_GROUP_SET_CONTAINER, fdArg), -E.EBUSY);
});

// ---- UNMAP_DMA ----

Deno.test("type1 unmap: argsz below 24 or a flag outside DIRTY|ALL|VADDR is EINVAL", () => {
  const { k, fd } = type1();
  strictEqual(unmapRaw(k, fd, { argsz: 23, iova: MiB, size: MiB }).ret(), -E.EINVAL);
  strictEqual(unmapRaw(k, fd, { flags: 8, iova: MiB, size: MiB }).ret(), -E.EINVAL);
});

Deno.test("type1 unmap: GET_DIRTY_BITMAP with ALL or VADDR is EINVAL", () => {
  const { k, fd } = type1();
  strictEqual(unmapRaw(k, fd, { flags: 1 | 2, iova: 0n, size: 0n }, 24).ret(), -E.EINVAL);
  strictEqual(unmapRaw(k, fd, { flags: 1 | 4, iova: MiB, size: MiB }, 24).ret(), -E.EINVAL);
});

Deno.test("type1 unmap: iova or size not a multiple of the smallest page size is EINVAL, nothing written", () => {
  const { k, fd, buf } = type1();
  strictEqual(mapDma(k, fd, buf, MiB, MiB), 0);
  const a = unmapRaw(k, fd, { iova: MiB + 0x800n, size: 0x1000n });
  strictEqual(a.ret(), -E.EINVAL);
  strictEqual(a.size(), 0x1000n);
  const b = unmapRaw(k, fd, { iova: MiB, size: 0x1800n });
  strictEqual(b.ret(), -E.EINVAL);
  strictEqual(b.size(), 0x1800n);
});

Deno.test("type1 unmap: size 0 is EINVAL with nothing written back", () => {
  const { k, fd } = type1();
  const u = unmapRaw(k, fd, { iova: MiB, size: 0n });
  u.v.setBigUint64(16, 0n, true);
  strictEqual(u.ret(), -E.EINVAL);
});

Deno.test("type1 unmap: ALL with a non-zero iova or size is EINVAL, size left as passed", () => {
  const { k, fd } = type1();
  const u = unmapRaw(k, fd, { flags: 2, iova: 0n, size: 2n * MiB });
  strictEqual(u.ret(), -E.EINVAL);
  strictEqual(u.size(), 2n * MiB);
  strictEqual(unmapRaw(k, fd, { flags: 2, iova: MiB, size: 0n }).ret(), -E.EINVAL);
});

Deno.test("type1 unmap: a wrapping range is EINVAL before 6.18 and EOVERFLOW from 6.18", () => {
  for (const [release, errno] of [["6.12", E.EINVAL], ["6.18", E.EOVERFLOW]] as const) {
    const { k, fd } = type1({ release });
    const u = unmapRaw(k, fd, { iova: TOP_PAGE, size: 0x2000n });
    strictEqual(u.ret(), -errno, release);
    strictEqual(u.size(), 0x2000n, "nothing written back");
  }
});

Deno.test("type1 unmap v2: bisecting a mapping at either end is EINVAL, nothing removed or written", () => {
  const { k, fd, buf } = type1();
  strictEqual(mapDma(k, fd, buf, MiB, 2n * MiB), 0);
  for (const [iova, size] of [[MiB, MiB], [2n * MiB, MiB], [0n, 2n * MiB], [2n * MiB, 4n * MiB]]) {
    const u = unmapRaw(k, fd, { iova, size });
    strictEqual(u.ret(), -E.EINVAL, `${iova}+${size}`);
    strictEqual(u.size(), size);
  }
  strictEqual(dmaAvail(k, fd), 65534n);
  deepStrictEqual(unmapDma(k, fd, 0n, 8n * MiB), { ret: 0, size: 2n * MiB });
});

Deno.test("type1 unmap v2: whole mappings inside the range go, the bytes removed come back", () => {
  const { k, fd, buf } = type1();
  strictEqual(mapDma(k, fd, buf, MiB, MiB), 0);
  strictEqual(mapDma(k, fd, buf, 2n * MiB, MiB), 0);
  strictEqual(mapDma(k, fd, buf, 5n * MiB, MiB), 0);
  deepStrictEqual(unmapDma(k, fd, MiB, 2n * MiB), { ret: 0, size: 2n * MiB });
  strictEqual(dmaAvail(k, fd), 65534n);
});

Deno.test("type1 unmap: a range with no mapping is success with size 0", () => {
  for (const type of [1n, 3n]) {
    const { k, fd } = type1({ type });
    deepStrictEqual(unmapDma(k, fd, 16n * MiB, 2n * MiB), { ret: 0, size: 0n });
  }
});

Deno.test("type1 unmap v1: a request starting inside a mapping removes nothing and returns 0, size 0", () => {
  const { k, fd, buf } = type1({ type: 1n });
  strictEqual(mapDma(k, fd, buf, MiB, 2n * MiB), 0);
  strictEqual(mapDma(k, fd, buf, 4n * MiB, MiB), 0);
  deepStrictEqual(unmapDma(k, fd, 2n * MiB, MiB), { ret: 0, size: 0n });
  deepStrictEqual(unmapDma(k, fd, 2n * MiB, 4n * MiB), { ret: 0, size: 0n }, "stops at the first");
  strictEqual(dmaAvail(k, fd), 65533n);
});

Deno.test("type1 unmap v1: a request covering a mapping's first byte removes all of it, past the end", () => {
  const { k, fd, buf } = type1({ type: 1n });
  strictEqual(mapDma(k, fd, buf, MiB, 2n * MiB), 0);
  deepStrictEqual(unmapDma(k, fd, MiB, 0x1000n), { ret: 0, size: 2n * MiB });
  strictEqual(mapDma(k, fd, buf, 2n * MiB, 2n * MiB), 0);
  deepStrictEqual(unmapDma(k, fd, MiB, 2n * MiB), { ret: 0, size: 2n * MiB }, "from before it");
});

Deno.test("type1 unmap: ALL removes every mapping; size is the sum", () => {
  const { k, fd, buf } = type1();
  strictEqual(mapDma(k, fd, buf, MiB, MiB), 0);
  strictEqual(mapDma(k, fd, buf, 8n * MiB, 2n * MiB), 0);
  deepStrictEqual(unmapDma(k, fd, 0n, 0n, 2), { ret: 0, size: 3n * MiB });
  deepStrictEqual(unmapDma(k, fd, 0n, 0n, 2), { ret: 0, size: 0n });
});

Deno.test("type1 unmap: before 6.18 a mapping ending at 2^64-1 cannot be unmapped or found", () => {
  const old = type1({ profile: "amd-vi", release: "6.12" });
  strictEqual(mapDma(old.k, old.fd, old.buf, TOP_PAGE, 0x1000n), 0);
  deepStrictEqual(unmapDma(old.k, old.fd, TOP_PAGE, 0x1000n), { ret: 0, size: 0n });
  strictEqual(mapDma(old.k, old.fd, old.buf, TOP_PAGE, 0x1000n), 0, "no EEXIST: mapped twice");
  strictEqual(dmaAvail(old.k, old.fd), 65533n);
  const now = type1({ profile: "amd-vi", release: "6.18" });
  strictEqual(mapDma(now.k, now.fd, now.buf, TOP_PAGE, 0x1000n), 0);
  strictEqual(mapDma(now.k, now.fd, now.buf, TOP_PAGE, 0x1000n), -E.EEXIST);
  deepStrictEqual(unmapDma(now.k, now.fd, TOP_PAGE, 0x1000n), { ret: 0, size: 0x1000n });
});

// ---- DIRTY_PAGES ----

Deno.test("type1 dirty pages: a v1 container is EACCES before anything is read", () => {
  const { k, fd } = type1({ type: 1n });
  strictEqual(k.ioctl(fd, R.VFIO_IOMMU_DIRTY_PAGES, new Uint8Array(0)), -E.EACCES);
});

Deno.test("type1 dirty pages: argsz below 8, an unknown flag, none or two flags is EINVAL", () => {
  const { k, fd } = type1();
  strictEqual(dirty(k, fd, 1, 7), -E.EINVAL);
  strictEqual(dirty(k, fd, 8), -E.EINVAL);
  strictEqual(dirty(k, fd, 0), -E.EINVAL);
  strictEqual(dirty(k, fd, 1 | 2), -E.EINVAL);
});

Deno.test("type1 dirty pages: START and STOP succeed and may repeat", () => {
  const { k, fd } = type1();
  for (const f of [1, 1, 2, 2, 1]) strictEqual(dirty(k, fd, f), 0);
});

Deno.test("type1 dirty pages: GET_BITMAP without tracking, at another page size or unaligned is EINVAL", () => {
  const { k, fd, buf } = type1();
  strictEqual(mapDma(k, fd, buf, MiB, 0x4000n), 0);
  strictEqual(getBitmap(k, fd, MiB, 0x4000n).ret, -E.EINVAL, "tracking off");
  strictEqual(dirty(k, fd, 1), 0);
  strictEqual(getBitmap(k, fd, MiB, 0x4000n, 0x200000n, 8n).ret, -E.EINVAL, "2M pages");
  strictEqual(getBitmap(k, fd, MiB + 0x800n, 0x4000n).ret, -E.EINVAL, "unaligned iova");
  strictEqual(getBitmap(k, fd, MiB, 0x4000n, 0x1000n, 0n).ret, -E.EINVAL, "empty bitmap");
  strictEqual(getBitmap(k, fd, MiB + 0x1000n, 0x1000n).ret, -E.EINVAL, "bisects the mapping");
  strictEqual(dirty(k, fd, 4, 47), -E.EINVAL, "no room for the range");
});

Deno.test("type1 dirty pages: GET_BITMAP reports every page of a pinned mapping dirty", () => {
  const { k, fd, buf } = type1();
  strictEqual(mapDma(k, fd, buf, MiB + 0x2000n, 0x3000n), 0);
  strictEqual(dirty(k, fd, 1), 0);
  const r = getBitmap(k, fd, MiB, 0x10000n);
  strictEqual(r.ret, 0);
  deepStrictEqual([...r.out.subarray(0, 2)], [0b00011100, 0]);
});

Deno.test("type1 dirty pages: START with a mapping of more than INT_MAX pages is EINVAL (vfio_dma_bitmap_alloc)", () => {
  // No IOMMU domain (a container of emulated-IOMMU groups only): nothing is pinned, so an
  // 8 TiB mapping needs no user memory behind it (the simulated process has ~1 TiB).
  const m = machine();
  const iommu = Type1Iommu.open(m, 3n) as Type1Iommu;
  const u = new UserArg(m.memory);
  const map = (size: bigint) =>
    iommu.ioctl(
      R.VFIO_IOMMU_MAP_DMA,
      encode(S.vfio_iommu_type1_dma_map, { flags: 3, vaddr: 1n << 44n, iova: 0n, size }),
      u,
    );
  const unmap = (size: bigint) =>
    iommu.ioctl(R.VFIO_IOMMU_UNMAP_DMA, encode(S.vfio_iommu_type1_dma_unmap, { size }), u);
  const track = (flags: number) =>
    iommu.ioctl(R.VFIO_IOMMU_DIRTY_PAGES, encode(S.vfio_iommu_type1_dirty_bitmap, { flags }), u);
  const pagesMax = 0x7fff_ffffn; // DIRTY_BITMAP_PAGES_MAX: bitmap_set() takes an int
  strictEqual(map(pagesMax * 0x1000n), 0);
  strictEqual(track(1), 0, "INT_MAX pages still get a bitmap");
  strictEqual(track(2), 0);
  strictEqual(unmap(pagesMax * 0x1000n), 0);
  strictEqual(map((pagesMax + 1n) * 0x1000n), 0);
  strictEqual(track(1), -E.EINVAL);
  strictEqual(iommu.dirtyTracking, false, "tracking stayed off");
});

Deno.test("type1 map: with dirty tracking on, more than INT_MAX pages is EINVAL and nothing stays mapped (vfio_dma_bitmap_alloc)", () => {
  // As above: no IOMMU domain, so the 8 TiB need no user memory. vfio_dma_do_map allocates
  // the new mapping's bitmap after linking (and pinning) it, and removes it when that fails.
  const m = machine();
  const iommu = Type1Iommu.open(m, 3n) as Type1Iommu;
  const u = new UserArg(m.memory);
  const map = (iova: bigint, size: bigint) =>
    iommu.ioctl(
      R.VFIO_IOMMU_MAP_DMA,
      encode(S.vfio_iommu_type1_dma_map, { flags: 3, vaddr: 1n << 44n, iova, size }),
      u,
    );
  const pagesMax = 0x7fff_ffffn;
  const avail = iommu.dmaAvail;
  strictEqual(
    iommu.ioctl(R.VFIO_IOMMU_DIRTY_PAGES, encode(S.vfio_iommu_type1_dirty_bitmap, { flags: 1 }), u),
    0,
  );
  strictEqual(map(0n, (pagesMax + 1n) * 0x1000n), -E.EINVAL);
  strictEqual(iommu.dmaAvail, avail, "the entry was given back");
  // The same range is free again: INT_MAX pages fit a bitmap and map.
  strictEqual(map(0n, pagesMax * 0x1000n), 0);
  strictEqual(iommu.dmaAvail, avail - 1);
});

Deno.test("type1 dirty pages: from 6.18 a GET_BITMAP of size 0 is EINVAL and a wrapping range EOVERFLOW", () => {
  const { k, fd } = type1({ release: "6.18" });
  strictEqual(dirty(k, fd, 1), 0);
  strictEqual(getBitmap(k, fd, MiB, 0n, 0x1000n, 8n).ret, -E.EINVAL, "size 0");
  strictEqual(getBitmap(k, fd, TOP_PAGE, 0x2000n).ret, -E.EOVERFLOW);
  strictEqual(
    getBitmap(k, fd, TOP_PAGE, 0x2000n, 0x1000n, 0n).ret,
    -E.EOVERFLOW,
    "before the bitmap",
  );
  strictEqual(getBitmap(k, fd, TOP_PAGE, 0x1000n).ret, 0, "ending at 2^64-1 is no overflow");
});

Deno.test("type1 dirty pages: before 6.18 a GET_BITMAP range reaching 2^64 is EINVAL", () => {
  for (const release of ["6.2", "6.6", "6.12"]) {
    const { k, fd } = type1({ release });
    strictEqual(dirty(k, fd, 1), 0);
    strictEqual(getBitmap(k, fd, TOP_PAGE, 0x1000n).ret, -E.EINVAL, `${release} ends at 2^64`);
    strictEqual(getBitmap(k, fd, TOP_PAGE, 0x2000n).ret, -E.EINVAL, `${release} wraps`);
    strictEqual(getBitmap(k, fd, TOP_PAGE - 0x1000n, 0x1000n).ret, 0, `${release} below the top`);
  }
});

Deno.test("type1 dirty pages: a GET_BITMAP pgsize other than the smallest IOMMU page size is EINVAL", () => {
  const { k, fd, buf } = type1();
  strictEqual(mapDma(k, fd, buf, 4n * MiB, 4n * MiB), 0);
  strictEqual(dirty(k, fd, 1), 0);
  strictEqual(
    getBitmap(k, fd, 4n * MiB, 4n * MiB, 0x200000n, 8n).ret,
    -E.EINVAL,
    "2M, an IOMMU size",
  );
  strictEqual(getBitmap(k, fd, 4n * MiB, 4n * MiB, 0x2000n, 8n * 8n).ret, -E.EINVAL, "8K");
  strictEqual(getBitmap(k, fd, 4n * MiB, 4n * MiB).ret, 0, "4K");
});

Deno.test("type1 dirty pages: a GET_BITMAP size not a multiple of the page size is EINVAL", () => {
  const { k, fd, buf } = type1();
  strictEqual(mapDma(k, fd, buf, MiB, 0x2000n), 0);
  strictEqual(dirty(k, fd, 1), 0);
  strictEqual(getBitmap(k, fd, MiB, 0x1800n).ret, -E.EINVAL);
  strictEqual(getBitmap(k, fd, MiB, 0x2000n).ret, 0);
});

Deno.test("type1 dirty pages: a GET_BITMAP range ending inside a mapping is EINVAL", () => {
  const { k, fd, buf } = type1();
  strictEqual(mapDma(k, fd, buf, MiB, 0x1000n), 0);
  strictEqual(mapDma(k, fd, buf, MiB + 0x1000n, 0x2000n), 0);
  strictEqual(dirty(k, fd, 1), 0);
  const r = getBitmap(k, fd, MiB, 0x2000n);
  strictEqual(r.ret, -E.EINVAL);
  deepStrictEqual([...r.out.subarray(0, 1)], [0], "no bit written, not even the first mapping's");
  const ok = getBitmap(k, fd, MiB, 0x3000n);
  strictEqual(ok.ret, 0);
  deepStrictEqual([...ok.out.subarray(0, 1)], [0b111]);
});

Deno.test("type1 unmap GET_DIRTY_BITMAP: the bitmap of what goes is written, tracking required", () => {
  const { k, fd, buf } = type1();
  strictEqual(mapDma(k, fd, buf, MiB, 0x2000n), 0);
  const bitmap = k.mmap(0x1000n);
  const u = unmapRaw(k, fd, { flags: 1, iova: MiB, size: 0x2000n }, 24);
  u.v.setBigUint64(24, 0x1000n, true);
  u.v.setBigUint64(32, 8n, true);
  u.v.setBigUint64(40, bitmap, true);
  strictEqual(u.ret(), -E.EINVAL, "tracking off");
  strictEqual(dirty(k, fd, 1), 0);
  strictEqual(u.ret(), 0);
  strictEqual(u.size(), 0x2000n);
  const out = new Uint8Array(1);
  k.readMemory(bitmap, out);
  strictEqual(out[0], 0b11);
});

Deno.test("type1 unmap GET_DIRTY_BITMAP: argsz without room for the vfio_bitmap is EINVAL", () => {
  const { k, fd } = type1();
  strictEqual(dirty(k, fd, 1), 0);
  strictEqual(
    unmapRaw(k, fd, { argsz: 47, flags: 1, iova: MiB, size: 0x1000n }, 24).ret(),
    -E.EINVAL,
  );
});

// ---- requests by value and unknown ones ----

Deno.test("type1 ioctl: an unknown request with the backend set is ENOTTY", () => {
  const { k, fd } = type1();
  strictEqual(k.ioctl(fd, R.VFIO_IOMMU_ENABLE, 0n), -E.ENOTTY);
  strictEqual(k.ioctl(fd, R.IOMMU_VFIO_IOAS, encode(S.iommu_vfio_ioas, { op: 0 })), -E.ENOTTY);
});

// ---- attach rules that need a platform of their own ----

function customGroup(iommu: Partial<Iommu>) {
  const profile = parseProfile({
    name: "custom",
    description: "test",
    source: "test",
    iommu: {
      driver: "custom-iommu",
      pgsizeBitmap: 0x1000n,
      apertureStart: 0n,
      apertureLast: 0xffff_ffffn,
      cacheCoherency: true,
      enforceCacheCoherency: true,
      msiIsolated: true,
      reservedRegions: [],
      ...iommu,
    },
    groups: [{ id: 1, devices: [{ name: "dev0" }] }],
  });
  return new Platform(profile).groups.get(1)!;
}

function machine(allowUnsafeInterrupts = false): Type1Machine {
  const k = new SimKernel();
  return {
    release: () => findRelease("6.18")!,
    memory: k.memory,
    accounting: k.accounting,
    privileged: () => true,
    type1Params: () => ({ dmaEntryLimit: 65535, allowUnsafeInterrupts }),
  };
}

Deno.test("type1 attach: a group without MSI isolation is EPERM unless allow_unsafe_interrupts", () => {
  const group = customGroup({ msiIsolated: false });
  const iommu = Type1Iommu.open(machine(), 3n) as Type1Iommu;
  strictEqual(iommu.attachGroup(group), -E.EPERM);
  strictEqual(iommu.domains.length, 0);
  const unsafe = Type1Iommu.open(machine(true), 3n) as Type1Iommu;
  strictEqual(unsafe.attachGroup(group), 0);
});

Deno.test("type1 attach: reserved regions leaving no valid IOVA is EINVAL (vfio_iommu_resv_exclude)", () => {
  const group = customGroup({
    reservedRegions: [{ start: 0n, length: 0x1_0000_0000n, type: "reserved" }],
  });
  const iommu = Type1Iommu.open(machine(), 3n) as Type1Iommu;
  strictEqual(iommu.attachGroup(group), -E.EINVAL);
});

Deno.test("type1 attach: direct_relaxable regions stay valid IOVA", () => {
  const group = customGroup({
    reservedRegions: [{ start: 0x1000n, length: 0x1000n, type: "direct_relaxable" }],
  });
  const iommu = Type1Iommu.open(machine(), 3n) as Type1Iommu;
  strictEqual(iommu.attachGroup(group), 0);
  deepStrictEqual(iommu.iovaList, [{ start: 0n, end: 0xffff_ffffn }]);
});

Deno.test("type1 attach: the same group twice is EINVAL", () => {
  const group = customGroup({});
  const iommu = Type1Iommu.open(machine(), 3n) as Type1Iommu;
  strictEqual(iommu.attachGroup(group), 0);
  strictEqual(iommu.attachGroup(group), -E.EINVAL);
});

Deno.test("type1 open: a type other than TYPE1, TYPE1v2, NESTING is EINVAL", () => {
  strictEqual(Type1Iommu.open(machine(), 9n), -E.EINVAL);
});

// ---- faults ----

Deno.test("type1 map/unmap/get_info: an argument in unmapped user memory is EFAULT", () => {
  const { k, fd } = type1();
  for (const req of [R.VFIO_IOMMU_MAP_DMA, R.VFIO_IOMMU_UNMAP_DMA, R.VFIO_IOMMU_GET_INFO]) {
    strictEqual(k.ioctl(fd, req, 0x1000n), -E.EFAULT);
  }
});

Deno.test("type1 unmap: with a user-memory pointer the struct is copied back there", () => {
  const { k, fd, buf } = type1();
  strictEqual(mapDma(k, fd, buf, MiB, MiB), 0);
  const arg = k.mmap(0x1000n);
  const b = encode(S.vfio_iommu_type1_dma_unmap, { iova: MiB, size: MiB });
  strictEqual(k.writeMemory(arg, b), 0);
  strictEqual(k.ioctl(fd, R.VFIO_IOMMU_UNMAP_DMA, arg), 0, "in mapped memory it works");
  const out = new Uint8Array(24);
  k.readMemory(arg, out);
  strictEqual(new DataView(out.buffer).getBigUint64(16, true), MiB);
});

Deno.test("type1 dirty pages: a GET_BITMAP range past the buffer is EFAULT", () => {
  const { k, fd } = type1();
  strictEqual(dirty(k, fd, 1), 0);
  const b = new Uint8Array(8);
  new DataView(b.buffer).setUint32(0, 48, true);
  new DataView(b.buffer).setUint32(4, 4, true);
  strictEqual(k.ioctl(fd, R.VFIO_IOMMU_DIRTY_PAGES, b), -E.EFAULT, "argsz 48 in 8 bytes");
});

Deno.test("type1 dirty pages: writing the bitmap into unmapped user memory is EFAULT", () => {
  const { k, fd, buf } = type1();
  strictEqual(mapDma(k, fd, buf, MiB, 0x1000n), 0);
  strictEqual(dirty(k, fd, 1), 0);
  strictEqual(getBitmapAt(k, fd, MiB, 0x1000n, 0x10000n, 0x1000n, 8n), -E.EFAULT);
});

Deno.test("type1 dirty pages: a bitmap outside user space is EINVAL (access_ok)", () => {
  const { k, fd, buf } = type1();
  strictEqual(mapDma(k, fd, buf, MiB, 0x1000n), 0);
  strictEqual(dirty(k, fd, 1), 0);
  const r = getBitmap(k, fd, MiB, 0x1000n);
  strictEqual(r.ret, 0);
  strictEqual(getBitmapAt(k, fd, MiB, 0x1000n, 0xffff_8000_0000_0000n, 0x1000n, 8n), -E.EINVAL);
});

Deno.test("type1 get_info: a fault writing the caps is EFAULT and the struct is not copied back", () => {
  const { k, fd } = type1();
  const b = new Uint8Array(24).fill(0xaa);
  new DataView(b.buffer).setUint32(0, 256, true);
  const before = [...b];
  strictEqual(k.ioctl(fd, R.VFIO_IOMMU_GET_INFO, b), -E.EFAULT, "argsz 256 in 24 bytes");
  deepStrictEqual([...b], before);
  const arg = k.mmap(0x1000n);
  const at = arg + 0x1000n - 24n;
  strictEqual(k.writeMemory(at, b), 0);
  strictEqual(k.ioctl(fd, R.VFIO_IOMMU_GET_INFO, at), -E.EFAULT, "caps run past the mapping");
  const out = new Uint8Array(24);
  k.readMemory(at, out);
  deepStrictEqual([...out], before);
});

Deno.test("type1 unmap GET_DIRTY_BITMAP: a vfio_bitmap past the end of the buffer is EFAULT", () => {
  const { k, fd, buf } = type1();
  strictEqual(mapDma(k, fd, buf, MiB, 0x1000n), 0);
  strictEqual(dirty(k, fd, 1), 0);
  const u = unmapRaw(k, fd, { argsz: 48, flags: 1, iova: MiB, size: 0x1000n });
  strictEqual(u.ret(), -E.EFAULT);
  strictEqual(u.size(), 0x1000n, "nothing written back");
  strictEqual(dmaAvail(k, fd), 65534n, "nothing unmapped");
});

Deno.test("type1 unmap GET_DIRTY_BITMAP: a bitmap outside user space is EINVAL (access_ok)", () => {
  const { k, fd, buf } = type1();
  strictEqual(mapDma(k, fd, buf, MiB, 0x1000n), 0);
  strictEqual(dirty(k, fd, 1), 0);
  const u = unmapRaw(k, fd, { flags: 1, iova: MiB, size: 0x1000n }, 24);
  u.v.setBigUint64(24, 0x1000n, true);
  u.v.setBigUint64(32, 8n, true);
  u.v.setBigUint64(40, 0xffff_8000_0000_0000n, true);
  strictEqual(u.ret(), -E.EINVAL);
  strictEqual(u.size(), 0x1000n, "nothing written back");
  strictEqual(dmaAvail(k, fd), 65534n, "nothing unmapped");
});

Deno.test("type1 dirty pages: reading the bits below a mapping's first bit from unmapped memory is EFAULT", () => {
  const { k, fd, buf } = type1();
  strictEqual(mapDma(k, fd, buf, MiB + 0x2000n, 0x1000n), 0);
  strictEqual(dirty(k, fd, 1), 0);
  strictEqual(getBitmapAt(k, fd, MiB, 0x4000n, 0x10000n, 0x1000n, 8n), -E.EFAULT);
});

Deno.test("type1 dirty pages: the first bits a mapping's word shares are kept from user memory", () => {
  const { k, fd, buf } = type1();
  strictEqual(mapDma(k, fd, buf, MiB + 0x2000n, 0x1000n), 0);
  strictEqual(dirty(k, fd, 1), 0);
  const bitmap = k.mmap(0x1000n);
  strictEqual(k.writeMemory(bitmap, new Uint8Array([0xff, 0xff])), 0);
  strictEqual(getBitmapAt(k, fd, MiB, 0x4000n, bitmap, 0x1000n, 8n), 0);
  const out = new Uint8Array(2);
  k.readMemory(bitmap, out);
  deepStrictEqual([...out], [0b0000_0111, 0], "bits 0-1 kept, bit 2 set, the rest cleared");
});

Deno.test("type1 dirty pages: a header in unmapped user memory is EFAULT", () => {
  const { k, fd } = type1();
  strictEqual(k.ioctl(fd, R.VFIO_IOMMU_DIRTY_PAGES, 0x1000n), -E.EFAULT);
  const b = new Uint8Array(4);
  new DataView(b.buffer).setUint32(0, 8, true);
  strictEqual(k.ioctl(fd, R.VFIO_IOMMU_DIRTY_PAGES, b), -E.EFAULT, "flags past the buffer");
});

Deno.test("type1 dirty bitmaps on 6.6: access_ok checks only the sign, so past TASK_SIZE the write faults (EFAULT), from 2^63 EINVAL", () => {
  const bitmapAt = (release: string, data: bigint) => {
    const { k, fd, buf } = type1({ release });
    strictEqual(mapDma(k, fd, buf, MiB, 0x1000n), 0);
    strictEqual(dirty(k, fd, 1), 0);
    const get = getBitmapAt(k, fd, MiB, 0x1000n, data, 0x1000n, 8n);
    const u = unmapRaw(k, fd, { flags: 1, iova: MiB, size: 0x1000n }, 24);
    u.v.setBigUint64(24, 0x1000n, true);
    u.v.setBigUint64(32, 8n, true);
    u.v.setBigUint64(40, data, true);
    return [get, u.ret(), dmaAvail(k, fd)];
  };
  const aboveTask = 0x8000_0000_0000n; // past TASK_SIZE, below 2^63
  deepStrictEqual(bitmapAt("6.6", aboveTask), [-E.EFAULT, -E.EFAULT, 65534n], "nothing unmapped");
  deepStrictEqual(bitmapAt("6.6", 1n << 63n), [-E.EINVAL, -E.EINVAL, 65534n]);
  for (const release of ["6.2", "6.12", "6.18"]) {
    deepStrictEqual(bitmapAt(release, aboveTask), [-E.EINVAL, -E.EINVAL, 65534n], release);
  }
});
