/** VFIO compat ioctls: one test per errno path and write-back rule of vfio_compat.c. */

import { deepStrictEqual, strictEqual } from "node:assert";
import { E } from "../uapi/errno.ts";
import { decodeInfoCaps } from "../uapi/caps.ts";
import { encode } from "../uapi/codec.ts";
import * as S from "../uapi/structs.ts";
import * as R from "../uapi/ioctl.ts";
import {
  call,
  ioasAlloc,
  iovaRanges,
  mapAuto,
  mapDma,
  mapFixed,
  mockDomain,
  openIommufd,
  setCompat,
  unmapDma,
} from "../tests/_sim_helpers.ts";
import { SimKernel } from "./kernel.ts";
import { UserArg } from "./uaccess.ts";
import { vfioUnmapDma } from "./vfio_compat.ts";
import { U64_MAX } from "../uapi/constants.ts";

function compatWithIoas(release?: string) {
  const { k, fd } = openIommufd({ release });
  const ioas = ioasAlloc(k, fd);
  setCompat(k, fd, ioas);
  const buf = k.mmap(0x400000n);
  return { k, fd, ioas, buf };
}

Deno.test("compat: unknown container requests and DIRTY_PAGES are ENOTTY", () => {
  const { k, fd } = openIommufd();
  strictEqual(k.ioctl(fd, R.VFIO_IOMMU_DIRTY_PAGES, new Uint8Array(64)), -E.ENOTTY);
  strictEqual(k.ioctl(fd, R.VFIO_IOMMU_ENABLE, 0n), -E.ENOTTY);
  strictEqual(k.ioctl(fd, R.VFIO_GROUP_GET_STATUS, new Uint8Array(8)), -E.ENOTTY);
  // The _IOW encoding vfio.h's comments suggest is not the real number.
  strictEqual(k.ioctl(fd, 0x40043b65, 3n), -E.ENOTTY);
  // nr beyond the iommufd table goes to compat too.
  strictEqual(k.ioctl(fd, 0x3ba1, new Uint8Array(64)), -E.ENOTTY);
});

Deno.test("compat: GET_API_VERSION is 0, CHECK_EXTENSION answers without an IOAS", () => {
  const { k, fd } = openIommufd();
  strictEqual(k.ioctl(fd, R.VFIO_GET_API_VERSION, 0n), 0);
  const want: Record<number, number> = { 1: 1, 2: 0, 3: 1, 5: 0, 6: 0, 7: 0, 8: 0, 9: 1, 10: 0 };
  for (const [ext, v] of Object.entries(want)) {
    strictEqual(k.ioctl(fd, R.VFIO_CHECK_EXTENSION, BigInt(ext)), v, `ext ${ext}`);
  }
  strictEqual(k.ioctl(fd, R.VFIO_CHECK_EXTENSION, 0xffffn), 0);
});

Deno.test("compat: DMA_CC fails ENODEV without a compat IOAS (iommufd_vfio_cc_iommu)", () => {
  const { k, fd } = openIommufd();
  strictEqual(k.ioctl(fd, R.VFIO_CHECK_EXTENSION, 4n), -E.ENODEV);
  setCompat(k, fd, ioasAlloc(k, fd));
  strictEqual(k.ioctl(fd, R.VFIO_CHECK_EXTENSION, 4n), 1, "no hwpt at all: 1");
});

Deno.test("compat: DMA_CC is 0 once a non-enforcing mock hwpt is linked", () => {
  const { k, fd, ioas } = compatWithIoas();
  strictEqual(mockDomain(k, fd, ioas).ret, 0);
  strictEqual(k.ioctl(fd, R.VFIO_CHECK_EXTENSION, 4n), 0);
});

Deno.test("compat: SET_IOMMU rejects other types with EINVAL before the ENODEV check", () => {
  const { k, fd } = openIommufd();
  strictEqual(k.ioctl(fd, R.VFIO_SET_IOMMU, 2n), -E.EINVAL);
  strictEqual(k.ioctl(fd, R.VFIO_SET_IOMMU, 8n), -E.EINVAL);
  strictEqual(k.ioctl(fd, R.VFIO_SET_IOMMU, 3n), -E.ENODEV);
  strictEqual(k.ioctl(fd, R.VFIO_SET_IOMMU, 1n), -E.ENODEV);
  // A buffer where a value is expected is a pointer: never TYPE1.
  strictEqual(k.ioctl(fd, R.VFIO_SET_IOMMU, new Uint8Array(8)), -E.EINVAL);
});

