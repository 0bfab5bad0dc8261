/**
 * The raw C library symbols the kernel backend calls, and nothing else. Private: everything
 * here trusts its caller; the checks live in `_kernel.ts`.
 *
 * Nothing is loaded at import time: {@link loadLibc} opens libc.so.6 on first use, so that
 * importing this module needs no `--allow-ffi`.
 *
 * @module
 */

/**
 * Symbol declarations, x86_64 glibc. Notes on the choices:
 * - every symbol is `nonblocking: false`: the call runs on the JS thread, which is what lets
 *   errno be read right after it, and what makes Deno use V8 fast calls.
 * - `ioctl(int, unsigned long, ...)` is declared twice, with a `u64` third argument (a value,
 *   or an address we validated) and with a `buffer` (a backend-owned buffer). The request is
 *   the full 64-bit `unsigned long`. Both are passed in integer registers, as the variadic
 *   call would pass them; glibc reads the third argument as a `void *`.
 * - `open` gets its optional `mode` explicitly (0), so a variadic read of it is defined.
 * - addresses are `u64`/`usize` bigints, not pointer objects: they are compared and stored
 *   as numbers, and bigints keep the fast path (a `u64` given a JS number is much slower).
 */
export const SYMBOLS = {
  open: { parameters: ["buffer", "i32", "u32"], result: "i32", nonblocking: false },
  close: { parameters: ["i32"], result: "i32", nonblocking: false },
  ioctl_val: {
    name: "ioctl",
    parameters: ["i32", "u64", "u64"],
    result: "i32",
    nonblocking: false,
  },
  ioctl_buf: {
    name: "ioctl",
    parameters: ["i32", "u64", "buffer"],
    result: "i32",
    nonblocking: false,
  },
  mmap: {
    parameters: ["u64", "usize", "i32", "i32", "i32", "i64"],
    result: "usize",
    nonblocking: false,
  },
  munmap: { parameters: ["u64", "usize"], result: "i32", nonblocking: false },
  mlock: { parameters: ["u64", "usize"], result: "i32", nonblocking: false },
  mprotect: { parameters: ["u64", "usize", "i32"], result: "i32", nonblocking: false },
  sysconf: { parameters: ["i32"], result: "i64", nonblocking: false },
  memfd_create: { parameters: ["buffer", "u32"], result: "i32", nonblocking: false },
  ftruncate: { parameters: ["i32", "i64"], result: "i32", nonblocking: false },
  read: { parameters: ["i32", "buffer", "usize"], result: "isize", nonblocking: false },
  __errno_location: { parameters: [], result: "pointer", nonblocking: false },
} as const satisfies Deno.ForeignLibraryInterface;

/** The callable symbols, typed from {@link SYMBOLS}. */
export type LibcSymbols = Deno.StaticForeignLibraryInterface<typeof SYMBOLS>;

/** The loaded C library as the backend uses it. */
export interface Libc {
  /** The symbols of {@link SYMBOLS}. */
  readonly symbols: LibcSymbols;
  /**
   * This thread's `errno`, as a live one-element view of the C library's thread-local
   * variable. Read it right after the failing call: no other FFI call may run in between.
   */
  readonly errno: Int32Array;
  /** `sysconf(_SC_PAGESIZE)`. */
  readonly pageSize: number;
}

// Values from the x86_64 Linux headers.
/** open(2): read/write. */
export const O_RDWR = 0o2;
/** open(2): close on exec, so a child process never inherits a VFIO fd. */
export const O_CLOEXEC = 0o2000000;
/** mmap(2)/mprotect(2): no access (guard pages). */
export const PROT_NONE = 0;
/** mmap(2)/mprotect(2): readable. */
export const PROT_READ = 1;
/** mmap(2)/mprotect(2): writable. */
export const PROT_WRITE = 2;
/** mmap(2): shared mapping (what a device fd needs: vfio-pci refuses private ones). */
export const MAP_SHARED = 0x01;
/** mmap(2): private copy-on-write mapping. */
export const MAP_PRIVATE = 0x02;
/** mmap(2): not backed by a file. */
export const MAP_ANONYMOUS = 0x20;
/** `(void *)-1`, what mmap returns on failure. */
export const MAP_FAILED = 0xffff_ffff_ffff_ffffn;
const _SC_PAGESIZE = 30;

let loaded: Libc | undefined;

/**
 * Open libc.so.6 (once per thread's module instance) and locate this thread's errno.
 * Throws what `Deno.dlopen` throws: `Deno.errors.NotCapable` without `--allow-ffi`, an
 * Error when there is no glibc.
 */
export function loadLibc(): Libc {
  if (loaded) return loaded;
  const lib = Deno.dlopen("libc.so.6", SYMBOLS);
  const symbols = lib.symbols;
  // errno is thread-local; its address is fixed for this thread (the JS thread, since every
  // symbol is synchronous), so one view serves every later read without another FFI call.
  const where = symbols.__errno_location();
  if (where === null) throw new Error("__errno_location() returned NULL");
  const errno = new Int32Array(Deno.UnsafePointerView.getArrayBuffer(where, 4));
  const pageSize = Number(symbols.sysconf(_SC_PAGESIZE));
  loaded = Object.freeze({ symbols, errno, pageSize: pageSize > 0 ? pageSize : 4096 });
  return loaded;
}
