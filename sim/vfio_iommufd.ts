/**
 * The iommufd file, and iommufd as a VFIO container (drivers/vfio/iommufd.c and the
 * iommufd side of drivers/vfio/group.c): SET_CONTAINER with an iommufd creates or reuses the
 * compat IOAS; the first open of a device binds it to the context (device object id) and
 * attaches it to the compat IOAS (automatic hwpt id), which is when its domain appears and
 * existing areas get pinned.
 *
 * No-IOMMU groups (6.3+, drivers/vfio/iommufd.c and group.c): SET_CONTAINER puts the context in
 * no-iommu mode instead of creating the compat IOAS, and opening the device binds nothing; it
 * needs CAP_SYS_RAWIO and no compat IOAS (EPERM). 6.2 knows no such thing: the group gets a
 * compat IOAS like any other, and binding its device fails because nothing backs it.
 *
 * @module
 */

import { E } from "../uapi/errno.ts";
import type { IoctlArg } from "../uapi/kernel.ts";
import { SimFile } from "./file.ts";
import { releaseAtLeast } from "./release.ts";
import { mmapWindowAt } from "./viommu.ts";
import type { VmaFile } from "./user_memory.ts";
import { PAGE_SIZE } from "../uapi/constants.ts";
import type { IommufdCtx } from "./context.ts";
import type { VfioContainer, VfioGroup } from "./group.ts";
import type { PlatformDevice } from "./platform.ts";
import { deviceAttach, deviceBind, deviceUnbind } from "./device.ts";
import { compatIoasCreate, compatIoasGetId, compatSetNoIommu } from "./vfio_compat.ts";

/** An open /dev/iommu, or /dev/vfio/vfio served by iommufd. */
export class IommufdFile extends SimFile {
  readonly kind = "iommufd" as const;
  /** How VFIO groups see this file. */
  readonly vfioContainer: VfioContainer;

  constructor(readonly ctx: IommufdCtx) {
    super();
    ctx.file = this;
    this.vfioContainer = new IommufdVfioContainer(this);
  }

  /** `iommufd_fops_release`: every object goes, every pin drops. */
  protected release(): void {
    this.ctx.releaseAll();
  }

  /** `iommufd_fops_ioctl`. */
  ioctl(cmd: number, arg: IoctlArg): number {
    return this.ctx.ioctl(cmd, arg);
  }

  /**
   * `iommufd_fops_mmap` (6.17; before, iommufd has no mmap op: ENODEV): exactly a window a
   * driver registered (the mock vIOMMU's), from its start and of its length (ENXIO
   * otherwise), mapped as device memory. Every piece of the mapping holds the window's owner
   * (vm_ops open and close), so the vIOMMU cannot be destroyed (EBUSY) while it is mapped.
   */
  override mmap(pgoff: bigint, length: bigint): { pfnmap: boolean; hold: VmaFile } | number {
    if (!releaseAtLeast(this.ctx.release, "6.17")) return -E.ENODEV;
    const offset = pgoff * PAGE_SIZE;
    const w = mmapWindowAt(this.ctx, offset);
    if (w === undefined || w.start !== offset || w.end - w.start !== length) return -E.ENXIO;
    const owner = w.owner;
    const hold: VmaFile = {
      get: () => {
        owner.users++;
        this.get();
      },
      put: () => {
        owner.users--;
        this.put();
      },
    };
    return { pfnmap: true, hold };
  }
}

/** The container operations of an iommufd file. */
class IommufdVfioContainer implements VfioContainer {
  constructor(readonly file: IommufdFile) {}

  /**
   * `iommufd_vfio_compat_ioas_create`, or for a no-IOMMU group (6.3+)
   * `iommufd_vfio_compat_set_no_iommu`.
   */
  attachGroup(group: VfioGroup): number {
    const ctx = this.file.ctx;
    if (group.noiommu && ctx.release.noIommuExtension) return compatSetNoIommu(ctx);
    return compatIoasCreate(ctx);
  }

  /** Nothing to undo: the compat IOAS and its maps stay with the context. */
  detachGroup(_group: VfioGroup): void {}

  /**
   * `vfio_df_iommufd_bind` + `vfio_iommufd_compat_attach_ioas`: bind (the binding holds the
   * iommufd file), then attach to the compat IOAS: ENODEV without one (6.2 creates it
   * here instead). Any failure unbinds again.
   */
  openDevice(dev: PlatformDevice): number {
    const ctx = this.file.ctx;
    if (dev.group.noiommu && ctx.release.noIommuExtension) {
      // vfio_df_group_open: the user must not expect translation (no compat IOAS).
      if (!ctx.machine.privileged() || compatIoasGetId(ctx) >= 0) return -E.EPERM;
      return 0;
    }
    const idev = deviceBind(ctx, dev);
    if (typeof idev === "number") return idev;
    this.file.get();
    if (ctx.release.bindCreatesCompatIoas) {
      const rc = compatIoasCreate(ctx);
      if (rc !== 0) return this.#fail(idev, rc);
    }
    const ioasId = compatIoasGetId(ctx);
    if (ioasId < 0) return this.#fail(idev, ioasId);
    const pt = deviceAttach(idev, ioasId);
    if (pt < 0) return this.#fail(idev, pt);
    dev.idev = idev;
    return 0;
  }

  /** Last close: unbind and drop the file reference the binding held. */
  closeDevice(dev: PlatformDevice): void {
    const idev = dev.idev;
    if (idev === undefined) return;
    dev.idev = undefined;
    deviceUnbind(idev);
    this.file.put();
  }

  #fail(idev: ReturnType<typeof deviceBind> & object, rc: number): number {
    deviceUnbind(idev);
    this.file.put();
    return rc;
  }
}
