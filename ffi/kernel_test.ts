// The FFI backend against device nodes every Linux machine has (/dev/null, /dev/zero) and
// regular files; needs --allow-ffi and --allow-read.
import assert from "node:assert/strict";
import { encode } from "../uapi/codec.ts";
import { E, errnoName } from "../uapi/errno.ts";
import {
  IOMMU_HWPT_INVALIDATE,
  IOMMU_IOAS_ALLOC,
  IOMMU_IOAS_IOVA_RANGES,
  VFIO_CHECK_EXTENSION,
  VFIO_GET_API_VERSION,
  VFIO_GROUP_GET_DEVICE_FD,
  VFIO_GROUP_GET_STATUS,
  VFIO_GROUP_SET_CONTAINER,
  VFIO_IOMMU_MAP_DMA,
  VFIO_SET_IOMMU,
} from "../uapi/ioctl.ts";
import type { Kernel } from "../uapi/kernel.ts";
import {
  iommu_hwpt_invalidate,
  iommu_ioas_alloc,
  iommu_ioas_iova_ranges,
  vfio_group_status,
  vfio_iommu_type1_dma_map,
} from "../uapi/structs.ts";
import { FfiKernel } from "./_kernel.ts";
import { loadLibc } from "./_libc.ts";
import type { Libc, LibcSymbols } from "./_libc.ts";
import { createFfiKernel, FfiBufferError, NEEDS_FFI_MESSAGE } from "./mod.ts";

/** FIONREAD (asm-generic/ioctls.h): on a regular file the kernel writes an int back. */
const FIONREAD = 0x541b;
const PAGE = 4096n;
const THIS_FILE = new URL(import.meta.url).pathname;

function errnoOf(r: number | bigint): string {
  return errnoName(-Number(r));
}

/** A libc whose ioctl/close are replaced, everything else real. */
function fakeLibc(over: Partial<LibcSymbols>): Libc {
  const real = loadLibc();
  return { ...real, symbols: { ...real.symbols, ...over } };
}

function withKernel(fn: (k: Kernel, nullFd: number) => void): () => void {
  return () => {
    const k = createFfiKernel();
    const fd = k.open("/dev/null");
    assert.ok(fd >= 0, `open /dev/null: ${fd}`);
    try {
      fn(k, fd);
    } finally {
      assert.equal(k.close(fd), 0);
    }
  };
}

Deno.test("createFfiKernel: name kernel, no simulator member", () => {
  const k = createFfiKernel();
  assert.equal(k.name, "kernel");
  assert.equal("simulator" in k, false);
  assert.equal(k.simulator, undefined);
});

Deno.test(
  "ioctl on /dev/null and /dev/zero: VFIO requests answer ENOTTY",
  withKernel((k, nullFd) => {
    assert.equal(k.ioctl(nullFd, VFIO_GET_API_VERSION, 0n), -E.ENOTTY);
    assert.equal(k.ioctl(nullFd, VFIO_CHECK_EXTENSION, 3n), -E.ENOTTY);
    assert.equal(k.ioctl(nullFd, VFIO_SET_IOMMU, -1n), -E.ENOTTY); // wraps like C, no throw
    const zero = k.open("/dev/zero");
    assert.ok(zero >= 0);
    assert.equal(k.ioctl(zero, VFIO_GET_API_VERSION, 0n), -E.ENOTTY);
    const status = encode(vfio_group_status);
    assert.equal(k.ioctl(zero, VFIO_GROUP_GET_STATUS, status), -E.ENOTTY);
    assert.deepEqual(status, encode(vfio_group_status));
    assert.equal(k.close(zero), 0);
  }),
);

Deno.test(
  "the uapi encoders reach the kernel unchanged: dma_map to /dev/null is ENOTTY, buffer intact",
  withKernel((k, nullFd) => {
    const mem = k.mmap(2n * 1024n * 1024n);
    assert.ok(mem > 0n);
    const values = { flags: 3, vaddr: mem, iova: 0x100000n, size: 0x200000n };
    const arg = encode(vfio_iommu_type1_dma_map, values);
    const before = arg.slice();
    assert.equal(k.ioctl(nullFd, VFIO_IOMMU_MAP_DMA, arg), -E.ENOTTY);
    assert.deepEqual(arg, before);
    const alloc = encode(iommu_ioas_alloc);
    assert.equal(k.ioctl(nullFd, IOMMU_IOAS_ALLOC, alloc), -E.ENOTTY);
    assert.deepEqual(alloc, encode(iommu_ioas_alloc));
    assert.equal(k.munmap(mem, 2n * 1024n * 1024n), 0);
  }),
);