Deno.test("compat: SET_IOMMU(TYPE1) with a domain and an area is EINVAL (iopt_disable_large_pages)", () => {
  const { k, fd, ioas, buf } = compatWithIoas();
  strictEqual(mockDomain(k, fd, ioas).ret, 0);
  strictEqual(mapDma(k, fd, buf, 0x1000000n, 0x1000n), 0);
  strictEqual(k.ioctl(fd, R.VFIO_SET_IOMMU, 1n), -E.EINVAL);
  strictEqual(k.ioctl(fd, R.VFIO_SET_IOMMU, 3n), 0, "v2 is repeatable and changes nothing");
});

Deno.test("compat: SET_IOMMU(TYPE1) raises the alignment to PAGE_SIZE", () => {
  const { k, fd, ioas, buf } = compatWithIoas();
  strictEqual(k.ioctl(fd, R.VFIO_SET_IOMMU, 1n), 0);
  strictEqual(iovaRanges(k, fd, ioas).alignment, 0x1000n);
  strictEqual(mapDma(k, fd, buf, 0x100800n, 0x1000n), -E.EINVAL);
  strictEqual(k.ioctl(fd, R.VFIO_SET_IOMMU, 1n), 0, "already disabled returns early");
});

Deno.test("compat: MAP_DMA argsz/flags EINVAL, then ENODEV, then EFAULT on a short buffer first", () => {
  const { k, fd } = openIommufd();
  strictEqual(k.ioctl(fd, R.VFIO_IOMMU_MAP_DMA, new Uint8Array(31)), -E.EFAULT);
  strictEqual(
    call(k, fd, R.VFIO_IOMMU_MAP_DMA, S.vfio_iommu_type1_dma_map, { argsz: 31, flags: 3 }).ret,
    -E.EINVAL,
  );
  for (const flags of [4, 8, 0x80000000]) {
    strictEqual(
      call(k, fd, R.VFIO_IOMMU_MAP_DMA, S.vfio_iommu_type1_dma_map, { flags }).ret,
      -E.EINVAL,
    );
  }
  strictEqual(mapDma(k, fd, 0x1000n, 0n, 0x1000n), -E.ENODEV);
});

Deno.test("compat: MAP_DMA with flags 0 is accepted (no R/W check in compat)", () => {
  const { k, fd, buf } = compatWithIoas();
  strictEqual(
    call(k, fd, R.VFIO_IOMMU_MAP_DMA, S.vfio_iommu_type1_dma_map, {
      flags: 0,
      vaddr: buf,
      iova: 0x100000n,
      size: 0x1000n,
    }).ret,
    0,
  );
});

Deno.test("compat: MAP_DMA writes nothing back", () => {
  const { k, fd, buf } = compatWithIoas();
  const b = encode(S.vfio_iommu_type1_dma_map, {
    flags: 3,
    vaddr: buf,
    iova: 0x100000n,
    size: 0x1000n,
  }, {
    bufferSize: 64,
  });
  b.fill(0xaa, 32);
  const before = b.slice();
  strictEqual(k.ioctl(fd, R.VFIO_IOMMU_MAP_DMA, b), 0);
  deepStrictEqual(b, before);
});

Deno.test("compat: MAP_DMA without a domain pins nothing and accepts any vaddr", () => {
  const { k, fd } = compatWithIoas();
  strictEqual(mapDma(k, fd, 0xdead0000n, 0x100000n, 0x2000n), 0);
  strictEqual(k.pinnedPages(), 0n);
});

Deno.test("compat: UNMAP_DMA argsz/flags EINVAL including GET_DIRTY_BITMAP and VADDR", () => {
  const { k, fd } = compatWithIoas();
  for (const flags of [1, 4, 0x80000000]) {
    strictEqual(unmapDma(k, fd, 0x1000n, 0x1000n, flags).ret, -E.EINVAL);
  }
  strictEqual(
    call(k, fd, R.VFIO_IOMMU_UNMAP_DMA, S.vfio_iommu_type1_dma_unmap, { argsz: 1 }).ret,
    -E.EINVAL,
  );
});

