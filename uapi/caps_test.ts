import assert from "node:assert/strict";
import { decodeInfoCaps } from "./caps.ts";

/** A GET_INFO buffer: fixed struct with cap_offset, then caps written at given offsets. */
function info(length: number, capOffset: number): { buf: Uint8Array; view: DataView } {
  const buf = new Uint8Array(length);
  const view = new DataView(buf.buffer);
  view.setUint32(0, length, true);
  view.setUint32(4, 3, true);
  view.setBigUint64(8, 0xfffffffffffff000n, true);
  view.setUint32(16, capOffset, true);
  return { buf, view };
}

function header(view: DataView, at: number, id: number, next: number) {
  view.setUint16(at, id, true);
  view.setUint16(at + 2, 1, true);
  view.setUint32(at + 4, next, true);
}

function dmaAvail(view: DataView, at: number, next: number, avail = 0xffffffff) {
  header(view, at, 3, next);
  view.setUint32(at + 8, avail, true);
}

function iovaRange(view: DataView, at: number, next: number, ranges: Array<[bigint, bigint]>) {
  header(view, at, 1, next);
  view.setUint32(at + 8, ranges.length, true);
  ranges.forEach(([s, e], i) => {
    view.setBigUint64(at + 16 + 16 * i, s, true);
    view.setBigUint64(at + 24 + 16 * i, e, true);
  });
}

Deno.test("decodes the 6.12 compat chain the rig measured: DMA_AVAIL@24 then IOVA_RANGE@40", () => {
  const { buf, view } = info(72, 24);
  dmaAvail(view, 24, 40);
  iovaRange(view, 40, 0, [[0n, 0xffffffffffffffffn]]);
  const { caps, error } = decodeInfoCaps(buf);
  assert.equal(error, undefined);
  assert.deepEqual(caps.map((c) => [c.offset, c.kind, c.next]), [[24, "dma_avail", 40], [
    40,
    "iova_range",
    0,
  ]]);
  assert.equal(caps[0].fields.avail, 0xffffffffn);
  assert.deepEqual(caps[1].ranges, [{ start: 0n, end: 0xffffffffffffffffn }]);
});

Deno.test("decodes the pre-6.6 unaligned chain: IOVA_RANGE at 36", () => {
  const { buf, view } = info(68, 24);
  dmaAvail(view, 24, 36);
  iovaRange(view, 36, 0, [[0x1000000n, 0x7fffffffn]]);
  const { caps, error } = decodeInfoCaps(buf);
  assert.equal(error, undefined);
  assert.deepEqual(caps[1].ranges, [{ start: 0x1000000n, end: 0x7fffffffn }]);
});

Deno.test("decodes the legacy type1 chain with MIGRATION first", () => {
  const { buf, view } = info(120, 24);
  header(view, 24, 2, 56);
  view.setBigUint64(40, 0x1000n, true);
  view.setBigUint64(48, 0x10000000n, true);
  dmaAvail(view, 56, 72, 65535);
  iovaRange(view, 72, 0, [[0n, 0xfedfffffn], [0xfef00000n, 0x7fffffffffn]]);
  const { caps, error } = decodeInfoCaps(buf);
  assert.equal(error, undefined);
  assert.deepEqual(caps.map((c) => c.kind), ["migration", "dma_avail", "iova_range"]);
  assert.equal(caps[0].fields.max_dirty_bitmap_size, 0x10000000n);
  assert.equal(caps[2].ranges?.length, 2);
});

Deno.test("cap_offset 0 means no capabilities", () => {
  assert.deepEqual(decodeInfoCaps(info(72, 0).buf), { caps: [] });
});

Deno.test("a buffer too short for the fixed struct decodes to no capabilities", () => {
  assert.deepEqual(decodeInfoCaps(new Uint8Array(10)), { caps: [] });
});

Deno.test("a next that points outside the buffer is a decode error, not a throw", () => {
  const { buf, view } = info(72, 24);
  dmaAvail(view, 24, 4000);
  const { caps, error } = decodeInfoCaps(buf);
  assert.equal(caps.length, 1);
  assert.match(error!, /outside the 72-byte buffer/);
});

Deno.test("a next that points into the fixed struct is a decode error", () => {
  const { buf, view } = info(72, 24);
  dmaAvail(view, 24, 8);
  assert.match(decodeInfoCaps(buf).error!, /into the fixed info struct/);
});

Deno.test("a cycle ends the walk with an error instead of hanging", () => {
  const { buf, view } = info(72, 24);
  dmaAvail(view, 24, 40);
  header(view, 40, 99, 24);
  const { caps, error } = decodeInfoCaps(buf);
  assert.equal(caps.length, 2);
  assert.equal(caps[1].kind, "unknown");
  assert.match(error!, /loops back to offset 24/);
});

Deno.test("a self-loop is a cycle too", () => {
  const { buf, view } = info(40, 24);
  header(view, 24, 3, 24);
  assert.match(decodeInfoCaps(buf).error!, /loops back/);
});

Deno.test("a truncated capability body is reported with what it needs", () => {
  const { buf, view } = info(34, 24);
  header(view, 24, 3, 0); // DMA_AVAIL needs 12 bytes, 10 left
  assert.match(decodeInfoCaps(buf).error!, /truncated: needs 12 bytes, 10 left/);
});

Deno.test("an IOVA_RANGE whose nr_iovas overruns the buffer is reported", () => {
  const { buf, view } = info(72, 40);
  iovaRange(view, 40, 0, [[0n, 1n]]);
  view.setUint32(48, 1000, true);
  const { caps, error } = decodeInfoCaps(buf);
  assert.equal(caps.length, 1);
  assert.equal(caps[0].ranges, undefined);
  assert.match(error!, /claims 1000 ranges/);
});

Deno.test("a header straddling the end of the buffer is outside it", () => {
  const { buf } = info(28, 24);
  assert.match(decodeInfoCaps(buf).error!, /outside/);
});

Deno.test("random buffers never throw and never loop", () => {
  let s = 42;
  const rand = () => (s = (s * 1103515245 + 12345) & 0x7fffffff);
  for (let i = 0; i < 2000; i++) {
    const buf = new Uint8Array(24 + (rand() % 200));
    for (let j = 0; j < buf.length; j++) buf[j] = rand() & 0xff;
    // Steer half the cases into plausible offsets so the walk goes deep.
    if (i % 2) new DataView(buf.buffer).setUint32(16, 24 + (rand() % (buf.length - 23)), true);
    const r = decodeInfoCaps(buf);
    assert.ok(r.caps.length <= buf.length / 8);
  }
});
