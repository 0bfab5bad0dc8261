/**
 * IOMMU_TEST_CMD (drivers/iommu/iommufd/selftest.c, CONFIG_IOMMUFD_TEST): the mock IOMMU
 * driver and its test operations. Modelled: ADD_RESERVED, MOCK_DOMAIN, MOCK_DOMAIN_FLAGS,
 * SET_TEMP_MEMORY_LIMIT and MOCK_DOMAIN_REPLACE (not in 6.2); any other op answers
 * EOPNOTSUPP, as the kernel's default case does.
 *
 * MOCK_DOMAIN consumes three ids in this order: the selftest object (stdev), the device
 * object (idev, from bind) and, when the IOAS has no automatic hwpt to reuse, the hwpt. Its id
 * may name an IOAS, a paging hwpt or a nested hwpt (the mock's nested domain attaches).
 *
 * A mock device reports no reserved regions, as in every modelled release: the mock gets its
 * first `get_resv_regions` op after 6.18 (the patch "iommufd/selftest: Add a testing reserved
 * region", October 2025, adds it to a `mock_ops` that has none). Approximated: the IOPF enable
 * of a fault-capable hwpt's attach always succeeds (the mock has an IOPF queue) and has no
 * other effect.
 *
 * @module
 */

import { E } from "../uapi/errno.ts";
import { MOCK, MOCK_FLAGS_DEVICE, U64_MAX } from "../uapi/constants.ts";
import { offsetsOf } from "../uapi/codec.ts";
import * as S from "../uapi/structs.ts";
import type { IommufdObject } from "./object_table.ts";
import type { IommufdCtx } from "./context.ts";
import type { UserArg } from "./uaccess.ts";
import {
  deviceAttach,
  deviceBind,
  deviceReplace,
  deviceUnbind,
  type IommufdDevice,
} from "./device.ts";
import { releaseAtLeast } from "./release.ts";
import { IommuGroup, type PhysicalDevice } from "./platform.ts";
import { MOCK_DOMAIN } from "./builtin_profiles.ts";
import type { Iommu } from "./profiles.ts";

const T = offsetsOf(S.iommu_test_cmd);
/** Start of the command's union, where `memory_limit.limit` lives. */
const UNION = T["add_reserved.start"];

const OP_ADD_RESERVED = 1;
const OP_MOCK_DOMAIN = 2;
const OP_SET_TEMP_MEMORY_LIMIT = 9;
const OP_MOCK_DOMAIN_REPLACE = 10;
const OP_MOCK_DOMAIN_FLAGS = 12;

const {
  MOCK_FLAGS_DEVICE_NO_DIRTY: FLAG_NO_DIRTY,
  MOCK_FLAGS_DEVICE_HUGE_IOVA: FLAG_HUGE_IOVA,
  MOCK_FLAGS_DEVICE_PASID: FLAG_PASID, // accepted from 6.15
} = MOCK_FLAGS_DEVICE.values;

const MOCK_HUGE: Iommu = Object.freeze({
  ...MOCK_DOMAIN,
  pgsizeBitmap: MOCK.IO_PAGE_SIZE | MOCK.HUGE_IO_PAGE_SIZE,
});

/** A device on the selftest's mock bus; each sits in its own iommu group. */
export class MockDevice implements PhysicalDevice {
  readonly isMock = true;
  readonly resvRegions = [];
  readonly igroup = new IommuGroup();
  readonly iommu: Iommu;

  constructor(readonly name: string, readonly flags: number) {
    this.iommu = (flags & FLAG_HUGE_IOVA) ? MOCK_HUGE : MOCK_DOMAIN;
  }
}

/** `struct selftest_obj` of type TYPE_IDEV: owns a mock device bound to the context. */
export class SelftestObject implements IommufdObject {
  id = 0;
  readonly type = "selftest" as const;
  users = 1;
  finalized = false;
  idev: IommufdDevice | undefined;
}

/** Destroying the selftest object detaches and unbinds its device. */
export function selftestDestroy(_ctx: IommufdCtx, sobj: SelftestObject): void {
  const idev = sobj.idev;
  sobj.idev = undefined;
  if (idev !== undefined) deviceUnbind(idev);
}

let mockDevNum = 0;

/** Owner of ADD_RESERVED ranges: the kernel passes NULL, so no detach ever removes them. */
const SELFTEST_OWNER = Object.freeze({ owner: "selftest" });

/** `iommufd_test_mock_domain`. */
function mockDomain(ctx: IommufdCtx, u: UserArg, usize: number, op: number): number {
  const kv = u.kv;
  const sobj = new SelftestObject();
  const rc = ctx.objects.allocate(sobj);
  if (rc !== 0) return -rc;
  const devFlags = op === OP_MOCK_DOMAIN_FLAGS
    ? kv.getUint32(T["mock_domain_flags.dev_flags"], true)
    : 0;
  const pasidFlag = releaseAtLeast(ctx.release, "6.15") ? FLAG_PASID : 0;
  if ((devFlags & ~(FLAG_NO_DIRTY | FLAG_HUGE_IOVA | pasidFlag)) !== 0) {
    ctx.objects.abort(sobj);
    return -E.EINVAL;
  }
  const dev = new MockDevice(`iommufd_mock${++mockDevNum}`, devFlags);
  const idev = deviceBind(ctx, dev);
  if (typeof idev === "number") {
    ctx.objects.abort(sobj);
    return idev;
  }
  const ptId = deviceAttach(idev, kv.getUint32(T.id, true));
  if (ptId < 0) {
    deviceUnbind(idev);
    ctx.objects.abort(sobj);
    return ptId;
  }
  sobj.idev = idev;
  kv.setUint32(T["mock_domain.out_hwpt_id"], ptId, true);
  kv.setUint32(T["mock_domain.out_stdev_id"], sobj.id, true);
  kv.setUint32(T["mock_domain.out_idev_id"], idev.id, true);
  const w = ctx.respond(u, usize, ctx.release.testCmdSize);
  if (w !== 0) {
    sobj.idev = undefined;
    deviceUnbind(idev);
    ctx.objects.abort(sobj);
    return w;
  }
  ctx.objects.finalize(sobj);
  return 0;
}

