/**
 * The `Kernel` boundary: the one interface both backends implement and the only way a
 * command reaches the kernel side. It is shaped like the system calls a C program makes.
 *
 * Conventions, chosen so the hot path allocates nothing:
 * - calls that return an `int` in C return a `number`: the non-negative result on success,
 *   or `-errno` on failure (the kernel's own convention). `open` returns the new fd.
 * - `mmap` returns the address as a `bigint`, or `-errno` as a negative `bigint`.
 * - none of these methods throw for anything the caller passes; a bad fd, a bad request
 *   number, a short buffer: each is an errno, exactly as the real kernel would answer.
 *
 * @module
 */

/**
 * The third argument of `ioctl`.
 *
 * - a `Uint8Array`: a pointer to that buffer. The kernel reads from it and writes back into
 *   it in place, never past its end; the backend refuses (`-EFAULT` from the simulator, an
 *   `FfiBufferError` thrown before the call from the FFI backend) if the `argsz`/`size`
 *   written in its first `u32` is larger than the buffer.
 * - a `bigint`: the raw `unsigned long` argument: a value for by-value ioctls
 *   (`VFIO_CHECK_EXTENSION`, `VFIO_SET_IOMMU`), or an address in user memory (for example
 *   one returned by `mmap`), `0n` being the NULL pointer.
 */
export type IoctlArg = Uint8Array | bigint;

/** Which kind of backend answers: the in-process model or real system calls. */
export type BackendName = "sim" | "kernel";

/** One area of an IOAS as the simulator holds it (the `mappings` command). */
export interface MappingRow {
  /** First IOVA of the area. */
  iova: bigint;
  /** Last IOVA of the area (inclusive). */
  last: bigint;
  /** User virtual address backing the first byte. */
  vaddr: bigint;
  /** IOMMU_READ (1) | IOMMU_WRITE (2). */
  prot: number;
  /** Whether the pages behind the area are pinned now (a domain or an access needs them). */
  pinned: boolean;
}

/**
 * Controls that only the simulator has. A command that needs one checks
 * `kernel.simulator` and, when it is absent, tells the user the command is simulator-only.
 */
export interface SimulatorControl {
  /** Select the platform profile (page sizes, aperture, reserved regions, devices). */
  setProfile(name: string): void;
  /** Names of the known platform profiles. */
  profiles(): string[];
  /** The name of the profile in use. */
  profileName(): string;
  /** Answer as this kernel release does, e.g. `"6.12"` or `"6.12.117"`. */
  setKernelVersion(version: string): void;
  /** The release being modelled, as a string. */
  kernelVersion(): string;
  /** Known releases, oldest first. */
  kernelVersions(): string[];
  /** Set RLIMIT_MEMLOCK in bytes (`2n ** 64n - 1n` for unlimited). */
  setMemlockLimit(bytes: bigint): void;
  /**
   * Run as root (CAP_IPC_LOCK, CAP_SYS_RESOURCE, CAP_SYS_RAWIO: pins are not charged to
   * RLIMIT_MEMLOCK, IOMMU_OPTION RLIMIT_MODE may be set), as the kernel lane's guest does
   * (the default), or as an unprivileged user with access to the device nodes.
   */
  setPrivileged(privileged: boolean): void;
  /**
   * Add a mock device (and its group) to the platform; returns the group number. With
   * `noiommu` the device has no IOMMU and vfio-pci gives it a no-IOMMU group
   * (/dev/vfio/noiommu-N; needs {@link setNoIommu} `on`).
   */
  addDevice(name: string, options?: { profile?: string; noiommu?: boolean }): number;
  /** Attach a mock device to an IOAS of the iommufd context open as `fd`, as group attach does. */
  attachDevice(fd: number, name: string, ioasId?: number): { errno: number; ioasId?: number };
  /** The areas of IOAS `ioasId` (the compat IOAS when omitted) in the context open as `fd`. */
  mappings(fd: number, ioasId?: number): MappingRow[] | number;
  /** Total pinned pages (PAGE_SIZE units) across all user memory. */
  pinnedPages(): bigint;
  /** Drop every open file, object and mapping: a freshly booted simulated machine. */
  reset(): void;
  /**
   * How many times the machine was rebooted ({@link reset}, {@link setProfile}): an address or
   * fd remembered from an earlier boot means nothing (the same numbers are handed out again).
   */
  readonly boots: number;
  /**
   * What serves /dev/vfio/vfio from the next open on: `iommufd` (CONFIG_IOMMUFD_VFIO_CONTAINER)
   * or `legacy` (drivers/vfio/container.c with vfio_iommu_type1); /dev/iommu is iommufd either way.
   */
  setContainer?(impl: "iommufd" | "legacy"): void;
  /** What serves /dev/vfio/vfio. */
  container?(): "iommufd" | "legacy";
  /** vfio_iommu_type1's `dma_entry_limit` module parameter (mappings per legacy container). */
  setDmaEntryLimit?(limit: number): void;
  /** The platform's VFIO groups and their devices (`noiommu`: /dev/vfio/noiommu-N). */
  groups?(): { group: number; devices: string[]; noiommu?: boolean }[];
  /**
   * VFIO no-IOMMU support: `off` (CONFIG_VFIO_NOIOMMU unset, the default, as on the rig's
   * kernels), `built` (set, vfio's enable_unsafe_noiommu_mode parameter off) or `on` (both).
   */
  setNoIommu?(setting: "off" | "built" | "on"): void;
  /** The no-IOMMU setting. */
  noIommu?(): "off" | "built" | "on";
}