Deno.test("errno: each failure maps to its own -errno, never a stale one", () => {
  const k = createFfiKernel();
  assert.equal(k.open("/nonexistent/vfsh-test"), -E.ENOENT);
  assert.equal(errnoOf(k.open("/dev/null/x")), "ENOTDIR");
  assert.equal(errnoOf(k.open("/")), "EISDIR");
  assert.equal(k.open("/dev/null\0/x"), -E.EINVAL);
  assert.equal(k.open("/nonexistent/vfsh-test"), -E.ENOENT);
  // An fd the process does not have: the kernel's EBADF (ioctl is not restricted to our fds).
  assert.equal(k.ioctl(1 << 20, VFIO_GET_API_VERSION, 0n), -E.EBADF);
  assert.equal(k.ioctl(-1, VFIO_GET_API_VERSION, 0n), -E.EBADF);
  assert.equal(k.ioctl(1.5, VFIO_GET_API_VERSION, 0n), -E.EBADF);
  assert.equal(k.ioctl(0, 0.5, 0n), -E.EINVAL);
  assert.equal(k.mmap(1n << 62n), BigInt(-E.ENOMEM));
  assert.equal(k.mmap(0n), BigInt(-E.EINVAL));
  assert.equal(k.mmap(-1n), BigInt(-E.ENOMEM));
});

Deno.test("close: our fds once, anything else EBADF without touching it", () => {
  const k = createFfiKernel();
  assert.equal(k.close(-1), -E.EBADF);
  assert.equal(k.close(123456), -E.EBADF);
  assert.equal(k.close(0), -E.EBADF); // stdin is Deno's, not ours
  const fd = k.open("/dev/null");
  assert.ok(fd >= 0);
  assert.equal(createFfiKernel().close(fd), -E.EBADF); // another backend's fd
  assert.equal(k.close(fd), 0);
  assert.equal(k.close(fd), -E.EBADF);
});

Deno.test("mmap/munmap round trip with readMemory/writeMemory", () => {
  const k = createFfiKernel();
  const a = k.mmap(3n * PAGE);
  assert.ok(a > 0n && a % PAGE === 0n);
  const fresh = new Uint8Array(3 * 4096).fill(0xff);
  assert.equal(k.readMemory(a, fresh), 0);
  assert.ok(fresh.every((x) => x === 0), "anonymous memory starts zeroed");
  const data = new TextEncoder().encode("vfsh user memory");
  assert.equal(k.writeMemory(a + PAGE - 4n, data), 0); // across a page boundary
  const back = new Uint8Array(data.length);
  assert.equal(k.readMemory(a + PAGE - 4n, back), 0);
  assert.deepEqual(back, data);
  // Unmap the middle page: the two sides stay usable, the hole is EFAULT.
  assert.equal(k.munmap(a + PAGE, PAGE), 0);
  assert.equal(k.readMemory(a, new Uint8Array(4096)), 0);
  assert.equal(k.readMemory(a + 2n * PAGE, new Uint8Array(4096)), 0);
  assert.equal(k.readMemory(a + PAGE, new Uint8Array(1)), -E.EFAULT);
  assert.equal(k.readMemory(a + PAGE - 1n, new Uint8Array(2)), -E.EFAULT);
  assert.equal(k.munmap(a, PAGE), 0);
  assert.equal(k.munmap(a + 2n * PAGE, 1n), 0); // length rounds up to the page
  assert.equal(k.readMemory(a + 2n * PAGE, new Uint8Array(1)), -E.EFAULT);
  // A length that is not a page multiple still maps (and tracks) whole pages.
  const b = k.mmap(10n);
  assert.equal(k.writeMemory(b + PAGE - 1n, new Uint8Array([7])), 0);
  assert.equal(k.writeMemory(b + PAGE, new Uint8Array([7])), -E.EFAULT);
  assert.equal(k.munmap(b, 10n), 0);
});

