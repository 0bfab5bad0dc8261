/**
 * The legacy VFIO IOMMU backend, vfio_iommu_type1 (drivers/vfio/vfio_iommu_type1.c), as it
 * serves a /dev/vfio/vfio container after VFIO_SET_IOMMU: its domains (one per kind of IOMMU
 * the attached groups sit behind), the list of valid IOVA ranges, the user mappings, the
 * `dma_entry_limit` budget, and the container ioctls it answers (CHECK_EXTENSION,
 * IOMMU_GET_INFO, IOMMU_MAP_DMA, IOMMU_UNMAP_DMA, IOMMU_DIRTY_PAGES).
 *
 * Its rules differ from iommufd's compatibility layer in many small ways
 * (shared/reference/type1-vs-compat.md); each handler below keeps the kernel's order of
 * checks so the two can be compared line by line:
 * - a mapping is never split: v1 (TYPE1) unmaps whole mappings that start inside the request
 *   and stops at one that starts before it; v2 (TYPE1v2) refuses to bisect one (EINVAL);
 * - an unmap that finds nothing succeeds with size 0, and nothing is written back on error;
 * - iova, size and vaddr must be multiples of the smallest IOMMU page size (at least PAGE_SIZE);
 * - every mapping costs one of `dma_entry_limit` entries (ENOSPC when none is left).
 *
 * @module
 */

import { E } from "../uapi/errno.ts";
import type { IoctlArg } from "../uapi/kernel.ts";
import { PAGE_SIZE, U64_MAX } from "../uapi/constants.ts";
import { offsetsOf } from "../uapi/codec.ts";
import * as S from "../uapi/structs.ts";
import * as R from "../uapi/ioctl.ts";
import type { Release } from "./release.ts";
import type { Iommu, ResvRegion } from "./profiles.ts";
import type { VfioGroup } from "./group.ts";
import { type UserArg, type UserMemoryAccess, userRead, userWrite } from "./uaccess.ts";
import { type DmaCursor, DmaList, type VfioDma } from "./vfio_dma.ts";
import { modeIndex, type PinAccounting } from "./pages.ts";
import { TASK_SIZE } from "./user_memory.ts";
import type { IovaRange } from "../uapi/caps.ts";

/** VFIO_TYPE1_IOMMU. */
export const VFIO_TYPE1_IOMMU = 1n;
/** VFIO_TYPE1v2_IOMMU. */
export const VFIO_TYPE1v2_IOMMU = 3n;
const VFIO_DMA_CC_IOMMU = 4n;
/** VFIO_TYPE1_NESTING_IOMMU (`__VFIO_RESERVED_TYPE1_NESTING_IOMMU` since its removal). */
export const VFIO_TYPE1_NESTING_IOMMU = 6n;
const VFIO_UNMAP_ALL = 9n;
const VFIO_UPDATE_VADDR = 10n;

const MAP_READ = 1;
const MAP_WRITE = 2;
const MAP_VADDR = 4;
const UNMAP_GET_DIRTY_BITMAP = 1;
const UNMAP_ALL = 2;
const UNMAP_VADDR = 4;
const DIRTY_START = 1;
const DIRTY_STOP = 2;
const DIRTY_GET_BITMAP = 4;

const INFO_PGSIZES = 1;
const INFO_CAPS = 2;
const CAP_IOVA_RANGE = 1;
const CAP_MIGRATION = 2;
const CAP_DMA_AVAIL = 3;

const IOMMU_READ = 1;
const IOMMU_WRITE = 2;

const PAGE_MASK = U64_MAX & ~(PAGE_SIZE - 1n);
const TWO64 = 1n << 64n;
/** `DIRTY_BITMAP_PAGES_MAX`: bitmap_set() takes an int count of bits. */
const DIRTY_BITMAP_PAGES_MAX = 0x7fff_ffffn;
/** `DIRTY_BITMAP_SIZE_MAX`: DIRTY_BITMAP_BYTES(DIRTY_BITMAP_PAGES_MAX), 256 MiB. */
export const DIRTY_BITMAP_SIZE_MAX = ((DIRTY_BITMAP_PAGES_MAX + 63n) / 64n) * 8n;

/** The module parameters of vfio_iommu_type1. */
export interface Type1Params {
  /** `dma_entry_limit`: mappings per container (default 65535). */
  dmaEntryLimit: number;
  /** `allow_unsafe_interrupts`: attach groups without MSI isolation. */
  allowUnsafeInterrupts: boolean;
}

/** The default of `dma_entry_limit` (U16_MAX). */
export const DEFAULT_DMA_ENTRY_LIMIT = 65535;

/** What the driver needs from the machine. */
export interface Type1Machine {
  release(): Release;
  readonly memory: UserMemoryAccess & {
    isMapped(addr: bigint, length: bigint): boolean;
    isPfnmap(addr: bigint): boolean;
  };
  readonly accounting: PinAccounting;
  /** CAP_IPC_LOCK: pinned pages are counted but not checked against RLIMIT_MEMLOCK. */
  privileged(): boolean;
  /** The module parameters as they are now. */
  type1Params(): Type1Params;
}

/** `struct vfio_domain`: one IOMMU domain and the groups attached to it. */
export class Type1Domain {
  readonly groups: VfioGroup[] = [];
  constructor(readonly iommu: Iommu, readonly enforceCacheCoherency: boolean) {}