Deno.test("compat: UNMAP_DMA is ENODEV without a compat IOAS", () => {
  const { k, fd } = openIommufd();
  strictEqual(unmapDma(k, fd, 0x1000000n, 0x1000n).ret, -E.ENODEV);
});

Deno.test("compat: UNMAP_DMA FLAG_ALL with iova or size set is EINVAL and writes nothing", () => {
  const { k, fd } = compatWithIoas();
  const r = unmapDma(k, fd, 0n, 0x200000n, 2);
  strictEqual(r.ret, -E.EINVAL);
  strictEqual(r.size, 0x200000n);
  strictEqual(unmapDma(k, fd, 0x1000n, 0n, 2).ret, -E.EINVAL);
});

Deno.test("compat: UNMAP_DMA size 0 is EINVAL with size 0 written back", () => {
  const { k, fd } = compatWithIoas();
  const r = unmapDma(k, fd, 0x100000n, 0n);
  strictEqual(r.ret, -E.EINVAL);
  strictEqual(r.size, 0n);
});

Deno.test("compat: UNMAP_DMA overflow is EOVERFLOW with size 0 written back", () => {
  const { k, fd, buf } = compatWithIoas();
  strictEqual(mapDma(k, fd, buf, 0x100000n, 0x1000n), 0);
  const r = unmapDma(k, fd, 0xffff_ffff_ffff_f000n, 0x2000n);
  strictEqual(r.ret, -E.EOVERFLOW);
  strictEqual(r.size, 0n);
});

Deno.test("compat: UNMAP_DMA of an empty range: ENOENT before afb47765, 0 after", () => {
  for (
    const [rel, want] of [["6.12", -E.ENOENT], ["6.12.117", 0], ["6.18", 0], [
      "6.2",
      -E.ENOENT,
    ]] as const
  ) {
    const { k, fd } = compatWithIoas(rel);
    const r = unmapDma(k, fd, 0x1100000n, 0x200000n);
    strictEqual(r.ret, want, rel);
    strictEqual(r.size, 0n);
  }
});

Deno.test("compat: UNMAP_DMA cutting into an area is ENOENT even with the empty-unmap fix", () => {
  const { k, fd, buf } = compatWithIoas("6.18");
  strictEqual(mapDma(k, fd, buf, 0x100000n, 0x200000n), 0);
  strictEqual(unmapDma(k, fd, 0x200000n, 0x100000n).ret, -E.ENOENT);
  strictEqual(unmapDma(k, fd, 0x100000n, 0x100000n).ret, -E.ENOENT);
});

Deno.test("compat: UNMAP_DMA partial overlap reports the whole areas removed below it", () => {
  const { k, fd, buf } = compatWithIoas();
  strictEqual(mapDma(k, fd, buf, 0x100000n, 0x1000n), 0);
  strictEqual(mapDma(k, fd, buf, 0x200000n, 0x2000n), 0);
  const r = unmapDma(k, fd, 0x100000n, 0x101000n);
  strictEqual(r.ret, -E.ENOENT);
  strictEqual(r.size, 0x1000n);
});

Deno.test("compat: UNMAP_DMA FLAG_ALL reports every byte removed", () => {
  const { k, fd, buf } = compatWithIoas();
  strictEqual(mapDma(k, fd, buf, 0x100000n, 0x200000n), 0);
  strictEqual(mapDma(k, fd, buf, 0x300800n, 0x1000n), 0);
  deepStrictEqual(unmapDma(k, fd, 0n, 0n, 2), { ret: 0, size: 0x201000n });
  deepStrictEqual(unmapDma(k, fd, 0n, 0n, 2), { ret: 0, size: 0n });
});