Deno.test("readMemory/writeMemory outside our mappings: EFAULT, nothing touched", () => {
  const k = createFfiKernel();
  const into = new Uint8Array(8).fill(0x5a);
  // Addresses Deno certainly uses: this very buffer, and a typed array's pointer.
  const heap = Deno.UnsafePointer.value(Deno.UnsafePointer.of(into)!) as bigint;
  for (const addr of [0n, 8n, 0x1000n, heap, 2n ** 64n - 8n, -8n, 2n ** 64n]) {
    assert.equal(k.readMemory(addr, into), -E.EFAULT, `read ${addr}`);
    assert.equal(k.writeMemory(addr, into), -E.EFAULT, `write ${addr}`);
  }
  assert.ok(into.every((x) => x === 0x5a));
  assert.equal(k.readMemory(0n, new Uint8Array(0)), 0); // no byte outside
  // Another backend's mapping is not ours either.
  const other = createFfiKernel();
  const m = other.mmap(PAGE);
  assert.equal(k.readMemory(m, into), -E.EFAULT);
  assert.equal(other.munmap(m, PAGE), 0);
});

Deno.test("munmap refuses what this backend did not map (EINVAL), and bad arguments", () => {
  const k = createFfiKernel();
  const heap = new Uint8Array(8192);
  const p = Deno.UnsafePointer.value(Deno.UnsafePointer.of(heap)!) as bigint;
  const pageOfHeap = p & ~(PAGE - 1n);
  assert.equal(k.munmap(pageOfHeap, PAGE), -E.EINVAL);
  heap[0] = 1; // still mapped: Deno's memory was left alone
  const a = k.mmap(2n * PAGE);
  assert.equal(k.munmap(a, 3n * PAGE), -E.EINVAL); // runs past our mapping
  assert.equal(k.munmap(a - PAGE, 2n * PAGE), -E.EINVAL); // starts before it
  assert.equal(k.munmap(a + 1n, PAGE), -E.EINVAL); // unaligned, as the kernel says
  assert.equal(k.munmap(a, 0n), -E.EINVAL);
  assert.equal(k.writeMemory(a, new Uint8Array([1])), 0);
  assert.equal(k.munmap(a, 2n * PAGE), 0);
  assert.equal(k.munmap(a, 2n * PAGE), -E.EINVAL); // already gone
});

Deno.test(
  "buffer guard: argsz larger than the buffer throws FfiBufferError and sends nothing",
  () => {
    let calls = 0;
    const libc = fakeLibc({
      ioctl_buf: () => {
        calls++;
        return -1;
      },
    });
    const k = new FfiKernel(libc);
    const arg = encode(vfio_iommu_type1_dma_map, { flags: 3 });
    new DataView(arg.buffer).setUint32(0, 33, true);
    assert.throws(() => k.ioctl(3, VFIO_IOMMU_MAP_DMA, arg), FfiBufferError);
    assert.throws(() => k.ioctl(3, VFIO_GROUP_SET_CONTAINER, new Uint8Array(2)), FfiBufferError);
    assert.throws(
      () => k.ioctl(3, VFIO_GROUP_GET_DEVICE_FD, new TextEncoder().encode("dev")),
      /no NUL terminator/,
    );
    assert.equal(calls, 0);
    // The real backend too (against /dev/null the result would be ENOTTY if it were sent).
    withKernel((real, fd) => {
      assert.throws(() => real.ioctl(fd, VFIO_IOMMU_MAP_DMA, arg), FfiBufferError);
      assert.equal(new DataView(arg.buffer).getUint32(0, true), 33);
    })();
  },
);

Deno.test(
  "ioctl by address: only into our mappings, with the size rules; NULL goes to the kernel",
  withKernel((k, nullFd) => {
    const a = k.mmap(PAGE);
    assert.equal(k.writeMemory(a, encode(iommu_ioas_alloc)), 0);
    assert.equal(k.ioctl(nullFd, IOMMU_IOAS_ALLOC, a), -E.ENOTTY);
    assert.equal(k.ioctl(nullFd, IOMMU_IOAS_ALLOC, 0n), -E.ENOTTY); // NULL: kernel's answer
    const heap = new Uint8Array(64);
    const p = Deno.UnsafePointer.value(Deno.UnsafePointer.of(heap)!) as bigint;
    assert.equal(k.ioctl(nullFd, IOMMU_IOAS_ALLOC, p), -E.EFAULT);
    assert.equal(k.ioctl(nullFd, 0x3b7f, p), -E.EFAULT); // unknown request: maybe a pointer
    // A struct whose argsz runs past the end of the mapping.
    const tail = a + PAGE - 8n;
    assert.equal(k.writeMemory(tail, new Uint8Array([16, 0, 0, 0])), 0);
    assert.throws(() => k.ioctl(nullFd, IOMMU_IOAS_ALLOC, tail), FfiBufferError);
    assert.equal(k.munmap(a, PAGE), 0);
    assert.equal(k.ioctl(nullFd, IOMMU_IOAS_ALLOC, a), -E.EFAULT); // gone
  }),
);

