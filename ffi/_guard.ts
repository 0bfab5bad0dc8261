/**
 * What the kernel backend checks before an ioctl argument reaches the kernel, as pure
 * functions of the request number and the bytes: no FFI here, so all of it is testable on
 * any machine. `_kernel.ts` applies it; the rules are summarised on `createFfiKernel`.
 *
 * @module
 */

import { offsetsOf } from "../uapi/codec.ts";
import { IoctlRefused } from "../uapi/kernel.ts";
import { requestByName, REQUESTS } from "../uapi/ioctl.ts";
import type { ArgKind } from "../uapi/ioctl.ts";
import {
  iommu_ioas_iova_ranges,
  iommu_ioas_map,
  vfio_bitmap,
  vfio_iommu_type1_dirty_bitmap,
  vfio_iommu_type1_dirty_bitmap_get,
  vfio_iommu_type1_dma_map,
  vfio_iommu_type1_dma_unmap,
} from "../uapi/structs.ts";

/**
 * Thrown by the kernel backend's `ioctl`, before anything is sent, when a buffer is too
 * short for what the kernel would read or write through it (an `argsz`/`size` larger than
 * the buffer, a string without its NUL, ...). It is the one exception the backend throws:
 * answering with an errno would mean letting the kernel touch memory the buffer does not
 * own, which a C program may do and a Deno program must not.
 */
export class FfiBufferError extends IoctlRefused {
  /** The ioctl request number. */
  readonly request: number;
  /** Bytes the caller's buffer has. */
  readonly length: number;
  /** Bytes the kernel would use. */
  readonly required: number;

  /** `why` says which rule the buffer breaks. */
  constructor(request: number, length: number, required: number, why: string) {
    super(
      `refusing ioctl ${describeRequest(request)}: ${why} ` +
        `(buffer has ${length} bytes, needs ${required}); nothing was sent`,
    );
    this.name = "FfiBufferError";
    this.request = request;
    this.length = length;
    this.required = required;
  }
}

// Kinds of argument as bits, so that requests sharing a number (VFIO numbers collide across
// fd kinds) can carry the union of their rules.
const NONE = 1, VALUE = 2, STRUCT = 4, S32PTR = 8, STRING = 16;
const BY_VALUE = NONE | VALUE;
const KIND_BIT: Record<ArgKind, number> = {
  none: NONE,
  value: VALUE,
  struct: STRUCT,
  s32ptr: S32PTR,
  string: STRING,
};

/** The kernel reads at most a page of a string argument (strndup_user(PAGE_SIZE)). */
export const STRING_LIMIT = 4096;
/**
 * An unknown, un-encoded request with a buffer at least this large is sent whatever its first
 * `u32` holds: every struct the kernel copies out is smaller than a page, and the guard page
 * behind the owned buffer stops anything larger.
 */
export const UNKNOWN_ANY_SIZE = 4096;

/**
 * A user pointer inside an ioctl's struct through which the kernel writes, or which it pins
 * for DMA (a device may write there later). Its whole span must be memory this backend
 * mapped; offsets are relative to the start of the argument.
 */
export interface UserPointer {
  /** Field path, for messages. */
  readonly field: string;
  /** Byte offset of the pointer (a `__u64`). */
  readonly at: number;
  /** Bytes behind the pointer, or undefined when this argument does not use the pointer. */
  length(v: DataView): bigint | undefined;
}

/** Everything the backend knows about one request number. */
export interface ArgPolicy {
  /** The request as the kernel sees it (`unsigned int`). */
  readonly request: number;
  /** The same, as the bigint the FFI symbol takes. */
  readonly requestBig: bigint;
  /** Union of the argument kinds of every known request with this number; 0 when unknown. */
  readonly kinds: number;
  /** True when every known meaning passes a value, not a pointer. */
  readonly byValue: boolean;
  /** Largest `sizeof` among the described structs of this number, 0 if none. */
  readonly structSize: number;
  /** Pointers inside the argument that must lie in mapped memory. */
  readonly pointers: readonly UserPointer[];
  /** Offsets of `__s32` fds the kernel writes into the argument on success. */
  readonly fdOut: readonly number[];
  /** Whether a non-negative return value is a new fd. */
  readonly fdReturn: boolean;
}

