/**
 * The simulated kernel: one process's file table over the device nodes, its user memory,
 * and the simulator-only controls. Every request goes through one dispatch by file kind
 * (iommufd, VFIO group, VFIO device), because request numbers collide across kinds.
 *
 * Device nodes: `/dev/iommu` (an iommufd context, per-user accounting), `/dev/vfio/vfio`
 * (served by iommufd as with CONFIG_IOMMUFD_VFIO_CONTAINER, per-process accounting, or by the
 * legacy container and vfio_iommu_type1 when the `legacy` container is selected),
 * `/dev/vfio/N` for the platform's groups (`/dev/vfio/noiommu-N` for no-IOMMU ones). fds are
 * the lowest free number from 3.
 *
 * mmap(2) maps anonymous memory, or a file through its mmap op: a VFIO device fd maps a PCI
 * BAR as device memory (VM_PFNMAP), which legacy type1 can map for DMA and iommufd cannot pin.
 *
 * @module
 */

import { E } from "../uapi/errno.ts";
import { VFIO_TYPE } from "../uapi/ioctl.ts";
import { PAGE_SIZE, U64_MAX } from "../uapi/constants.ts";
import type { IoctlArg, Kernel, MappingRow, SimulatorControl } from "../uapi/kernel.ts";
import { DEFAULT_RELEASE, findRelease, type Release, RELEASES } from "./release.ts";
import { DEFAULT_PROFILE, findProfile, PROFILES } from "./builtin_profiles.ts";
import type { Profile } from "./profiles.ts";
import { UserMemory } from "./user_memory.ts";
import { modeIndex, PinAccounting, pinnedPages } from "./pages.ts";
import { IommufdCtx, type Machine } from "./context.ts";
import { IommufdFile } from "./vfio_iommufd.ts";
import type { SimFile } from "./file.ts";
import { type FdTable, GroupFile } from "./group.ts";
import { NO_IOMMU, NOIOMMU_OFF, type NoIommuConfig, Platform } from "./platform.ts";
import { deviceAttach, deviceBind, deviceUnbind } from "./device.ts";
import { compatIoasCreate } from "./vfio_compat.ts";
import { type ContainerMachine, VfioContainerFile } from "./vfio_container.ts";
import { DEFAULT_DMA_ENTRY_LIMIT, type Type1Params } from "./vfio_type1.ts";
import { memfdCreate } from "./memfd.ts";
import { doVfsIoctl } from "./vfs_ioctl.ts";

/** What serves /dev/vfio/vfio: iommufd (IOMMUFD_VFIO_CONTAINER) or the legacy container. */
export type ContainerImpl = "iommufd" | "legacy";

/** Options of {@link SimKernel}. */
export interface SimKernelOptions {
  /** Platform profile name (default `mock`). */
  profile?: string;
  /** Kernel release (default: the newest modelled). */
  release?: string;
  /**
   * What serves /dev/vfio/vfio (default `iommufd`): `legacy` is drivers/vfio/container.c
   * with vfio_iommu_type1, as in a kernel built with VFIO_CONTAINER (/dev/iommu stays iommufd).
   */
  container?: ContainerImpl;
  /** vfio_iommu_type1's `dma_entry_limit` module parameter (default 65535). */
  dmaEntryLimit?: number;
  /**
   * No-IOMMU support (default `off`): `built` is CONFIG_VFIO_NOIOMMU=y with vfio's
   * `enable_unsafe_noiommu_mode` off, `on` is both.
   */
  noiommu?: NoIommuSetting;
}

/** The no-IOMMU settings by name: CONFIG_VFIO_NOIOMMU, and enable_unsafe_noiommu_mode. */
export type NoIommuSetting = "off" | "built" | "on";

const NOIOMMU_SETTINGS: Readonly<Record<NoIommuSetting, NoIommuConfig>> = Object.freeze({
  off: NOIOMMU_OFF,
  built: Object.freeze({ built: true, enabled: false }),
  on: Object.freeze({ built: true, enabled: true }),
});

