/**
 * The simulated kernel: one process's file table over the device nodes, its user memory,
 * and the simulator-only controls. Every request goes through one dispatch by file kind
 * (iommufd, VFIO group, VFIO device), because request numbers collide across kinds.
 *
 * Device nodes: `/dev/iommu` (an iommufd context, per-user accounting), `/dev/vfio/vfio`
 * (served by iommufd as with CONFIG_IOMMUFD_VFIO_CONTAINER, per-process accounting, or by the
 * legacy container and vfio_iommu_type1 when the `legacy` container is selected),
 * `/dev/vfio/N` for the platform's groups. fds are the lowest free number from 3.
 *
 * @module
 */

import { E } from "../uapi/errno.ts";
import type { IoctlArg, Kernel, MappingRow, SimulatorControl } from "../uapi/kernel.ts";
import { DEFAULT_RELEASE, findRelease, type Release, RELEASES } from "./release.ts";
import { DEFAULT_PROFILE, findProfile, type Profile, PROFILES } from "./profiles.ts";
import { UserMemory } from "./user_memory.ts";
import { PinAccounting, pinnedPages } from "./pages.ts";
import { IommufdCtx, type Machine } from "./context.ts";
import { IommufdFile } from "./vfio_iommufd.ts";
import type { SimFile } from "./file.ts";
import { type FdTable, GroupFile } from "./group.ts";
import { Platform } from "./platform.ts";
import { deviceAttach, deviceBind, deviceUnbind } from "./device.ts";
import { compatIoasCreate } from "./vfio_compat.ts";
import { VfioContainerFile } from "./vfio_container.ts";
import { DEFAULT_DMA_ENTRY_LIMIT, type Type1Machine, type Type1Params } from "./vfio_type1.ts";

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
}

const FIRST_FD = 3;
const GROUP_PATH = /^\/dev\/vfio\/(0|[1-9][0-9]{0,9})$/;

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
  /** Internal errors caught at the boundary (the Kernel contract forbids throwing). */
  internalErrors: unknown[] = [];

  constructor(options: SimKernelOptions = {}) {
    this.#release = resolveRelease(options.release);
    this.#profile = resolveProfile(options.profile);
    this.#memory = new UserMemory();
    this.#accounting = new PinAccounting();
    this.#platform = new Platform(this.#profile);
    this.#machine = this.#makeMachine();
    this.#container = resolveContainer(options.container);
    this.#type1 = {
      dmaEntryLimit: resolveDmaEntryLimit(options.dmaEntryLimit),
      allowUnsafeInterrupts: false,
    };
  }

  /** The machine as vfio_iommu_type1 sees it. */
  #type1Machine(): Type1Machine {
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
    };
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
        const group = this.#platform.groups.get(Number(m[1]));
        if (group === undefined) return -E.ENOENT;
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
      return 0;
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
      return f.ioctl(request >>> 0, arg);
    } catch (e) {
      return this.#internal(e);
    }
  }

  /** mmap(2) of anonymous read/write memory. */
  mmap(length: bigint): bigint {
    return this.#memory.mmap(length);
  }

  /** munmap(2). */
  munmap(addr: bigint, length: bigint): number {
    return this.#memory.munmap(addr, length);
  }

  /** Copy user memory out. */
  readMemory(addr: bigint, into: Uint8Array): number {
    return this.#memory.read(addr, into) === 0 ? 0 : -E.EFAULT;
  }

  /** Copy into user memory. */
  writeMemory(addr: bigint, bytes: Uint8Array): number {
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
  groups(): { group: number; devices: string[] }[] {
    return [...this.#platform.groups.values()]
      .map((g) => ({ group: g.id, devices: g.devices.map((d) => d.name) }))
      .sort((a, b) => a.group - b.group);
  }

  /** RLIMIT_MEMLOCK in bytes. */
  setMemlockLimit(bytes: bigint): void {
    this.#accounting.memlockLimit = bytes;
  }

  /** Root (CAP_IPC_LOCK, CAP_SYS_RESOURCE) or not. */
  setPrivileged(privileged: boolean): void {
    this.#accounting.privileged = privileged;
  }

  /**
   * Add a device in a new group behind the IOMMU of `options.profile` (default: the active
   * profile). Returns the group number. Throws for a name already in use or an unknown
   * profile.
   */
  addDevice(name: string, options: { profile?: string } = {}): number {
    if (this.#platform.devices.has(name)) throw new RangeError(`device ${name} already exists`);
    const profile = options.profile === undefined ? this.#profile : resolveProfile(options.profile);
    const id = this.#platform.freeGroupId();
    const group = this.#platform.addGroup(id, profile.iommu);
    this.#platform.addDevice(group, {
      name,
      reservedRegions: [],
      info: { flags: 2, numRegions: 9, numIrqs: 5 },
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

  /** Close every file, forget all memory and devices: a fresh boot (settings are kept). */
  reset(): void {
    const files = this.#files;
    this.#files = [];
    for (const f of files) {
      if (f === undefined) continue;
      try {
        f.put();
      } catch (e) {
        this.internalErrors.push(e);
      }
    }
    this.#memory = new UserMemory();
    this.#accounting = new PinAccounting({
      memlockLimit: this.#accounting.memlockLimit,
      privileged: this.#accounting.privileged,
    });
    this.#platform = new Platform(this.#profile);
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
