import assert from "node:assert/strict";
import { encode } from "../uapi/codec.ts";
import {
  _IOC,
  IOMMU_IOAS_ALLOC,
  IOMMU_IOAS_IOVA_RANGES,
  IOMMU_IOAS_MAP,
  IOMMU_TEST_CMD,
  requestByName,
  REQUESTS,
  VFIO_CHECK_EXTENSION,
  VFIO_GET_API_VERSION,
  VFIO_GROUP_GET_DEVICE_FD,
  VFIO_GROUP_SET_CONTAINER,
  VFIO_IOMMU_DIRTY_PAGES,
  VFIO_IOMMU_GET_INFO,
  VFIO_IOMMU_MAP_DMA,
  VFIO_IOMMU_UNMAP_DMA,
} from "../uapi/ioctl.ts";
import {
  iommu_ioas_alloc,
  iommu_ioas_iova_ranges,
  iommu_ioas_map,
  vfio_iommu_type1_dma_map,
  vfio_iommu_type1_info,
} from "../uapi/structs.ts";
import {
  FfiBufferError,
  iovaBitmapBytes,
  planBuffer,
  policyOf,
  strayPointer,
  STRING_LIMIT,
} from "./_guard.ts";

function withSize(length: number, size: number): Uint8Array {
  const b = new Uint8Array(length);
  if (length >= 4) new DataView(b.buffer).setUint32(0, size, true);
  return b;
}

Deno.test("policy: every described request gets the kind uapi/ioctl.ts gives it", () => {
  for (const r of REQUESTS) {
    const p = policyOf(r.request);
    assert.equal(p.byValue, r.arg === "none" || r.arg === "value", r.name);
    assert.equal(p.requestBig, BigInt(r.request));
    if (r.struct) assert.ok(p.structSize >= r.struct.size, r.name);
  }
  assert.equal(policyOf(0x12345).kinds, 0);
  assert.equal(policyOf(0x12345).byValue, false);
  assert.equal(policyOf(VFIO_GROUP_GET_DEVICE_FD).fdReturn, true);
});

Deno.test("struct requests: argsz larger than the buffer throws FfiBufferError", () => {
  const p = policyOf(VFIO_IOMMU_MAP_DMA);
  const ok = encode(vfio_iommu_type1_dma_map, { flags: 3 });
  assert.equal(planBuffer(p, ok), 32);
  assert.throws(() => planBuffer(p, ok.subarray(0, 31)), FfiBufferError);
  assert.throws(() => planBuffer(p, new Uint8Array(3)), /cannot hold its argsz/);
  const big = withSize(32, 33);
  const err = assert.throws(() => planBuffer(p, big), (e: unknown) => {
    assert.ok(e instanceof FfiBufferError);
    assert.equal(e.request, VFIO_IOMMU_MAP_DMA);
    assert.equal(e.length, 32);
    assert.equal(e.required, 33);
    assert.match(e.message, /VFIO_IOMMU_MAP_DMA \(0x3b71\).*argsz\/size is larger/);
    assert.match(e.message, /nothing was sent/);
    return true;
  });
  void err;
});

Deno.test("struct requests: the owned buffer is never smaller than argsz, len or sizeof", () => {
  // Exhaustive over small lengths and sizes, for a described and an undescribed struct.
  for (const req of [VFIO_IOMMU_GET_INFO, requestByName("VFIO_DEVICE_GET_INFO")!.request]) {
    const p = policyOf(req);
    for (let len = 0; len <= 80; len++) {
      for (let size = 0; size <= 80; size += 3) {
        const b = withSize(len, size);
        let owned: number | undefined;
        try {
          owned = planBuffer(p, b);
        } catch (e) {
          assert.ok(e instanceof FfiBufferError);
          assert.ok(len < 4 || size > len, `len ${len} size ${size} refused`);
          continue;
        }
        assert.ok(len >= 4 && size <= len, `len ${len} size ${size} accepted`);
        assert.ok(owned >= size && owned >= len && owned >= p.structSize);
        assert.equal(owned, Math.max(len, size, p.structSize));
      }
    }
  }
  // A short argsz is padded up to sizeof: VFIO copies minsz before checking argsz.
  assert.equal(
    planBuffer(policyOf(VFIO_IOMMU_GET_INFO), withSize(8, 8)),
    vfio_iommu_type1_info.size,
  );
});