/** `ptr=u64 at `at`, length=u64 at `len``, used when the length field is nonzero. */
function span(field: string, at: number, len: number, lenSize: 4 | 8 = 8): UserPointer {
  return {
    field,
    at,
    length: (v) => lenSize === 8 ? u64(v, len) : BigInt(u32(v, len) ?? 0),
  };
}

/** Read a little-endian u64 that lies wholly inside the view, else undefined. */
function u64(v: DataView, at: number): bigint | undefined {
  return at + 8 <= v.byteLength ? v.getBigUint64(at, true) : undefined;
}

/** Read a little-endian u32 that lies wholly inside the view, else undefined. */
function u32(v: DataView, at: number): number | undefined {
  return at + 4 <= v.byteLength ? v.getUint32(at, true) : undefined;
}

/**
 * Bytes of an iova_bitmap (drivers/iommu/iova_bitmap.c) covering `length` bytes of IOVA at
 * `pageSize` granularity: whole u64 words, with the page shift taken as __ffs(page_size) as
 * the kernel does. Undefined when the kernel rejects the arguments before writing.
 */
export function iovaBitmapBytes(length: bigint, pageSize: bigint): bigint | undefined {
  if (length === 0n || pageSize === 0n) return undefined;
  let shift = 0n;
  while (((pageSize >> shift) & 1n) === 0n) shift++;
  return (((length - 1n) >> shift) / 64n + 1n) * 8n;
}

function bitmapAt(field: string, at: number, lenAt: number, pgAt: number): UserPointer {
  return {
    field,
    at,
    length: (v) => {
      const len = u64(v, lenAt), pg = u64(v, pgAt);
      return len === undefined || pg === undefined ? undefined : iovaBitmapBytes(len, pg);
    },
  };
}

function when(flagAt: number, test: (flags: number) => boolean, p: UserPointer): UserPointer {
  return {
    field: p.field,
    at: p.at,
    length: (v) => {
      const flags = u32(v, flagAt);
      return flags !== undefined && test(flags) ? p.length(v) : undefined;
    },
  };
}

function reqNo(name: string): number {
  const r = requestByName(name);
  if (!r) throw new Error(`unknown request ${name}`);
  return r.request;
}

/**
 * The user pointers the kernel writes through (or pins), per request number. Offsets come
 * from the uapi tables where the struct is described there, else from linux/iommufd.h and
 * linux/vfio.h (noted beside each).
 */