Deno.test(
  "user pointers in structs: outside our memory is EFAULT before the call",
  withKernel((k, nullFd) => {
    const a = k.mmap(PAGE);
    const heap = new Uint8Array(4096);
    const p = Deno.UnsafePointer.value(Deno.UnsafePointer.of(heap)!) as bigint;
    const map = (vaddr: bigint) =>
      encode(vfio_iommu_type1_dma_map, { flags: 3, vaddr, iova: 0x100000n, size: PAGE });
    assert.equal(k.ioctl(nullFd, VFIO_IOMMU_MAP_DMA, map(a)), -E.ENOTTY);
    assert.equal(k.ioctl(nullFd, VFIO_IOMMU_MAP_DMA, map(p)), -E.EFAULT);
    assert.equal(k.ioctl(nullFd, VFIO_IOMMU_MAP_DMA, map(a + 1n)), -E.EFAULT); // 1 byte over
    const ranges = (num_iovas: number, allowed_iovas: bigint) =>
      encode(iommu_ioas_iova_ranges, { ioas_id: 1, num_iovas, allowed_iovas });
    assert.equal(k.ioctl(nullFd, IOMMU_IOAS_IOVA_RANGES, ranges(4, p)), -E.EFAULT);
    assert.equal(k.ioctl(nullFd, IOMMU_IOAS_IOVA_RANGES, ranges(4, a)), -E.ENOTTY);
    assert.equal(k.ioctl(nullFd, IOMMU_IOAS_IOVA_RANGES, ranges(0, p)), -E.ENOTTY);
    // The same checks when the struct itself is passed by address.
    assert.equal(k.writeMemory(a + 2048n, map(p)), 0);
    assert.equal(k.ioctl(nullFd, VFIO_IOMMU_MAP_DMA, a + 2048n), -E.EFAULT);
    assert.equal(k.writeMemory(a + 2048n, map(a)), 0);
    assert.equal(k.ioctl(nullFd, VFIO_IOMMU_MAP_DMA, a + 2048n), -E.ENOTTY);
    assert.equal(k.munmap(a, PAGE), 0);
  }),
);

Deno.test(
  "user pointers in structs: a span inside the first page goes to the kernel, one past it does not",
  withKernel((k, nullFd) => {
    // IOMMU_HWPT_INVALIDATE with entries at NULL: the kernel's own check answers (EINVAL
    // there; /dev/null's ENOTTY here), as for a NULL ioctl argument.
    const invalidate = (data_uptr: bigint, entry_num: number) =>
      encode(iommu_hwpt_invalidate, { hwpt_id: 1, data_uptr, entry_len: 8, entry_num });
    assert.equal(k.ioctl(nullFd, IOMMU_HWPT_INVALIDATE, invalidate(0n, 3)), -E.ENOTTY);
    assert.equal(k.takeRefusal?.(), undefined);
    assert.equal(k.ioctl(nullFd, IOMMU_HWPT_INVALIDATE, invalidate(PAGE - 24n, 3)), -E.ENOTTY);
    assert.equal(k.ioctl(nullFd, IOMMU_HWPT_INVALIDATE, invalidate(PAGE - 16n, 3)), -E.EFAULT);
    assert.match(k.takeRefusal?.() ?? "", /data_uptr 0xff0\+0x18 lies outside/);
    assert.equal(k.ioctl(nullFd, IOMMU_HWPT_INVALIDATE, invalidate(0n, 4096)), -E.EFAULT);
  }),
);