Deno.test("s32ptr and string requests: 4 bytes, and a NUL (or a page)", () => {
  const sc = policyOf(VFIO_GROUP_SET_CONTAINER);
  assert.throws(() => planBuffer(sc, new Uint8Array(3)), /an s32 needs 4 bytes/);
  assert.equal(planBuffer(sc, new Uint8Array(4)), 4);
  const gd = policyOf(VFIO_GROUP_GET_DEVICE_FD);
  const name = new TextEncoder().encode("0000:00:03.0");
  assert.throws(() => planBuffer(gd, name), /no NUL terminator/);
  assert.throws(() => planBuffer(gd, new Uint8Array(0)), FfiBufferError);
  assert.equal(planBuffer(gd, new TextEncoder().encode("0000:00:03.0\0")), 13);
  // The kernel reads at most a page of the name, so a page-long buffer is safe without NUL.
  assert.equal(planBuffer(gd, new Uint8Array(STRING_LIMIT).fill(0x41)), STRING_LIMIT);
  assert.throws(() => planBuffer(gd, new Uint8Array(STRING_LIMIT - 1).fill(0x41)));
});

Deno.test("by-value requests accept any buffer; unknown requests follow the documented rule", () => {
  assert.equal(planBuffer(policyOf(VFIO_GET_API_VERSION), new Uint8Array(0)), 0);
  assert.equal(planBuffer(policyOf(VFIO_CHECK_EXTENSION), new Uint8Array(2)), 2);
  const unknown = policyOf(0x3b00 | 0x7f); // type ';' nr 0x7f: nothing vfsh knows
  assert.throws(() => planBuffer(unknown, new Uint8Array(3)), /size-prefixed/);
  assert.equal(planBuffer(unknown, withSize(16, 16)), 16);
  assert.throws(() => planBuffer(unknown, withSize(16, 17)), /first u32/);
  assert.equal(planBuffer(unknown, withSize(4096, 0xffff_ffff)), 4096); // a page or more
  // Encoded requests carry their size: _IOR('x', 1, 24 bytes).
  const ior = policyOf(_IOC(2, 0x78, 1, 24));
  assert.throws(() => planBuffer(ior, withSize(23, 0)), /_IOC_SIZE/);
  assert.equal(planBuffer(ior, withSize(24, 0xffff)), 24);
});