Deno.test("compat: TYPE1 mode cuts areas at the request bounds (iopt_cut_iova)", () => {
  const { k, fd, buf } = compatWithIoas();
  strictEqual(k.ioctl(fd, R.VFIO_SET_IOMMU, 1n), 0);
  strictEqual(mapDma(k, fd, buf, 0x100000n, 0x200000n), 0);
  deepStrictEqual(unmapDma(k, fd, 0x180000n, 0x10000n), { ret: 0, size: 0x10000n });
  deepStrictEqual(unmapDma(k, fd, 0x100000n, 0x200000n), { ret: 0, size: 0x1f0000n });
});

Deno.test("compat: TYPE1 mode cut at an unaligned point is EINVAL and writes nothing back", () => {
  const { k, fd, buf } = compatWithIoas();
  strictEqual(k.ioctl(fd, R.VFIO_SET_IOMMU, 1n), 0);
  strictEqual(mapDma(k, fd, buf, 0x100000n, 0x200000n), 0);
  const r = unmapDma(k, fd, 0x100000n, 0x800n);
  strictEqual(r.ret, -E.EINVAL);
  strictEqual(r.size, 0x800n, "cut errors return before the write-back");
});

Deno.test("compat: GET_INFO argsz below 16 is EINVAL, ENODEV without an IOAS", () => {
  const { k, fd } = openIommufd();
  strictEqual(
    call(k, fd, R.VFIO_IOMMU_GET_INFO, S.vfio_iommu_type1_info, { argsz: 1 }).ret,
    -E.EINVAL,
  );
  strictEqual(call(k, fd, R.VFIO_IOMMU_GET_INFO, S.vfio_iommu_type1_info).ret, -E.ENODEV);
  strictEqual(k.ioctl(fd, R.VFIO_IOMMU_GET_INFO, new Uint8Array(15)), -E.EFAULT);
});

Deno.test("compat: GET_INFO layout with 8-byte aligned caps (6.6+): 72 bytes, next=40", () => {
  const { k, fd } = compatWithIoas();
  const c = call(k, fd, R.VFIO_IOMMU_GET_INFO, S.vfio_iommu_type1_info, { argsz: 72 }, 72);
  strictEqual(c.ret, 0);
  strictEqual(c.out.argsz, 72n);
  strictEqual(c.out.flags, 3n);
  strictEqual(c.out.cap_offset, 24n);
  const chain = decodeInfoCaps(c.buf);
  deepStrictEqual(chain.caps.map((x) => [x.offset, x.id, x.next]), [[24, 3, 40], [40, 1, 0]]);
  deepStrictEqual(chain.caps[1].ranges, [{ start: 0n, end: 0xffff_ffff_ffff_ffffn }]);
});

Deno.test("compat: GET_INFO layout before 6.6: 68 bytes, DMA_AVAIL occupies 12", () => {
  const { k, fd } = compatWithIoas("6.2");
  const c = call(k, fd, R.VFIO_IOMMU_GET_INFO, S.vfio_iommu_type1_info, { argsz: 24 });
  strictEqual(c.out.argsz, 68n);
  const full = call(k, fd, R.VFIO_IOMMU_GET_INFO, S.vfio_iommu_type1_info, { argsz: 68 }, 68);
  deepStrictEqual(decodeInfoCaps(full.buf).caps.map((x) => [x.offset, x.id, x.next]), [
    [24, 3, 36],
    [36, 1, 0],
  ]);
});

Deno.test("compat: GET_INFO argsz larger than needed comes back as the exact size", () => {
  const { k, fd } = compatWithIoas();
  const c = call(k, fd, R.VFIO_IOMMU_GET_INFO, S.vfio_iommu_type1_info, { argsz: 200 }, 200);
  strictEqual(c.out.argsz, 72n);
  strictEqual(c.out.cap_offset, 24n);
});

Deno.test("compat: GET_INFO writes min(argsz, 24) bytes of the fixed struct (argsz 16 and 20)", () => {
  const { k, fd } = compatWithIoas();
  for (const argsz of [16, 20]) {
    const b = new Uint8Array(24).fill(0xaa);
    new DataView(b.buffer).setUint32(0, argsz, true);
    strictEqual(k.ioctl(fd, R.VFIO_IOMMU_GET_INFO, b), 0);
    deepStrictEqual([...b.subarray(argsz)], new Array(24 - argsz).fill(0xaa));
    strictEqual(new DataView(b.buffer).getUint32(0, true), 72);
  }
});

