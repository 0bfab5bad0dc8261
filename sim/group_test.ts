/** VFIO groups and devices on iommufd (drivers/vfio/group.c, drivers/vfio/iommufd.c). */

import { deepStrictEqual, strictEqual } from "node:assert";
import { E } from "../uapi/errno.ts";
import { encode } from "../uapi/codec.ts";
import * as S from "../uapi/structs.ts";
import * as R from "../uapi/ioctl.ts";
import { SimKernel } from "./kernel.ts";
import { call, fdArg, iovaRanges, mapDma } from "../tests/_sim_helpers.ts";

const DEV = "0000:00:03.0";

function name(s: string): Uint8Array {
  return new TextEncoder().encode(s + "\0");
}

function status(k: SimKernel, gfd: number): number {
  const c = call(k, gfd, R.VFIO_GROUP_GET_STATUS, S.vfio_group_status);
  return c.ret < 0 ? c.ret : Number(c.out.flags);
}

function vtd(release?: string) {
  const k = new SimKernel({ profile: "intel-vtd", release });
  const fd = k.open("/dev/iommu");
  const gfd = k.open("/dev/vfio/3");
  return { k, fd, gfd };
}

Deno.test("group open: unknown group ENOENT, a second open EBUSY (group->opened_file)", () => {
  const { k, gfd } = vtd();
  strictEqual(gfd, 4);
  strictEqual(k.open("/dev/vfio/4"), -E.ENOENT);
  strictEqual(k.open("/dev/vfio/3"), -E.EBUSY);
  strictEqual(k.close(gfd), 0);
  strictEqual(k.open("/dev/vfio/3"), 4);
});

Deno.test("GET_STATUS: argsz < 8 EINVAL; VIABLE, then VIABLE|CONTAINER_SET", () => {
  const { k, fd, gfd } = vtd();
  strictEqual(
    call(k, gfd, R.VFIO_GROUP_GET_STATUS, S.vfio_group_status, { argsz: 7 }).ret,
    -E.EINVAL,
  );
  strictEqual(k.ioctl(gfd, R.VFIO_GROUP_GET_STATUS, new Uint8Array(7)), -E.EFAULT);
  strictEqual(status(k, gfd), 1);
  strictEqual(k.ioctl(gfd, R.VFIO_GROUP_SET_CONTAINER, fdArg(fd)), 0);
  strictEqual(status(k, gfd), 3);
});

Deno.test("SET_CONTAINER: EFAULT, EBADF, EBADFD for a non-container, EINVAL when already set", () => {
  const { k, fd, gfd } = vtd();
  strictEqual(k.ioctl(gfd, R.VFIO_GROUP_SET_CONTAINER, new Uint8Array(3)), -E.EFAULT);
  strictEqual(k.ioctl(gfd, R.VFIO_GROUP_SET_CONTAINER, fdArg(42)), -E.EBADF);
  strictEqual(k.ioctl(gfd, R.VFIO_GROUP_SET_CONTAINER, fdArg(gfd)), -E.EBADFD);
  strictEqual(k.ioctl(gfd, R.VFIO_GROUP_SET_CONTAINER, fdArg(fd)), 0);
  strictEqual(k.ioctl(gfd, R.VFIO_GROUP_SET_CONTAINER, fdArg(fd)), -E.EINVAL);
});

Deno.test("SET_CONTAINER creates the compat IOAS (id 1) or reuses the one set", () => {
  const { k, fd, gfd } = vtd();
  strictEqual(k.ioctl(gfd, R.VFIO_GROUP_SET_CONTAINER, fdArg(fd)), 0);
  const g = call(k, fd, R.IOMMU_VFIO_IOAS, S.iommu_vfio_ioas, { op: 0 });
  strictEqual(g.out.ioas_id, 1n);
  strictEqual(iovaRanges(k, fd, 1).alignment, 1n, "no domain until a device is opened");
});

