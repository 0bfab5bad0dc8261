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
