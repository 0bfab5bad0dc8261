/**
 * The simulated kernel: an in-process model of the Linux iommufd and VFIO-container ioctls
 * that answers every request as the modelled release does (return value, errno, bytes
 * written back and bytes left alone).
 *
 * @example
 * ```ts
 * import { createSimKernel } from "./mod.ts";
 * const k = createSimKernel({ profile: "intel-vtd", release: "6.12.117" });
 * const fd = k.open("/dev/iommu");
 * // /dev/vfio/vfio served by the legacy container and vfio_iommu_type1 instead of iommufd:
 * const legacy = createSimKernel({ profile: "intel-vtd", container: "legacy" });
 * ```
 *
 * @module
 */

import type { Kernel } from "../uapi/kernel.ts";
import { SimKernel, type SimKernelOptions } from "./kernel.ts";

export { type ContainerImpl, SimKernel, type SimKernelOptions } from "./kernel.ts";
export { DEFAULT_PROFILE, findProfile, parseProfile, type Profile, PROFILES } from "./profiles.ts";
export { DEFAULT_RELEASE, findRelease, type Release, RELEASES } from "./release.ts";

/**
 * A fresh simulated machine. Throws a RangeError for an unknown profile or release name.
 */
export function createSimKernel(options: SimKernelOptions = {}): Kernel {
  return new SimKernel(options);
}
