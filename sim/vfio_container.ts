/**
 * The legacy VFIO container, /dev/vfio/vfio as drivers/vfio/container.c serves it when the
 * kernel is built with CONFIG_VFIO_CONTAINER (the rig's `legacy` kernel): a file that groups
 * join with VFIO_GROUP_SET_CONTAINER and that gets an IOMMU backend, vfio_iommu_type1
 * ({@link Type1Iommu}), only with VFIO_SET_IOMMU once at least one group is in it. Before that
 * every backend request is EINVAL; after it, unknown requests are the backend's ENOTTY.
 * When the last group leaves, the backend and every mapping go and SET_IOMMU is needed again.
 *
 * A kernel built with CONFIG_VFIO_NOIOMMU registers a second IOMMU driver, vfio-noiommu, for
 * the fake groups vfio-pci makes when `enable_unsafe_noiommu_mode` is on: a container holds
 * either no-IOMMU groups or real ones, never both, and only the matching driver can be its
 * backend. vfio-noiommu answers CHECK_EXTENSION(VFIO_NOIOMMU_IOMMU) and nothing else (every
 * other request is ENOTTY): there is no DMA mapping without an IOMMU.
 *
 * Groups reach it through the {@link VfioContainer} interface of `group.ts`, exactly as they
 * reach iommufd's compat container.
 *
 * @module
 */

import { E } from "../uapi/errno.ts";
import type { IoctlArg, MappingRow } from "../uapi/kernel.ts";
import { U64_MAX, VFIO_API_VERSION } from "../uapi/constants.ts";
import * as R from "../uapi/ioctl.ts";
import { SimFile } from "./file.ts";
import type { VfioContainer, VfioGroup } from "./group.ts";
import type { PlatformDevice } from "./platform.ts";
import { UserArg } from "./uaccess.ts";
import { Type1Iommu, type Type1Machine } from "./vfio_type1.ts";
import { NOIOMMU_OFF, type NoIommuConfig } from "./platform.ts";

/** VFIO_NOIOMMU_IOMMU. */
export const VFIO_NOIOMMU_IOMMU = 8n;

/** What the container needs from the machine: vfio_iommu_type1's, and the no-IOMMU settings. */
export interface ContainerMachine extends Type1Machine {
  /** CONFIG_VFIO_NOIOMMU and enable_unsafe_noiommu_mode (off when absent). */
  noiommu?(): NoIommuConfig;
}

/** vfio-noiommu's `ioctl` for CHECK_EXTENSION: only NOIOMMU, and only with the parameter on. */
function noiommuCheckExtension(cfg: NoIommuConfig, ext: bigint): number {
  return cfg.enabled && ext === VFIO_NOIOMMU_IOMMU ? 1 : 0;
}

/** The value a by-value ioctl sees: a buffer argument is a pointer, never a small number. */
function byValue(arg: IoctlArg): bigint {
  return typeof arg === "bigint" ? BigInt.asUintN(64, arg) : U64_MAX;
}

/** An open legacy /dev/vfio/vfio (`struct vfio_container`). */
export class VfioContainerFile extends SimFile implements VfioContainer {
  readonly kind = "container" as const;
  /** How VFIO groups see this file. */
  readonly vfioContainer: VfioContainer = this;
  /** `container->group_list`, in attach order. */
  readonly groups: VfioGroup[] = [];
  /** `container->iommu_data`: the type1 backend once SET_IOMMU succeeded. */
  iommu: Type1Iommu | undefined;
  /** The backend is vfio-noiommu (SET_IOMMU(VFIO_NOIOMMU_IOMMU) succeeded). */
  noiommuBackend = false;
  /** `container->noiommu`: the kind of the groups last attached (no-IOMMU or real). */
  noiommu = false;
  readonly #u: UserArg;

  constructor(readonly machine: ContainerMachine) {
    super();
    this.#u = new UserArg(machine.memory);
  }

  /** The container's file (groups hold a reference to it while attached). */
  get file(): SimFile {
    return this;
  }

  /** `vfio_fops_release`: the groups still attached keep the container alive. */
  protected release(): void {}

  /**
   * `vfio_fops_unl_ioctl`: GET_API_VERSION, CHECK_EXTENSION and SET_IOMMU are the
   * container's own; everything else goes to the backend, EINVAL while there is none.
   */
  ioctl(cmd: number, arg: IoctlArg): number {
    switch (cmd >>> 0) {
      case R.VFIO_GET_API_VERSION:
        return VFIO_API_VERSION;
      case R.VFIO_CHECK_EXTENSION:
        return this.checkExtension(byValue(arg));
      case R.VFIO_SET_IOMMU:
        return this.setIommu(byValue(arg));
      default:
        if (this.noiommuBackend) return -E.ENOTTY;
        if (this.iommu === undefined) return -E.EINVAL;
        return this.iommu.ioctl(cmd >>> 0, arg, this.#u);
    }
  }

  /** CONFIG_VFIO_NOIOMMU and enable_unsafe_noiommu_mode as they are now. */
  #noiommu(): NoIommuConfig {
    return this.machine.noiommu?.() ?? NOIOMMU_OFF;
  }

  /**
   * `vfio_iommu_driver_allowed`: with CONFIG_VFIO_NOIOMMU a container of no-IOMMU groups may
   * only use vfio-noiommu, and one of real groups only the others.
   */
  #allowed(noiommuDriver: boolean): boolean {
    if (!this.#noiommu().built) return !noiommuDriver;
    return this.noiommu === noiommuDriver;
  }