Deno.test(
  "takeRefusal: says which call the guard answered itself, once, and nothing for the kernel's",
  withKernel((k, nullFd) => {
    const a = k.mmap(PAGE);
    const map = (vaddr: bigint, size: bigint) =>
      encode(vfio_iommu_type1_dma_map, { flags: 3, vaddr, iova: 0x100000n, size });
    assert.equal(k.ioctl(nullFd, VFIO_IOMMU_MAP_DMA, map(a, 2n * PAGE)), -E.EFAULT);
    assert.equal(
      k.takeRefusal?.(),
      `not sent: VFIO_IOMMU_MAP_DMA (0x3b71) vaddr 0x${a.toString(16)}+0x2000 ` +
        "lies outside memory this shell mapped",
    );
    assert.equal(k.takeRefusal?.(), undefined); // asking clears it
    assert.equal(k.ioctl(nullFd, VFIO_IOMMU_MAP_DMA, map(a, PAGE)), -E.ENOTTY);
    assert.equal(k.takeRefusal?.(), undefined); // the kernel answered
    assert.equal(k.ioctl(nullFd, IOMMU_IOAS_ALLOC, a + PAGE), -E.EFAULT);
    assert.match(
      k.takeRefusal?.() ?? "",
      /^not sent: IOMMU_IOAS_ALLOC .* argument 0x[0-9a-f]+ lies/,
    );
    assert.equal(k.readMemory(a + PAGE, new Uint8Array(1)), -E.EFAULT);
    assert.match(k.takeRefusal?.() ?? "", /^not read: 0x[0-9a-f]+\+0x1 lies outside/);
    assert.equal(k.writeMemory(a - 2n, new Uint8Array(4)), -E.EFAULT);
    assert.match(k.takeRefusal?.() ?? "", /^not written: 0x[0-9a-f]+\+0x4 lies outside/);
    assert.equal(k.munmap(a, PAGE), 0);
  }),
);

Deno.test(
  "mmap of a file fd: MAP_SHARED, a DMA target for the kernel, never touched by the backend",
  withKernel((k, nullFd) => {
    // An empty file: touching its mapping would SIGBUS the process, so nothing may.
    const path = Deno.makeTempFileSync({ prefix: "vfsh-mmap-" });
    const fd = k.open(path);
    try {
      assert.ok(fd >= 0, `open ${path}: ${fd}`);
      const a = k.mmap(2n * PAGE, fd, 0n);
      assert.ok(a > 0n && a % PAGE === 0n, `mmap: ${a}`);
      assert.equal(k.readMemory(a, new Uint8Array(1)), -E.EFAULT);
      assert.equal(k.writeMemory(a + PAGE, new Uint8Array(1)), -E.EFAULT);
      // The kernel may be handed it (MAP_DMA pins it): the pointer check lets it through.
      const map = (vaddr: bigint, size: bigint) =>
        encode(vfio_iommu_type1_dma_map, { flags: 3, vaddr, iova: 0x100000n, size });
      assert.equal(k.ioctl(nullFd, VFIO_IOMMU_MAP_DMA, map(a, 2n * PAGE)), -E.ENOTTY);
      assert.equal(k.ioctl(nullFd, VFIO_IOMMU_MAP_DMA, map(a, 3n * PAGE)), -E.EFAULT);
      // ...but an ioctl argument read from it would be touched by the backend: EFAULT.
      assert.equal(k.ioctl(nullFd, IOMMU_IOAS_ALLOC, a), -E.EFAULT);
      // The kernel's own answers: an unaligned offset.
      assert.equal(errnoOf(k.mmap(PAGE, fd, 1n)), "EINVAL");
      // Partial munmap, then the rest; twice is refused.
      assert.equal(k.munmap(a + PAGE, PAGE), 0);
      assert.equal(k.ioctl(nullFd, VFIO_IOMMU_MAP_DMA, map(a, 2n * PAGE)), -E.EFAULT);
      assert.equal(k.munmap(a, PAGE), 0);
      assert.equal(k.munmap(a, PAGE), -E.EINVAL);
      // /dev/zero maps shared too; still never read by the backend.
      const z = k.open("/dev/zero");
      const b = k.mmap(PAGE, z);
      assert.ok(b > 0n, `mmap /dev/zero: ${b}`);
      assert.equal(k.readMemory(b, new Uint8Array(8)), -E.EFAULT);
      assert.equal(k.munmap(b, PAGE), 0);
      assert.equal(k.close(z), 0);
      // Anonymous memory next to it still reads and writes.
      const c = k.mmap(PAGE);
      assert.equal(k.writeMemory(c, new Uint8Array([1, 2])), 0);
      assert.equal(k.munmap(c, PAGE), 0);
    } finally {
      if (fd >= 0) assert.equal(k.close(fd), 0);
      Deno.removeSync(path);
    }
  }),
);

Deno.test("mmap of an fd this backend does not hold: EBADF, nothing mapped", () => {
  const k = createFfiKernel();
  // Deno's own stdin/stdout/stderr, and a number nobody opened.
  for (const fd of [0, 1, 2, 999, -1, 1.5]) assert.equal(k.mmap(PAGE, fd), BigInt(-E.EBADF));
  const path = Deno.makeTempFileSync({ prefix: "vfsh-mmap-" });
  const fd = k.open(path);
  assert.equal(k.mmap(PAGE, fd, -PAGE), BigInt(-E.EINVAL));
  assert.equal(k.mmap(0n, fd), BigInt(-E.EINVAL));
  assert.equal(k.close(fd), 0);
  assert.equal(k.mmap(PAGE, fd), BigInt(-E.EBADF)); // closed
  Deno.removeSync(path);
});