const FIRST_FD = 3;
const GROUP_PATH = /^\/dev\/vfio\/(noiommu-)?(0|[1-9][0-9]{0,9})$/;
const PAGE_MASK = PAGE_SIZE - 1n;

/** The simulator backend. */
export class SimKernel implements Kernel, SimulatorControl, FdTable {
  readonly name = "sim" as const;
  readonly simulator: SimulatorControl = this;

  #release: Release;
  #profile: Profile;
  #files: (SimFile | undefined)[] = [];
  #memory: UserMemory;
  #accounting: PinAccounting;
  #platform: Platform;
  #machine: Machine;
  #container: ContainerImpl;
  #type1: Type1Params;
  #noiommu: NoIommuSetting;
  /** Internal errors caught at the boundary (the Kernel contract forbids throwing). */
  internalErrors: unknown[] = [];

  constructor(options: SimKernelOptions = {}) {
    this.#release = resolveRelease(options.release);
    this.#profile = resolveProfile(options.profile);
    this.#memory = new UserMemory();
    this.#accounting = new PinAccounting();
    this.#noiommu = resolveNoIommu(options.noiommu);
    this.#platform = this.#boot();
    this.#machine = this.#makeMachine();
    this.#container = resolveContainer(options.container);
    this.#type1 = {
      dmaEntryLimit: resolveDmaEntryLimit(options.dmaEntryLimit),
      allowUnsafeInterrupts: false,
    };
  }

  /** The machine as vfio_iommu_type1 and the legacy container see it. */
  #type1Machine(): ContainerMachine {
    const m = this.#machine;
    return {
      release: m.release,
      get memory() {
        return m.memory;
      },
      get accounting() {
        return m.accounting;
      },
      privileged: m.privileged,
      type1Params: () => this.#type1,
      noiommu: () => this.#platform.noiommu,
    };
  }

  /** A freshly booted platform of the profile, with the no-IOMMU settings. */
  #boot(): Platform {
    const p = new Platform(this.#profile);
    p.noiommu = NOIOMMU_SETTINGS[this.#noiommu];
    return p;
  }

  #makeMachine(): Machine {
    const release = () => this.#release;
    const memory = () => this.#memory as Machine["memory"];
    const accounting = () => this.#accounting;
    const platform = () => this.#platform;
    return {
      release,
      get memory() {
        return memory();
      },
      get accounting() {
        return accounting();
      },
      privileged: () => accounting().privileged,
      get platform() {
        return platform();
      },
      files: this,
    };
  }

  /** The machine's pin accounting (for inspection and tests). */
  get accounting(): PinAccounting {
    return this.#accounting;
  }

  /** The iommufd context open as `fd`, if it is one (for inspection and tests). */
  iommufdContext(fd: number): IommufdCtx | undefined {
    const f = this.fget(fd);
    return f instanceof IommufdFile ? f.ctx : undefined;
  }

  /** User memory, for groups reading pointer arguments. */
  get memory(): UserMemory {
    return this.#memory;
  }

  // ---- FdTable ----

  /** The file open as `fd`. */
  fget(fd: number): SimFile | undefined {
    return Number.isInteger(fd) && fd >= 0 ? this.#files[fd] : undefined;
  }

  /** Install `file` at the lowest free fd (from 3). */
  install(file: SimFile): number {
    let fd = FIRST_FD;
    while (fd < this.#files.length && this.#files[fd] !== undefined) fd++;
    this.#files[fd] = file;
    return fd;
  }

  // ---- Kernel ----

  /** open(2) of a device node. */
  open(path: string): number {
    try {
      if (path === "/dev/iommu") {
        return this.install(
          new IommufdFile(new IommufdCtx(this.#machine, { vfioContainer: false })),
        );
      }
      if (path === "/dev/vfio/vfio") {
        if (this.#container === "legacy") {
          return this.install(new VfioContainerFile(this.#type1Machine()));
        }
        return this.install(
          new IommufdFile(new IommufdCtx(this.#machine, { vfioContainer: true })),
        );
      }
      const m = GROUP_PATH.exec(path);
      if (m !== null) {
        const group = this.#platform.groups.get(Number(m[2]));
        if (group === undefined || group.noiommu !== (m[1] !== undefined)) return -E.ENOENT;
        // vfio_group_fops_open: a no-IOMMU group needs CAP_SYS_RAWIO, before the EBUSY check.
        if (group.noiommu && !this.#accounting.privileged) return -E.EPERM;
        if (group.openedFile !== undefined) return -E.EBUSY;
        const f = new GroupFile(group, this);
        group.openedFile = f;
        return this.install(f);
      }
      return -E.ENOENT;
    } catch (e) {
      return this.#internal(e);
    }
  }

  /** close(2). */
  close(fd: number): number {
    const f = this.fget(fd);
    if (f === undefined) return -E.EBADF;
    this.#files[fd] = undefined;
    try {
      f.put();
      this.#accounting.pages.flushDeferred();
      return 0;
    } catch (e) {
      return this.#internal(e);
    }
  }

  /** memfd_create(2) + ftruncate(2): a shmem file of `size` bytes at the lowest free fd. */
  memfdCreate(name: string, size: bigint): number {
    const f = memfdCreate(name, size);
    return typeof f === "number" ? f : this.install(f);
  }

  /** read(2). */
  read(fd: number, into: Uint8Array): number {
    const f = this.fget(fd);
    if (f === undefined) return -E.EBADF;
    try {
      return f.read(into);
    } catch (e) {
      return this.#internal(e);
    }
  }

  /** ioctl(2): dispatched by the kind of file. */
  ioctl(fd: number, request: number, arg: IoctlArg): number {
    // Any non-index key (negative, fractional, NaN) simply finds no file.
    const f = this.#files[fd];
    if (f === undefined) return -E.EBADF;
    try {
      const cmd = request >>> 0;
      // The VFS answers a few requests for any file first; none has VFIO's type ';'.
      if (((cmd >>> 8) & 0xff) !== VFIO_TYPE) {
        const r = doVfsIoctl(this.#machine, f, cmd, arg);
        if (r !== undefined) return r;
      }
      const r = f.ioctl(cmd, arg);
      this.#accounting.pages.flushDeferred();
      return r;
    } catch (e) {
      return this.#internal(e);
    }
  }

  /**
   * mmap(2), PROT_READ | PROT_WRITE: anonymous private memory, or with `fd` a MAP_SHARED
   * mapping of the file at byte `offset`. In the order of sys_mmap and do_mmap: an offset
   * that is not page aligned (EINVAL), a bad fd (EBADF), length 0 (EINVAL), a length that
   * wraps when rounded to pages or finds no room below TASK_SIZE (ENOMEM), an end past the
   * largest file offset (EOVERFLOW), a file without an mmap op (ENODEV), then the file's own
   * answer.
   */
  mmap(length: bigint, fd?: number, offset = 0n): bigint {
    if (fd === undefined) return this.#memory.mmap(length);
    try {
      if (offset < 0n || offset > U64_MAX || (offset & PAGE_MASK) !== 0n) {
        return -BigInt(E.EINVAL);
      }
      const f = this.fget(fd);
      if (f === undefined) return -BigInt(E.EBADF);
      if (length <= 0n || length > U64_MAX) return -BigInt(E.EINVAL);
      const len = (length + PAGE_MASK) & ~PAGE_MASK;
      if (len > U64_MAX) return -BigInt(E.ENOMEM);
      if (!this.#memory.fits(len)) return -BigInt(E.ENOMEM);
      // file_mmap_ok: the mapping's last byte must stay within the largest file offset.
      if (offset + len - 1n > U64_MAX) return -BigInt(E.EOVERFLOW);
      const pgoff = offset >> 12n;
      if (f.mmap === undefined) return -BigInt(E.ENODEV);
      const r = f.mmap(pgoff, len);
      if (typeof r === "number") return BigInt(r);
      return this.#memory.mmapFile(len, { file: r.hold ?? f, pfnmap: r.pfnmap });
    } catch (e) {
      return BigInt(this.#internal(e));
    }
  }

  /** munmap(2); mlocked pages leave mm->locked_vm. */
  munmap(addr: bigint, length: bigint): number {
    const r = this.#memory.munmap(addr, length);
    if (r === 0 && this.#memory.unlockedByUnmap > 0) {
      this.#accounting.uncharge(modeIndex("mm"), this.#memory.unlockedByUnmap);
    }
    return r;
  }

  /**
   * mlock(2) (do_mlock), in its order: EPERM with RLIMIT_MEMLOCK 0 and no CAP_IPC_LOCK
   * (can_do_mlock); the range rounded out to pages in 64 bits, where a length near 2^64 wraps
   * (to 0 too: nothing to lock, success); ENOMEM when the pages not yet locked would take
   * mm->locked_vm past the limit (without CAP_IPC_LOCK); EINVAL when the rounded range wraps
   * past 2^64 (apply_vma_lock_flags); ENOMEM when part of it is not mapped. The new pages
   * count in mm->locked_vm, which legacy type1 and iommufd's MM accounting charge too.
   */
  mlock(addr: bigint, length: bigint): number {
    if (addr < 0n || length < 0n || addr > U64_MAX || length > U64_MAX) return -E.EINVAL;
    const acc = this.#accounting;
    if (!acc.privileged && acc.memlockLimit === 0n) return -E.EPERM;
    const len = ((length + (addr & PAGE_MASK) + PAGE_MASK) & ~PAGE_MASK) & U64_MAX;
    const start = addr & ~PAGE_MASK;
    const first = Number(start / PAGE_SIZE);
    const count = Number(len / PAGE_SIZE);
    if (!acc.mlockFits(count - this.#memory.mlockedPages(first, count))) return -E.ENOMEM;
    if (start + len > U64_MAX) return -E.EINVAL;
    if (len === 0n) return 0;
    const added = this.#memory.mlockPages(first, count);
    if (added === undefined) return -E.ENOMEM;
    acc.addMlocked(added);
    return 0;
  }

  /**
   * Copy user memory out. A file's mapping (a device BAR) is refused with EFAULT, as by the
   * FFI backend, which never touches one: a device access could fault the process (SIGBUS).
   */
  readMemory(addr: bigint, into: Uint8Array): number {
    if (this.#memory.touchesFile(addr, BigInt(into.length))) return -E.EFAULT;
    return this.#memory.read(addr, into) === 0 ? 0 : -E.EFAULT;
  }

  /** Copy into user memory (a file's mapping: EFAULT, as {@link readMemory}). */
  writeMemory(addr: bigint, bytes: Uint8Array): number {
    if (this.#memory.touchesFile(addr, BigInt(bytes.length))) return -E.EFAULT;
    return this.#memory.write(addr, bytes) === 0 ? 0 : -E.EFAULT;
  }

  #internal(e: unknown): number {
    this.internalErrors.push(e);
    return -E.EFAULT;
  }

  // ---- SimulatorControl ----

  /** Select a platform profile; the machine reboots with it (every file is closed). */
  setProfile(name: string): void {
    this.#profile = resolveProfile(name);
    this.reset();
  }

  /** Built-in profile names. */
  profiles(): string[] {
    return [...PROFILES.keys()];
  }

  /** The active profile's name. */
  profileName(): string {
    return this.#profile.name;
  }

  /** The active profile. */
  profile(): Profile {
    return this.#profile;
  }

  /** Answer as `version` does from now on. */
  setKernelVersion(version: string): void {
    this.#release = resolveRelease(version);
  }

  /** The modelled release. */
  kernelVersion(): string {
    return this.#release.version;
  }

  /** Every modelled release, oldest first. */
  kernelVersions(): string[] {
    return RELEASES.map((r) => r.version);
  }

  /** Serve /dev/vfio/vfio with `impl` from the next open on (open files keep theirs). */
  setContainer(impl: ContainerImpl): void {
    this.#container = resolveContainer(impl);
  }

  /** What serves /dev/vfio/vfio. */
  container(): ContainerImpl {
    return this.#container;
  }

  /** vfio_iommu_type1's `dma_entry_limit` for containers that set an IOMMU from now on. */
  setDmaEntryLimit(limit: number): void {
    this.#type1 = { ...this.#type1, dmaEntryLimit: resolveDmaEntryLimit(limit) };
  }

  /** The platform's groups and their devices, lowest group first. */
  groups(): { group: number; devices: string[]; noiommu?: boolean }[] {
    return [...this.#platform.groups.values()]
      .map((g) => ({
        group: g.id,
        devices: g.devices.map((d) => d.name),
        ...(g.noiommu ? { noiommu: true } : {}),
      }))
      .sort((a, b) => a.group - b.group);
  }

  /**
   * CONFIG_VFIO_NOIOMMU and enable_unsafe_noiommu_mode: `off` (not built, the default, as on
   * the rig's kernels), `built` (built, parameter off) or `on`. Throws for `off` while
   * no-IOMMU groups exist (a kernel without the option has none).
   */
  setNoIommu(setting: NoIommuSetting): void {
    const s = resolveNoIommu(setting);
    if (s === "off" && [...this.#platform.groups.values()].some((g) => g.noiommu)) {
      throw new RangeError("no-IOMMU groups exist: sim reset first");
    }
    this.#noiommu = s;
    this.#platform.noiommu = NOIOMMU_SETTINGS[s];
  }

  /** The no-IOMMU setting. */
  noIommu(): NoIommuSetting {
    return this.#noiommu;
  }

  /** RLIMIT_MEMLOCK in bytes. */
  setMemlockLimit(bytes: bigint): void {
    this.#accounting.memlockLimit = bytes;
  }

  /** Root (CAP_IPC_LOCK, CAP_SYS_RESOURCE, CAP_SYS_RAWIO) or not. */
  setPrivileged(privileged: boolean): void {
    this.#accounting.privileged = privileged;
  }

  /**
   * Add a device in a new group behind the IOMMU of `options.profile` (default: the active
   * profile). Returns the group number. Throws for a name already in use or an unknown
   * profile.
   */
  addDevice(name: string, options: { profile?: string; noiommu?: boolean } = {}): number {
    // A kernel device name is a sysfs directory name: not empty, no '/', and in practice
    // no blanks or control characters (0000:00:04.0).
    // deno-lint-ignore no-control-regex
    if (!/^[^\s/\x00-\x1f\x7f]+$/.test(name)) {
      throw new RangeError(
        `'${name}' cannot name a device: not empty, and no '/', blanks or control characters`,
      );
    }
    if (this.#platform.devices.has(name)) throw new RangeError(`device ${name} already exists`);
    if (options.noiommu && options.profile !== undefined) {
      throw new RangeError("a no-IOMMU device has no IOMMU, hence no profile");
    }
    // vfio_group_find_or_alloc: a device without an iommu_group gets a fake one only in
    // no-IOMMU mode; otherwise vfio-pci cannot bind it.
    if (options.noiommu && !this.#platform.noiommu.enabled) {
      throw new RangeError(
        "vfio-pci binds a device without an IOMMU only with enable_unsafe_noiommu_mode " +
          "(sim noiommu on)",
      );
    }
    const iommu = options.noiommu
      ? NO_IOMMU
      : (options.profile === undefined ? this.#profile : resolveProfile(options.profile)).iommu;
    const id = this.#platform.freeGroupId();
    const group = this.#platform.addGroup(id, iommu, options.noiommu === true);
    // QEMU's edu device, like the profiles' devices: BAR0 of 1 MiB, conventional PCI.
    this.#platform.addDevice(group, {
      name,
      reservedRegions: [],
      info: { flags: 2, numRegions: 9, numIrqs: 5 },
      bars: [{ index: 0, size: 0x100000n, mmap: true }],
      configSize: 256,
    });
    return id;
  }

  /**
   * Bind device `name` to the iommufd context open as `fd` and attach it to IOAS `ioasId`
   * (the compat IOAS when omitted, created as VFIO_GROUP_SET_CONTAINER would). The binding is
   * owned by the context, like a selftest mock device: closing the iommufd undoes it.
   */
  attachDevice(fd: number, name: string, ioasId?: number): { errno: number; ioasId?: number } {
    const f = this.fget(fd);
    if (f === undefined) return { errno: E.EBADF };
    if (!(f instanceof IommufdFile)) return { errno: E.EINVAL };
    const dev = this.#platform.devices.get(name);
    if (dev === undefined) return { errno: E.ENODEV };
    if (dev.idev !== undefined || dev.openCount > 0) return { errno: E.EBUSY };
    const ctx = f.ctx;
    if (ioasId === undefined) {
      const rc = compatIoasCreate(ctx);
      if (rc !== 0) return { errno: -rc };
      ioasId = ctx.compatIoas()!.id;
    }
    const idev = deviceBind(ctx, dev);
    if (typeof idev === "number") return { errno: -idev };
    const pt = deviceAttach(idev, ioasId);
    if (pt < 0) {
      deviceUnbind(idev);
      return { errno: -pt };
    }
    dev.idev = idev;
    return { errno: 0, ioasId };
  }

  /** The areas of an IOAS, or -errno (EBADF, EINVAL: not an iommufd, ENODEV/ENOENT). */
  mappings(fd: number, ioasId?: number): MappingRow[] | number {
    const f = this.fget(fd);
    if (f === undefined) return -E.EBADF;
    if (f instanceof VfioContainerFile && ioasId === undefined) return f.mappings();
    if (!(f instanceof IommufdFile)) return -E.EINVAL;
    const ioas = ioasId === undefined ? f.ctx.compatIoas() : f.ctx.getIoas(ioasId);
    if (ioas === undefined) return ioasId === undefined ? -E.ENODEV : -E.ENOENT;
    const rows: MappingRow[] = [];
    for (const a of ioas.iopt.areas()) {
      rows.push({ iova: a.iova, last: a.last, vaddr: a.vaddr, prot: a.prot, pinned: a.pinned });
    }
    return rows;
  }

  /** Pinned pages (PAGE_SIZE units) of the whole machine. */
  pinnedPages(): bigint {
    return pinnedPages(this.#accounting);
  }

  /** Reboots so far ({@link reset}). */
  boots = 0;

  /** Close every file, forget all memory and devices: a fresh boot (settings are kept). */
  reset(): void {
    this.boots++;
    const files = this.#files;
    this.#files = [];
    for (const f of files) {
      if (f === undefined) continue;
      try {
        f.put();
        this.#accounting.pages.flushDeferred();
      } catch (e) {
        this.internalErrors.push(e);
      }
    }
    // Mappings of files (device BARs) hold those files: let them go too.
    this.#memory.unmapAll();
    this.#memory = new UserMemory();
    this.#accounting = new PinAccounting({
      memlockLimit: this.#accounting.memlockLimit,
      privileged: this.#accounting.privileged,
    });
    this.#platform = this.#boot();
  }
}

function resolveRelease(version: string | undefined): Release {
  if (version === undefined) return DEFAULT_RELEASE;
  const r = findRelease(version);
  if (r === undefined) {
    throw new RangeError(
      `unknown kernel release ${version}; known: ${RELEASES.map((x) => x.version).join(", ")}`,
    );
  }
  return r;
}

function resolveContainer(impl: string | undefined): ContainerImpl {
  if (impl === undefined || impl === "iommufd" || impl === "legacy") return impl ?? "iommufd";
  throw new RangeError(`unknown container ${impl}; known: iommufd, legacy`);
}

function resolveNoIommu(s: string | undefined): NoIommuSetting {
  if (s === undefined) return "off";
  if (s === "off" || s === "built" || s === "on") return s;
  throw new RangeError(`unknown no-IOMMU setting ${s}; known: off, built, on`);
}

function resolveDmaEntryLimit(n: number | undefined): number {
  if (n === undefined) return DEFAULT_DMA_ENTRY_LIMIT;
  if (!Number.isInteger(n) || n < 0 || n > 0xffff_ffff) {
    throw new RangeError(`dma_entry_limit must be an unsigned 32-bit integer, not ${n}`);
  }
  return n;
}

function resolveProfile(name: string | undefined): Profile {
  const p = findProfile(name ?? DEFAULT_PROFILE);
  if (p === undefined) {
    throw new RangeError(`unknown profile ${name}; known: ${[...PROFILES.keys()].join(", ")}`);
  }
  return p;
}
