/**
 * Event queues (drivers/iommu/iommufd/eventq.c): IOMMU_FAULT_QUEUE_ALLOC and
 * IOMMU_VEVENTQ_ALLOC, and the anonymous-inode file each returns. The file holds a
 * reference on its object (IOMMU_DESTROY answers EBUSY while it is open) and on the iommufd
 * (closing /dev/iommu does not release the context while it is open).
 *
 * Nothing in the simulator raises a fault or a vEVENT (the selftest's TRIGGER ops are not
 * modelled), so a read always finds the queue empty: after the kernel's size checks it
 * returns 0.
 *
 * @module
 */

import { E } from "../uapi/errno.ts";
import { offsetsOf } from "../uapi/codec.ts";
import * as S from "../uapi/structs.ts";
import type { IoctlArg } from "../uapi/kernel.ts";
import type { IommufdObject } from "./object_table.ts";
import type { IommufdCtx } from "./context.ts";
import type { UserArg } from "./uaccess.ts";
import { SimFile } from "./file.ts";
import type { Viommu } from "./viommu.ts";

/** sizeof(struct iommu_hwpt_pgfault): a fault read must be a multiple of it. */
const PGFAULT_SIZE = 40;
/** IOMMU_VEVENTQ_TYPE_DEFAULT. */
const VEVENTQ_TYPE_DEFAULT = 0;
/** IOMMU_VEVENTQ_TYPE_SELFTEST (iommufd_test.h). */
export const VEVENTQ_TYPE_SELFTEST = 0xbeefbeef;

/** `struct iommufd_fault` (IOMMUFD_OBJ_FAULT). */
export class Fault implements IommufdObject {
  id = 0;
  readonly type = "fault" as const;
  users = 1;
  finalized = false;
  file: EventqFile | undefined;
}

/** `struct iommufd_veventq` (IOMMUFD_OBJ_VEVENTQ): holds its vIOMMU. */
export class Veventq implements IommufdObject {
  id = 0;
  readonly type = "veventq" as const;
  users = 1;
  finalized = false;
  file: EventqFile | undefined;

  constructor(readonly viommu: Viommu, readonly qtype: number, readonly depth: number) {}
}

/** The anonymous-inode file of an event queue ([iommufd-pgfault], [iommufd-viommu-event]). */
export class EventqFile extends SimFile {
  readonly kind = "eventq" as const;

  constructor(readonly obj: Fault | Veventq, readonly ctx: IommufdCtx) {
    super();
    // iommufd_eventq_init: the file holds the object and the context.
    obj.users++;
    ctx.file?.get();
  }

  /** iommufd_eventq_fops_release. */
  protected release(): void {
    this.obj.users--;
    this.ctx.file?.put();
  }

  /** No unlocked_ioctl: ENOTTY. */
  ioctl(_cmd: number, _arg: IoctlArg): number {
    return -E.ENOTTY;
  }

  /**
   * The queue's read op. A fault queue wants whole `struct iommu_hwpt_pgfault`s (ESPIPE
   * otherwise); a vEVENTQ takes any size. Both return 0 for an empty queue.
   */
  override read(into: Uint8Array): number {
    if (this.obj.type === "fault" && into.length % PGFAULT_SIZE !== 0) return -E.ESPIPE;
    return 0;
  }
}

/**
 * Create the file, install it at the lowest free fd and write `id`/`fd` back (the two out
 * fields at `idAt`/`fdAt`). On a failed write-back the fd and the file go again and
 * -EFAULT is returned; the caller then drops the object.
 */
function installAndRespond(
  ctx: IommufdCtx,
  obj: Fault | Veventq,
  u: UserArg,
  usize: number,
  ksize: number,
  idAt: number,
  fdAt: number,
): number {
  const file = new EventqFile(obj, ctx);
  const fd = ctx.machine.files.install(file);
  obj.file = file;
  u.kv.setUint32(idAt, obj.id, true);
  u.kv.setInt32(fdAt, fd, true);
  const w = ctx.respond(u, usize, ksize);
  if (w !== 0) {
    obj.file = undefined;
    ctx.machine.files.close(fd);
    return w;
  }
  return 0;
}

const FA = offsetsOf(S.iommu_fault_alloc);

/**
 * IOMMU_FAULT_QUEUE_ALLOC: non-zero flags (EOPNOTSUPP); the fault object takes the next id,
 * its file the lowest free fd; out_fault_id and out_fault_fd are written back.
 */
export function iommufdFaultAlloc(ctx: IommufdCtx, u: UserArg, usize: number): number {
  if (u.kv.getUint32(FA.flags, true) !== 0) return -E.EOPNOTSUPP;
  const fault = new Fault();
  const rc = ctx.objects.allocate(fault);
  if (rc !== 0) return -rc;
  const w = installAndRespond(
    ctx,
    fault,
    u,
    usize,
    S.iommu_fault_alloc.size,
    FA.out_fault_id,
    FA.out_fault_fd,
  );
  if (w !== 0) {
    ctx.objects.abort(fault);
    return w;
  }
  ctx.objects.finalize(fault);
  return 0;
}

/** `iommufd_fault_destroy`: nothing is pending in the simulator. */
export function faultDestroy(_ctx: IommufdCtx, _fault: Fault): void {}

const VQ = offsetsOf(S.iommu_veventq_alloc);

/**
 * IOMMU_VEVENTQ_ALLOC: flags, `__reserved` or type DEFAULT (EOPNOTSUPP); depth 0 (EINVAL);
 * viommu_id must be a vIOMMU (ENOENT); one queue per type and vIOMMU (EEXIST); then the
 * object (next id, holding the vIOMMU) and its file (lowest free fd) as for a fault queue.
 * The kernel accepts any other type here: only drivers that report events use it.
 */
export function iommufdVeventqAlloc(ctx: IommufdCtx, u: UserArg, usize: number): number {
  const kv = u.kv;
  const qtype = kv.getUint32(VQ.type, true);
  if (
    kv.getUint32(VQ.flags, true) !== 0 || kv.getUint32(VQ.__reserved, true) !== 0 ||
    qtype === VEVENTQ_TYPE_DEFAULT
  ) {
    return -E.EOPNOTSUPP;
  }
  const depth = kv.getUint32(VQ.veventq_depth, true);
  if (depth === 0) return -E.EINVAL;
  const viommu = ctx.objects.get(kv.getUint32(VQ.viommu_id, true), "viommu") as
    | Viommu
    | undefined;
  if (viommu === undefined) return -E.ENOENT;
  if (viommu.veventqs.some((q) => q.qtype === qtype)) return -E.EEXIST;
  const q = new Veventq(viommu, qtype, depth);
  const rc = ctx.objects.allocate(q);
  if (rc !== 0) return -rc;
  viommu.users++;
  viommu.veventqs.push(q);
  const w = installAndRespond(
    ctx,
    q,
    u,
    usize,
    S.iommu_veventq_alloc.size,
    VQ.out_veventq_id,
    VQ.out_veventq_fd,
  );
  if (w !== 0) {
    ctx.abortAndDestroy(q);
    return w;
  }
  ctx.objects.finalize(q);
  return 0;
}

/** `iommufd_veventq_destroy`: leave the vIOMMU's list and drop it. */
export function veventqDestroy(_ctx: IommufdCtx, q: Veventq): void {
  const list = q.viommu.veventqs;
  const i = list.indexOf(q);
  if (i < 0) return;
  list.splice(i, 1);
  q.viommu.users--;
}
