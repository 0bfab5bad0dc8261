// Proof that the kernel cannot write outside a buffer the backend owns: every ioctl buffer
// ends at a PROT_NONE page (a real kernel write past it fails with EFAULT), its length is
// never below argsz, and the caller gets back exactly its own length.
import assert from "node:assert/strict";
import { encode } from "../uapi/codec.ts";
import { E } from "../uapi/errno.ts";
import {
  IOMMU_IOAS_ALLOC,
  VFIO_GET_API_VERSION,
  VFIO_IOMMU_GET_INFO,
  VFIO_IOMMU_MAP_DMA,
} from "../uapi/ioctl.ts";
import { iommu_ioas_alloc, vfio_iommu_type1_dma_map } from "../uapi/structs.ts";
import { GuardedArena } from "./_arena.ts";
import { FfiKernel } from "./_kernel.ts";
import { loadLibc, O_CLOEXEC, O_RDWR } from "./_libc.ts";
import type { LibcSymbols } from "./_libc.ts";

const FIONREAD = 0x541bn;
const THIS_FILE = new URL(import.meta.url).pathname;

function addressOf(b: Uint8Array): bigint {
  return BigInt(Deno.UnsafePointer.value(Deno.UnsafePointer.of(b)!));
}

/** A regular file open through raw libc, for FIONREAD (the kernel writes an int back). */
function openSelf(): number {
  const { symbols } = loadLibc();
  const fd = symbols.open(new TextEncoder().encode(THIS_FILE + "\0"), O_RDWR | O_CLOEXEC, 0);
  assert.ok(fd >= 0);
  return fd;
}

/** Raw FIONREAD into `addr`: 0, or -errno. */
function fionread(fd: number, addr: bigint): number {
  const { symbols, errno } = loadLibc();
  return symbols.ioctl_val(fd, FIONREAD, addr) < 0 ? -errno[0] : 0;
}

Deno.test("arena: buffers end exactly at a guard page the kernel cannot write", () => {
  const libc = loadLibc();
  const arena = new GuardedArena(libc);
  const fd = openSelf();
  const size = Deno.statSync(THIS_FILE).size;
  try {
    for (const n of [1, 4, 24, 4096, 16384, 40000]) {
      const b = arena.take(n)!;
      assert.equal(b.length, n);
      assert.equal(addressOf(b) + BigInt(n), arena.guardAddress, `length ${n}`);
    }
    const b = arena.take(8)!;
    b.fill(0xaa);
    // The kernel writes 4 bytes: straddling the guard page it faults and writes nothing.
    assert.equal(fionread(fd, arena.guardAddress - 2n), -E.EFAULT);
    assert.equal(fionread(fd, arena.guardAddress), -E.EFAULT);
    assert.deepEqual([...b], new Array(8).fill(0xaa));
    // Flush against it, the write lands entirely inside.
    assert.equal(fionread(fd, arena.guardAddress - 4n), 0);
    assert.equal(new DataView(b.buffer, b.byteOffset + 4, 4).getInt32(0, true), size);
    assert.deepEqual([...b.subarray(0, 4)], [0xaa, 0xaa, 0xaa, 0xaa]);
  } finally {
    libc.symbols.close(fd);
    arena.release();
  }
});

Deno.test("backend: owned buffer ≥ argsz, ends at the guard, only len bytes come back", () => {
  const real = loadLibc();
  const fd = openSelf();
  const seen: Array<{ length: number; end: bigint; guardFaults: boolean; argsz: number }> = [];
  // A hostile kernel: it overwrites every byte of whatever buffer it is given, and checks
  // with a real write that the byte after the buffer is a guard page.
  const ioctl_buf: LibcSymbols["ioctl_buf"] = (_fd, _req, buf) => {
    const b = buf as Uint8Array;
    const end = addressOf(b) + BigInt(b.length);
    seen.push({
      length: b.length,
      end,
      guardFaults: fionread(fd, end - 2n) === -E.EFAULT,
      argsz: b.length >= 4 ? new DataView(b.buffer, b.byteOffset).getUint32(0, true) : 0,
    });
    b.fill(0xee);
    return 0;
  };
  const k = new FfiKernel({ ...real, symbols: { ...real.symbols, ioctl_buf } });
  try {
    const cases: Array<[number, Uint8Array]> = [
      [VFIO_IOMMU_MAP_DMA, encode(vfio_iommu_type1_dma_map, { flags: 3 })],
      [IOMMU_IOAS_ALLOC, encode(iommu_ioas_alloc)],
      // argsz 8 in 8 bytes: owned is padded to sizeof (24) for the kernel's minsz read.
      [VFIO_IOMMU_GET_INFO, new Uint8Array([8, 0, 0, 0, 0, 0, 0, 0])],
      // a larger buffer than argsz: owned is the buffer's length
      [VFIO_IOMMU_GET_INFO, new Uint8Array(200).fill(0, 0).map((_, i) => i === 0 ? 24 : 0)],
      [0x3b7f, new Uint8Array(5000)], // unknown request, a page or more
      [VFIO_GET_API_VERSION, new Uint8Array(0)], // empty: a 1-byte owned buffer, 0 back
    ];
    for (const [req, arg] of cases) {
      // The caller's bytes sit between canaries.
      const whole = new Uint8Array(arg.length + 64).fill(0x5c);
      const view = whole.subarray(32, 32 + arg.length);
      view.set(arg);
      const before = seen.length;
      assert.equal(k.ioctl(3, req, view), 0);
      const s = seen[before];
      assert.ok(s.length >= arg.length, "owned ≥ len");
      assert.ok(s.length >= s.argsz, "owned ≥ argsz");
      assert.ok(s.guardFaults, "a guard page follows the owned buffer");
      assert.equal(s.end, seen[0].end, "every owned buffer ends at the same guard");
      assert.ok(view.every((x) => x === 0xee), "the caller's bytes are copied back");
      assert.ok(whole.subarray(0, 32).every((x) => x === 0x5c), "canary before");
      assert.ok(whole.subarray(32 + arg.length).every((x) => x === 0x5c), "canary after");
    }
    assert.equal(seen[2].length, 24);
    assert.equal(seen[3].length, 200);
  } finally {
    real.symbols.close(fd);
  }
});

Deno.test("backend: padding past the caller's bytes is zeroed before each call", () => {
  const real = loadLibc();
  const padding: number[][] = [];
  const ioctl_buf: LibcSymbols["ioctl_buf"] = (_fd, _req, buf) => {
    const b = buf as Uint8Array;
    padding.push([...b.subarray(8)]);
    b.fill(0xff); // dirty the whole owned buffer for the next call
    return -1;
  };
  const k = new FfiKernel({ ...real, symbols: { ...real.symbols, ioctl_buf } });
  const short = () => new Uint8Array([8, 0, 0, 0, 0, 0, 0, 0]);
  k.ioctl(3, VFIO_IOMMU_GET_INFO, short());
  k.ioctl(3, VFIO_IOMMU_GET_INFO, short());
  assert.equal(padding.length, 2);
  for (const p of padding) assert.deepEqual(p, new Array(16).fill(0));
});