  /** `domain->pgsize_bitmap`. */
  get pgsizeBitmap(): bigint {
    return this.iommu.pgsizeBitmap;
  }
}

const MAPD = offsetsOf(S.vfio_iommu_type1_dma_map);
const MAPD_MIN = S.vfio_iommu_type1_dma_map.minSize;
const UNMAPD = offsetsOf(S.vfio_iommu_type1_dma_unmap);
const UNMAPD_MIN = S.vfio_iommu_type1_dma_unmap.minSize;
const BITMAP = offsetsOf(S.vfio_bitmap);
const BITMAP_SIZE = S.vfio_bitmap.size;
const INFO = offsetsOf(S.vfio_iommu_type1_info);
const INFO_SIZE = S.vfio_iommu_type1_info.size;
const INFO_MIN = S.vfio_iommu_type1_info.minSize;
const DIRTY = offsetsOf(S.vfio_iommu_type1_dirty_bitmap);
const DIRTY_MIN = S.vfio_iommu_type1_dirty_bitmap.minSize;
const RANGE_GET_SIZE = S.vfio_iommu_type1_dirty_bitmap_get.size;

/** The smallest page of a bitmap (`1 << __ffs(bitmap)`); 0 for an empty bitmap. */
function smallestPage(bitmap: bigint): bigint {
  return bitmap & -bitmap;
}

/** `__ffs` of a page size (0 for 0, as the selftests' callers never pass it). */
function shiftOf(pgsize: bigint): bigint {
  let s = 0n;
  if (pgsize === 0n) return 0n;
  while (((pgsize >> s) & 1n) === 0n) s++;
  return s;
}

/** `DIRTY_BITMAP_BYTES(n)`: bits rounded up to whole u64s, in bytes. */
function dirtyBitmapBytes(n: bigint): bigint {
  return ((n + 63n) / 64n) * 8n;
}

/** `verify_bitmap_size`: EINVAL unless the user bitmap holds `npages` bits and stays small. */
function verifyBitmapSize(npages: bigint, size: bigint): number {
  if (npages === 0n || size === 0n || size > DIRTY_BITMAP_SIZE_MAX) return -E.EINVAL;
  return size < dirtyBitmapBytes(npages) ? -E.EINVAL : 0;
}

/**
 * `access_ok` as x86 has it in release `rel`: the user range ends by TASK_SIZE, or (6.4–6.11)
 * only below 2^63, without wrapping either way.
 */
function accessOk(rel: Release, addr: bigint, size: bigint): boolean {
  return rel.accessOkSignOnly ? addr + size < SIGN_BIT : addr + size <= TASK_SIZE;
}

/** 2^63: x86-64 addresses from here on are the kernel's half. */
const SIGN_BIT = 1n << 63n;

/** The regions of a group's devices that take IOVA space away (`iommu_get_group_resv_regions`). */
function groupResvRegions(group: VfioGroup): ResvRegion[] {
  const out: ResvRegion[] = [];
  for (const d of group.devices) for (const r of d.resvRegions) out.push(r);
  return out;
}

/** `vfio_iommu_resv_exclude`: cut reserved regions out of `list`; EINVAL if nothing is left. */
function resvExclude(list: IovaRange[], resv: readonly ResvRegion[]): IovaRange[] | number {
  let cur = list;
  for (const r of resv) {
    if (r.type === "direct_relaxable") continue;
    const start = r.start;
    const end = r.start + r.length - 1n;
    const next: IovaRange[] = [];
    for (const n of cur) {
      if (start > n.end || end < n.start) {
        next.push(n);
        continue;
      }
      if (start > n.start) next.push({ start: n.start, end: start - 1n });
      if (end < n.end) next.push({ start: end + 1n, end: n.end });
    }
    cur = next;
  }
  return cur.length === 0 ? -E.EINVAL : cur;
}

/** `vfio_iommu_aper_resize`: clip the list to [start, end]; an empty list becomes that range. */
function aperResize(list: IovaRange[], start: bigint, end: bigint): IovaRange[] {
  if (list.length === 0) return [{ start, end }];
  const out: IovaRange[] = [];
  for (const n of list) {
    if (n.end < start || n.start > end) continue;
    out.push({ start: n.start < start ? start : n.start, end: n.end > end ? end : n.end });
  }
  return out;
}

/**
 * `struct vfio_iommu`: the type1 backend of one container, created by VFIO_SET_IOMMU
 * ({@link Type1Iommu.open}) and released when the last group leaves.
 */
export class Type1Iommu {
  readonly domains: Type1Domain[] = [];
  iovaList: IovaRange[] = [];
  readonly dmas = new DmaList();
  dmaAvail: number;
  vaddrInvalidCount = 0;
  pgsizeBitmap = PAGE_MASK;
  dirtyTracking = false;
  /** Groups attached that cannot report dirty pages themselves (every IOMMU group). */
  numNonPinnedGroups = 0;

  private constructor(
    readonly machine: Type1Machine,
    readonly v2: boolean,
    readonly nesting: boolean,
  ) {
    this.dmaAvail = machine.type1Params().dmaEntryLimit;
  }

