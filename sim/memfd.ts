/**
 * memfd_create(2) files (mm/memfd.c over shmem): the files IOMMU_IOAS_MAP_FILE maps. A memfd
 * is created with its size (the ftruncate(2) a caller would do next); its contents read as
 * zeros, since nothing in the simulator writes them.
 *
 * @module
 */

import { E } from "../uapi/errno.ts";
import type { IoctlArg } from "../uapi/kernel.ts";
import { SimFile } from "./file.ts";
import type { FileBacking } from "./pages.ts";

/** MAX_LFS_FILESIZE on 64-bit: ftruncate(2) past it is EINVAL. */
export const MAX_LFS_FILESIZE = 0x7fff_ffff_ffff_ffffn;
/** memfd_create(2)'s name limit (MFD_NAME_MAX_LEN = NAME_MAX - strlen("memfd:")). */
export const MFD_NAME_MAX_LEN = 249;

/** A shmem file made by memfd_create(2) and sized by ftruncate(2). */
export class MemFile extends SimFile implements FileBacking {
  readonly kind = "memfd" as const;
  /** shmem: memfd_pin_folios accepts it. */
  readonly pinnable = true;
  #pos = 0n;

  constructor(readonly name: string, readonly size: bigint) {
    super();
  }

  /** i_size. */
  fileSize(): bigint {
    return this.size;
  }

  protected release(): void {}

  /** i_size less the file position (may be negative, after a read past a smaller size). */
  bytesLeft(): bigint {
    return this.size - this.#pos;
  }

  /** shmem files have no unlocked_ioctl: vfs_ioctl answers ENOTTY. */
  ioctl(_cmd: number, _arg: IoctlArg): number {
    return -E.ENOTTY;
  }

  /** shmem_file_read_iter: zeros up to i_size, from the file position. */
  override read(into: Uint8Array): number {
    const left = this.size - this.#pos;
    const n = left <= 0n ? 0 : Number(left < BigInt(into.length) ? left : BigInt(into.length));
    into.fill(0, 0, n);
    this.#pos += BigInt(n);
    return n;
  }
}

/**
 * memfd_create(name, 0) then ftruncate(fd, size): the file, or the errno of the call that
 * fails: EINVAL for a name (up to a NUL, where the C string ends) longer than
 * MFD_NAME_MAX_LEN bytes, EINVAL for a negative size or one past MAX_LFS_FILESIZE.
 */
export function memfdCreate(name: string, size: bigint): MemFile | number {
  const bytes = new TextEncoder().encode(name.split("\0")[0]);
  if (bytes.length > MFD_NAME_MAX_LEN) return -E.EINVAL;
  if (size < 0n || size > MAX_LFS_FILESIZE) return -E.EINVAL;
  return new MemFile(name, size);
}