/**
 * `iommufd_test_mock_domain_replace`: `id` must be a selftest object (ENOENT; every one is of
 * TYPE_IDEV here, so its EINVAL is unreachable); `iommufd_device_replace` of its device onto
 * `mock_domain_replace.pt_id` (see {@link deviceReplace}); the id of the hwpt now attached is
 * written to `mock_domain_replace.pt_id` and the command copied back (EFAULT leaves the
 * replace done, as the kernel does).
 */
function mockDomainReplace(ctx: IommufdCtx, u: UserArg, usize: number): number {
  const kv = u.kv;
  const sobj = ctx.objects.get(kv.getUint32(T.id, true), "selftest") as
    | SelftestObject
    | undefined;
  if (sobj?.idev === undefined) return -E.ENOENT;
  const ptId = deviceReplace(sobj.idev, kv.getUint32(T["mock_domain_replace.pt_id"], true));
  if (ptId < 0) return ptId;
  kv.setUint32(T["mock_domain_replace.pt_id"], ptId, true);
  return ctx.respond(u, usize, ctx.release.testCmdSize);
}

/**
 * `iommufd_test_add_reserved`: reserve [start, start + length − 1] in an IOAS; where the
 * release checks them, length 0 (EINVAL) and a wrapping range (EOVERFLOW) come first.
 */
function addReserved(ctx: IommufdCtx, u: UserArg): number {
  const kv = u.kv;
  const start = kv.getBigUint64(T["add_reserved.start"], true);
  const length = kv.getBigUint64(T["add_reserved.length"], true);
  if (ctx.release.addReservedChecks) {
    if (length === 0n) return -E.EINVAL;
    if (start + length - 1n > U64_MAX) return -E.EOVERFLOW;
  }
  const ioas = ctx.getIoas(kv.getUint32(T.id, true));
  if (ioas === undefined) return -E.ENOENT;
  const err = ioas.iopt.reserveIova(start, BigInt.asUintN(64, start + length - 1n), SELFTEST_OWNER);
  return err !== 0 ? -err : 0;
}

/** IOMMU_TEST_CMD, dispatched by op. */
export function iommufdTest(ctx: IommufdCtx, u: UserArg, usize: number): number {
  const op = u.kv.getUint32(T.op, true);
  switch (op) {
    case OP_ADD_RESERVED:
      return addReserved(ctx, u);
    case OP_MOCK_DOMAIN:
      return mockDomain(ctx, u, usize, op);
    case OP_MOCK_DOMAIN_FLAGS:
      if (!ctx.release.mockDomainFlags) return -E.EOPNOTSUPP;
      return mockDomain(ctx, u, usize, op);
    case OP_MOCK_DOMAIN_REPLACE:
      // The op came with iommufd_device_replace (v6.5): 6.2's table ends at op 9.
      if (!releaseAtLeast(ctx.release, "6.5")) return -E.EOPNOTSUPP;
      return mockDomainReplace(ctx, u, usize);
    case OP_SET_TEMP_MEMORY_LIMIT:
      // Must hold at least one batch element (unsigned long + u32); otherwise only tunes
      // the kernel's internal batching, which the simulator does not model.
      return u.kv.getUint32(UNION, true) < 12 ? -E.EINVAL : 0;
    default:
      return -E.EOPNOTSUPP;
  }
}

/** `MOCK_FLAGS_ACCESS_SYZ`: an IOVA argument is an area index and an offset (for syzkaller). */
const MOCK_FLAGS_ACCESS_SYZ = 1 << 16;

/**
 * `iommufd_test_syz_conv_iova_id`, which a CONFIG_IOMMUFD_TEST kernel runs on IOAS_COPY before
 * checking its flags: with MOCK_FLAGS_ACCESS_SYZ set, the flag is dropped and `iova` is read as
 * { u32 nth_area, u32 offset } of IOAS `ioasId`: that area's IOVA plus the offset (mod 2^64),
 * or 0 when there is no such area. A bad IOAS id leaves `iova` as it was. Returns the flags and
 * the IOVA to go on with.
 */
export function syzConvIovaId(
  ctx: IommufdCtx,
  ioasId: number,
  iova: bigint,
  flags: number,
): { flags: number; iova: bigint } {
  if ((flags & MOCK_FLAGS_ACCESS_SYZ) === 0) return { flags, iova };
  flags = (flags & ~MOCK_FLAGS_ACCESS_SYZ) >>> 0;
  const ioas = ctx.getIoas(ioasId);
  if (ioas === undefined) return { flags, iova };
  const start = ioas.iopt.nthAreaIova(Number(iova & 0xffff_ffffn));
  return { flags, iova: start === undefined ? 0n : (start + (iova >> 32n)) & U64_MAX };
}
