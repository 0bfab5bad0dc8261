/**
 * VFIO groups (/dev/vfio/N, drivers/vfio/group.c) and the device files they hand out.
 * A group is attached to a container with VFIO_GROUP_SET_CONTAINER; what a container is
 * (iommufd's compat layer today, the legacy type1 container later) hides behind
 * {@link VfioContainer}, so another implementation can be plugged in without touching the
 * group code.
 *
 * @module
 */

import { E } from "../uapi/errno.ts";
import type { IoctlArg } from "../uapi/kernel.ts";
import { offsetsOf } from "../uapi/codec.ts";
import * as S from "../uapi/structs.ts";
import * as R from "../uapi/ioctl.ts";
import { SimFile } from "./file.ts";
import { IommuGroup, type PlatformDevice } from "./platform.ts";
import type { Iommu } from "./profiles.ts";
import { UserArg, type UserMemoryAccess, userRead } from "./uaccess.ts";
import { vfioDeviceGetInfo, vfioDeviceGetRegionInfo, vfioPciMmap } from "./device.ts";

/** A VFIO container as a group sees it. Errnos are negative, 0 for success. */
export interface VfioContainer {
  /** The container's file (the group holds a reference while attached). */
  readonly file: SimFile;
  /** VFIO_GROUP_SET_CONTAINER's container-specific part. */
  attachGroup(group: VfioGroup): number;
  /** UNSET_CONTAINER, or the group file's release. */
  detachGroup(group: VfioGroup): void;
  /** First open of a device of an attached group (bind and attach its DMA). */
  openDevice(dev: PlatformDevice): number;
  /** Last close of a device. */
  closeDevice(dev: PlatformDevice): void;
  /** UNSET_CONTAINER's container-specific refusal (legacy: EBUSY while a device is open). */
  unsetCheck?(group: VfioGroup): number;
}

/** The process side a group needs: fd lookup and installation. */
export interface FdTable {
  /** The file open as `fd`, or undefined (EBADF). */
  fget(fd: number): SimFile | undefined;
  /** Install `file` at the lowest free fd; returns the fd. */
  install(file: SimFile): number;
  /** User memory, for pointer arguments. */
  readonly memory: UserMemoryAccess;
}

/** `struct vfio_group`. */
export class VfioGroup {
  readonly devices: PlatformDevice[] = [];
  readonly igroup = new IommuGroup();
  /** The container the group is attached to (`group->iommufd` / `group->container`). */
  container: VfioContainer | undefined;
  /** `group->opened_file`: a group can be open only once at a time. */
  openedFile: GroupFile | undefined;

  /**
   * @param noiommu `group->type == VFIO_NO_IOMMU`: a fake group vfio-pci made for a device
   *   without an IOMMU (only with CONFIG_VFIO_NOIOMMU and enable_unsafe_noiommu_mode).
   */
  constructor(readonly id: number, readonly iommu: Iommu, readonly noiommu = false) {}

  /** The device node: /dev/vfio/ID, or /dev/vfio/noiommu-ID. */
  get path(): string {
    return this.noiommu ? `/dev/vfio/noiommu-${this.id}` : `/dev/vfio/${this.id}`;
  }
}

const GS = offsetsOf(S.vfio_group_status);
const GS_MIN = S.vfio_group_status.minSize;
const FLAGS_VIABLE = 1;
const FLAGS_CONTAINER_SET = 2;
/** strndup_user limit of GET_DEVICE_FD. */
const NAME_MAX = 4096;

/** An open /dev/vfio/N. */
export class GroupFile extends SimFile {
  readonly kind = "group" as const;
  readonly #u: UserArg;

  constructor(readonly group: VfioGroup, readonly fds: FdTable) {
    super();
    this.#u = new UserArg(fds.memory);
  }

  /** `vfio_group_fops_release`: leave the container; the group can be opened again. */
  protected release(): void {
    const c = this.group.container;
    if (c !== undefined) {
      this.group.container = undefined;
      c.detachGroup(this.group);
      c.file.put();
    }
    if (this.group.openedFile === this) this.group.openedFile = undefined;
  }

  /** `vfio_group_fops_unl_ioctl`. */
  ioctl(cmd: number, arg: IoctlArg): number {
    switch (cmd >>> 0) {
      case R.VFIO_GROUP_GET_DEVICE_FD:
        return this.getDeviceFd(arg);
      case R.VFIO_GROUP_GET_STATUS:
        return this.getStatus(arg);
      case R.VFIO_GROUP_SET_CONTAINER:
        return this.setContainer(arg);
      case R.VFIO_GROUP_UNSET_CONTAINER:
        return this.unsetContainer();
      default:
        return -E.ENOTTY;
    }
  }