Deno.test("user pointers: spans must lie in our memory; unused pointers are not checked", () => {
  const ours = (a: bigint, n: bigint) => a >= 0x10000n && a + n <= 0x20000n;
  const dv = (b: Uint8Array) => new DataView(b.buffer, b.byteOffset, b.byteLength);

  const map = (vaddr: bigint, size: bigint) =>
    dv(encode(vfio_iommu_type1_dma_map, { flags: 3, vaddr, iova: 0x100000n, size }));
  const pm = policyOf(VFIO_IOMMU_MAP_DMA);
  assert.equal(strayPointer(pm, map(0x10000n, 0x10000n), ours), undefined);
  assert.equal(strayPointer(pm, map(0x10000n, 0x10001n), ours)?.field, "vaddr");
  assert.equal(strayPointer(pm, map(0xdead0000n, 0n), ours), undefined); // size 0: EINVAL first

  const ioas = (user_va: bigint) =>
    dv(encode(iommu_ioas_map, { user_va, length: 0x1000n, ioas_id: 1 }));
  assert.equal(strayPointer(policyOf(IOMMU_IOAS_MAP), ioas(0x1f000n), ours), undefined);
  assert.equal(strayPointer(policyOf(IOMMU_IOAS_MAP), ioas(0x8000n), ours)?.field, "user_va");

  const ranges = (num_iovas: number, allowed_iovas: bigint) =>
    dv(encode(iommu_ioas_iova_ranges, { ioas_id: 1, num_iovas, allowed_iovas }));
  const pr = policyOf(IOMMU_IOAS_IOVA_RANGES);
  assert.equal(strayPointer(pr, ranges(0, 0xdeadn), ours), undefined);
  assert.equal(strayPointer(pr, ranges(2, 0x1ffe0n), ours), undefined);
  assert.equal(strayPointer(pr, ranges(3, 0x1ffe0n), ours)?.field, "allowed_iovas");

  // VFIO_IOMMU_UNMAP_DMA with GET_DIRTY_BITMAP: vfio_bitmap { pgsize@24, size@32, data@40 }.
  const unmap = new Uint8Array(48);
  const u = dv(unmap);
  u.setUint32(0, 48, true);
  u.setBigUint64(32, 64n, true);
  u.setBigUint64(40, 0x30000n, true);
  const pu = policyOf(VFIO_IOMMU_UNMAP_DMA);
  assert.equal(strayPointer(pu, u, ours), undefined); // flag not set: pointer unused
  u.setUint32(4, 1, true);
  assert.equal(strayPointer(pu, u, ours)?.field, "bitmap.data");
  assert.equal(strayPointer(pu, dv(unmap.subarray(0, 40)), ours), undefined); // past the view

  // Number 117: VFIO_IOMMU_DIRTY_PAGES GET_BITMAP and VFIO_DEVICE_FEATURE logging report.
  const dp = new Uint8Array(48);
  const d = dv(dp);
  d.setUint32(4, 4, true);
  d.setBigUint64(32, 8n, true); // bitmap_size
  d.setBigUint64(40, 0x1fff8n, true);
  const pd = policyOf(VFIO_IOMMU_DIRTY_PAGES);
  assert.equal(strayPointer(pd, d, ours), undefined);
  d.setBigUint64(32, 9n, true);
  assert.equal(strayPointer(pd, d, ours)?.field, "bitmap_data");
  const feat = new Uint8Array(40);
  const f = dv(feat);
  f.setUint32(4, 0x10008, true); // GET | DMA_LOGGING_REPORT
  f.setBigUint64(16, 0x1000n * 64n * 2n, true); // length: 128 pages → two u64 words
  f.setBigUint64(24, 0x1000n, true); // page_size
  f.setBigUint64(32, 0x1fff0n, true);
  assert.equal(strayPointer(pd, f, ours), undefined);
  f.setBigUint64(32, 0x1fff8n, true);
  assert.equal(strayPointer(pd, f, ours)?.field, "bitmap");

  // IOMMU_TEST_OP_ACCESS_RW: uptr@40 length@32.
  const t = new Uint8Array(72);
  const tv = dv(t);
  tv.setUint32(0, 72, true);
  tv.setUint32(4, 8, true);
  tv.setBigUint64(32, 16n, true);
  tv.setBigUint64(40, 0x40000n, true);
  assert.equal(strayPointer(policyOf(IOMMU_TEST_CMD), tv, ours)?.field, "access_rw.uptr");
  tv.setUint32(4, 2, true); // MOCK_DOMAIN: no user pointer
  assert.equal(strayPointer(policyOf(IOMMU_TEST_CMD), tv, ours), undefined);

  // No pointers at all for the others.
  const alloc = dv(encode(iommu_ioas_alloc));
  assert.equal(strayPointer(policyOf(IOMMU_IOAS_ALLOC), alloc, () => false), undefined);
});

Deno.test("iovaBitmapBytes: whole u64 words, page shift from the lowest set bit", () => {
  assert.equal(iovaBitmapBytes(0x1000n, 0x1000n), 8n);
  assert.equal(iovaBitmapBytes(0x1000n * 64n, 0x1000n), 8n);
  assert.equal(iovaBitmapBytes(0x1000n * 64n + 1n, 0x1000n), 16n);
  assert.equal(iovaBitmapBytes(0x3000n * 64n, 0x3000n), 24n); // __ffs(0x3000) = 12
  assert.equal(iovaBitmapBytes(0n, 0x1000n), undefined);
  assert.equal(iovaBitmapBytes(0x1000n, 0n), undefined);
});
