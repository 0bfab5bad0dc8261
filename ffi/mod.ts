/**
 * The kernel backend: the `Kernel` interface over real system calls, through `Deno.dlopen`
 * of glibc's libc.so.6. Importing this module loads nothing and needs no permission; only
 * {@link createFfiKernel} opens the library, and it needs `--allow-ffi`.
 *
 * @example
 * ```ts
 * import { createFfiKernel } from "./mod.ts";
 * import { VFIO_GET_API_VERSION } from "../uapi/mod.ts";
 * const kernel = createFfiKernel();
 * const fd = kernel.open("/dev/iommu");
 * if (fd >= 0) console.log(kernel.ioctl(fd, VFIO_GET_API_VERSION, 0n)); // 0
 * ```
 *
 * @module
 */

import type { Kernel } from "../uapi/kernel.ts";
import { FfiKernel } from "./_kernel.ts";
import { loadLibc } from "./_libc.ts";

export { FfiBufferError } from "./_guard.ts";

/** What {@link createFfiKernel} says when `--allow-ffi` is missing. */
export const NEEDS_FFI_MESSAGE =
  "the kernel backend needs --allow-ffi: run with deno task vfsh:kernel";

/**
 * Create the kernel backend (`name: "kernel"`, no `simulator`). Each call gets its own fd
 * table, user memory and buffers; use it from the thread that created it.
 *
 * It follows the `Kernel` conventions (results as numbers, `-errno` on failure, nothing
 * thrown for bad input) with one documented exception: `ioctl` throws
 * {@link FfiBufferError}, before sending anything, when a `Uint8Array` argument (or mapped
 * memory given by address) is shorter than what the kernel would use. What it checks:
 *
 * - **Buffers.** A `Uint8Array` is copied into a backend-owned buffer that ends exactly at a
 *   PROT_NONE guard page; its length is max(length, `argsz`/`size`, sizeof the described
 *   struct), zero-padded; after the call exactly the caller's length is copied back. By
 *   request kind (uapi `RequestDesc.arg`): `struct` needs ≥ 4 bytes and `argsz` ≤ length;
 *   `s32ptr` ≥ 4 bytes; `string` a NUL within it (or ≥ 4 KiB: the kernel reads at most a
 *   page); `none`/`value` anything. A request number vfsh does not know needs ≥ `_IOC_SIZE`
 *   bytes when it has direction bits, else ≥ 4 KiB, or ≥ 4 bytes whose first u32 (read as a
 *   size) ≤ length.
 * - **Addresses.** A `bigint` argument of a by-value request (`none`/`value`) is passed as
 *   it is. For any other request it is an address: below the first page it is passed (the
 *   kernel answers EFAULT); otherwise it must lie in memory this backend mmapped, with the
 *   same size rules measured to the end of that mapping, else `-EFAULT`.
 * - **Pointers inside structs** that the kernel writes through or pins for DMA (MAP_DMA
 *   `vaddr`, IOAS_MAP `user_va`, IOVA_RANGES `allowed_iovas`, dirty bitmaps, GET_HW_INFO
 *   `data_uptr`, the selftest ACCESS_RW `uptr`, HWPT_INVALIDATE `data_uptr`) must span only
 *   memory this backend mmapped, or lie wholly in the first page (a NULL pointer with a
 *   length: the kernel's own checks answer), else `-EFAULT` without the call.
 * - **Memory.** `readMemory`/`writeMemory` work only inside live anonymous mappings of this
 *   backend (else `-EFAULT`, nothing touched); `munmap` of anything it did not map is
 *   `-EINVAL`. `mmap` with an fd maps that file MAP_SHARED (only fds of this backend, else
 *   `-EBADF`): such a mapping, e.g. a VFIO device BAR, may be handed to the kernel (a
 *   MAP_DMA `vaddr`) but is never read or written by the backend, since touching device
 *   memory or a file past its end can kill the process (SIGBUS).
 * - **Refusals.** Each `-EFAULT` above that the backend gave without the system call is
 *   explained by `takeRefusal()` (once), which the shell prints beside the errno.
 * - **Fds.** `close` accepts only fds this backend opened or the kernel handed it
 *   (VFIO_GROUP_GET_DEVICE_FD, fault/vevent queue fds); any other fd is `-EBADF`, so Deno's
 *   own fds cannot be closed from a script.
 *
 * Throws `Deno.errors.NotCapable` ("the kernel backend needs --allow-ffi: run with deno task
 * vfsh:kernel") without `--allow-ffi`, and an Error when libc.so.6 cannot be loaded.
 */
export function createFfiKernel(): Kernel {
  if (Deno.permissions.querySync({ name: "ffi" }).state === "denied") {
    throw new Deno.errors.NotCapable(NEEDS_FFI_MESSAGE);
  }
  try {
    return new FfiKernel(loadLibc());
  } catch (e) {
    if (e instanceof Deno.errors.NotCapable || e instanceof Deno.errors.PermissionDenied) {
      throw new Deno.errors.NotCapable(NEEDS_FFI_MESSAGE, { cause: e });
    }
    const why = e instanceof Error ? e.message : String(e);
    throw new Error(`the kernel backend could not load libc.so.6 (glibc): ${why}`, { cause: e });
  }
}