  /**
   * `vfio_container_ioctl_check_extension`: with a backend, the backend answers; without
   * one, every registered IOMMU driver (vfio_iommu_type1, and vfio-noiommu when built) that
   * the container's groups allow is asked, and the first positive answer wins.
   */
  checkExtension(ext: bigint): number {
    const cfg = this.#noiommu();
    if (this.noiommuBackend) return noiommuCheckExtension(cfg, ext);
    if (this.iommu !== undefined) {
      return Type1Iommu.checkExtension(this.iommu, this.machine.release(), ext);
    }
    // Without a group every driver is asked; with groups only the drivers allowed for them.
    const any = this.groups.length === 0;
    if (any || this.#allowed(false)) {
      const r = Type1Iommu.checkExtension(undefined, this.machine.release(), ext);
      if (r > 0) return r;
    }
    if (cfg.built && (any || this.#allowed(true))) return noiommuCheckExtension(cfg, ext);
    return 0;
  }

  /**
   * `vfio_ioctl_set_iommu`: EINVAL without a group or once a backend is set; a container of
   * no-IOMMU groups goes to vfio-noiommu (`#setNoIommu`); a type no driver claims is
   * ENODEV; a type the driver claims but cannot open is EINVAL (UNMAP_ALL); then
   * every group is attached to the new backend, whose errors (EPERM without MSI isolation,
   * EINVAL…) are returned after it is dropped again.
   */
  setIommu(type: bigint): number {
    if (this.groups.length === 0 || this.iommu !== undefined || this.noiommuBackend) {
      return -E.EINVAL;
    }
    if (this.#allowed(true)) return this.#setNoIommu(type);
    if (Type1Iommu.checkExtension(undefined, this.machine.release(), type) <= 0) {
      return -E.ENODEV;
    }
    const iommu = Type1Iommu.open(this.machine, type);
    if (typeof iommu === "number") return iommu;
    for (let i = 0; i < this.groups.length; i++) {
      const rc = iommu.attachGroup(this.groups[i]);
      if (rc !== 0) {
        for (let j = i - 1; j >= 0; j--) iommu.detachGroup(this.groups[j]);
        iommu.release();
        return rc;
      }
    }
    this.iommu = iommu;
    return 0;
  }

  /**
   * SET_IOMMU on a container of no-IOMMU groups, where vfio-noiommu is the only driver
   * allowed: it claims VFIO_NOIOMMU_IOMMU only while enable_unsafe_noiommu_mode is on (else
   * ENODEV, as for any type), and its open needs CAP_SYS_RAWIO (EPERM); attaching groups
   * cannot fail.
   */
  #setNoIommu(type: bigint): number {
    if (noiommuCheckExtension(this.#noiommu(), type) <= 0) return -E.ENODEV;
    if (!this.machine.privileged()) return -E.EPERM;
    this.noiommuBackend = true;
    return 0;
  }

  // ---- VfioContainer (group side) ----

  /**
   * `vfio_container_attach_group`: a no-IOMMU group needs CAP_SYS_RAWIO (EPERM); no-IOMMU and
   * real groups never share a container (EPERM); a real group claims DMA ownership of its
   * iommu_group (EBUSY when iommufd holds a device of it); the group joins the backend at
   * once if there is one (vfio-noiommu's attach always succeeds).
   */
  attachGroup(group: VfioGroup): number {
    if (group.noiommu && !this.machine.privileged()) return -E.EPERM;
    if (this.groups.length > 0 && this.noiommu !== group.noiommu) return -E.EPERM;
    if (group.noiommu) {
      this.groups.push(group);
      this.noiommu = true;
      return 0;
    }
    const claim = group.igroup.claim(group);
    if (claim !== 0) return -claim;
    if (this.iommu !== undefined) {
      const rc = this.iommu.attachGroup(group);
      if (rc !== 0) {
        group.igroup.release(group);
        return rc;
      }
    }
    this.groups.push(group);
    this.noiommu = false;
    return 0;
  }

  /**
   * `vfio_group_detach_container`: leave the backend, give up DMA ownership; the last group
   * takes the backend with it (every mapping goes, SET_IOMMU is needed again).
   */
  detachGroup(group: VfioGroup): void {
    this.iommu?.detachGroup(group);
    if (!group.noiommu) group.igroup.release(group);
    const i = this.groups.indexOf(group);
    if (i >= 0) this.groups.splice(i, 1);
    if (this.groups.length === 0) {
      this.iommu?.release();
      this.iommu = undefined;
      this.noiommuBackend = false;
    }
  }

  /**
   * `vfio_group_use_container`: opening a device needs the backend (EINVAL before
   * SET_IOMMU), and a no-IOMMU device CAP_SYS_RAWIO (EPERM).
   */
  openDevice(dev: PlatformDevice): number {
    if (this.iommu === undefined && !this.noiommuBackend) return -E.EINVAL;
    if (dev.group.noiommu && !this.machine.privileged()) return -E.EPERM;
    return 0;
  }

  /** Nothing to undo: the device used the container's backend. */
  closeDevice(_dev: PlatformDevice): void {}

  /** VFIO_GROUP_UNSET_CONTAINER refuses while a device of the group is open (EBUSY). */
  unsetCheck(group: VfioGroup): number {
    return group.devices.some((d) => d.openCount > 0) ? -E.EBUSY : 0;
  }

  /** The mappings, for the `mappings` command. */
  mappings(): MappingRow[] {
    const rows: MappingRow[] = [];
    if (this.iommu === undefined) return rows;
    for (const d of this.iommu.dmas) {
      rows.push({
        iova: d.iova,
        last: d.iova + d.size - 1n,
        vaddr: d.vaddr,
        prot: d.prot,
        pinned: d.pinned,
      });
    }
    return rows;
  }
}
