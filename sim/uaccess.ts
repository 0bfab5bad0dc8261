/**
 * User-space access for ioctl handlers: the simulator's copy_from_user / copy_to_user /
 * get_user / check_zeroed_user. An ioctl argument is either a `Uint8Array` (a pointer to that
 * buffer; bytes past its end are unmapped memory) or a `bigint` address in simulated user
 * memory. Handlers see one interface for both.
 *
 * For a buffer argument the handler's kernel-side view of the struct IS the caller's buffer:
 * inputs are read from it, and outputs are stored into it only at the point the kernel copies
 * its struct back. For an address the struct is copied into a scratch buffer and copied back
 * on respond. One `UserArg` is reused for every call, so the hot path allocates nothing but
 * the bigints it reads.
 *
 * @module
 */

import type { IoctlArg } from "../uapi/kernel.ts";
import { E } from "../uapi/errno.ts";

/** What the simulator needs from user memory. Errnos are positive, 0 for success. */
export interface UserMemoryAccess {
  read(addr: bigint, into: Uint8Array): number;
  write(addr: bigint, bytes: Uint8Array): number;
}

const U64_LIMIT = 1n << 64n;
/** Argument buffers whose DataView {@link UserArg} keeps. */
const VIEW_CACHE = 4;

/** Read `into.length` bytes at `addr` + `off` of user memory; false when any byte faults. */
export function userRead(mem: UserMemoryAccess, addr: bigint, into: Uint8Array): boolean {
  if (addr <= 0n || addr + BigInt(into.length) > U64_LIMIT) return into.length === 0;
  return mem.read(addr, into) === 0;
}

/**
 * copy_to_user of `bytes` at `addr`: false when any byte faults. As the kernel's copy does,
 * the bytes before the first unwritable one are written all the same.
 */
export function userWrite(mem: UserMemoryAccess, addr: bigint, bytes: Uint8Array): boolean {
  if (addr <= 0n || addr + BigInt(bytes.length) > U64_LIMIT) return bytes.length === 0;
  if (mem.write(addr, bytes) === 0) return true;
  // Writability only shrinks with the length: find the longest writable prefix by halving.
  // A write is all or nothing, so the probe that found the longest one has written it.
  let lo = 0, hi = bytes.length - 1;
  while (lo < hi) {
    const mid = (lo + hi + 1) >>> 1;
    if (mem.write(addr, bytes.subarray(0, mid)) === 0) lo = mid;
    else hi = mid - 1;
  }
  return false;
}

/** The reusable argument accessor. */
export class UserArg {
  /** Kernel view of the struct (valid after a successful {@link copyIn}). */
  k: Uint8Array = new Uint8Array(0);
  /** DataView over {@link k}. */
  kv: DataView = new DataView(new ArrayBuffer(0));
  /** True when the argument is a buffer, false when it is a user-memory address. */
  direct = true;
  /** The address in pointer mode. */
  addr = 0n;

  #scratch = new Uint8Array(256);
  #scratchView = new DataView(this.#scratch.buffer);
  /**
   * The last few argument buffers and their views: a caller that alternates a handful of
   * preallocated structs (a map and an unmap, say) gets no new DataView per call.
   */
  #bufs: (Uint8Array | undefined)[] = [undefined, undefined, undefined, undefined];
  #views: DataView[] = [this.#scratchView, this.#scratchView, this.#scratchView, this.#scratchView];
  #victim = 0;
  #chunk = new Uint8Array(4096);

  constructor(readonly memory: UserMemoryAccess) {}

  /** Point at the ioctl's argument. */
  set(arg: IoctlArg): void {
    if (typeof arg === "bigint") {
      this.direct = false;
      this.addr = BigInt.asUintN(64, arg);
      this.k = this.#scratch;
      this.kv = this.#scratchView;
      return;
    }
    this.direct = true;
    this.addr = 0n;
    this.k = arg;
    const bufs = this.#bufs;
    for (let i = 0; i < VIEW_CACHE; i++) {
      if (bufs[i] === arg) {
        this.kv = this.#views[i];
        return;
      }
    }
    const v = new DataView(arg.buffer, arg.byteOffset, arg.byteLength);
    const j = this.#victim;
    this.#victim = (j + 1) % VIEW_CACHE;
    bufs[j] = arg;
    this.#views[j] = v;
    this.kv = v;
  }

