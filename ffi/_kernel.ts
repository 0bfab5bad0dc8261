/**
 * The `Kernel` implemented with real system calls through libc. Private: `mod.ts` builds it
 * after the permission check; tests build it over a libc they control.
 *
 * @module
 */

import { E } from "../uapi/errno.ts";
import type { IoctlArg, Kernel } from "../uapi/kernel.ts";
import { GuardedArena } from "./_arena.ts";
import { describeRequest, planBuffer, policyOf, strayPointer } from "./_guard.ts";
import type { ArgPolicy } from "./_guard.ts";
import {
  MAP_ANONYMOUS,
  MAP_FAILED,
  MAP_PRIVATE,
  MAP_SHARED,
  O_CLOEXEC,
  O_RDWR,
  PROT_READ,
  PROT_WRITE,
} from "./_libc.ts";
import type { Libc, LibcSymbols } from "./_libc.ts";
import { RangeSet } from "./_ranges.ts";

const U64_MAX = 0xffff_ffff_ffff_ffffn;
/** Longest view made over user memory to check an argument passed by address. */
const MAX_ARG_VIEW = 0x1_0000_0000n;
const EIO = 5;
const hex = (n: bigint) => `0x${n.toString(16)}`;
/** `0xADDR+0xLEN` of a refused range (a caller may pass a non-bigint address: shown as is). */
const span = (addr: unknown, length: bigint) =>
  typeof addr === "bigint" ? `${hex(addr)}+${hex(length)}` : String(addr);
/** The end of a refusal: what the guard checks. */
const OUTSIDE = "lies outside memory this shell mapped";

/** The FFI backend. Every public method follows the `Kernel` conventions. */
export class FfiKernel implements Kernel {
  /** Always `"kernel"`. */
  readonly name = "kernel" as const;
  readonly #sym: LibcSymbols;
  readonly #errno: Int32Array;
  readonly #page: bigint;
  readonly #arena: GuardedArena;
  /**
   * Anonymous user memory: what mmap() gave and munmap() has not taken back. The only memory
   * this backend reads or writes itself.
   */
  readonly #mapped = new RangeSet();
  /**
   * Everything mmap() gave, files' mappings too: what munmap() may take back and what the
   * kernel may be handed as a DMA target. A file's mapping is never touched here: a device
   * BAR faults (SIGBUS) while its memory decoding is off, a file past its end always does.
   */
  readonly #owned = new RangeSet();
  /** Fds this backend opened or the kernel handed it; only these may be closed. */
  readonly #fds = new Set<number>();
  readonly #encoder = new TextEncoder();
  readonly #covers = (addr: bigint, length: bigint) => this.#owned.covers(addr, length);
  /**
   * Where a struct's user pointer may point: memory this backend mapped, or a span within the
   * first page, where nothing is ever mapped (a NULL data pointer with a length is how callers
   * meet the kernel's own "no data" checks; it answers EINVAL or EFAULT itself).
   */
  readonly #pointable = (addr: bigint, length: bigint) =>
    addr + length <= this.#page || this.#covers(addr, length);
  #last: ArgPolicy = policyOf(0);
  /** Why this backend last answered `-errno` without the system call; see takeRefusal. */
  #refusal: string | undefined;

  /** A backend over `libc` (the real one, or one a test controls). */
  constructor(libc: Libc) {
    this.#sym = libc.symbols;
    this.#errno = libc.errno;
    this.#page = BigInt(libc.pageSize);
    this.#arena = new GuardedArena(libc);
  }