Deno.test("compat: GET_INFO page sizes: no domain, mock (folded to PAGE_SIZE), HUGE_IOVA mock", () => {
  const { k, fd, ioas } = compatWithIoas();
  const pg = () => call(k, fd, R.VFIO_IOMMU_GET_INFO, S.vfio_iommu_type1_info).out.iova_pgsizes;
  strictEqual(pg(), 0xffff_ffff_ffff_f000n);
  const m = mockDomain(k, fd, ioas);
  strictEqual(pg(), 0x1000n);
  strictEqual(call(k, fd, R.IOMMU_DESTROY, S.iommu_destroy, { id: m.stdev }).ret, 0);
  strictEqual(mockDomain(k, fd, ioas, 2).ret, 0);
  strictEqual(pg(), 0x101000n);
});

Deno.test("IOMMU_VFIO_IOAS: an op past CLEAR is EOPNOTSUPP, writes nothing; __reserved is checked before the op", () => {
  const { k, fd, ioas } = compatWithIoas();
  for (const op of [3, 0xffff]) {
    const c = call(k, fd, R.IOMMU_VFIO_IOAS, S.iommu_vfio_ioas, { op, ioas_id: 0 });
    strictEqual(c.ret, -E.EOPNOTSUPP, `op ${op}`);
    strictEqual(c.out.ioas_id, 0n, "nothing written back");
  }
  // SET of an unknown IOAS would be ENOENT: the reserved field answers first.
  const r = call(k, fd, R.IOMMU_VFIO_IOAS, S.iommu_vfio_ioas, {
    op: 1,
    ioas_id: 99,
    __reserved: 1,
  });
  strictEqual(r.ret, -E.EOPNOTSUPP);
  const get = call(k, fd, R.IOMMU_VFIO_IOAS, S.iommu_vfio_ioas, { op: 0 });
  deepStrictEqual([get.ret, get.out.ioas_id], [0, BigInt(ioas)], "the compat IOAS is unchanged");
});

Deno.test("compat: GET_INFO whose IOVA_RANGE header lands past the buffer is EFAULT; DMA_AVAIL stays written, the fixed struct not", () => {
  const { k, fd, ioas } = compatWithIoas();
  // Everything reserved: the IOVA_RANGE cap has no range, only its 16-byte header at 40.
  for (const [start, length] of [[0n, U64_MAX], [U64_MAX, 1n]]) {
    const t = call(k, fd, R.IOMMU_TEST_CMD, S.iommu_test_cmd, {
      op: 1,
      id: ioas,
      "add_reserved.start": start,
      "add_reserved.length": length,
    });
    strictEqual(t.ret, 0);
  }
  const full = call(k, fd, R.VFIO_IOMMU_GET_INFO, S.vfio_iommu_type1_info, { argsz: 56 }, 56);
  strictEqual(full.ret, 0);
  strictEqual(full.out.argsz, 56n);
  const chain = decodeInfoCaps(full.buf);
  deepStrictEqual(chain.caps.map((x) => [x.offset, x.id, x.next]), [[24, 3, 40], [40, 1, 0]]);
  deepStrictEqual(chain.caps[1].ranges, []);
  // argsz 56 but only 40 bytes mapped: the header's copy_to_user faults.
  const b = new Uint8Array(40).fill(0xaa);
  const v = new DataView(b.buffer);
  v.setUint32(0, 56, true);
  v.setUint32(4, 0, true);
  v.setBigUint64(8, 0n, true);
  strictEqual(k.ioctl(fd, R.VFIO_IOMMU_GET_INFO, b), -E.EFAULT);
  const want = new Uint8Array(40).fill(0xaa);
  const w = new DataView(want.buffer);
  w.setUint32(0, 56, true);
  w.setUint32(4, 0, true);
  w.setBigUint64(8, 0n, true);
  // DMA_AVAIL (id 3, version 1, next 0, avail U32_MAX) was copied before the fault.
  w.setUint16(24, 3, true);
  w.setUint16(26, 1, true);
  w.setUint32(28, 0, true);
  w.setUint32(32, 0xffffffff, true);
  deepStrictEqual(b, want);
});