  /**
   * copy_from_user of the first `len` bytes into the kernel view. False on a fault (the buffer
   * is shorter, or the address range is not mapped).
   */
  copyIn(len: number): boolean {
    if (this.direct) return this.k.length >= len;
    if (len > this.#scratch.length) this.#grow(len);
    return userRead(this.memory, this.addr, this.#scratch.subarray(0, len));
  }

  /**
   * check_zeroed_user over bytes [from, to): 0 when all are zero, E2BIG when a non-zero byte
   * comes before any unreadable one, EFAULT when the range runs into unreadable memory first.
   */
  checkZeroed(from: number, to: number): number {
    if (this.direct) {
      const b = this.k;
      const end = Math.min(to, b.length);
      for (let i = from; i < end; i++) if (b[i] !== 0) return E.E2BIG;
      return end < to ? E.EFAULT : 0;
    }
    for (let off = from; off < to;) {
      const n = Math.min(this.#chunk.length, to - off);
      const piece = this.#chunk.subarray(0, n);
      if (!userRead(this.memory, this.addr + BigInt(off), piece)) {
        // Bytes before the fault still count: look at them one by one.
        for (let i = 0; i < n; i++) {
          const one = this.#chunk.subarray(0, 1);
          if (!userRead(this.memory, this.addr + BigInt(off + i), one)) return E.EFAULT;
          if (one[0] !== 0) return E.E2BIG;
        }
        return E.EFAULT;
      }
      for (let i = 0; i < n; i++) if (piece[i] !== 0) return E.E2BIG;
      off += n;
    }
    return 0;
  }

  /**
   * copy_to_user of the kernel view's first `len` bytes back to the argument (the kernel's
   * respond), as far as it can be written. In buffer mode the view is the caller's buffer,
   * so only the bounds are checked.
   */
  respond(len: number): boolean {
    if (this.direct) return this.k.length >= len;
    return userWrite(this.memory, this.addr, this.#scratch.subarray(0, len));
  }

  /**
   * copy_to_user of `src` at byte offset `off` of the argument. As the kernel's copy does,
   * bytes before the first unwritable one are written; the result is false when not all were.
   */
  writeAt(off: number, src: Uint8Array): boolean {
    if (this.direct) {
      const b = this.k;
      const room = b.length - off;
      if (room >= src.length) {
        b.set(src, off);
        return true;
      }
      if (room > 0) b.set(src.subarray(0, room), off);
      return false;
    }
    return userWrite(this.memory, this.addr + BigInt(off), src);
  }

  #grow(len: number): void {
    let n = this.#scratch.length;
    while (n < len) n *= 2;
    this.#scratch = new Uint8Array(n);
    this.#scratchView = new DataView(this.#scratch.buffer);
    if (!this.direct) {
      this.k = this.#scratch;
      this.kv = this.#scratchView;
    }
  }
}

/**
 * check_zeroed_user over [addr, addr + n): 0, E2BIG for a non-zero byte, EFAULT for an
 * unreadable one (whichever comes first).
 */
function checkZeroedUser(u: UserArg, addr: bigint, n: number): number {
  const chunk = new Uint8Array(Math.min(n, 4096));
  for (let off = 0; off < n;) {
    const len = Math.min(chunk.length, n - off);
    const piece = chunk.subarray(0, len);
    if (!userRead(u.memory, addr + BigInt(off), piece)) {
      const one = chunk.subarray(0, 1);
      for (let i = 0; i < len; i++) {
        if (!userRead(u.memory, addr + BigInt(off + i), one)) return E.EFAULT;
        if (one[0] !== 0) return E.E2BIG;
      }
      return E.EFAULT;
    }
    if (piece.some((b) => b !== 0)) return E.E2BIG;
    off += len;
  }
  return 0;
}

/**
 * copy_struct_from_user of a driver's data struct of `ksize` bytes from [uptr, uptr + len):
 * the bytes past ksize must be zero (E2BIG/EFAULT), then min(len, ksize) bytes are read
 * (EFAULT). Returns the kernel's copy (zero-extended) or -errno.
 */
export function copyStructFromUser(
  u: UserArg,
  uptr: bigint,
  len: number,
  ksize: number,
): Uint8Array | number {
  if (len > ksize) {
    const e = checkZeroedUser(u, uptr + BigInt(ksize), len - ksize);
    if (e !== 0) return -e;
  }
  const out = new Uint8Array(ksize);
  if (!userRead(u.memory, uptr, out.subarray(0, Math.min(len, ksize)))) return -E.EFAULT;
  return out;
}