  /** `vfio_iommu_type1_open`: TYPE1 (v1), TYPE1v2 and, before its removal, NESTING (v2). */
  static open(machine: Type1Machine, type: bigint): Type1Iommu | number {
    switch (type) {
      case VFIO_TYPE1_IOMMU:
        return new Type1Iommu(machine, false, false);
      case VFIO_TYPE1v2_IOMMU:
        return new Type1Iommu(machine, true, false);
      case VFIO_TYPE1_NESTING_IOMMU:
        return new Type1Iommu(machine, true, machine.release().type1Nesting);
      default:
        return -E.EINVAL;
    }
  }

  /**
   * `vfio_iommu_type1_check_extension`, with `iommu` undefined when the container has no
   * backend yet (the container polls the driver): TYPE1, TYPE1v2, UNMAP_ALL; NESTING until its
   * removal; UPDATE_VADDR only with a backend; DMA_CC 1 iff every domain enforces coherency.
   */
  static checkExtension(iommu: Type1Iommu | undefined, release: Release, ext: bigint): number {
    switch (ext) {
      case VFIO_TYPE1_IOMMU:
      case VFIO_TYPE1v2_IOMMU:
      case VFIO_UNMAP_ALL:
        return 1;
      case VFIO_TYPE1_NESTING_IOMMU:
        return release.type1Nesting ? 1 : 0;
      case VFIO_UPDATE_VADDR:
        // Emulated (mdev) groups, which would turn it off, are not modelled.
        return iommu !== undefined ? 1 : 0;
      case VFIO_DMA_CC_IOMMU:
        if (iommu === undefined) return 0;
        return iommu.domains.every((d) => d.enforceCacheCoherency) ? 1 : 0;
      default:
        return 0;
    }
  }