/**
 * Thrown by a backend's `ioctl`, before anything is sent, when it will not make the call: the
 * kernel backend's buffer guard, for a buffer shorter than what the kernel would touch. Its
 * message says why; the shell reports it as the command's error, not as a broken command.
 */
export class IoctlRefused extends Error {
  constructor(message: string) {
    super(message);
    this.name = "IoctlRefused";
  }
}

/** The system-call surface every backend implements. */
export interface Kernel {
  /** `"sim"` or `"kernel"`, for the prompt and for reports. */
  readonly name: BackendName;
  /** Present only on the simulator. */
  readonly simulator?: SimulatorControl;

  /** open(2) with O_RDWR | O_CLOEXEC. Returns the fd or `-errno` (ENOENT for unknown paths). */
  open(path: string): number;
  /** close(2). Returns 0 or `-errno` (EBADF). */
  close(fd: number): number;
  /**
   * ioctl(2). Returns the non-negative return value or `-errno`. See {@link IoctlArg} for
   * how the argument is passed. May throw {@link IoctlRefused} (nothing was sent).
   */
  ioctl(fd: number, request: number, arg: IoctlArg): number;
  /**
   * mmap(2) of `length` bytes, PROT_READ | PROT_WRITE: fresh anonymous private memory, or,
   * with `fd`, a MAP_SHARED mapping of that file from byte `offset` (default 0), e.g. a
   * region of a VFIO device fd (region N starts at N << 40 in vfio-pci). Returns the address
   * or `-errno` as a negative bigint. A file's mapping is for the kernel (a DMA target):
   * {@link readMemory} and {@link writeMemory} refuse it.
   */
  mmap(length: bigint, fd?: number, offset?: bigint): bigint;
  /** munmap(2). Returns 0 or `-errno`. */
  munmap(addr: bigint, length: bigint): number;
  /**
   * mlock(2) of memory this backend mapped: the pages count in the process's locked_vm,
   * which legacy type1 and iommufd's per-process (MM) accounting also charge. Returns 0 or
   * `-errno` (ENOMEM past RLIMIT_MEMLOCK without CAP_IPC_LOCK, or for an unmapped range).
   */
  mlock?(addr: bigint, length: bigint): number;
  /**
   * Copy user memory at `addr` into `into` (its whole length). Returns 0, or `-EFAULT` when
   * any byte lies outside anonymous memory this backend mapped: the FFI backend never touches
   * an address it did not map itself, nor a file's mapping (device memory may fault).
   */
  readMemory(addr: bigint, into: Uint8Array): number;
  /** Copy `bytes` into user memory at `addr`. Returns 0 or `-EFAULT` as {@link readMemory}. */
  writeMemory(addr: bigint, bytes: Uint8Array): number;
  /**
   * memfd_create(2) with no flags, then ftruncate(2) to `size` bytes: a shmem file, as
   * IOMMU_IOAS_MAP_FILE wants. Returns the fd or `-errno` (of whichever call failed; the fd
   * is closed again when ftruncate fails).
   */
  memfdCreate?(name: string, size: bigint): number;
  /**
   * read(2) of up to `into.length` bytes from `fd` (an event queue's fd, a memfd). Returns
   * the bytes read or `-errno`; never blocks on the simulator.
   */
  read?(fd: number, into: Uint8Array): number;
  /**
   * Why the backend itself answered a call with `-errno` since this was last asked, without
   * making the system call (the FFI backend's memory guard: a `vaddr` it did not map), or
   * undefined. Asking clears it. The shell shows it next to the errno, which would otherwise
   * read as the kernel's answer.
   */
  takeRefusal?(): string | undefined;
}
