/**
 * IOMMU_OPTION (drivers/iommu/iommufd/ioas.c `iommufd_option`): RLIMIT_MODE for the whole
 * context and HUGE_PAGES per IOAS. On success only the 8-byte val64 field goes back to the
 * caller (for SET it is the unchanged input).
 *
 * @module
 */

import { E } from "../uapi/errno.ts";
import { offsetsOf } from "../uapi/codec.ts";
import * as S from "../uapi/structs.ts";
import type { IommufdCtx } from "./context.ts";
import type { UserArg } from "./uaccess.ts";

const O = offsetsOf(S.iommu_option);
const OPTION_RLIMIT_MODE = 0;
const OPTION_HUGE_PAGES = 1;
const OP_SET = 0;
const OP_GET = 1;

/**
 * `iommufd_option_rlimit_mode`: object_id must be 0; SET needs CAP_SYS_RESOURCE (EPERM) and
 * an empty object table (EBUSY); 0 = per-user, 1 = per-process accounting.
 */
function rlimitMode(ctx: IommufdCtx, u: UserArg): number {
  const kv = u.kv;
  if (kv.getUint32(O.object_id, true) !== 0) return -E.EOPNOTSUPP;
  const op = kv.getUint16(O.op, true);
  if (op === OP_GET) {
    kv.setBigUint64(O.val64, ctx.accountMode === "mm" ? 1n : 0n, true);
    return 0;
  }
  if (op === OP_SET) {
    if (!ctx.machine.privileged()) return -E.EPERM;
    if (ctx.objects.count !== 0) return -E.EBUSY;
    const val = kv.getBigUint64(O.val64, true);
    if (val === 0n) ctx.accountMode = "user";
    else if (val === 1n) ctx.accountMode = "mm";
    else return -E.EINVAL;
    return 0;
  }
  return -E.EOPNOTSUPP;
}

/**
 * `iommufd_ioas_option`: HUGE_PAGES of an IOAS (ENOENT if object_id is not one). SET 0
 * disables large pages (EINVAL with a domain and an area, EADDRINUSE on mis-aligned areas).
 */
function ioasOption(ctx: IommufdCtx, u: UserArg): number {
  const kv = u.kv;
  const ioas = ctx.getIoas(kv.getUint32(O.object_id, true));
  if (ioas === undefined) return -E.ENOENT;
  const op = kv.getUint16(O.op, true);
  if (op === OP_SET) {
    const val = kv.getBigUint64(O.val64, true);
    if (val === 0n) {
      const err = ioas.iopt.disableLargePages();
      return err !== 0 ? -err : 0;
    }
    if (val === 1n) {
      ioas.iopt.enableLargePages();
      return 0;
    }
    return -E.EINVAL;
  }
  if (op === OP_GET) {
    kv.setBigUint64(O.val64, ioas.iopt.largePagesDisabled ? 0n : 1n, true);
    return 0;
  }
  return -E.EOPNOTSUPP;
}

/** IOMMU_OPTION. */
export function iommufdOption(ctx: IommufdCtx, u: UserArg): number {
  const kv = u.kv;
  if (kv.getUint16(O.__reserved, true) !== 0) return -E.EOPNOTSUPP;
  // GET stores val64 into the kernel copy only; keep the caller's bytes until the copy-out.
  const before = kv.getBigUint64(O.val64, true);
  let rc: number;
  switch (kv.getUint32(O.option_id, true)) {
    case OPTION_RLIMIT_MODE:
      rc = rlimitMode(ctx, u);
      break;
    case OPTION_HUGE_PAGES:
      rc = ioasOption(ctx, u);
      break;
    default:
      return -E.EOPNOTSUPP;
  }
  if (rc !== 0) {
    if (u.direct) kv.setBigUint64(O.val64, before, true);
    return rc;
  }
  if (u.direct) return 0;
  return u.writeAt(O.val64, u.k.subarray(O.val64, O.val64 + 8)) ? 0 : -E.EFAULT;
}
