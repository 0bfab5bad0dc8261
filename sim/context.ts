/**
 * The iommufd context (`struct iommufd_ctx`, drivers/iommu/iommufd/main.c): what one open
 * /dev/iommu (or iommufd-provided /dev/vfio/vfio) file holds, and its ioctl entry with the
 * kernel's order of checks:
 *
 * 1. nr below IOMMUFD_CMD_BASE or past the table → the VFIO compatibility handler;
 * 2. get_user of the leading u32 `size` → EFAULT;
 * 3. the table slot's full request number differs (a hole, or dir/size bits) → ENOTTY. The
 *    table is the release's: each request sits in it from its `since` release (uapi/ioctl.ts),
 *    so on 6.2 IOMMU_HWPT_ALLOC is a hole, and so are 0x8F–0x94 on every release before
 *    theirs (IOAS_MAP_FILE, VIOMMU_ALLOC, VDEVICE_ALLOC: 6.13; IOAS_CHANGE_PROCESS: 6.14;
 *    VEVENTQ_ALLOC: 6.15; HW_QUEUE_ALLOC: 6.17). 6.18 has nothing past 0x94 but
 *    IOMMU_TEST_CMD (0xA0); 0x95 (VDEVICE_TSM_OP) came later;
 * 4. size below the struct's minimum → EINVAL;
 * 5. copy_struct_from_user: non-zero bytes past the kernel's struct → E2BIG, fault → EFAULT;
 * 6. the handler.
 *
 * @module
 */

import { E } from "../uapi/errno.ts";
import type { IoctlArg } from "../uapi/kernel.ts";
import * as S from "../uapi/structs.ts";
import * as R from "../uapi/ioctl.ts";
import { type Release, releaseAtLeast } from "./release.ts";
import { type IommufdObject, ObjectTable } from "./object_table.ts";
import { UserArg, type UserMemoryAccess } from "./uaccess.ts";
import type { AccountMode, PinAccounting } from "./pages.ts";
import type { UserMemory } from "./user_memory.ts";
import type { Platform } from "./platform.ts";
import {
  type Ioas,
  iommufdDestroy,
  iommufdIoasAlloc,
  iommufdIoasAllowIovas,
  iommufdIoasCopy,
  iommufdIoasIovaRanges,
  iommufdIoasMap,
  iommufdIoasUnmap,
} from "./ioas.ts";
import { iommufdOption } from "./option.ts";
import { iommufdVfioIoas, vfioCompatIoctl } from "./vfio_compat.ts";
import { iommufdTest } from "./selftest.ts";
import { type HwPagetable, hwptDestroy } from "./hw_pagetable.ts";
import {
  hwInfoSize,
  hwptAllocSize,
  iommufdGetHwInfo,
  iommufdHwptAlloc,
  iommufdHwptGetDirtyBitmap,
  iommufdHwptInvalidate,
  iommufdHwptSetDirtyTracking,
} from "./hwpt_ioctl.ts";
import { deviceDestroy, type IommufdDevice } from "./device.ts";
import { selftestDestroy, type SelftestObject } from "./selftest.ts";
import { ioasDestroy } from "./ioas.ts";
import type { SimFile } from "./file.ts";
import { iommufdIoasChangeProcess, iommufdIoasMapFile } from "./ioas_file.ts";
import {
  type Fault,
  faultDestroy,
  iommufdFaultAlloc,
  iommufdVeventqAlloc,
  type Veventq,
  veventqDestroy,
} from "./eventq.ts";
import {
  type HwQueue,
  hwQueueDestroy,
  iommufdHwQueueAlloc,
  iommufdVdeviceAlloc,
  iommufdViommuAlloc,
  type Vdevice,
  vdeviceDestroy,
  type Viommu,
  viommuAllocSize,
  viommuDestroy,
} from "./viommu.ts";
import { type HwptNested, hwptNestedDestroy } from "./hw_pagetable.ts";

/** The process's file table, as handlers that take or hand out fds need it. */
export interface FileTable {
  /** `fget`: the file open as `fd`, or undefined (EBADF). */
  fget(fd: number): SimFile | undefined;
  /** get_unused_fd + fd_install: `file` at the lowest free fd. */
  install(file: SimFile): number;
  /** close(2). */
  close(fd: number): number;
}

