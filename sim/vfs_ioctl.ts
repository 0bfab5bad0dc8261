/**
 * The ioctls the VFS answers for every file before its driver sees the call (fs/ioctl.c,
 * do_vfs_ioctl): close-on-exec, non-blocking and async flags, the block size, FIEMAP, and
 * FIONREAD/FIOQSIZE, which depend on whether the file is a regular one (a memfd) or not.
 *
 * Modelled for the files the simulator has: device nodes on devtmpfs (iommufd, the VFIO
 * container, groups, device cdevs), memfds on the shmem mount, and anonymous inodes (event
 * queues, the device fds a group hands out). These filesystems have a PAGE_SIZE block size,
 * no freeze support (so none is ever frozen) and no fiemap, and none of our files has a
 * fasync op. The attribute-setting ioctls read their argument, then find no fileattr_set (a
 * memfd's needs CONFIG_TMPFS_XATTR, off in the rig's kernel) and ask the driver.
 *
 * Not modelled, so the driver answers ENOTTY where Linux does not: the clone/dedupe ioctls
 * (which check the other fd and the filesystem); FS_IOC_GETFSUUID, which devtmpfs nodes and
 * memfds answer (shmem gives each superblock a random UUID); and for a memfd, a regular file,
 * FIOQSIZE (the bytes its pages take) and what file_ioctl answers (FIBMAP, the
 * RESVSP/UNRESVSP/ZERO_RANGE preallocation calls).
 *
 * @module
 */

import { E } from "../uapi/errno.ts";
import type { IoctlArg } from "../uapi/kernel.ts";
import type { SimFile } from "./file.ts";
import { MemFile } from "./memfd.ts";
import { type UserMemoryAccess, userRead } from "./uaccess.ts";

/** Request numbers (asm-generic/ioctls.h, uapi/linux/fs.h, uapi/linux/fiemap.h). */
export const VFS_IOCTL = {
  FIGETBSZ: 0x0000_0002, // _IO(0x00, 2)
  FIONREAD: 0x0000_541b,
  FIONBIO: 0x0000_5421,
  FIONCLEX: 0x0000_5450,
  FIOCLEX: 0x0000_5451,
  FIOASYNC: 0x0000_5452,
  FIOQSIZE: 0x0000_5460,
  FIFREEZE: 0xc004_5877, // _IOWR('X', 119, int)
  FITHAW: 0xc004_5878, // _IOWR('X', 120, int)
  FS_IOC_FIEMAP: 0xc020_660b, // _IOWR('f', 11, struct fiemap)
  FS_IOC_SETFLAGS: 0x4008_6602, // _IOW('f', 2, long); an int is read
  FS_IOC_FSSETXATTR: 0x401c_5820, // _IOW('X', 32, struct fsxattr)
} as const;

/** sizeof(struct fsxattr). */
const FSXATTR_SIZE = 28;

/** What do_vfs_ioctl needs from the rest of the simulated kernel. */
export interface VfsIoctlEnv {
  readonly memory: UserMemoryAccess;
  /** CAP_SYS_ADMIN, which FIFREEZE/FITHAW ask for before anything else. */
  privileged(): boolean;
}

/** The block size of devtmpfs, the shmem mount and anon_inodefs alike. */
const BLOCK_SIZE = 4096;

/**
 * do_vfs_ioctl for `cmd` on `file`: the answer (0 or -errno), or undefined when the VFS hands
 * the call to the file's own ioctl (its `unlocked_ioctl`, ENOTTY when it has none).
 */
export function doVfsIoctl(
  env: VfsIoctlEnv,
  file: SimFile,
  cmd: number,
  arg: IoctlArg,
): number | undefined {
  switch (cmd) {
    case VFS_IOCTL.FIOCLEX:
    case VFS_IOCTL.FIONCLEX:
      // Close-on-exec: the simulated process never execs, so only the answer matters.
      return 0;
    case VFS_IOCTL.FIONBIO: {
      // O_NONBLOCK changes nothing our files do: none of their ops waits.
      const on = getUserInt(env.memory, arg);
      return on === undefined ? -E.EFAULT : 0;
    }
    case VFS_IOCTL.FIOASYNC: {
      const on = getUserInt(env.memory, arg);
      if (on === undefined) return -E.EFAULT;
      // Turning FASYNC on needs the file's fasync op, which none of ours has; off is no change.
      return on !== 0 ? -E.ENOTTY : 0;
    }
    case VFS_IOCTL.FIOQSIZE:
      // Regular files, directories and links only; a memfd's size in pages is not modelled.
      return file instanceof MemFile ? undefined : -E.ENOTTY;
    case VFS_IOCTL.FIFREEZE:
      return env.privileged() ? -E.EOPNOTSUPP : -E.EPERM;
    case VFS_IOCTL.FITHAW:
      // Thawing asks no freeze support: it finds the filesystem not frozen by user space.
      return env.privileged() ? -E.EINVAL : -E.EPERM;
    case VFS_IOCTL.FS_IOC_FIEMAP:
      return -E.EOPNOTSUPP;
    case VFS_IOCTL.FS_IOC_SETFLAGS:
    case VFS_IOCTL.FS_IOC_FSSETXATTR: {
      // The new attributes are read first; then our filesystems have no fileattr_set (a
      // memfd's depends on CONFIG_TMPFS_XATTR, off in the rig) and the driver answers.
      const size = cmd === VFS_IOCTL.FS_IOC_SETFLAGS ? 4 : FSXATTR_SIZE;
      return readable(env.memory, arg, size) ? undefined : -E.EFAULT;
    }
    case VFS_IOCTL.FIGETBSZ:
      return putUserInt(env.memory, arg, BLOCK_SIZE) ? 0 : -E.EFAULT;
    case VFS_IOCTL.FIONREAD:
      // A regular file: the bytes from the file position to its end, as an int; other files
      // are asked themselves.
      if (!(file instanceof MemFile)) return undefined;
      return putUserInt(env.memory, arg, Number(BigInt.asIntN(32, file.bytesLeft())))
        ? 0
        : -E.EFAULT;
  }
  return undefined;
}

/** get_user of an int: the value, or undefined when its four bytes cannot be read. */
function getUserInt(memory: UserMemoryAccess, arg: IoctlArg): number | undefined {
  const into = new Uint8Array(4);
  if (!readInto(memory, arg, into)) return undefined;
  return new DataView(into.buffer).getInt32(0, true);
}

/** Whether copy_from_user of `size` bytes at the argument succeeds. */
function readable(memory: UserMemoryAccess, arg: IoctlArg, size: number): boolean {
  return readInto(memory, arg, new Uint8Array(size));
}

/** copy_from_user of `into.length` bytes at the argument; false when any byte faults. */
function readInto(memory: UserMemoryAccess, arg: IoctlArg, into: Uint8Array): boolean {
  if (typeof arg === "bigint") return userRead(memory, BigInt.asUintN(64, arg), into);
  if (arg.length < into.length) return false;
  into.set(arg.subarray(0, into.length));
  return true;
}

/** put_user of an int: one store, all four bytes or none. */
function putUserInt(memory: UserMemoryAccess, arg: IoctlArg, value: number): boolean {
  const bytes = new Uint8Array(4);
  new DataView(bytes.buffer).setInt32(0, value, true);
  if (typeof arg === "bigint") {
    const addr = BigInt.asUintN(64, arg);
    return addr !== 0n && memory.write(addr, bytes) === 0;
  }
  if (arg.length < 4) return false;
  arg.set(bytes);
  return true;
}