  get #release(): Release {
    return this.machine.release();
  }

  /** `1 << __ffs(iommu->pgsize_bitmap)`. */
  get minPageSize(): bigint {
    return smallestPage(this.pgsizeBitmap);
  }

  /** Whether the backend holds `group` in one of its domains. */
  hasGroup(group: VfioGroup): boolean {
    return this.domains.some((d) => d.groups.includes(group));
  }

  // ---- lookups (vfio_find_dma, vfio_find_dma_first_node) ----

  /**
   * Before 6.18 the lookups compare exclusive ends that wrap to 0 at the top of the address
   * space: a request ending at 2^64 - 1 finds nothing, and a mapping ending there is never
   * found as the first match (the kernel's tree walk then goes past it).
   */
  #wraps(iova: bigint, size: bigint): boolean {
    return !this.#release.type1Overflow && iova + size === TWO64;
  }

  /** `vfio_find_dma`: a mapping overlapping [start, start + size), or undefined. */
  findDma(start: bigint, size: bigint): VfioDma | undefined {
    if (this.#wraps(start, size)) return undefined;
    const last = size === 0n ? start : start + size - 1n;
    const d = this.dmas.findOverlap(start, last);
    if (d === undefined || this.#wraps(d.iova, d.size)) return undefined;
    if (size === 0n && d.iova === start && !this.#release.type1Overflow) return undefined;
    return d;
  }

  /** `vfio_find_dma_first_node`: the lowest mapping in [start, start + size) as a cursor. */
  #firstNode(start: bigint, size: bigint): DmaCursor | undefined {
    if (this.#wraps(start, size)) return undefined;
    const c = this.dmas.firstEndingFrom(start);
    if (c === undefined) return undefined;
    const d = this.dmas.at(c)!;
    if (this.#wraps(d.iova, d.size)) return undefined;
    return d.iova <= start + size - 1n ? c : undefined;
  }

  // ---- groups (attach_group / detach_group) ----

  /**
   * `vfio_iommu_type1_attach_group`, in the kernel's order: EBUSY while a vaddr is
   * invalidated, EINVAL for a duplicate, a domain from the group's IOMMU, EINVAL when its
   * aperture misses the current list or leaves a mapping outside, EINVAL when a reserved
   * region covers a mapping or nothing valid is left, EPERM without MSI isolation (unless
   * `allow_unsafe_interrupts`), EINVAL when nesting is asked of a driver that cannot nest;
   * then the group joins a compatible domain (same driver, same coherency enforcement) or its
   * new domain gets every existing mapping replayed (pinned) into it.
   */
  attachGroup(group: VfioGroup): number {
    if (this.vaddrInvalidCount > 0) return -E.EBUSY;
    if (this.hasGroup(group)) return -E.EINVAL;
    const iommu = group.iommu;
    const aStart = iommu.apertureStart;
    const aEnd = iommu.apertureLast;
    if (this.#aperConflict(aStart, aEnd)) return -E.EINVAL;
    const resv = groupResvRegions(group);
    for (const r of resv) {
      if (r.type === "direct_relaxable") continue;
      if (this.findDma(r.start, r.length)) return -E.EINVAL;
    }
    const copy = resvExclude(aperResize(this.iovaList, aStart, aEnd), resv);
    if (typeof copy === "number") return copy;
    const isolated = group.devices.every((d) => d.iommu.msiIsolated);
    if (!this.machine.type1Params().allowUnsafeInterrupts && !isolated) return -E.EPERM;
    if (this.nesting && iommu.driver !== "arm-smmu-v3") return -E.EINVAL;
    const domain = new Type1Domain(iommu, iommu.enforceCacheCoherency);
    const match = this.domains.find((d) =>
      d.iommu.driver === iommu.driver && d.enforceCacheCoherency === domain.enforceCacheCoherency
    );
    if (match !== undefined) {
      match.groups.push(group);
    } else {
      const rc = this.#replay();
      if (rc !== 0) return rc;
      domain.groups.push(group);
      this.domains.unshift(domain);
      this.#updatePgsizeBitmap();
    }
    this.iovaList = copy;
    this.numNonPinnedGroups++;
    return 0;
  }

  /** `vfio_iommu_aper_conflict`: the new aperture misses the list or strands a mapping. */
  #aperConflict(start: bigint, end: bigint): boolean {
    const list = this.iovaList;
    if (list.length === 0) return false;
    const first = list[0], last = list[list.length - 1];
    if (start > last.end || end < first.start) return true;
    if (start > first.start && this.findDma(first.start, start - first.start)) return true;
    if (end < last.end && this.findDma(end + 1n, last.end - end)) return true;
    return false;
  }

  /** `vfio_iommu_replay`: pin every mapping not pinned yet (the first domain arrives). */
  #replay(): number {
    const pinned: VfioDma[] = [];
    for (const d of this.dmas) {
      if (d.pinned) continue;
      const rc = this.#pin(d);
      if (rc !== 0) {
        for (const p of pinned) this.#unpin(p);
        return rc;
      }
      pinned.push(d);
    }
    return 0;
  }

  /**
   * `vfio_iommu_type1_detach_group`: the group leaves its domain; an empty domain is freed,
   * and with the last domain every mapping goes (`vfio_iommu_unmap_unpin_all`). The valid
   * list is widened again to the remaining apertures minus their reserved regions.
   */
  detachGroup(group: VfioGroup): void {
    const di = this.domains.findIndex((d) => d.groups.includes(group));
    if (di < 0) return;
    const domain = this.domains[di];
    domain.groups.splice(domain.groups.indexOf(group), 1);
    let copy = this.iovaList.map((r) => ({ ...r }));
    if (domain.groups.length === 0) {
      if (this.domains.length === 1) this.unmapUnpinAll();
      this.domains.splice(di, 1);
      if (copy.length > 0) {
        let start = 0n, end = U64_MAX;
        for (const d of this.domains) {
          if (d.iommu.apertureStart > start) start = d.iommu.apertureStart;
          if (d.iommu.apertureLast < end) end = d.iommu.apertureLast;
        }
        copy[0].start = start;
        copy[copy.length - 1].end = end;
      }
      this.#updatePgsizeBitmap();
    }
    if (copy.length > 0) {
      const resv = this.domains.flatMap((d) => d.groups.flatMap(groupResvRegions));
      const refreshed = resvExclude(
        aperResize([], copy[0].start, copy[copy.length - 1].end),
        resv,
      );
      if (typeof refreshed !== "number") copy = refreshed;
    }
    this.iovaList = copy;
    this.numNonPinnedGroups--;
  }

  /** `vfio_iommu_type1_release`: every mapping goes, pins are dropped. */
  release(): void {
    this.unmapUnpinAll();
    this.domains.length = 0;
    this.iovaList = [];
  }

  /** `vfio_iommu_unmap_unpin_all`. */
  unmapUnpinAll(): void {
    for (const d of [...this.dmas]) this.#removeDma(d);
  }

  /** `vfio_update_pgsize_bitmap`: AND of the domains, sub-PAGE_SIZE sizes folded into it. */
  #updatePgsizeBitmap(): void {
    let bitmap = U64_MAX;
    for (const d of this.domains) bitmap &= d.pgsizeBitmap;
    if ((bitmap & ~PAGE_MASK & U64_MAX) !== 0n) bitmap = (bitmap & PAGE_MASK) | PAGE_SIZE;
    this.pgsizeBitmap = bitmap;
  }

  // ---- pinning ----

  /**
   * `vfio_pin_map_dma`: pin the pages (EFAULT when the user range is not mapped) and charge
   * them to the process's locked memory (ENOMEM past RLIMIT_MEMLOCK without CAP_IPC_LOCK).
   * Device memory (a VM_PFNMAP mapping such as a VFIO BAR) cannot be pinned, but
   * `vaddr_get_pfns` looks its pfns up instead (follow_fault_pfn); they are MMIO, so
   * `is_invalid_reserved_pfn` holds and they are mapped without being charged.
   */
  #pin(d: VfioDma): number {
    const mem = this.machine.memory;
    if (!mem.isMapped(d.vaddr, d.size)) return -E.EFAULT;
    // A mapping never spans two of the simulator's VMAs (they are never adjacent).
    const pages = mem.isPfnmap(d.vaddr) ? 0 : Number(d.size / PAGE_SIZE);
    if (!this.machine.privileged() && pages > 0) {
      const rc = this.machine.accounting.charge(modeIndex("mm"), pages);
      if (rc !== 0) return -rc;
      d.lockedPages = pages;
    }
    d.pinned = true;
    return 0;
  }

  #unpin(d: VfioDma): void {
    if (d.lockedPages > 0) this.machine.accounting.uncharge(modeIndex("mm"), d.lockedPages);
    d.lockedPages = 0;
    d.pinned = false;
  }

  /** `vfio_remove_dma`: unpin, unlink, give the entry back to `dma_avail`. */
  #removeDma(d: VfioDma): void {
    this.#unpin(d);
    this.dmas.remove(d);
    if (d.vaddrInvalid) this.vaddrInvalidCount--;
    this.dmaAvail++;
  }

  // ---- ioctls ----

  /** `vfio_iommu_type1_ioctl`: the requests a container passes through; others ENOTTY. */
  ioctl(cmd: number, arg: IoctlArg, u: UserArg): number {
    switch (cmd) {
      case R.VFIO_CHECK_EXTENSION:
        return Type1Iommu.checkExtension(this, this.#release, byValue(arg));
      case R.VFIO_IOMMU_GET_INFO:
        u.set(arg);
        return this.getInfo(u);
      case R.VFIO_IOMMU_MAP_DMA:
        u.set(arg);
        return this.mapDma(u);
      case R.VFIO_IOMMU_UNMAP_DMA:
        u.set(arg);
        return this.unmapDma(u);
      case R.VFIO_IOMMU_DIRTY_PAGES:
        u.set(arg);
        return this.dirtyPages(u);
      default:
        return -E.ENOTTY;
    }
  }

  /**
   * VFIO_IOMMU_GET_INFO (`vfio_iommu_type1_get_info`): argsz ≥ 16 (EINVAL). Capabilities
   * MIGRATION, DMA_AVAIL and IOVA_RANGE (left out while the valid list is empty) are built in
   * full; when argsz cannot hold them all, none is written and argsz comes back as the size
   * needed; otherwise they are copied after the fixed struct, cap_offset is 24 and argsz is
   * left as the caller passed it. Each capability takes a multiple of 8 bytes from 6.6 (the
   * padding zeroed). The fixed struct is copied back as far as {@link Release.type1InfoCopy24}
   * says.
   */
  getInfo(u: UserArg): number {
    if (!u.copyIn(INFO_MIN)) return -E.EFAULT;
    const argsz = u.kv.getUint32(INFO.argsz, true);
    if (argsz < INFO_MIN) return -E.EINVAL;
    const rel = this.#release;
    const copy = rel.type1InfoCopy24 ? Math.min(argsz, INFO_SIZE) : argsz >= 20 ? 20 : 16;

    const caps: Uint8Array[] = [this.#capMigration(), this.#capDmaAvail()];
    if (this.iovaList.length > 0) caps.push(this.#capIovaRange());
    const align8 = rel.capAlign8;
    let total = 0;
    const offsets: number[] = [];
    for (const c of caps) {
      offsets.push(total);
      total += align8 ? (c.length + 7) & ~7 : c.length;
    }
    const info = new Uint8Array(INFO_SIZE);
    const iv = new DataView(info.buffer);
    info.set(u.k.subarray(0, INFO_MIN));
    iv.setUint32(INFO.flags, INFO_PGSIZES, true);
    iv.setBigUint64(INFO.iova_pgsizes, this.pgsizeBitmap, true);
    if (total > 0) {
      iv.setUint32(INFO.flags, INFO_PGSIZES | INFO_CAPS, true);
      if (argsz < INFO_SIZE + total) {
        iv.setUint32(INFO.argsz, INFO_SIZE + total, true);
      } else {
        const chain = new Uint8Array(total);
        const cv = new DataView(chain.buffer);
        caps.forEach((c, i) => {
          chain.set(c, offsets[i]);
          const next = i + 1 < caps.length ? INFO_SIZE + offsets[i + 1] : 0;
          cv.setUint32(offsets[i] + 4, next, true);
        });
        if (!u.writeAt(INFO_SIZE, chain)) return -E.EFAULT;
        iv.setUint32(INFO.cap_offset, INFO_SIZE, true);
      }
    }
    return u.writeAt(0, info.subarray(0, copy)) ? 0 : -E.EFAULT;
  }

  /** `vfio_iommu_migration_build_caps`: dirty pages at the smallest page size, 256 MiB max. */
  #capMigration(): Uint8Array {
    const c = new Uint8Array(S.vfio_iommu_type1_info_cap_migration.size);
    const v = new DataView(c.buffer);
    v.setUint16(0, CAP_MIGRATION, true);
    v.setUint16(2, 1, true);
    v.setUint32(8, 0, true);
    v.setBigUint64(16, this.minPageSize, true);
    v.setBigUint64(24, DIRTY_BITMAP_SIZE_MAX, true);
    return c;
  }

  /** `vfio_iommu_dma_avail_build_caps`: the entries left of `dma_entry_limit`. */
  #capDmaAvail(): Uint8Array {
    const c = new Uint8Array(S.vfio_iommu_type1_info_dma_avail.size);
    const v = new DataView(c.buffer);
    v.setUint16(0, CAP_DMA_AVAIL, true);
    v.setUint16(2, 1, true);
    v.setUint32(8, this.dmaAvail >>> 0, true);
    return c;
  }

  /** `vfio_iommu_iova_build_caps`: the valid list. */
  #capIovaRange(): Uint8Array {
    const n = this.iovaList.length;
    const head = S.vfio_iommu_type1_info_cap_iova_range.size;
    const c = new Uint8Array(head + 16 * n);
    const v = new DataView(c.buffer);
    v.setUint16(0, CAP_IOVA_RANGE, true);
    v.setUint16(2, 1, true);
    v.setUint32(8, n, true);
    this.iovaList.forEach((r, i) => {
      v.setBigUint64(head + 16 * i, r.start, true);
      v.setBigUint64(head + 16 * i + 8, r.end, true);
    });
    return c;
  }

  /**
   * VFIO_IOMMU_MAP_DMA (`vfio_iommu_type1_map_dma` + `vfio_dma_do_map`): argsz ≥ 32 and only
   * READ, WRITE, VADDR (EINVAL); from 6.18 size 0 (EINVAL) and a wrapping iova or vaddr range
   * (EOVERFLOW) come first; then exactly one of "READ/WRITE" and "VADDR" (flags 0 is EINVAL);
   * size 0, and iova/size/vaddr not multiples of the smallest page size (EINVAL); a wrapping
   * range before 6.18 (EINVAL); a VADDR update needs an invalidated mapping of exactly that
   * range (ENOENT none, EINVAL otherwise); an overlap is EEXIST; no entries left is ENOSPC; a
   * range outside every valid IOVA range is EINVAL; pinning may fail (EFAULT, ENOMEM); with
   * dirty tracking on, more than DIRTY_BITMAP_PAGES_MAX pages is EINVAL after the pinning.
   * Nothing is written back.
   */
  mapDma(u: UserArg): number {
    if (!u.copyIn(MAPD_MIN)) return -E.EFAULT;
    const kv = u.kv;
    const flags = kv.getUint32(MAPD.flags, true);
    if (kv.getUint32(MAPD.argsz, true) < MAPD_MIN) return -E.EINVAL;
    if ((flags & ~(MAP_READ | MAP_WRITE | MAP_VADDR)) !== 0) return -E.EINVAL;
    const iova = kv.getBigUint64(MAPD.iova, true);
    const vaddr = kv.getBigUint64(MAPD.vaddr, true);
    const size = kv.getBigUint64(MAPD.size, true);
    const rel = this.#release;
    if (rel.type1Overflow) {
      if (size === 0n) return -E.EINVAL;
      if (iova + size - 1n > U64_MAX || vaddr + size - 1n > U64_MAX) return -E.EOVERFLOW;
    }
    const setVaddr = (flags & MAP_VADDR) !== 0;
    const prot = ((flags & MAP_WRITE) ? IOMMU_WRITE : 0) | ((flags & MAP_READ) ? IOMMU_READ : 0);
    if ((prot !== 0 && setVaddr) || (prot === 0 && !setVaddr)) return -E.EINVAL;
    const pgmask = this.minPageSize - 1n;
    if (size === 0n || ((size | iova | vaddr) & pgmask) !== 0n) return -E.EINVAL;
    if (!rel.type1Overflow && (iova + size - 1n > U64_MAX || vaddr + size - 1n > U64_MAX)) {
      return -E.EINVAL;
    }
    const found = this.findDma(iova, size);
    if (setVaddr) {
      if (found === undefined) return -E.ENOENT;
      if (!found.vaddrInvalid || found.iova !== iova || found.size !== size) return -E.EINVAL;
      found.vaddr = vaddr;
      found.vaddrInvalid = false;
      this.vaddrInvalidCount--;
      return 0;
    }
    if (found !== undefined) return -E.EEXIST;
    if (this.dmaAvail === 0) return -E.ENOSPC;
    if (!this.#iovaValid(iova, iova + size - 1n)) return -E.EINVAL;
    const dma: VfioDma = {
      iova,
      size,
      vaddr,
      prot,
      pinned: false,
      lockedPages: 0,
      vaddrInvalid: false,
    };
    this.dmaAvail--;
    this.dmas.insert(dma);
    if (this.domains.length > 0) {
      const rc = this.#pin(dma);
      if (rc !== 0) {
        this.#removeDma(dma);
        return rc;
      }
    }
    // With dirty tracking on, a new mapping gets its bitmap at once (vfio_dma_bitmap_alloc),
    // which refuses more than DIRTY_BITMAP_PAGES_MAX pages: the mapping is taken back.
    if (this.dirtyTracking && size >> shiftOf(this.minPageSize) > DIRTY_BITMAP_PAGES_MAX) {
      this.#removeDma(dma);
      return -E.EINVAL;
    }
    return 0;
  }

  /** `vfio_iommu_iova_dma_valid`: inside one valid range (anything goes with an empty list). */
  #iovaValid(start: bigint, end: bigint): boolean {
    if (this.iovaList.length === 0) return true;
    return this.iovaList.some((r) => start >= r.start && end <= r.end);
  }

  /**
   * VFIO_IOMMU_UNMAP_DMA (`vfio_iommu_type1_unmap_dma` + `vfio_dma_do_unmap`): argsz ≥ 24 and
   * only GET_DIRTY_BITMAP, ALL, VADDR (EINVAL); GET_DIRTY_BITMAP with ALL or VADDR (EINVAL);
   * with GET_DIRTY_BITMAP the trailing `vfio_bitmap` (argsz, EFAULT, EINVAL for a bitmap
   * outside user space or of the wrong size); iova not a multiple of the smallest page size;
   * ALL with a non-zero iova or size; size 0 or unaligned; a wrapping range (EINVAL, EOVERFLOW
   * from 6.18); GET_DIRTY_BITMAP without tracking or at another page size; v2 refuses to
   * bisect a mapping at either end (EINVAL). Then whole mappings go: v1 stops at the first one
   * that starts before iova (so a request starting inside a mapping removes nothing), and a
   * mapping starting inside the request goes whole even past its end. A range holding nothing
   * is success with size 0. On success `size` becomes the bytes removed and the struct is
   * copied back; on any error nothing is written.
   */
  unmapDma(u: UserArg): number {
    if (!u.copyIn(UNMAPD_MIN)) return -E.EFAULT;
    const kv = u.kv;
    const argsz = kv.getUint32(UNMAPD.argsz, true);
    const flags = kv.getUint32(UNMAPD.flags, true);
    if (argsz < UNMAPD_MIN) return -E.EINVAL;
    if ((flags & ~(UNMAP_GET_DIRTY_BITMAP | UNMAP_ALL | UNMAP_VADDR)) !== 0) return -E.EINVAL;
    const getDirty = (flags & UNMAP_GET_DIRTY_BITMAP) !== 0;
    if (getDirty && (flags & (UNMAP_ALL | UNMAP_VADDR)) !== 0) return -E.EINVAL;
    const iova = kv.getBigUint64(UNMAPD.iova, true);
    let size = kv.getBigUint64(UNMAPD.size, true);
    let bitmap: { pgsize: bigint; size: bigint; data: bigint } | undefined;
    if (getDirty) {
      if (argsz < UNMAPD_MIN + BITMAP_SIZE) return -E.EINVAL;
      const b = new Uint8Array(BITMAP_SIZE);
      if (!readArg(u, UNMAPD_MIN, b)) return -E.EFAULT;
      const bv = new DataView(b.buffer);
      bitmap = {
        pgsize: bv.getBigUint64(BITMAP.pgsize, true),
        size: bv.getBigUint64(BITMAP.size, true),
        data: bv.getBigUint64(BITMAP.data, true),
      };
      if (!accessOk(this.#release, bitmap.data, bitmap.size)) return -E.EINVAL;
      const rc = verifyBitmapSize(size >> shiftOf(bitmap.pgsize), bitmap.size);
      if (rc !== 0) return rc;
    }
    const unmapAll = (flags & UNMAP_ALL) !== 0;
    const invalidateVaddr = (flags & UNMAP_VADDR) !== 0;
    const rel = this.#release;
    const pgsize = this.minPageSize;
    if ((iova & (pgsize - 1n)) !== 0n) return -E.EINVAL;
    if (unmapAll) {
      if (iova !== 0n || size !== 0n) return -E.EINVAL;
      size = U64_MAX;
    } else {
      if (size === 0n || (size & (pgsize - 1n)) !== 0n) return -E.EINVAL;
      if (iova + size - 1n > U64_MAX) return rel.type1Overflow ? -E.EOVERFLOW : -E.EINVAL;
    }
    if (getDirty && (!this.dirtyTracking || bitmap!.pgsize !== pgsize)) return -E.EINVAL;
    if (this.v2 && !unmapAll) {
      const first = this.findDma(iova, 1n);
      if (first !== undefined && first.iova !== iova) return -E.EINVAL;
      const last = this.findDma(iova + size - 1n, 0n);
      if (last !== undefined && last.iova + last.size !== iova + size) return -E.EINVAL;
    }
    // The walk: collect first (the list changes as mappings go).
    const hit: VfioDma[] = [];
    const c = this.#firstNode(iova, size);
    const end = iova + size; // exclusive, may be 2^64
    const wrapEnd = this.#wraps(iova, size);
    if (c !== undefined) {
      do {
        const d = this.dmas.at(c)!;
        if (wrapEnd || d.iova >= end) break;
        if (!this.v2 && iova > d.iova) break;
        hit.push(d);
      } while (this.dmas.next(c));
    }
    let unmapped = 0n;
    let rc = 0;
    if (invalidateVaddr) {
      for (let i = 0; i < hit.length; i++) {
        const d = hit[i];
        if (d.vaddrInvalid) {
          for (let j = 0; j < i; j++) {
            hit[j].vaddrInvalid = false;
            this.vaddrInvalidCount--;
          }
          rc = -E.EINVAL;
          unmapped = 0n;
          break;
        }
        d.vaddrInvalid = true;
        this.vaddrInvalidCount++;
        unmapped += d.size;
      }
    } else {
      for (const d of hit) {
        if (getDirty) {
          const w = this.#writeDirty(bitmap!.data, iova, d, pgsize);
          if (w !== 0) {
            rc = w;
            break;
          }
        }
        unmapped += d.size;
        this.#removeDma(d);
      }
    }
    if (rc !== 0) return rc;
    kv.setBigUint64(UNMAPD.size, BigInt.asUintN(64, unmapped), true);
    if (u.direct) return 0;
    return u.writeAt(0, u.k.subarray(0, UNMAPD_MIN)) ? 0 : -E.EFAULT;
  }

  /**
   * `update_user_bitmap`: every page of a pinned mapping is reported dirty (no attached group
   * reports its own dirty pages). The bits start at (d.iova - base) / pgsize; the u64 words
   * they span are written, the first keeping the bits below them that the user already had.
   */
  #writeDirty(data: bigint, base: bigint, d: VfioDma, pgsize: bigint): number {
    const mem = this.machine.memory;
    const pgshift = shiftOf(pgsize);
    const nbits = d.size >> pgshift;
    const bitOffset = (d.iova - base) >> pgshift;
    const copyOffset = bitOffset / 64n;
    const shift = Number(bitOffset % 64n);
    const bytes = Number(dirtyBitmapBytes(nbits + BigInt(shift)));
    const out = new Uint8Array(bytes);
    const addr = data + copyOffset * 8n;
    if (shift > 0) {
      const left = new Uint8Array(8);
      if (!userRead(mem, addr, left)) return -E.EFAULT;
      const lv = new DataView(left.buffer).getBigUint64(0, true) & ((1n << BigInt(shift)) - 1n);
      new DataView(out.buffer).setBigUint64(0, lv, true);
    }
    if (d.pinned && this.numNonPinnedGroups > 0) {
      const from = shift, to = shift + Number(nbits);
      for (let bit = from; bit < to; bit++) out[bit >> 3] |= 1 << (bit & 7);
    }
    return userWrite(mem, addr, out) ? 0 : -E.EFAULT;
  }

  /**
   * VFIO_IOMMU_DIRTY_PAGES (`vfio_iommu_type1_dirty_pages`): v1 containers get EACCES before
   * anything is read; argsz ≥ 8, only START/STOP/GET_BITMAP and exactly one of them (EINVAL).
   * START and STOP switch tracking (repeatable). GET_BITMAP needs a 40-byte range after the
   * header (EINVAL), a non-wrapping range (EINVAL; size 0 EINVAL and EOVERFLOW from 6.18), a
   * user bitmap below TASK_SIZE of the right size, the smallest page size, aligned iova and
   * size, tracking on (EINVAL), and no mapping bisected at either end (EINVAL).
   */
  dirtyPages(u: UserArg): number {
    if (!this.v2) return -E.EACCES;
    if (!u.copyIn(DIRTY_MIN)) return -E.EFAULT;
    const argsz = u.kv.getUint32(DIRTY.argsz, true);
    const flags = u.kv.getUint32(DIRTY.flags, true);
    if (argsz < DIRTY_MIN || (flags & ~(DIRTY_START | DIRTY_STOP | DIRTY_GET_BITMAP)) !== 0) {
      return -E.EINVAL;
    }
    if (flags === 0 || (flags & (flags - 1)) !== 0) return -E.EINVAL;
    if (flags === DIRTY_START) {
      if (!this.dirtyTracking) {
        const pgshift = shiftOf(this.minPageSize);
        for (const d of this.dmas) {
          if (d.size >> pgshift > DIRTY_BITMAP_PAGES_MAX) return -E.EINVAL;
        }
        this.dirtyTracking = true;
      }
      return 0;
    }
    if (flags === DIRTY_STOP) {
      this.dirtyTracking = false;
      return 0;
    }
    const dataSize = argsz - DIRTY_MIN;
    if (dataSize === 0 || dataSize < RANGE_GET_SIZE) return -E.EINVAL;
    const r = new Uint8Array(RANGE_GET_SIZE);
    if (!readArg(u, DIRTY_MIN, r)) return -E.EFAULT;
    const rv = new DataView(r.buffer);
    const iova = rv.getBigUint64(0, true);
    const size = rv.getBigUint64(8, true);
    const bmPgsize = rv.getBigUint64(16, true);
    const bmSize = rv.getBigUint64(24, true);
    const bmData = rv.getBigUint64(32, true);
    const rel = this.#release;
    if (rel.type1Overflow) {
      if (size === 0n) return -E.EINVAL;
      if (iova + size - 1n > U64_MAX) return -E.EOVERFLOW;
    } else if (iova + size > U64_MAX) {
      return -E.EINVAL;
    }
    if (!accessOk(rel, bmData, bmSize)) return -E.EINVAL;
    const vr = verifyBitmapSize(size >> shiftOf(bmPgsize), bmSize);
    if (vr !== 0) return vr;
    const pgsize = this.minPageSize;
    if (bmPgsize !== pgsize) return -E.EINVAL;
    if ((iova & (pgsize - 1n)) !== 0n) return -E.EINVAL;
    if (size === 0n || (size & (pgsize - 1n)) !== 0n) return -E.EINVAL;
    if (!this.dirtyTracking) return -E.EINVAL;
    const first = this.findDma(iova, 1n);
    if (first !== undefined && first.iova !== iova) return -E.EINVAL;
    const last = this.findDma(iova + size - 1n, 0n);
    if (last !== undefined && last.iova + last.size !== iova + size) return -E.EINVAL;
    for (const d of this.dmas) {
      if (d.iova < iova) continue;
      if (d.iova > iova + size - 1n) break;
      const rc = this.#writeDirty(bmData, iova, d, pgsize);
      if (rc !== 0) return rc;
    }
    return 0;
  }
}

/** The value a by-value ioctl sees: a buffer argument is a pointer, never a small number. */
function byValue(arg: IoctlArg): bigint {
  return typeof arg === "bigint" ? BigInt.asUintN(64, arg) : U64_MAX;
}

/** copy_from_user of `into.length` bytes at offset `off` of the argument. */
function readArg(u: UserArg, off: number, into: Uint8Array): boolean {
  if (u.direct) {
    if (u.k.length < off + into.length) return false;
    into.set(u.k.subarray(off, off + into.length));
    return true;
  }
  return userRead(u.memory, u.addr + BigInt(off), into);
}
