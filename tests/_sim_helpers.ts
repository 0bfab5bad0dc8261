/**
 * Small helpers for simulator tests: encode a struct, issue the ioctl, read fields back.
 *
 * @module
 */

import { decode, encode, type StructValues } from "../uapi/codec.ts";
import type { StructDesc } from "../uapi/structs.ts";
import type { Kernel } from "../uapi/kernel.ts";
import * as S from "../uapi/structs.ts";
import * as R from "../uapi/ioctl.ts";
import { SimKernel, type SimKernelOptions } from "../sim/kernel.ts";
import { UserArg, type UserMemoryAccess } from "../sim/uaccess.ts";
import type { IommufdCtx } from "../sim/context.ts";
import type { Release } from "../sim/release.ts";
import { strictEqual } from "node:assert";
import { E } from "../uapi/errno.ts";

/** Result of {@link call}. */
export interface Call {
  ret: number;
  out: Record<string, bigint>;
  buf: Uint8Array;
}

/** Encode `values` as `desc`, run the ioctl, decode the buffer afterwards. */
export function call(
  k: Kernel,
  fd: number,
  request: number,
  desc: StructDesc,
  values: StructValues = {},
  bufferSize?: number,
): Call {
  const buf = encode(desc, values, { bufferSize });
  const ret = k.ioctl(fd, request, buf);
  return { ret, out: decode(desc, buf), buf };
}

/** IOMMU_DESTROY of object `id`; the ioctl's answer. */
export function destroy(k: Kernel, fd: number, id: number): number {
  return call(k, fd, R.IOMMU_DESTROY, S.iommu_destroy, { id }).ret;
}

/** A simulator and an open /dev/iommu. */
export function openIommufd(options: SimKernelOptions = {}): { k: SimKernel; fd: number } {
  const k = new SimKernel(options);
  const fd = k.open("/dev/iommu");
  if (fd < 0) throw new Error(`open failed ${fd}`);
  return { k, fd };
}

/** The argument of VFIO_GROUP_SET_CONTAINER: the container fd as an int. */
export function fdArg(fd: number): Uint8Array {
  const b = new Uint8Array(4);
  new DataView(b.buffer).setInt32(0, fd, true);
  return b;
}

/** VFIO_GROUP_GET_DEVICE_FD of `name` on group fd `gfd`: the device fd or -errno. */
export function deviceFd(k: Kernel, gfd: number, name = VTD_DEVICE): number {
  return k.ioctl(gfd, R.VFIO_GROUP_GET_DEVICE_FD, new TextEncoder().encode(name + "\0"));
}

/** The intel-vtd profile's edu device. */
export const VTD_DEVICE = "0000:00:03.0";

/**
 * The intel-vtd profile with group 3 set to a container: /dev/iommu (compat), or the legacy
 * /dev/vfio/vfio with SET_IOMMU(TYPE1v2) done.
 */
export function vtdContainer(
  container: "iommufd" | "legacy" = "iommufd",
  k = new SimKernel({ profile: "intel-vtd", container }),
): { k: SimKernel; fd: number; gfd: number } {
  const fd = k.open(container === "legacy" ? "/dev/vfio/vfio" : "/dev/iommu");
  const gfd = k.open("/dev/vfio/3");
  if (k.ioctl(gfd, R.VFIO_GROUP_SET_CONTAINER, fdArg(fd)) !== 0) throw new Error("SET_CONTAINER");
  if (container === "legacy" && k.ioctl(fd, R.VFIO_SET_IOMMU, 3n) !== 0) {
    throw new Error("SET_IOMMU");
  }
  return { k, fd, gfd };
}

/** IOMMU_IOAS_ALLOC; returns the id. */
export function ioasAlloc(k: Kernel, fd: number): number {
  const c = call(k, fd, R.IOMMU_IOAS_ALLOC, S.iommu_ioas_alloc);
  if (c.ret !== 0) throw new Error(`IOAS_ALLOC ${c.ret}`);
  return Number(c.out.out_ioas_id);
}

/** IOMMU_TEST_OP_MOCK_DOMAIN on `id`. */
export function mockDomain(
  k: Kernel,
  fd: number,
  id: number,
  flags?: number,
): { ret: number; stdev: number; hwpt: number; idev: number } {
  const c = call(k, fd, R.IOMMU_TEST_CMD, S.iommu_test_cmd, {
    op: flags === undefined ? 2 : 12,
    id,
    ...(flags === undefined ? {} : { "mock_domain_flags.dev_flags": flags }),
  });
  return {
    ret: c.ret,
    stdev: Number(c.out["mock_domain.out_stdev_id"]),
    hwpt: Number(c.out["mock_domain.out_hwpt_id"]),
    idev: Number(c.out["mock_domain.out_idev_id"]),
  };
}

/** IOMMU_VFIO_IOAS SET. */
export function setCompat(k: Kernel, fd: number, id: number): number {
  return call(k, fd, R.IOMMU_VFIO_IOAS, S.iommu_vfio_ioas, { op: 1, ioas_id: id }).ret;
}

/** Fixed-IOVA native map; returns ret. */
export function mapFixed(
  k: Kernel,
  fd: number,
  ioas: number,
  va: bigint,
  length: bigint,
  iova: bigint,
  flags = 7,
): number {
  return call(k, fd, R.IOMMU_IOAS_MAP, S.iommu_ioas_map, {
    flags,
    ioas_id: ioas,
    user_va: va,
    length,
    iova,
  }).ret;
}