function userPointerTable(): Map<number, UserPointer[]> {
  const t = new Map<number, UserPointer[]>();
  const add = (name: string, ...p: UserPointer[]) => t.set(reqNo(name), p);

  const ranges = offsetsOf(iommu_ioas_iova_ranges);
  add("IOMMU_IOAS_IOVA_RANGES", {
    field: "allowed_iovas",
    at: ranges.allowed_iovas,
    // The kernel fills at most num_iovas entries of struct iommu_iova_range (16 bytes).
    length: (v) => BigInt(u32(v, ranges.num_iovas) ?? 0) * 16n,
  });

  const map = offsetsOf(vfio_iommu_type1_dma_map);
  add("VFIO_IOMMU_MAP_DMA", span("vaddr", map.vaddr, map.size));
  const ioasMap = offsetsOf(iommu_ioas_map);
  add("IOMMU_IOAS_MAP", span("user_va", ioasMap.user_va, ioasMap.length));

  // VFIO_DMA_UNMAP_FLAG_GET_DIRTY_BITMAP: a struct vfio_bitmap follows the unmap struct.
  const unmap = offsetsOf(vfio_iommu_type1_dma_unmap);
  const bm = offsetsOf(vfio_bitmap);
  const ub = vfio_iommu_type1_dma_unmap.size;
  add(
    "VFIO_IOMMU_UNMAP_DMA",
    when(unmap.flags, (f) => (f & 1) !== 0, span("bitmap.data", ub + bm.data, ub + bm.size)),
  );

  // Request 117 is VFIO_IOMMU_DIRTY_PAGES on a container and VFIO_DEVICE_FEATURE on a
  // device; both meanings are checked. DIRTY_PAGES_FLAG_GET_BITMAP (4): a struct
  // vfio_iommu_type1_dirty_bitmap_get follows the 8-byte header.
  const dp = offsetsOf(vfio_iommu_type1_dirty_bitmap);
  const get = offsetsOf(vfio_iommu_type1_dirty_bitmap_get);
  const gb = vfio_iommu_type1_dirty_bitmap.size;
  add(
    "VFIO_IOMMU_DIRTY_PAGES",
    when(
      dp.flags,
      (f) => (f & 4) !== 0,
      span("bitmap_data", gb + get.bitmap_data, gb + get.bitmap_size),
    ),
    // VFIO_DEVICE_FEATURE_DMA_LOGGING_REPORT (8) with FEATURE_GET (1 << 16): struct
    // vfio_device_feature_dma_logging_report { iova@8, length@16, page_size@24, bitmap@32 }.
    when(4, (f) => (f & 0xffff) === 8 && (f & 0x10000) !== 0, bitmapAt("bitmap", 32, 16, 24)),
  );

  // IOMMU_TEST_OP_ACCESS_RW (8) moves `length` bytes between `uptr` and the IOAS:
  // union member access_rw { access_id@16, flags@20, iova@24, length@32, uptr@40 }.
  add("IOMMU_TEST_CMD", when(4, (op) => op === 8, span("access_rw.uptr", 40, 32)));
  // struct iommu_hw_info { size, flags, dev_id, data_len@12 (u32), data_uptr@16, ... }.
  add("IOMMU_GET_HW_INFO", span("data_uptr", 16, 12, 4));
  // struct iommu_hwpt_get_dirty_bitmap { ..., iova@16, length@24, page_size@32, data@40 }.
  add("IOMMU_HWPT_GET_DIRTY_BITMAP", bitmapAt("data", 40, 24, 32));
  // struct iommu_hwpt_invalidate { size, hwpt_id, data_uptr@8, data_type@16,
  // entry_len@20, entry_num@24 }: drivers may write back into the entries.
  // struct iommu_viommu_alloc { ..., data_len@24 (u32), __reserved, data_uptr@32 }: the
  // driver writes its data back (the mock: out_data and the mmap window).
  add("IOMMU_VIOMMU_ALLOC", span("data_uptr", 32, 24, 4));
  add("IOMMU_HWPT_INVALIDATE", {
    field: "data_uptr",
    at: 8,
    length: (v) => BigInt(u32(v, 20) ?? 0) * BigInt(u32(v, 24) ?? 0),
  });
  return t;
}

/** Offsets of fds the kernel returns inside the struct (linux/iommufd.h). */
function fdOutTable(): Map<number, number[]> {
  return new Map([
    // struct iommu_fault_alloc { size, flags, out_fault_id, out_fault_fd@12 }
    [reqNo("IOMMU_FAULT_QUEUE_ALLOC"), [12]],
    // struct iommu_veventq_alloc { size, flags, viommu_id, type, depth, out_id, out_fd@24 }
    [reqNo("IOMMU_VEVENTQ_ALLOC"), [24]],
  ]);
}

let policies: Map<number, ArgPolicy> | undefined;

function buildPolicies(): Map<number, ArgPolicy> {
  const pointers = userPointerTable();
  const fdOut = fdOutTable();
  const byNumber = new Map<number, { kinds: number; structSize: number }>();
  for (const r of REQUESTS) {
    const e = byNumber.get(r.request) ?? { kinds: 0, structSize: 0 };
    e.kinds |= KIND_BIT[r.arg];
    e.structSize = Math.max(e.structSize, r.struct?.size ?? 0);
    byNumber.set(r.request, e);
  }
  const out = new Map<number, ArgPolicy>();
  for (const [request, e] of byNumber) {
    out.set(
      request,
      Object.freeze({
        request,
        requestBig: BigInt(request),
        kinds: e.kinds,
        byValue: (e.kinds & ~BY_VALUE) === 0,
        structSize: e.structSize,
        pointers: pointers.get(request) ?? [],
        fdOut: fdOut.get(request) ?? [],
        fdReturn: (e.kinds & STRING) !== 0,
      }),
    );
  }
  return out;
}

/**
 * The policy of request number `request` (already reduced to `unsigned int`). A number vfsh
 * does not describe gets an "unknown" policy: kinds 0, not by value, no pointer checks.
 */
export function policyOf(request: number): ArgPolicy {
  policies ??= buildPolicies();
  return policies.get(request) ?? {
    request,
    requestBig: BigInt(request),
    kinds: 0,
    byValue: false,
    structSize: 0,
    pointers: [],
    fdOut: [],
    fdReturn: false,
  };
}