/** Machine-wide state every context shares: the simulated host. */
export interface Machine {
  /** The release being modelled (may change at run time). */
  release(): Release;
  /** The process's user memory. */
  readonly memory: UserMemory & UserMemoryAccess;
  /** RLIMIT_MEMLOCK and privilege, as the pinning code charges them. */
  readonly accounting: PinAccounting;
  /** CAP_SYS_RESOURCE / CAP_IPC_LOCK / CAP_SYS_RAWIO. */
  privileged(): boolean;
  /** Groups and devices of the platform. */
  readonly platform: Platform;
  /** The process's open files. */
  readonly files: FileTable;
}

/** One ioctl handler: returns the ioctl result (≥ 0) or -errno. */
export type IoctlHandler = (ctx: IommufdCtx, u: UserArg, usize: number) => number;

interface IoctlOp {
  readonly cmd: number;
  /** First release whose table has the request (`since` of uapi/ioctl.ts REQUESTS). */
  readonly since: string;
  /** sizeof the struct, when it is the same in every release (else -1: ask `size`). */
  readonly fixedSize: number;
  /** offsetofend of the last mandatory member, when fixed (see `fixedSize`). */
  readonly fixedMin: number;
  /** sizeof the struct the release knows. */
  readonly size: (r: Release) => number;
  /** offsetofend of the last mandatory member. */
  readonly min: (r: Release) => number;
  readonly handler: IoctlHandler;
}

/** `since` of the iommufd request numbered `cmd`. */
function sinceOf(cmd: number): string {
  const r = R.requestsByNumber(cmd).find((d) => d.fd === "iommufd");
  if (r?.since === undefined) throw new Error(`no iommufd request 0x${cmd.toString(16)}`);
  return r.since;
}

function op(
  cmd: number,
  desc: S.StructDesc,
  handler: IoctlHandler,
): IoctlOp {
  return {
    cmd,
    since: sinceOf(cmd),
    fixedSize: desc.size,
    fixedMin: desc.minSize,
    size: () => desc.size,
    min: () => desc.minSize,
    handler,
  };
}

/** An entry whose struct grew over releases: its size per release, its minimum fixed. */
function grownOp(
  cmd: number,
  desc: S.StructDesc,
  size: (r: Release) => number,
  handler: IoctlHandler,
): IoctlOp {
  return { ...op(cmd, desc, handler), fixedSize: -1, fixedMin: -1, size };
}

/** IOMMUFD_CMD_BASE. */
const CMD_BASE = 0x80;
/** Table length with CONFIG_IOMMUFD_TEST: the last entry is IOMMU_TEST_CMD (0xA0). */
const TABLE_LEN = 0x21;

/**
 * Every modelled table entry, of every release. A struct that grew over releases has
 * `fixedSize` -1 and its sizes per release; its minimum (the member IOCTL_OP names) did not move.
 */