Deno.test("UNSET_CONTAINER: EINVAL when not set; the compat IOAS stays", () => {
  const { k, fd, gfd } = vtd();
  strictEqual(k.ioctl(gfd, R.VFIO_GROUP_UNSET_CONTAINER, 0n), -E.EINVAL);
  k.ioctl(gfd, R.VFIO_GROUP_SET_CONTAINER, fdArg(fd));
  strictEqual(k.ioctl(gfd, R.VFIO_GROUP_UNSET_CONTAINER, 0n), 0);
  strictEqual(status(k, gfd), 1);
  strictEqual(call(k, fd, R.IOMMU_VFIO_IOAS, S.iommu_vfio_ioas, { op: 0 }).ret, 0);
});

Deno.test("GET_DEVICE_FD: ENODEV for an unknown name, EINVAL before SET_CONTAINER, EFAULT unterminated", () => {
  const { k, fd, gfd } = vtd();
  strictEqual(k.ioctl(gfd, R.VFIO_GROUP_GET_DEVICE_FD, name("0000:00:04.0")), -E.ENODEV);
  strictEqual(k.ioctl(gfd, R.VFIO_GROUP_GET_DEVICE_FD, name(DEV)), -E.EINVAL);
  strictEqual(k.ioctl(gfd, R.VFIO_GROUP_GET_DEVICE_FD, new TextEncoder().encode(DEV)), -E.EFAULT);
  strictEqual(k.ioctl(gfd, R.VFIO_GROUP_GET_DEVICE_FD, new Uint8Array(5000).fill(0x41)), -E.EINVAL);
  k.ioctl(gfd, R.VFIO_GROUP_SET_CONTAINER, fdArg(fd));
  strictEqual(k.ioctl(gfd, R.VFIO_GROUP_GET_DEVICE_FD, name(DEV)), 5);
});

Deno.test("GET_DEVICE_FD binds then attaches: device id 2, hwpt id 3; IOAS busy; domain ranges", () => {
  const { k, fd, gfd } = vtd();
  k.ioctl(gfd, R.VFIO_GROUP_SET_CONTAINER, fdArg(fd));
  strictEqual(k.ioctl(gfd, R.VFIO_GROUP_GET_DEVICE_FD, name(DEV)), 5);
  strictEqual(call(k, fd, R.IOMMU_DESTROY, S.iommu_destroy, { id: 1 }).ret, -E.EBUSY);
  strictEqual(call(k, fd, R.IOMMU_DESTROY, S.iommu_destroy, { id: 2 }).ret, -E.EBUSY);
  strictEqual(call(k, fd, R.IOMMU_DESTROY, S.iommu_destroy, { id: 3 }).ret, -E.EBUSY);
  strictEqual(call(k, fd, R.IOMMU_DESTROY, S.iommu_destroy, { id: 4 }).ret, -E.ENOENT);
  const r = iovaRanges(k, fd, 1);
  deepStrictEqual(r.ranges, [[0n, 0xfedfffffn], [0xfef00000n, 0x7fffffffffn]]);
  strictEqual(r.alignment, 0x1000n);
  strictEqual(status(k, gfd), 3);
});

Deno.test("GET_DEVICE_FD without a compat IOAS: ENODEV from 6.3, a new IOAS in 6.2", () => {
  for (const [rel, want] of [["6.12", -E.ENODEV], ["6.2", 5]] as const) {
    const { k, fd, gfd } = vtd(rel);
    k.ioctl(gfd, R.VFIO_GROUP_SET_CONTAINER, fdArg(fd));
    call(k, fd, R.IOMMU_VFIO_IOAS, S.iommu_vfio_ioas, { op: 2 });
    strictEqual(k.ioctl(gfd, R.VFIO_GROUP_GET_DEVICE_FD, name(DEV)), want, rel);
    if (rel === "6.12") strictEqual(status(k, gfd), 3, "the failed bind gave ownership back");
  }
});

