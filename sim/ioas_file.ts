/**
 * The file-backed IOAS ioctls (drivers/iommu/iommufd/ioas.c): IOMMU_IOAS_MAP_FILE (6.13) and
 * IOMMU_IOAS_CHANGE_PROCESS (6.14).
 *
 * A file mapping pins nothing by itself: like a user mapping, its pages are pinned when a
 * domain (or an access) needs them, and only then does the file's kind matter
 * (memfd_pin_folios takes shmem and hugetlbfs files only: EINVAL for any other, and for a
 * page at or past the end of the file).
 *
 * @module
 */

import { E } from "../uapi/errno.ts";
import { U64_MAX } from "../uapi/constants.ts";
import { offsetsOf } from "../uapi/codec.ts";
import * as S from "../uapi/structs.ts";
import type { IommufdCtx } from "./context.ts";
import type { UserArg } from "./uaccess.ts";
import { type Ioas, IOMMU_READ, IOMMU_WRITE } from "./ioas.ts";
import type { FileBacking } from "./pages.ts";

const MAP_FIXED_IOVA = 1;
const MAP_WRITEABLE = 2;
const MAP_READABLE = 4;

const MF = offsetsOf(S.iommu_ioas_map_file);

/** A file as iopt_pages see it: only memfds (shmem) can be pinned. */
function backingOf(file: { kind: string; get(): void; put(): void }): FileBacking {
  const f = file as Partial<FileBacking> & { get(): void; put(): void };
  if (f.pinnable === true && f.fileSize !== undefined) return f as FileBacking;
  return {
    pinnable: false,
    fileSize: () => 0n,
    get: () => file.get(),
    put: () => file.put(),
  };
}

/**
 * IOMMU_IOAS_MAP_FILE: unknown flags (EOPNOTSUPP); iova or length U64_MAX (EOVERFLOW);
 * neither READABLE nor WRITEABLE (EINVAL); ioas_id (ENOENT); fd must be open (EBADF — the
 * kernel returns without putting the IOAS it looked up, so that IOAS answers EBUSY to
 * IOMMU_DESTROY from then on); then iopt_map_file_pages (start + length - 1 wrapping:
 * EOVERFLOW; length: EINVAL; the IOVA checks of IOMMU_IOAS_MAP; pinning errors when the
 * IOAS has a domain). The IOVA is written back on success.
 */
export function iommufdIoasMapFile(ctx: IommufdCtx, u: UserArg, usize: number): number {
  const kv = u.kv;
  const flags = kv.getUint32(MF.flags, true);
  if ((flags & ~(MAP_FIXED_IOVA | MAP_WRITEABLE | MAP_READABLE)) !== 0) return -E.EOPNOTSUPP;
  const iova = kv.getBigUint64(MF.iova, true);
  const length = kv.getBigUint64(MF.length, true);
  if (iova === U64_MAX || length === U64_MAX) return -E.EOVERFLOW;
  if ((flags & (MAP_WRITEABLE | MAP_READABLE)) === 0) return -E.EINVAL;
  const ioas = ctx.getIoas(kv.getUint32(MF.ioas_id, true));
  if (ioas === undefined) return -E.ENOENT;
  const file = ctx.machine.files.fget(kv.getInt32(MF.fd, true));
  if (file === undefined) {
    // The 6.13..6.18 handler leaks the IOAS reference on this path.
    ioas.users++;
    return -E.EBADF;
  }
  const prot = ((flags & MAP_READABLE) ? IOMMU_READ : 0) |
    ((flags & MAP_WRITEABLE) ? IOMMU_WRITE : 0);
  const iopt = ioas.iopt;
  const e = iopt.mapFile(
    backingOf(file),
    kv.getBigUint64(MF.start, true),
    length,
    prot,
    (flags & MAP_FIXED_IOVA) !== 0 ? iova : undefined,
  );
  if (e !== 0) return -e;
  kv.setUint32(MF.iova, iopt.outLo, true);
  kv.setUint32(MF.iova + 4, iopt.outHi, true);
  return ctx.respond(u, usize, S.iommu_ioas_map_file.size);
}

const CP = offsetsOf(S.iommu_ioas_change_process);

/**
 * IOMMU_IOAS_CHANGE_PROCESS: `__reserved` (EOPNOTSUPP); every area of every IOAS of the
 * context must come from IOMMU_IOAS_MAP_FILE (EINVAL, nothing changes). Then the pinned
 * pages are charged to the calling process instead of the one that mapped them; the
 * simulator has one process, which already carries them, so nothing moves and 0 is
 * returned. Nothing is written back.
 */
export function iommufdIoasChangeProcess(ctx: IommufdCtx, u: UserArg): number {
  if (u.kv.getUint32(CP.__reserved, true) !== 0) return -E.EOPNOTSUPP;
  for (const obj of ctx.objects.objects()) {
    // The kernel's walk sees finalised objects only.
    if (obj.type !== "ioas" || !obj.finalized) continue;
    if (!(obj as Ioas).iopt.allAreasFromFiles()) return -E.EINVAL;
  }
  return 0;
}