  /**
   * VFIO_GROUP_GET_STATUS: argsz ≥ 8 (EINVAL); CONTAINER_SET|VIABLE once attached, else
   * VIABLE unless someone claimed DMA ownership of the group.
   */
  getStatus(arg: IoctlArg): number {
    const u = this.#u;
    u.set(arg);
    if (!u.copyIn(GS_MIN)) return -E.EFAULT;
    if (u.kv.getUint32(GS.argsz, true) < GS_MIN) return -E.EINVAL;
    let flags = 0;
    if (this.group.container !== undefined) flags = FLAGS_CONTAINER_SET | FLAGS_VIABLE;
    else if (!this.group.igroup.claimed) flags = FLAGS_VIABLE;
    const out = new Uint8Array(GS_MIN);
    out.set(u.k.subarray(0, GS_MIN));
    new DataView(out.buffer).setUint32(GS.flags, flags, true);
    return u.writeAt(0, out) ? 0 : -E.EFAULT;
  }

  /**
   * VFIO_GROUP_SET_CONTAINER: the s32 fd (EFAULT), the file (EBADF), the group must not be
   * attached yet (EINVAL), then the container decides; a file that is no container: EBADFD.
   */
  setContainer(arg: IoctlArg): number {
    const u = this.#u;
    u.set(arg);
    if (!u.copyIn(4)) return -E.EFAULT;
    const fd = u.kv.getInt32(0, true);
    const file = this.fds.fget(fd);
    if (file === undefined) return -E.EBADF;
    if (this.group.container !== undefined) return -E.EINVAL;
    const container = asVfioContainer(file);
    if (container === undefined) return -E.EBADFD;
    const rc = container.attachGroup(this.group);
    if (rc !== 0) return rc;
    file.get();
    this.group.container = container;
    return 0;
  }

  /** VFIO_GROUP_UNSET_CONTAINER: EINVAL when not attached; the container may refuse. */
  unsetContainer(): number {
    const c = this.group.container;
    if (c === undefined) return -E.EINVAL;
    const busy = c.unsetCheck?.(this.group) ?? 0;
    if (busy !== 0) return busy;
    this.group.container = undefined;
    c.detachGroup(this.group);
    c.file.put();
    return 0;
  }

  /**
   * VFIO_GROUP_GET_DEVICE_FD: the NUL-terminated name (EFAULT; EINVAL past a page), the
   * device (ENODEV), the group attached (EINVAL), the first open binds it (container errors).
   */
  getDeviceFd(arg: IoctlArg): number {
    const name = this.readName(arg);
    if (typeof name === "number") return name;
    const dev = this.group.devices.find((d) => d.name === name);
    if (dev === undefined) return -E.ENODEV;
    const c = this.group.container;
    if (c === undefined) return -E.EINVAL;
    if (dev.openCount === 0) {
      const rc = c.openDevice(dev);
      if (rc !== 0) return rc;
    }
    dev.openCount++;
    this.get();
    return this.fds.install(new DeviceFile(dev, this, c));
  }

  /** strndup_user(arg, PAGE_SIZE) as a string, or -errno. */
  readName(arg: IoctlArg): string | number {
    const bytes: number[] = [];
    if (typeof arg === "bigint") {
      const one = new Uint8Array(1);
      for (let i = 0; i < NAME_MAX; i++) {
        if (!userRead(this.fds.memory, BigInt.asUintN(64, arg + BigInt(i)), one)) {
          return -E.EFAULT;
        }
        if (one[0] === 0) return String.fromCharCode(...bytes);
        bytes.push(one[0]);
      }
      return -E.EINVAL;
    }
    for (let i = 0; i < NAME_MAX; i++) {
      if (i >= arg.length) return -E.EFAULT;
      if (arg[i] === 0) return new TextDecoder().decode(arg.subarray(0, i));
    }
    return -E.EINVAL;
  }
}

/** The container behind a file, if the file is one. */
export function asVfioContainer(file: SimFile): VfioContainer | undefined {
  const c = (file as unknown as { vfioContainer?: VfioContainer }).vfioContainer;
  return c;
}

const DEVICE_GET_INFO = R.requestByName("VFIO_DEVICE_GET_INFO")!.request;

/** An open VFIO device (from GET_DEVICE_FD); holds its group file. */
export class DeviceFile extends SimFile {
  readonly kind = "device" as const;
  readonly #u: UserArg;

  constructor(
    readonly dev: PlatformDevice,
    readonly groupFile: GroupFile,
    readonly container: VfioContainer,
  ) {
    super();
    this.#u = new UserArg(groupFile.fds.memory);
  }

  /** `vfio_device_fops_release`: the last close unbinds; the group file is dropped. */
  protected release(): void {
    if (--this.dev.openCount === 0) this.container.closeDevice(this.dev);
    this.groupFile.put();
  }

  /** `vfio_device_fops_unl_ioctl` → the PCI driver. */
  ioctl(cmd: number, arg: IoctlArg): number {
    switch (cmd >>> 0) {
      case DEVICE_GET_INFO:
        this.#u.set(arg);
        return vfioDeviceGetInfo(this.dev, this.#u);
      case R.VFIO_DEVICE_GET_REGION_INFO:
        this.#u.set(arg);
        return vfioDeviceGetRegionInfo(this.dev, this.#u);
      default:
        return -E.ENOTTY;
    }
  }

  /** `vfio_device_fops_mmap` → vfio-pci: a BAR as VM_PFNMAP device memory. */
  override mmap(pgoff: bigint, length: bigint): { pfnmap: boolean } | number {
    return vfioPciMmap(this.dev, pgoff, length);
  }
}
