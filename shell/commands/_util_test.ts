/**
 * sendStructShared and outField: one zeroed buffer per struct, results read at once, and
 * the plain sendStruct whenever an override is given.
 */

import { deepStrictEqual, strictEqual } from "node:assert";
import type { IoctlArg, Kernel } from "../../uapi/kernel.ts";
import { vfio_iommu_type1_dma_unmap } from "../../uapi/structs.ts";
import type { CommandContext } from "./_api.ts";
import { outField, sendStructShared, setBits } from "./_util.ts";

/** A kernel whose ioctl records the bytes it got and writes `size` back as 0x1000. */
function fakeKernel() {
  const seen: { arg: Uint8Array; bytes: number[] }[] = [];
  const kernel = {
    ioctl(_fd: number, _request: number, arg: IoctlArg): number {
      const a = arg as Uint8Array;
      seen.push({ arg: a, bytes: [...a] });
      new DataView(a.buffer, a.byteOffset, a.byteLength).setBigUint64(16, 0x1000n, true);
      return 0;
    },
  } as unknown as Kernel;
  const ctx = { kernel, fail: (m: string) => ({ never: m }) } as unknown as CommandContext;
  return { ctx, seen };
}

Deno.test("sendStructShared: one buffer per struct, zeroed and encoded afresh each call", () => {
  const { ctx, seen } = fakeKernel();
  const desc = vfio_iommu_type1_dma_unmap;
  const a = sendStructShared(ctx, 3, 0, desc, { flags: 2, iova: 0x5000n, size: 0x2000n });
  strictEqual(outField(a, "size"), 0x1000n);
  strictEqual(a.out.iova, 0x5000n);
  const b = sendStructShared(ctx, 3, 0, desc, { iova: 0x6000n });
  strictEqual(seen[1].arg, seen[0].arg, "the same buffer");
  // Nothing of the first call is left: flags and size are zero again, argsz is sizeof.
  deepStrictEqual(seen[1].bytes.slice(0, 8), [24, 0, 0, 0, 0, 0, 0, 0]);
  deepStrictEqual(seen[1].bytes.slice(16), [0, 0, 0, 0, 0, 0, 0, 0]);
  strictEqual(outField(b, "iova"), 0x6000n);
  strictEqual(outField(b, "size"), 0x1000n);
  deepStrictEqual(b.out, { argsz: 24n, flags: 0n, iova: 0x6000n, size: 0x1000n });
});

Deno.test("sendStructShared: an override gets a buffer of its own, as sendStruct gives", () => {
  const { ctx, seen } = fakeKernel();
  const desc = vfio_iommu_type1_dma_unmap;
  sendStructShared(ctx, 3, 0, desc, { iova: 0x5000n });
  const r = sendStructShared(ctx, 3, 0, desc, { iova: 0x5000n }, { argsz: 32n });
  strictEqual(seen[1].arg.length, 32);
  strictEqual(seen[1].bytes[0], 32);
  strictEqual(outField(r, "size"), 0x1000n);
  strictEqual(r.buf.length, 32);
});

Deno.test("setBits: the set bits of every byte, as a dirty bitmap's page count", () => {
  strictEqual(setBits(new Uint8Array(0)), 0n);
  strictEqual(setBits(new Uint8Array([0xff, 0x01, 0x80, 0])), 10n);
  strictEqual(setBits(new Uint8Array(64).fill(0xff)), 512n);
});
