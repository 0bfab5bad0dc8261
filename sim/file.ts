/**
 * Open files of the simulated process (`struct file`): what an fd refers to. A file is
 * reference counted; closing its last fd drops one reference, and other kernel objects may
 * hold more (a group holds the iommufd it was attached to, a device fd holds its group, a
 * device bound through VFIO holds its iommufd), so release can come later than close.
 *
 * @module
 */

import type { IoctlArg } from "../uapi/kernel.ts";
import { E } from "../uapi/errno.ts";
import type { VmaFile } from "./user_memory.ts";

/**
 * What kind of file an fd refers to; ioctls are dispatched by it. `memfd` is a
 * memfd_create(2) file, `eventq` an iommufd event queue's anonymous-inode file.
 */
export type FileKind = "iommufd" | "group" | "device" | "container" | "memfd" | "eventq";

/** A reference-counted open file. */
export abstract class SimFile {
  abstract readonly kind: FileKind;
  /** References: one per fd plus one per kernel holder. */
  refs = 1;

  /** Take a reference (`get_file`). */
  get(): void {
    this.refs++;
  }

  /** Drop a reference (`fput`); the last one releases the file. */
  put(): void {
    if (--this.refs === 0) this.release();
  }

  /** The file's release op. */
  protected abstract release(): void;

  /** The file's unlocked_ioctl. */
  abstract ioctl(cmd: number, arg: IoctlArg): number;

  /**
   * read(2) into `into`: bytes read or -errno. Files without a read op answer EINVAL, as
   * vfs_read does without FMODE_CAN_READ.
   */
  read(_into: Uint8Array): number {
    return -E.EINVAL;
  }

  /**
   * The file's mmap op (`f_op->mmap`) for a shared read/write mapping of `length` bytes
   * (page aligned) at page offset `pgoff`: what the new mapping is (VM_PFNMAP or not), or
   * -errno. Files without the op leave it undefined: mmap(2) answers ENODEV. `hold` is what
   * each piece of the mapping holds instead of the file alone, when its vm_ops open and close
   * take references of their own.
   */
  mmap?(pgoff: bigint, length: bigint): { pfnmap: boolean; hold?: VmaFile } | number;
}