const ALL_OPS: readonly IoctlOp[] = (() => {
  const t: IoctlOp[] = [];
  const put = (o: IoctlOp) => t.push(o);
  put(op(R.IOMMU_DESTROY, S.iommu_destroy, iommufdDestroy));
  put(op(R.IOMMU_IOAS_ALLOC, S.iommu_ioas_alloc, iommufdIoasAlloc));
  put(op(R.IOMMU_IOAS_ALLOW_IOVAS, S.iommu_ioas_allow_iovas, iommufdIoasAllowIovas));
  put(op(R.IOMMU_IOAS_COPY, S.iommu_ioas_copy, iommufdIoasCopy));
  put(op(R.IOMMU_IOAS_IOVA_RANGES, S.iommu_ioas_iova_ranges, iommufdIoasIovaRanges));
  put(op(R.IOMMU_IOAS_MAP, S.iommu_ioas_map, iommufdIoasMap));
  put(op(R.IOMMU_IOAS_UNMAP, S.iommu_ioas_unmap, iommufdIoasUnmap));
  put(op(R.IOMMU_OPTION, S.iommu_option, iommufdOption));
  put(op(R.IOMMU_VFIO_IOAS, S.iommu_vfio_ioas, iommufdVfioIoas));
  // The selftest command's union grew over releases; `last` is its final mandatory member
  // and 4 bytes of padding follow it.
  put({
    cmd: R.IOMMU_TEST_CMD,
    since: sinceOf(R.IOMMU_TEST_CMD),
    fixedSize: -1,
    fixedMin: -1,
    size: (r) => r.testCmdSize,
    min: (r) => r.testCmdSize - 4,
    handler: iommufdTest,
  });
  put(grownOp(R.IOMMU_HWPT_ALLOC, S.iommu_hwpt_alloc, hwptAllocSize, iommufdHwptAlloc));
  put(grownOp(R.IOMMU_GET_HW_INFO, S.iommu_hw_info, hwInfoSize, iommufdGetHwInfo));
  put(op(
    R.IOMMU_HWPT_SET_DIRTY_TRACKING,
    S.iommu_hwpt_set_dirty_tracking,
    iommufdHwptSetDirtyTracking,
  ));
  put(op(R.IOMMU_HWPT_GET_DIRTY_BITMAP, S.iommu_hwpt_get_dirty_bitmap, iommufdHwptGetDirtyBitmap));
  put(op(R.IOMMU_HWPT_INVALIDATE, S.iommu_hwpt_invalidate, iommufdHwptInvalidate));
  put(op(R.IOMMU_FAULT_QUEUE_ALLOC, S.iommu_fault_alloc, iommufdFaultAlloc));
  put(op(R.IOMMU_IOAS_MAP_FILE, S.iommu_ioas_map_file, iommufdIoasMapFile));
  put(grownOp(R.IOMMU_VIOMMU_ALLOC, S.iommu_viommu_alloc, viommuAllocSize, iommufdViommuAlloc));
  put(op(R.IOMMU_VDEVICE_ALLOC, S.iommu_vdevice_alloc, iommufdVdeviceAlloc));
  put(op(R.IOMMU_IOAS_CHANGE_PROCESS, S.iommu_ioas_change_process, iommufdIoasChangeProcess));
  put(op(R.IOMMU_VEVENTQ_ALLOC, S.iommu_veventq_alloc, iommufdVeventqAlloc));
  put(op(R.IOMMU_HW_QUEUE_ALLOC, S.iommu_hw_queue_alloc, iommufdHwQueueAlloc));
  return t;
})();

const TABLES = new WeakMap<Release, readonly (IoctlOp | undefined)[]>();

/** `iommufd_ioctl_ops[]` of release `r`, indexed by nr − IOMMUFD_CMD_BASE; holes undefined. */
function opsOf(r: Release): readonly (IoctlOp | undefined)[] {
  let t = TABLES.get(r);
  if (t === undefined) {
    const a: (IoctlOp | undefined)[] = new Array(TABLE_LEN).fill(undefined);
    for (const o of ALL_OPS) if (releaseAtLeast(r, o.since)) a[(o.cmd & 0xff) - CMD_BASE] = o;
    t = Object.freeze(a);
    TABLES.set(r, t);
  }
  return t;
}

/** How the pages of new maps are charged (`enum iopt_pages_account`). */
export type CtxAccountMode = AccountMode;

/** One iommufd file's context. */
export class IommufdCtx {
  /** Every object of this context. */
  readonly objects: ObjectTable;
  /** The IOAS the VFIO compatibility ioctls operate on; holds no reference. */
  vfioIoas: Ioas | undefined;
  /** USER for /dev/iommu, MM when opened as iommufd's /dev/vfio/vfio. */
  accountMode: CtxAccountMode;
  /** Set once the context has been released (file closed and no one holds it). */
  released = false;
  /** The reusable argument accessor. */
  readonly uarg: UserArg;
  /** The file this context belongs to (`ictx->file`), for objects that hold it. */
  file: SimFile | undefined;

  constructor(readonly machine: Machine, opts: { vfioContainer: boolean }) {
    this.objects = new ObjectTable(() => machine.release().ids31Bit ? 0x7fffffff : 0xffffffff);
    this.vfioIoas = undefined;
    this.accountMode = opts.vfioContainer ? "mm" : "user";
    this.uarg = new UserArg(machine.memory);
  }

  /** The release being modelled. */
  get release(): Release {
    return this.machine.release();
  }