Deno.test("compat: UNMAP_DMA whose struct cannot be written back is EFAULT, over the unmap's own answer, after it took effect", () => {
  const { k, fd, buf } = compatWithIoas();
  strictEqual(mapDma(k, fd, buf, 0x100000n, 0x2000n), 0);
  strictEqual(mapDma(k, fd, buf, 0x200000n, 0x2000n), 0);
  // The simulator's mmap makes read/write memory only, so the handler is given a read-only
  // view of a page (as after mprotect(PROT_READ)): copy_from_user works, copy_to_user faults.
  const mem = k.memory;
  const u = new UserArg({ read: (a, into) => mem.read(a, into), write: () => E.EFAULT });
  const page = k.mmap(0x1000n);
  const ctx = k.iommufdContext(fd)!;
  const run = (iova: bigint, size: bigint) => {
    const b = encode(S.vfio_iommu_type1_dma_unmap, { iova, size });
    strictEqual(k.writeMemory(page, b), 0);
    u.set(page);
    const ret = vfioUnmapDma(ctx, u);
    const after = new Uint8Array(b.length);
    strictEqual(k.readMemory(page, after), 0);
    deepStrictEqual(after, b, "the struct is unchanged");
    return ret;
  };
  strictEqual(run(0x100000n, 0x2000n), -E.EFAULT);
  strictEqual(mapDma(k, fd, buf, 0x100000n, 0x2000n), 0, "the range was unmapped");
  // Cutting into an area is ENOENT, but the failed copy_to_user still sets rc = -EFAULT.
  strictEqual(run(0x200000n, 0x1000n), -E.EFAULT);
  strictEqual(mapDma(k, fd, buf, 0x200000n, 0x1000n), -E.EEXIST, "nothing was unmapped");
});

// ---- device memory (VM_PFNMAP): iommufd pins with FOLL_LONGTERM, which refuses it ----

const MiB = 0x100000n;
const RELEASES = ["6.2", "6.6", "6.12", "6.12.117", "6.18"];

function setContainer(k: SimKernel, gfd: number, fd: number): number {
  const b = new Uint8Array(4);
  new DataView(b.buffer).setInt32(0, fd, true);
  return k.ioctl(gfd, R.VFIO_GROUP_SET_CONTAINER, b);
}

function getDeviceFd(k: SimKernel, gfd: number, name: string): number {
  return k.ioctl(gfd, R.VFIO_GROUP_GET_DEVICE_FD, new TextEncoder().encode(name + "\0"));
}

/** /dev/iommu with the intel-vtd group attached and its device open (domain attached). */
function compatWithDevice(release?: string) {
  const k = new SimKernel({ profile: "intel-vtd", release });
  const fd = k.open("/dev/iommu");
  const gfd = k.open("/dev/vfio/3");
  strictEqual(setContainer(k, gfd, fd), 0);
  const dfd = getDeviceFd(k, gfd, "0000:00:03.0");
  strictEqual(dfd > 0, true);
  const bar = k.mmap(MiB, dfd, 0n);
  strictEqual(bar > 0n, true);
  return { k, fd, gfd, dfd, bar };
}

Deno.test("compat: MAP_DMA of a VM_PFNMAP vaddr with a domain is EFAULT (check_vma_flags)", () => {
  for (const release of RELEASES) {
    const { k, fd, bar } = compatWithDevice(release);
    strictEqual(mapDma(k, fd, bar, MiB, MiB), -E.EFAULT, release);
    deepStrictEqual(k.mappings(fd), [], release);
    strictEqual(k.pinnedPages(), 0n);
  }
});

Deno.test("native: IOAS_MAP of a VM_PFNMAP user_va with a domain is EFAULT", () => {
  const { k, fd, bar } = compatWithDevice();
  const ioas = Number(call(k, fd, R.IOMMU_VFIO_IOAS, S.iommu_vfio_ioas, { op: 0 }).out.ioas_id);
  strictEqual(mapFixed(k, fd, ioas, bar, MiB, MiB), -E.EFAULT);
  strictEqual(mapAuto(k, fd, ioas, bar, MiB).ret, -E.EFAULT);
});