/** Automatic-IOVA native map; returns ret and iova. */
export function mapAuto(
  k: Kernel,
  fd: number,
  ioas: number,
  va: bigint,
  length: bigint,
): { ret: number; iova: bigint } {
  const c = call(k, fd, R.IOMMU_IOAS_MAP, S.iommu_ioas_map, {
    flags: 6,
    ioas_id: ioas,
    user_va: va,
    length,
  });
  return { ret: c.ret, iova: c.out.iova };
}

/** Native unmap; returns ret and length written back. */
export function unmap(
  k: Kernel,
  fd: number,
  ioas: number,
  iova: bigint,
  length: bigint,
): { ret: number; length: bigint } {
  const c = call(k, fd, R.IOMMU_IOAS_UNMAP, S.iommu_ioas_unmap, { ioas_id: ioas, iova, length });
  return { ret: c.ret, length: c.out.length };
}

/** Compat MAP_DMA (READ|WRITE). */
export function mapDma(k: Kernel, fd: number, vaddr: bigint, iova: bigint, size: bigint): number {
  return call(k, fd, R.VFIO_IOMMU_MAP_DMA, S.vfio_iommu_type1_dma_map, {
    flags: 3,
    vaddr,
    iova,
    size,
  }).ret;
}

/** Compat UNMAP_DMA. */
export function unmapDma(
  k: Kernel,
  fd: number,
  iova: bigint,
  size: bigint,
  flags = 0,
): { ret: number; size: bigint } {
  const c = call(k, fd, R.VFIO_IOMMU_UNMAP_DMA, S.vfio_iommu_type1_dma_unmap, {
    flags,
    iova,
    size,
  });
  return { ret: c.ret, size: c.out.size };
}

/** IOMMU_IOAS_IOVA_RANGES with an array in user memory. */
export function iovaRanges(
  k: Kernel,
  fd: number,
  ioas: number,
  cap = 8,
): { ret: number; num: number; alignment: bigint; ranges: [bigint, bigint][] } {
  const arr = k.mmap(4096n);
  const c = call(k, fd, R.IOMMU_IOAS_IOVA_RANGES, S.iommu_ioas_iova_ranges, {
    ioas_id: ioas,
    num_iovas: cap,
    allowed_iovas: arr,
  });
  const bytes = new Uint8Array(16 * Math.min(cap, 256));
  k.readMemory(arr, bytes);
  const v = new DataView(bytes.buffer);
  const ranges: [bigint, bigint][] = [];
  const n = Math.min(Number(c.out.num_iovas), cap);
  for (let i = 0; i < n; i++) {
    ranges.push([v.getBigUint64(16 * i, true), v.getBigUint64(16 * i + 8, true)]);
  }
  k.munmap(arr, 4096n);
  return { ret: c.ret, num: Number(c.out.num_iovas), alignment: c.out.out_iova_alignment, ranges };
}

/** The errno of a negative return, 0 otherwise. */
export function errnoOf(ret: number): number {
  return ret < 0 ? -ret : 0;
}

/**
 * The simulator behind only the Kernel calls every backend has, named "kernel": what the shell
 * sees on the real kernel (no simulator control, no memfd_create), for tests of its
 * kernel-backend paths.
 */
export function kernelLike(sim: SimKernel): Kernel {
  return {
    name: "kernel",
    open: (p) => sim.open(p),
    close: (fd) => sim.close(fd),
    ioctl: (fd, req, arg) => sim.ioctl(fd, req, arg),
    mmap: (len, fd, off) => sim.mmap(len, fd, off),
    munmap: (a, len) => sim.munmap(a, len),
    readMemory: (a, into) => sim.readMemory(a, into),
    writeMemory: (a, bytes) => sim.writeMemory(a, bytes),
  };
}

/**
 * The simulator's user memory with the page at `page` read-only, as after mprotect(PROT_READ):
 * copy_from_user from it succeeds, copy_to_user into it faults. The simulator's mmap makes only
 * read/write mappings, so tests of a faulting write-back call the handler with this instead.
 */
export function readOnlyPage(k: SimKernel, page: bigint): UserMemoryAccess {
  const mem = k.memory;
  return {
    read: (addr, into) => mem.read(addr, into),
    write: (addr, b) =>
      addr < page + 0x1000n && addr + BigInt(b.length) > page ? E.EFAULT : mem.write(addr, b),
  };
}

/**
 * Run an ioctl's handler as iommufd_fops_ioctl does (after its entry checks) on `values`
 * encoded as `desc`. With `structReadOnly` the struct sits at the start of a read-only page
 * (so iommufd_ucmd_respond faults), else in a buffer; `readOnly` names another page to make
 * read-only (driver data). Returns the answer and the struct as the caller sees it afterwards.
 */
export function runHandler(
  k: SimKernel,
  fd: number,
  handler: (ctx: IommufdCtx, u: UserArg, usize: number) => number,
  desc: S.StructDesc,
  ksize: (r: Release) => number,
  values: StructValues,
  opts: { structReadOnly?: boolean; readOnly?: bigint },
): { ret: number; out: Record<string, bigint> } {
  const ctx = k.iommufdContext(fd)!;
  const bytes = encode(desc, values);
  const page = opts.structReadOnly ? k.mmap(0x1000n) : opts.readOnly!;
  const u = new UserArg(readOnlyPage(k, page));
  if (opts.structReadOnly) {
    strictEqual(k.writeMemory(page, bytes), 0);
    u.set(page);
  } else u.set(bytes);
  const usize = new DataView(bytes.buffer).getUint32(0, true);
  strictEqual(u.copyIn(Math.min(usize, ksize(ctx.release))), true, "the struct is readable");
  const ret = handler(ctx, u, usize);
  if (opts.structReadOnly) strictEqual(k.readMemory(page, bytes), 0);
  return { ret, out: decode(desc, bytes) };
}