  /** -errno of the call that just failed (read before anything else runs). */
  #fail(): number {
    const e = this.#errno[0];
    return e > 0 ? -e : -EIO;
  }

  open(path: string): number {
    // A NUL would silently name a different (shorter) path.
    if (typeof path !== "string" || path.includes("\0")) return -E.EINVAL;
    const fd = this.#sym.open(this.#encoder.encode(path + "\0"), O_RDWR | O_CLOEXEC, 0);
    if (fd < 0) return this.#fail();
    this.#fds.add(fd);
    return fd;
  }

  close(fd: number): number {
    // Closing an fd Deno itself holds would let a later open reuse its number under it.
    if (!this.#fds.delete(fd)) return -E.EBADF;
    const r = this.#sym.close(fd);
    return r < 0 ? this.#fail() : r;
  }

  ioctl(fd: number, request: number, arg: IoctlArg): number {
    if ((fd | 0) !== fd) return -E.EBADF;
    // The kernel takes the request as `unsigned int`: reduce it the way C's cast would.
    const req = request >>> 0;
    if (req !== request && !Number.isSafeInteger(request)) return -E.EINVAL;
    // Scripts and benchmarks repeat one request: skip the table lookup for it.
    let policy = this.#last;
    if (policy.request !== req) this.#last = policy = policyOf(req);
    if (typeof arg === "bigint") {
      if (policy.byValue) {
        const value = arg >= 0n && arg <= U64_MAX ? arg : BigInt.asUintN(64, arg);
        const r = this.#sym.ioctl_val(fd, policy.requestBig, value);
        return r < 0 ? this.#fail() : r;
      }
      return this.#ioctlAddress(fd, policy, BigInt.asUintN(64, arg));
    }
    if (arg instanceof Uint8Array) return this.#ioctlBuffer(fd, policy, arg);
    return -E.EFAULT;
  }

  /** The argument is a caller's buffer: send a backend-owned copy that ends at a guard page. */
  #ioctlBuffer(fd: number, policy: ArgPolicy, bytes: Uint8Array): number {
    const len = bytes.length;
    // At least one byte: Deno passes an empty view as the start of its buffer, not its end.
    const n = Math.max(planBuffer(policy, bytes), 1);
    const owned = this.#arena.take(n);
    if (!owned) return -E.ENOMEM;
    owned.set(bytes);
    if (n > len) owned.fill(0, len);
    if (policy.pointers.length && this.#stray(policy, owned)) return -E.EFAULT;
    const r = this.#sym.ioctl_buf(fd, policy.requestBig, owned);
    const e = r < 0 ? this.#errno[0] : 0;
    // Only the caller's length comes back, whatever the kernel wrote past it.
    bytes.set(owned.subarray(0, len));
    if (r < 0) return e > 0 ? -e : -EIO;
    this.#adoptFds(policy, owned, r);
    return r;
  }

  /**
   * The argument is an address. NULL and the first page are passed as they are (nothing is
   * ever mapped there: the kernel answers EFAULT itself). Anything else must lie in memory
   * this backend mapped, with room for what the request uses; else -EFAULT, as readMemory.
   */
  #ioctlAddress(fd: number, policy: ArgPolicy, addr: bigint): number {
    if (addr >= this.#page) {
      const remaining = this.#mapped.remainingAt(addr);
      if (remaining === 0n) {
        const what = `${describeRequest(policy.request)} argument ${hex(addr)}`;
        return this.#refuse(`not sent: ${what} ${OUTSIDE}`, -E.EFAULT);
      }
      const view = this.#view(addr, remaining < MAX_ARG_VIEW ? remaining : MAX_ARG_VIEW);
      planBuffer(policy, view);
      if (policy.pointers.length && this.#stray(policy, view)) return -E.EFAULT;
      const r = this.#sym.ioctl_val(fd, policy.requestBig, addr);
      if (r < 0) return this.#fail();
      this.#adoptFds(policy, view, r);
      return r;
    }
    const r = this.#sym.ioctl_val(fd, policy.requestBig, addr);
    if (r < 0) return this.#fail();
    if (policy.fdReturn) this.#fds.add(r);
    return r;
  }

  /** Whether a pointer in the argument leaves the memory this backend mapped (and why). */
  #stray(policy: ArgPolicy, bytes: Uint8Array): boolean {
    const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
    const p = strayPointer(policy, view, this.#pointable);
    if (p === undefined) return false;
    const at = view.getBigUint64(p.at, true);
    const what = `${describeRequest(policy.request)} ${p.field} ${span(at, p.length(view)!)}`;
    this.#refuse(`not sent: ${what} ${OUTSIDE}`, -E.EFAULT);
    return true;
  }

  /** Remember `why` this backend answered by itself, and answer `ret`. */
  #refuse(why: string, ret: number): number {
    this.#refusal = why;
    return ret;
  }

  takeRefusal(): string | undefined {
    const r = this.#refusal;
    this.#refusal = undefined;
    return r;
  }

  /** Remember fds the kernel just created for us, so that close() accepts them. */
  #adoptFds(policy: ArgPolicy, arg: Uint8Array, r: number): void {
    if (policy.fdReturn) this.#fds.add(r);
    if (!policy.fdOut.length || arg.length < 4) return;
    const view = new DataView(arg.buffer, arg.byteOffset, arg.byteLength);
    const argsz = view.getUint32(0, true);
    for (const at of policy.fdOut) {
      if (at + 4 <= argsz && at + 4 <= arg.length) {
        const fd = view.getInt32(at, true);
        if (fd >= 0) this.#fds.add(fd);
      }
    }
  }

  /** A view of `length` bytes of user memory at `addr` (already checked to be ours). */
  #view(addr: bigint, length: bigint): Uint8Array {
    const ptr = Deno.UnsafePointer.create(addr)!;
    return new Uint8Array(Deno.UnsafePointerView.getArrayBuffer(ptr, Number(length)));
  }

  mmap(length: bigint, fd?: number, offset?: bigint): bigint {
    if (typeof length !== "bigint" || length === 0n) return BigInt(-E.EINVAL);
    // C would see a negative or oversized length as a huge size_t: no memory for that.
    if (length < 0n || length > U64_MAX - this.#page) return BigInt(-E.ENOMEM);
    if (fd !== undefined) return this.#mmapFile(length, fd, offset ?? 0n);
    const addr = BigInt(
      this.#sym.mmap(0n, length, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0n),
    );
    if (addr === MAP_FAILED) return BigInt(this.#fail());
    this.#mapped.add(addr, addr + this.#roundUp(length));
    this.#owned.add(addr, addr + this.#roundUp(length));
    return addr;
  }

  /**
   * A shared read/write mapping of an fd this backend holds (others: EBADF, as Deno's own
   * fds are not the script's). The kernel picks the address, so nothing of Deno's can be
   * replaced; the range is remembered as owned but never touched.
   */
  #mmapFile(length: bigint, fd: number, offset: bigint): bigint {
    if ((fd | 0) !== fd || !this.#fds.has(fd)) return BigInt(-E.EBADF);
    // The offset is an off_t: C would pass a value past 2^63 as a negative one (EINVAL).
    if (typeof offset !== "bigint" || offset < 0n || offset > U64_MAX) return BigInt(-E.EINVAL);
    const off = BigInt.asIntN(64, offset);
    const addr = BigInt(
      this.#sym.mmap(0n, length, PROT_READ | PROT_WRITE, MAP_SHARED, fd, off),
    );
    if (addr === MAP_FAILED) return BigInt(this.#fail());
    this.#owned.add(addr, addr + this.#roundUp(length));
    return addr;
  }

  mlock(addr: bigint, length: bigint): number {
    if (typeof addr !== "bigint" || typeof length !== "bigint") return -E.EINVAL;
    if (length < 0n || addr < 0n) return -E.EINVAL;
    // Only our own mappings: locking Deno's memory is not ours to do (an empty range locks
    // nothing, and the kernel answers it without looking at the memory).
    if (length > 0n && !this.#owned.covers(addr, length)) return -E.ENOMEM;
    return this.#sym.mlock(addr, length) < 0 ? this.#fail() : 0;
  }

  munmap(addr: bigint, length: bigint): number {
    if (typeof addr !== "bigint" || typeof length !== "bigint") return -E.EINVAL;
    if (length <= 0n || addr < 0n || addr % this.#page !== 0n) return -E.EINVAL;
    const end = addr + this.#roundUp(length);
    // Only our own mappings: anything else may be memory Deno is using.
    if (!this.#owned.covers(addr, end - addr)) return -E.EINVAL;
    const r = this.#sym.munmap(addr, length);
    if (r < 0) return this.#fail();
    this.#owned.remove(addr, end);
    this.#mapped.subtract(addr, end);
    return 0;
  }

  readMemory(addr: bigint, into: Uint8Array): number {
    if (into.length === 0) return 0;
    if (typeof addr !== "bigint" || !this.#mapped.covers(addr, BigInt(into.length))) {
      return this.#refuse(`not read: ${span(addr, BigInt(into.length))} ${OUTSIDE}`, -E.EFAULT);
    }
    into.set(this.#view(addr, BigInt(into.length)));
    return 0;
  }

  writeMemory(addr: bigint, bytes: Uint8Array): number {
    if (bytes.length === 0) return 0;
    if (typeof addr !== "bigint" || !this.#mapped.covers(addr, BigInt(bytes.length))) {
      return this.#refuse(`not written: ${span(addr, BigInt(bytes.length))} ${OUTSIDE}`, -E.EFAULT);
    }
    this.#view(addr, BigInt(bytes.length)).set(bytes);
    return 0;
  }

  memfdCreate(name: string, size: bigint): number {
    if (typeof name !== "string" || typeof size !== "bigint") return -E.EINVAL;
    // The C string ends at the first NUL, as memfd_create(2) would read it.
    const fd = this.#sym.memfd_create(this.#encoder.encode(name.split("\0")[0] + "\0"), 0);
    if (fd < 0) return this.#fail();
    if (this.#sym.ftruncate(fd, size) < 0) {
      const e = this.#fail();
      this.#sym.close(fd);
      return e;
    }
    this.#fds.add(fd);
    return fd;
  }

  read(fd: number, into: Uint8Array): number {
    // Only fds this backend owns: another may be one Deno itself is reading.
    if (!this.#fds.has(fd)) return -E.EBADF;
    // At least one byte: Deno passes an empty view as the start of its buffer, not its end.
    const buf = into.length > 0 ? into : new Uint8Array(1);
    const r = Number(this.#sym.read(fd, buf, BigInt(into.length)));
    return r < 0 ? this.#fail() : r;
  }

  #roundUp(length: bigint): bigint {
    return (length + this.#page - 1n) / this.#page * this.#page;
  }
}