Deno.test("GET_DEVICE_FD pins existing maps; a bogus vaddr fails EFAULT and is rolled back", () => {
  const { k, fd, gfd } = vtd();
  k.ioctl(gfd, R.VFIO_GROUP_SET_CONTAINER, fdArg(fd));
  const buf = k.mmap(0x200000n);
  strictEqual(mapDma(k, fd, buf, 0x100000n, 0x200000n), 0);
  strictEqual(k.pinnedPages(), 0n);
  strictEqual(mapDma(k, fd, 0x10000n, 0x400000n, 0x1000n), 0);
  strictEqual(k.ioctl(gfd, R.VFIO_GROUP_GET_DEVICE_FD, name(DEV)), -E.EFAULT);
  strictEqual(k.pinnedPages(), 0n);
  call(k, fd, R.VFIO_IOMMU_UNMAP_DMA, S.vfio_iommu_type1_dma_unmap, {
    iova: 0x400000n,
    size: 0x1000n,
  });
  const dfd = k.ioctl(gfd, R.VFIO_GROUP_GET_DEVICE_FD, name(DEV));
  strictEqual(dfd, 5);
  strictEqual(k.pinnedPages(), 0x200n);
  strictEqual(k.close(dfd), 0);
  strictEqual(k.pinnedPages(), 0n, "the last close unbinds and the domain goes");
});

Deno.test("device fd: GET_INFO as vfio-pci answers, other requests ENOTTY", () => {
  const { k, fd, gfd } = vtd();
  k.ioctl(gfd, R.VFIO_GROUP_SET_CONTAINER, fdArg(fd));
  const dfd = k.ioctl(gfd, R.VFIO_GROUP_GET_DEVICE_FD, name(DEV));
  const di = new Uint8Array(28).fill(0xaa);
  new DataView(di.buffer).setUint32(0, 24, true);
  strictEqual(k.ioctl(dfd, R.requestByName("VFIO_DEVICE_GET_INFO")!.request, di), 0);
  const v = new DataView(di.buffer);
  deepStrictEqual([v.getUint32(4, true), v.getUint32(8, true), v.getUint32(12, true)], [2, 9, 5]);
  deepStrictEqual([...di.subarray(24)], [0xaa, 0xaa, 0xaa, 0xaa]);
  strictEqual(k.ioctl(dfd, R.VFIO_IOMMU_GET_INFO, encode(S.vfio_iommu_type1_info)), -E.ENOTTY);
});

Deno.test("closing the iommufd while a device is open keeps the context alive", () => {
  const { k, fd, gfd } = vtd();
  k.ioctl(gfd, R.VFIO_GROUP_SET_CONTAINER, fdArg(fd));
  const buf = k.mmap(0x10000n);
  mapDma(k, fd, buf, 0x100000n, 0x10000n);
  const dfd = k.ioctl(gfd, R.VFIO_GROUP_GET_DEVICE_FD, name(DEV));
  strictEqual(k.close(fd), 0);
  strictEqual(k.pinnedPages(), 0x10n, "device and group still hold the iommufd");
  strictEqual(k.close(dfd), 0);
  strictEqual(k.close(gfd), 0);
  strictEqual(k.pinnedPages(), 0n);
});

Deno.test("GET_DEVICE_FD: a name in user memory with no NUL in PAGE_SIZE bytes is EINVAL, one running into unmapped memory EFAULT (strndup_user)", () => {
  const { k, fd, gfd } = vtd();
  k.ioctl(gfd, R.VFIO_GROUP_SET_CONTAINER, fdArg(fd));
  const page = k.mmap(0x1000n);
  strictEqual(k.writeMemory(page, new Uint8Array(0x1000).fill(0x41)), 0);
  // strnlen_user(s, PAGE_SIZE) finds no NUL within the page: longer than PAGE_SIZE.
  strictEqual(k.ioctl(gfd, R.VFIO_GROUP_GET_DEVICE_FD, page), -E.EINVAL);
  // Started 5 bytes before the end, the string runs into the unmapped guard page first.
  strictEqual(k.ioctl(gfd, R.VFIO_GROUP_GET_DEVICE_FD, page + 0xffbn), -E.EFAULT);
  // The device's name ending with the page's last byte works.
  const at = page + 0x1000n - BigInt(DEV.length + 1);
  strictEqual(k.writeMemory(at, name(DEV)), 0);
  strictEqual(k.ioctl(gfd, R.VFIO_GROUP_GET_DEVICE_FD, at), 5);
});