Deno.test("compat: a VM_PFNMAP area is accepted unpinned, then the attach that pins it is EFAULT", () => {
  for (const release of RELEASES) {
    // The BAR comes from a device opened through another container.
    const { k, bar } = compatWithDevice(release);
    const g2 = k.addDevice("0000:00:04.0");
    const fd2 = k.open("/dev/iommu");
    const gfd2 = k.open(`/dev/vfio/${g2}`);
    strictEqual(setContainer(k, gfd2, fd2), 0);
    strictEqual(mapDma(k, fd2, bar, MiB, MiB), 0, `${release}: no domain, nothing pinned`);
    strictEqual(getDeviceFd(k, gfd2, "0000:00:04.0"), -E.EFAULT, release);
    // The failed open left the device unbound: the group can be used again once unmapped.
    strictEqual(unmapDma(k, fd2, MiB, MiB).ret, 0);
    strictEqual(getDeviceFd(k, gfd2, "0000:00:04.0") > 0, true, release);
  }
});

Deno.test("selftest: MOCK_DOMAIN attach over a VM_PFNMAP area fails to pin it (EFAULT)", () => {
  const { k, bar } = compatWithDevice();
  const fd = k.open("/dev/iommu");
  const ioas = ioasAlloc(k, fd);
  strictEqual(mapFixed(k, fd, ioas, bar, MiB, 0x1000000n), 0);
  strictEqual(mockDomain(k, fd, ioas).ret, -E.EFAULT);
});

// ---- no-IOMMU emulation (6.3+: iommufd_vfio_compat_set_no_iommu and friends) ----

/** /dev/iommu and an open no-IOMMU group (sim noiommu on), not attached yet. */
function noIommu(release?: string) {
  const k = new SimKernel({ profile: "intel-vtd", release, noiommu: "on" });
  const g = k.addDevice("0000:00:05.0", { noiommu: true });
  const fd = k.open("/dev/iommu");
  const gfd = k.open(`/dev/vfio/noiommu-${g}`);
  strictEqual(gfd > 0, true);
  return { k, fd, gfd, g };
}

Deno.test("compat: CHECK_EXTENSION(NOIOMMU) is IS_ENABLED(CONFIG_VFIO_NOIOMMU) from 6.3, 0 in 6.2", () => {
  for (
    const [setting, release, want] of [
      ["off", "6.12", 0],
      ["built", "6.12", 1],
      ["on", "6.6", 1],
      ["on", "6.2", 0],
    ] as const
  ) {
    const { k, fd } = openIommufd({ release, noiommu: setting });
    strictEqual(k.ioctl(fd, R.VFIO_CHECK_EXTENSION, 8n), want, `${setting} ${release}`);
  }
});

Deno.test("compat: SET_CONTAINER of a no-IOMMU group sets no-iommu mode: no compat IOAS", () => {
  const { k, fd, gfd } = noIommu();
  strictEqual(setContainer(k, gfd, fd), 0);
  strictEqual(call(k, fd, R.IOMMU_VFIO_IOAS, S.iommu_vfio_ioas, { op: 0 }).ret, -E.ENODEV);
  strictEqual(mapDma(k, fd, 0x1000n, MiB, 0x1000n), -E.ENODEV);
  strictEqual(k.ioctl(fd, R.VFIO_CHECK_EXTENSION, 4n), -E.ENODEV);
});

Deno.test("compat: set_no_iommu is EINVAL once a compat IOAS was set", () => {
  const { k, fd, gfd } = noIommu();
  setCompat(k, fd, ioasAlloc(k, fd));
  strictEqual(setContainer(k, gfd, fd), -E.EINVAL);
});

Deno.test("compat: SET_CONTAINER of a no-IOMMU group needs no CAP_SYS_RAWIO (only the open did)", () => {
  const { k, fd, gfd } = noIommu();
  k.setPrivileged(false);
  strictEqual(setContainer(k, gfd, fd), 0);
});

Deno.test("compat: in no-iommu mode ioas_create (a real group's SET_CONTAINER) is EINVAL", () => {
  const { k, fd, gfd } = noIommu();
  strictEqual(setContainer(k, gfd, fd), 0);
  strictEqual(setContainer(k, k.open("/dev/vfio/3"), fd), -E.EINVAL);
});

