import assert from "node:assert/strict";
import {
  decode,
  decodeFieldFrom,
  decodeFrom,
  encode,
  fieldNames,
  fieldOf,
  formatStruct,
  fromHex,
  offsetsOf,
  toHex,
} from "./codec.ts";
import {
  iommu_ioas_map,
  iommu_option,
  STRUCTS,
  vfio_iommu_type1_dma_map,
  vfio_iommu_type1_dma_unmap,
} from "./structs.ts";

Deno.test("encode lays out vfio_iommu_type1_dma_map little-endian with argsz = sizeof", () => {
  const buf = encode(vfio_iommu_type1_dma_map, {
    flags: 3,
    vaddr: 0x7f0000001000n,
    iova: 0x100000n,
    size: 0x200000n,
  });
  assert.equal(
    toHex(buf),
    "20000000" + "03000000" + "00100000007f0000" + "0000100000000000" + "0000200000000000",
  );
});

Deno.test("encode: an argsz override larger than sizeof grows the buffer to match", () => {
  const buf = encode(vfio_iommu_type1_dma_unmap, { argsz: 100, iova: 1n });
  assert.equal(buf.length, 100);
  assert.equal(new DataView(buf.buffer).getUint32(0, true), 100);
});

Deno.test("encode: a small argsz keeps the sizeof-long buffer (the kernel reads sizeof)", () => {
  const buf = encode(vfio_iommu_type1_dma_map, { argsz: 1 });
  assert.equal(buf.length, 32);
  assert.equal(buf[0], 1);
});

Deno.test("encode: bufferSize only ever grows the buffer", () => {
  assert.equal(encode(iommu_option, {}, { bufferSize: 4 }).length, 24);
  assert.equal(encode(iommu_option, {}, { bufferSize: 64 }).length, 64);
});

Deno.test("encode rejects a field the struct does not have", () => {
  assert.throws(() => encode(iommu_option, { nope: 1 }), /no field 'nope'/);
});

Deno.test("values are truncated to the field width (as a C assignment would)", () => {
  const buf = encode(iommu_option, { op: 0x12345 });
  assert.equal(decode(iommu_option, buf).op, 0x2345n);
});

Deno.test("every struct round-trips random field values", () => {
  let seed = 0x1234567n;
  const next = () => {
    seed = (seed * 6364136223846793005n + 1442695040888963407n) & ((1n << 64n) - 1n);
    return seed;
  };
  for (const desc of Object.values(STRUCTS)) {
    for (let round = 0; round < 20; round++) {
      const values: Record<string, bigint> = {};
      // Union members overlap: set only fields that do not overlap an earlier one.
      const taken: Array<[number, number]> = [];
      for (const f of desc.fields) {
        if (f.kind === "size") continue;
        if (taken.some(([o, s]) => f.offset < o + s && o < f.offset + f.size)) continue;
        taken.push([f.offset, f.size]);
        values[f.name] = next() & ((1n << BigInt(f.size * 8)) - 1n);
      }
      const decoded = decode(desc, encode(desc, values));
      for (const [k, v] of Object.entries(values)) {
        const f = fieldOf(desc, k);
        const expect = f.kind === "fd" ? BigInt.asIntN(f.size * 8, v) : v;
        assert.equal(decoded[k], expect, `${desc.name}.${k}`);
      }
    }
  }
});

Deno.test("decode of a short buffer gives only the fields that fit", () => {
  const out = decode(iommu_ioas_map, new Uint8Array(12));
  assert.deepEqual(Object.keys(out), ["size", "flags", "ioas_id"]);
});

Deno.test("decodeFieldFrom gives each field as decodeFrom does, and nothing past the length", () => {
  const bytes = new Uint8Array(64);
  for (let i = 0; i < bytes.length; i++) bytes[i] = (i * 37 + 11) & 0xff;
  const view = new DataView(bytes.buffer);
  for (const desc of Object.values(STRUCTS)) {
    if (desc.size + 8 > bytes.length) continue;
    for (const length of [desc.size, 12]) {
      const all = decodeFrom(desc, view, 8, length);
      for (const f of desc.fields) {
        assert.equal(decodeFieldFrom(desc, view, 8, length, f.name), all[f.name], desc.name);
      }
      assert.equal(decodeFieldFrom(desc, view, 8, length, "no_such_field"), undefined);
    }
  }
});

Deno.test("formatStruct names flags and prints ids in decimal", () => {
  const buf = encode(iommu_ioas_map, { flags: 7, ioas_id: 3, length: 0x1000n });
  assert.equal(
    formatStruct(iommu_ioas_map, decode(iommu_ioas_map, buf)),
    "size=40 flags=IOAS_MAP_FIXED_IOVA|IOAS_MAP_WRITEABLE|IOAS_MAP_READABLE ioas_id=3 " +
      "user_va=0x0 length=0x1000 iova=0x0",
  );
});

Deno.test("offsetsOf and fieldNames derive from the table", () => {
  assert.equal(offsetsOf(vfio_iommu_type1_dma_unmap).size, 16);
  assert.deepEqual(fieldNames(vfio_iommu_type1_dma_unmap), ["argsz", "flags", "iova", "size"]);
});

Deno.test("hex parsing accepts separators and rejects junk", () => {
  assert.deepEqual([...fromHex("de ad:be_ef")!], [0xde, 0xad, 0xbe, 0xef]);
  assert.deepEqual([...fromHex("0x0102")!], [1, 2]);
  assert.equal(fromHex("abc"), undefined);
  assert.equal(fromHex("zz"), undefined);
});