/** `_IOC_DIR` and `_IOC_SIZE` of asm-generic/ioctl.h. */
function iocDir(request: number): number {
  return request >>> 30;
}
function iocSize(request: number): number {
  return (request >>> 16) & 0x3fff;
}

/**
 * Check that `bytes`, given as the argument of `policy`'s request, covers everything the
 * kernel may read or write through it; return the length of the backend-owned buffer to
 * send: max(bytes.length, the size prefix, sizeof the described struct). Throws
 * {@link FfiBufferError} otherwise. The rules, by argument kind:
 * - none / value: the kernel does not dereference the argument; any length.
 * - struct: at least 4 bytes, and the `argsz`/`size` in the first u32 ≤ the length.
 *   The owned buffer is padded (with zeros) to the struct's sizeof, because VFIO handlers
 *   copy `minsz` bytes before they check `argsz`.
 * - s32ptr: at least 4 bytes.
 * - string: a NUL within the first min(length, 4096) bytes, or at least 4096 bytes (the
 *   kernel reads at most a page of it).
 * - unknown number with `_IOC_DIR` ≠ 0: at least `_IOC_SIZE` bytes.
 * - unknown number without direction bits (as every VFIO/iommufd request): at least 4096
 *   bytes, or at least 4 bytes whose first u32 ≤ the length.
 * Requests sharing a number get every rule that applies to one of them.
 */
export function planBuffer(policy: ArgPolicy, bytes: Uint8Array): number {
  const len = bytes.length;
  const req = policy.request;
  const first = () => new DataView(bytes.buffer, bytes.byteOffset, 4).getUint32(0, true);
  const k = policy.kinds;
  let owned = len;
  if (k === 0) {
    if (iocDir(req) !== 0) {
      const size = iocSize(req);
      if (len < size) {
        throw new FfiBufferError(req, len, size, "_IOC_SIZE of the request exceeds the buffer");
      }
    } else if (len < UNKNOWN_ANY_SIZE) {
      if (len < 4) {
        throw new FfiBufferError(req, len, 4, "an unknown request needs a size-prefixed buffer");
      }
      const size = first();
      if (size > len) {
        throw new FfiBufferError(
          req,
          len,
          size,
          "the first u32 of an unknown request's buffer, read as its size, exceeds the buffer",
        );
      }
    }
    return owned;
  }
  if (k & (STRUCT | S32PTR)) {
    if (len < 4) {
      throw new FfiBufferError(
        req,
        len,
        4,
        k & STRUCT ? "the buffer cannot hold its argsz/size field" : "an s32 needs 4 bytes",
      );
    }
  }
  if (k & STRUCT) {
    const size = first();
    if (size > len) {
      throw new FfiBufferError(req, len, size, "argsz/size is larger than the buffer");
    }
    owned = Math.max(owned, size, policy.structSize);
  }
  if (k & STRING) {
    const limit = Math.min(len, STRING_LIMIT);
    if (len < STRING_LIMIT && bytes.subarray(0, limit).indexOf(0) < 0) {
      throw new FfiBufferError(req, len, len + 1, "the string argument has no NUL terminator");
    }
  }
  return owned;
}

/**
 * The first of `policy`'s user pointers in the argument `view` whose span is not wholly
 * inside memory `isOurs` accepts, or undefined when all are (or none is used). Pointers whose
 * field lies past the end of the view are not used by the kernel (its size checks fail first).
 */
export function strayPointer(
  policy: ArgPolicy,
  view: DataView,
  isOurs: (addr: bigint, length: bigint) => boolean,
): UserPointer | undefined {
  for (const p of policy.pointers) {
    const length = p.length(view);
    if (length === undefined || length === 0n) continue;
    const addr = u64(view, p.at);
    if (addr === undefined) continue;
    if (!isOurs(addr, length)) return p;
  }
  return undefined;
}

/** `VFIO_GET_API_VERSION` or `0xc0045a01`, for messages. */
export function describeRequest(request: number): string {
  const names = REQUESTS.filter((r) => r.request === request >>> 0).map((r) => r.name);
  const hex = `0x${(request >>> 0).toString(16)}`;
  return names.length ? `${names.join("/")} (${hex})` : hex;
}