Deno.test("a request that writes back: FIONREAD on a regular file, canaries intact", () => {
  const k = createFfiKernel();
  const fd = k.open(THIS_FILE);
  assert.ok(fd >= 0, `open ${THIS_FILE}: ${fd}`);
  const size = Deno.statSync(THIS_FILE).size;
  // The caller's 4 bytes sit between canaries in a larger buffer.
  const whole = new Uint8Array(16).fill(0xc5);
  const arg = whole.subarray(6, 10);
  arg.fill(0);
  assert.equal(k.ioctl(fd, FIONREAD, arg), 0);
  assert.equal(new DataView(arg.buffer, arg.byteOffset, 4).getInt32(0, true), size);
  assert.deepEqual([...whole.subarray(0, 6), ...whole.subarray(10)], new Array(12).fill(0xc5));
  // Through mapped memory by address: 4 bytes written, the next one untouched.
  const a = k.mmap(PAGE);
  assert.equal(k.writeMemory(a + 100n, new Uint8Array([0, 0, 0, 0, 0xc5])), 0);
  assert.equal(k.ioctl(fd, FIONREAD, a + 100n), 0);
  const back = new Uint8Array(5);
  assert.equal(k.readMemory(a + 100n, back), 0);
  assert.equal(new DataView(back.buffer).getInt32(0, true), size);
  assert.equal(back[4], 0xc5);
  assert.equal(k.munmap(a, PAGE), 0);
  assert.equal(k.close(fd), 0);
});

Deno.test("fds the kernel hands back become closable; others stay refused", () => {
  const closed: number[] = [];
  const libc = fakeLibc({
    // A group that hands out device fd 777 for any name.
    ioctl_buf: (_fd, req) => req === BigInt(VFIO_GROUP_GET_DEVICE_FD) ? 777 : -1,
    close: (fd) => {
      closed.push(fd);
      return 0;
    },
  });
  const k = new FfiKernel(libc);
  assert.equal(k.close(777), -E.EBADF);
  const name = new TextEncoder().encode("0000:00:03.0\0");
  assert.equal(k.ioctl(5, VFIO_GROUP_GET_DEVICE_FD, name), 777);
  assert.equal(k.close(777), 0);
  assert.deepEqual(closed, [777]);
});

Deno.test({
  name: "without --allow-ffi: importing is fine, createFfiKernel explains the flag",
  ignore: Deno.permissions.querySync({ name: "run" }).state !== "granted",
  async fn() {
    const mod = new URL("./mod.ts", import.meta.url).href;
    const code = `
      const m = await import(${JSON.stringify(mod)});
      try { m.createFfiKernel(); console.log("created"); }
      catch (e) { console.log(e.name + ": " + e.message); }`;
    // `deno eval` would grant everything: run the code from stdin with no permissions.
    const child = new Deno.Command(Deno.execPath(), {
      args: ["run", "--no-prompt", "-"],
      stdin: "piped",
      stdout: "piped",
      stderr: "piped",
    }).spawn();
    const w = child.stdin.getWriter();
    await w.write(new TextEncoder().encode(code));
    await w.close();
    const out = await child.output();
    const text = new TextDecoder().decode(out.stdout).trim();
    assert.equal(text, `NotCapable: ${NEEDS_FFI_MESSAGE}`, new TextDecoder().decode(out.stderr));
  },
});

Deno.test(
  "mlock: our own mapping locks (real mlock(2)); memory we did not map -> ENOMEM untouched",
  withKernel((k) => {
    const addr = k.mmap(2n * PAGE);
    assert.ok(addr > 0n);
    assert.equal(k.mlock!(addr, 2n * PAGE), 0);
    assert.equal(errnoOf(k.mlock!(addr + 2n * PAGE, PAGE)), "ENOMEM");
    assert.equal(k.mlock!(addr, 0n), 0, "an empty range: 0, as the kernel answers");
    assert.equal(k.munmap(addr, 2n * PAGE), 0);
    assert.equal(errnoOf(k.mlock!(addr, PAGE)), "ENOMEM", "no longer ours");
  }),
);