Deno.test("compat: SET_IOMMU(NOIOMMU) in no-iommu mode: 0 with CAP_SYS_RAWIO, EPERM without", () => {
  const { k, fd, gfd } = noIommu();
  strictEqual(k.ioctl(fd, R.VFIO_SET_IOMMU, 8n), -E.EINVAL, "not in no-iommu mode yet");
  strictEqual(setContainer(k, gfd, fd), 0);
  k.setPrivileged(false);
  strictEqual(k.ioctl(fd, R.VFIO_SET_IOMMU, 8n), -E.EPERM);
  k.setPrivileged(true);
  strictEqual(k.ioctl(fd, R.VFIO_SET_IOMMU, 8n), 0);
  strictEqual(k.ioctl(fd, R.VFIO_SET_IOMMU, 8n), 0, "repeatable");
});

Deno.test("compat: in no-iommu mode TYPE1/TYPE1v2 are EINVAL, even with a compat IOAS", () => {
  const { k, fd, gfd } = noIommu();
  strictEqual(setContainer(k, gfd, fd), 0);
  strictEqual(k.ioctl(fd, R.VFIO_SET_IOMMU, 3n), -E.EINVAL);
  setCompat(k, fd, ioasAlloc(k, fd));
  strictEqual(k.ioctl(fd, R.VFIO_SET_IOMMU, 1n), -E.EINVAL);
  // The other ioctls work on an IOAS set up by other means.
  strictEqual(mapDma(k, fd, 0x1000n, MiB, 0x1000n), 0);
});

Deno.test("compat: CHECK_EXTENSION(TYPE1, TYPE1v2, UNMAP_ALL) is !no_iommu_mode in 6.12.117, 1 before", () => {
  for (const [release, want] of [["6.12.117", 0], ["6.12", 1], ["6.18", 1]] as const) {
    const { k, fd, gfd } = noIommu(release);
    for (const ext of [1n, 3n, 9n]) strictEqual(k.ioctl(fd, R.VFIO_CHECK_EXTENSION, ext), 1);
    strictEqual(setContainer(k, gfd, fd), 0);
    for (const ext of [1n, 3n, 9n]) {
      strictEqual(k.ioctl(fd, R.VFIO_CHECK_EXTENSION, ext), want, `${release} ext ${ext}`);
    }
  }
});

Deno.test("compat: opening a no-IOMMU device needs CAP_SYS_RAWIO and no compat IOAS (EPERM)", () => {
  const { k, fd, gfd } = noIommu();
  strictEqual(setContainer(k, gfd, fd), 0);
  k.setPrivileged(false);
  strictEqual(getDeviceFd(k, gfd, "0000:00:05.0"), -E.EPERM);
  k.setPrivileged(true);
  const dfd = getDeviceFd(k, gfd, "0000:00:05.0");
  strictEqual(dfd > 0, true);
  // Nothing was bound: no device object, no DMA ownership.
  strictEqual(k.iommufdContext(fd)!.objects.count, 0);
  strictEqual(k.close(dfd), 0);
  setCompat(k, fd, ioasAlloc(k, fd));
  strictEqual(getDeviceFd(k, gfd, "0000:00:05.0"), -E.EPERM);
});

Deno.test("compat 6.2: no no-IOMMU emulation: a compat IOAS, then bind fails (EINVAL)", () => {
  const { k, fd, gfd } = noIommu("6.2");
  strictEqual(setContainer(k, gfd, fd), 0);
  strictEqual(call(k, fd, R.IOMMU_VFIO_IOAS, S.iommu_vfio_ioas, { op: 0 }).ret, 0);
  strictEqual(k.ioctl(fd, R.VFIO_SET_IOMMU, 8n), -E.EINVAL);
  strictEqual(k.ioctl(fd, R.VFIO_SET_IOMMU, 3n), 0);
  // iommufd_device_bind: no IOMMU behind the device, so no IOMMU_CAP_CACHE_COHERENCY.
  strictEqual(getDeviceFd(k, gfd, "0000:00:05.0"), -E.EINVAL);
});
