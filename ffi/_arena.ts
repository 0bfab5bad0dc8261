/**
 * The memory ioctl buffers are sent from: an mmapped region owned by the backend, followed
 * by a PROT_NONE guard page. Each call's buffer is placed so that it ends exactly where the
 * guard page begins, so a kernel that writes (or reads) one byte too many faults with EFAULT
 * instead of reaching memory Deno owns.
 *
 * @module
 */

import {
  MAP_ANONYMOUS,
  MAP_FAILED,
  MAP_PRIVATE,
  PROT_NONE,
  PROT_READ,
  PROT_WRITE,
} from "./_libc.ts";
import type { Libc } from "./_libc.ts";

/** Smallest data area, in bytes (the area grows to fit larger arguments). */
const INITIAL_SIZE = 16384;

/** A region of `size` read/write bytes at `base`, with a guard page at `base + size`. */
interface Region {
  base: bigint;
  size: number;
  bytes: Uint8Array;
}

/** Backend-owned buffers that end at a guard page. */
export class GuardedArena {
  readonly #libc: Libc;
  #region: Region | undefined;

  /** Nothing is mapped until the first {@link take}. */
  constructor(libc: Libc) {
    this.#libc = libc;
  }

  /** Address of the guard page that every buffer from {@link take} ends at (0n before the first). */
  get guardAddress(): bigint {
    return this.#region ? this.#region.base + BigInt(this.#region.size) : 0n;
  }

  /**
   * A view of exactly `length` backend-owned bytes ending at the guard page, with stale
   * content; or undefined when the memory for it cannot be mapped. The view is valid until
   * the next call (a larger request remaps the area).
   */
  take(length: number): Uint8Array | undefined {
    let r = this.#region;
    if (!r || r.size < length) {
      r = this.#grow(length);
      if (!r) return undefined;
    }
    return r.bytes.subarray(r.size - length);
  }

  /** Unmap the area. */
  release(): void {
    const r = this.#region;
    if (!r) return;
    this.#region = undefined;
    this.#libc.symbols.munmap(r.base, BigInt(r.size + this.#libc.pageSize));
  }

  #grow(length: number): Region | undefined {
    const page = this.#libc.pageSize;
    let size = Math.max(INITIAL_SIZE, this.#region?.size ?? 0);
    while (size < length) size *= 2;
    size = Math.ceil(size / page) * page;
    const { mmap, mprotect, munmap } = this.#libc.symbols;
    const total = BigInt(size + page);
    const base = BigInt(
      mmap(0n, total, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0n),
    );
    if (base === MAP_FAILED) return undefined;
    if (mprotect(base + BigInt(size), BigInt(page), PROT_NONE) !== 0) {
      munmap(base, total);
      return undefined;
    }
    const ptr = Deno.UnsafePointer.create(base);
    if (ptr === null) return undefined;
    const bytes = new Uint8Array(Deno.UnsafePointerView.getArrayBuffer(ptr, size));
    this.release();
    this.#region = { base, size, bytes };
    return this.#region;
  }
}
