/**
 * The uapi layer: ioctl request numbers, struct layouts described once as data, constants,
 * errno names, the capability-chain decoder and the `Kernel` boundary. It imports nothing
 * else of vfsh.
 *
 * @example
 * ```ts
 * import { encode, vfio_iommu_type1_dma_map, VFIO_IOMMU_MAP_DMA } from "./mod.ts";
 * const arg = encode(vfio_iommu_type1_dma_map, { flags: 3, vaddr: 0x7f00_0000_0000n, iova: 0x100000n, size: 0x200000n });
 * ```
 *
 * @module
 */

export * from "./caps.ts";
export * from "./codec.ts";
export * from "./constants.ts";
export * from "./errno.ts";
export * from "./ioctl.ts";
export * from "./kernel.ts";
export * from "./structs.ts";