  /** `iommufd_fops_ioctl`. */
  ioctl(cmd: number, arg: IoctlArg): number {
    cmd = cmd >>> 0;
    const nr = cmd & 0xff;
    if (nr < CMD_BASE || nr - CMD_BASE >= TABLE_LEN) return vfioCompatIoctl(this, cmd, arg);
    const u = this.uarg;
    u.set(arg);
    if (!u.copyIn(4)) return -E.EFAULT;
    const rel = this.release;
    const o = opsOf(rel)[nr - CMD_BASE];
    if (o === undefined || o.cmd !== cmd) return -E.ENOTTY;
    const usize = u.kv.getUint32(0, true);
    let min = o.fixedMin;
    let ksize = o.fixedSize;
    if (ksize < 0) {
      min = o.min(rel);
      ksize = o.size(rel);
    }
    if (usize < min) return -E.EINVAL;
    if (usize > ksize) {
      const z = u.checkZeroed(ksize, usize);
      if (z !== 0) return -z;
    }
    if (!u.copyIn(usize < ksize ? usize : ksize)) return -E.EFAULT;
    return o.handler(this, u, usize);
  }

  /** `iommufd_ucmd_respond`: copy min(usize, sizeof) bytes of the struct back. */
  respond(u: UserArg, usize: number, ksize: number): number {
    return u.respond(usize < ksize ? usize : ksize) ? 0 : -E.EFAULT;
  }

  /** The finalised IOAS `id` (`iommufd_get_ioas`), or undefined for ENOENT. */
  getIoas(id: number): Ioas | undefined {
    return this.objects.get(id, "ioas") as Ioas | undefined;
  }

  /** The compat IOAS if set and alive (`get_compat_ioas`), else undefined for ENODEV. */
  compatIoas(): Ioas | undefined {
    const ioas = this.vfioIoas;
    if (ioas === undefined || !ioas.finalized || ioas.users === 0) return undefined;
    return ioas;
  }

  /**
   * `iommufd_object_abort_and_destroy`: undo an object whose creation failed after it took
   * references: its type's destroy, then its id back.
   */
  abortAndDestroy(obj: IommufdObject): void {
    destroyObject(this, obj);
    this.objects.abort(obj);
  }

  /**
   * `iommufd_fops_release`: destroy every object, dependants first, so that every pin is
   * dropped. Objects other objects still hold are retried after their holders are gone.
   */
  releaseAll(): void {
    if (this.released) return;
    this.released = true;
    this.vfioIoas = undefined;
    for (let progress = true; progress && this.objects.count > 0;) {
      progress = false;
      for (const obj of [...this.objects.objects()]) {
        if (obj.users > 1 || !this.objects.has(obj)) continue;
        this.objects.forget(obj);
        destroyObject(this, obj as IommufdObject);
        progress = true;
      }
    }
    // Anything left was held in a cycle the kernel would WARN about; drop it anyway.
    for (const obj of [...this.objects.objects()]) {
      if (this.objects.has(obj)) destroyObject(this, obj);
    }
    this.objects.clear();
  }
}

/**
 * Run the type's destroy (`iommufd_object_ops[type].destroy`) for an object that has
 * already left the table.
 */
export function destroyObject(ctx: IommufdCtx, obj: IommufdObject): void {
  obj.users = 0;
  // An access is destroyed by the HW queue that made it; a tombstone has nothing left.
  DESTROY[obj.type]?.(ctx, obj as never);
}

/** `iommufd_object_ops[type].destroy`, by object type. */
const DESTROY: Partial<Record<IommufdObject["type"], (ctx: IommufdCtx, obj: never) => void>> = {
  ioas: (ctx, o: Ioas) => ioasDestroy(ctx, o),
  hwpt_paging: (ctx, o: HwPagetable) => hwptDestroy(ctx, o),
  device: (ctx, o: IommufdDevice) => deviceDestroy(ctx, o),
  selftest: (ctx, o: SelftestObject) => selftestDestroy(ctx, o),
  hwpt_nested: (ctx, o: HwptNested) => hwptNestedDestroy(ctx, o),
  fault: (ctx, o: Fault) => faultDestroy(ctx, o),
  viommu: (ctx, o: Viommu) => viommuDestroy(ctx, o),
  vdevice: (ctx, o: Vdevice) => vdeviceDestroy(ctx, o),
  veventq: (ctx, o: Veventq) => veventqDestroy(ctx, o),
  hw_queue: (ctx, o: HwQueue) => hwQueueDestroy(ctx, o),
};
