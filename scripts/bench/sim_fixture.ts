/**
 * An IOAS of the simulator filled with many areas, through the ioctl byte path only: the
 * fills issue IOMMU_IOAS_MAP directly with one reused buffer (no shell, no per-call encode),
 * so that 10^6 areas take seconds, not minutes.
 *
 * Layout: area `i` is 4 KiB at `BASE + i * STRIDE`; the 4 KiB after it (`holeIova(i)`) is
 * left free, so a map+unmap of a fresh IOVA can land between any two resident areas.
 *
 * @module
 */

import {
  encode,
  IOMMU_IOAS_ALLOC,
  iommu_ioas_alloc,
  IOMMU_IOAS_MAP,
  iommu_ioas_map,
  IOMMU_VFIO_IOAS,
  iommu_vfio_ioas,
  type Kernel,
  offsetsOf,
} from "../../uapi/mod.ts";

/** Size of every area. */
export const AREA = 0x1000n;
/** Distance between resident areas (an area, then a hole of the same size). */
export const STRIDE = 0x2000n;
/** IOVA of area 0. */
export const BASE = 0x10_0000n;
/** User memory the areas are mapped from (areas share pages, as the kernel allows). */
export const VADDR_SPAN = 0x100_0000n;

/** IOMMU_IOAS_MAP flags: FIXED_IOVA | WRITEABLE | READABLE. */
export const IOAS_MAP_FIXED_RW = 1 | 2 | 4;
/** IOMMU_VFIO_IOAS op SET. */
const VFIO_IOAS_SET = 1;

/** Offsets of iommu_ioas_map, for patching the reused buffer. */
export const IOAS_MAP_OFF = offsetsOf(iommu_ioas_map);

/** IOVA of resident area `i`. */
export function residentIova(i: number): bigint {
  return BASE + BigInt(i) * STRIDE;
}

/** IOVA of the free 4 KiB right after area `i`. */
export function holeIova(i: number): bigint {
  return BASE + BigInt(i) * STRIDE + AREA;
}

/** One iommufd context with one IOAS, set as its compat (VFIO container) IOAS. */
export interface FilledIoas {
  kernel: Kernel;
  /** The /dev/iommu fd (also the VFIO container). */
  fd: number;
  ioasId: number;
  /** Start of the user memory areas map. */
  vaddr: bigint;
  /** Areas resident now. */
  areas: number;
}

function check(rc: number | bigint, what: string): void {
  if (rc < 0) throw new Error(`${what} failed: ${rc}`);
}

/**
 * `container open` (/dev/iommu), IOMMU_IOAS_ALLOC, IOMMU_VFIO_IOAS SET, and an mmap of
 * user memory: the state in which both MAP_DMA and IOAS_MAP work on the same IOAS.
 */
export function openIoas(kernel: Kernel): FilledIoas {
  const fd = kernel.open("/dev/iommu");
  check(fd, "open /dev/iommu");
  const alloc = encode(iommu_ioas_alloc);
  check(kernel.ioctl(fd, IOMMU_IOAS_ALLOC, alloc), "IOMMU_IOAS_ALLOC");
  const ioasId = new DataView(alloc.buffer).getUint32(
    offsetsOf(iommu_ioas_alloc).out_ioas_id,
    true,
  );
  const set = encode(iommu_vfio_ioas, { ioas_id: ioasId, op: VFIO_IOAS_SET });
  check(kernel.ioctl(fd, IOMMU_VFIO_IOAS, set), "IOMMU_VFIO_IOAS SET");
  const vaddr = kernel.mmap(VADDR_SPAN);
  check(vaddr, "mmap");
  return { kernel, fd, ioasId, vaddr, areas: 0 };
}

/** Map areas `f.areas … n − 1` (IOMMU_IOAS_MAP, one buffer patched per call). */
export function fillTo(f: FilledIoas, n: number): void {
  const buf = encode(iommu_ioas_map, {
    flags: IOAS_MAP_FIXED_RW,
    ioas_id: f.ioasId,
    user_va: f.vaddr,
    length: AREA,
  });
  const view = new DataView(buf.buffer);
  const pages = Number(VADDR_SPAN / AREA);
  const { kernel, fd } = f;
  for (let i = f.areas; i < n; i++) {
    view.setBigUint64(IOAS_MAP_OFF.user_va, f.vaddr + BigInt(i % pages) * AREA, true);
    view.setBigUint64(IOAS_MAP_OFF.iova, residentIova(i), true);
    const rc = kernel.ioctl(fd, IOMMU_IOAS_MAP, buf);
    if (rc !== 0) throw new Error(`fill: IOMMU_IOAS_MAP of area ${i} answered ${rc}`);
  }
  f.areas = Math.max(f.areas, n);
}
