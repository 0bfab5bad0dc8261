/** The ordered mapping list of a type1 container. */

import { deepStrictEqual, strictEqual } from "node:assert";
import { DmaList, type VfioDma } from "./vfio_dma.ts";

function dma(iova: bigint, size = 0x1000n): VfioDma {
  return { iova, size, vaddr: 0n, prot: 3, pinned: false, lockedPages: 0, vaddrInvalid: false };
}

Deno.test("dma list: keeps IOVA order across block splits, removes by identity", () => {
  const l = new DmaList();
  const all: VfioDma[] = [];
  // Insert 3000 mappings in a scrambled order.
  for (let i = 0; i < 3000; i++) {
    const k = (i * 1237) % 3000;
    const d = dma(BigInt(k) * 0x2000n);
    all[k] = d;
    l.insert(d);
  }
  strictEqual(l.size, 3000);
  deepStrictEqual([...l].map((d) => d.iova), all.map((d) => d.iova));
  for (let k = 0; k < 3000; k += 2) strictEqual(l.remove(all[k]), true);
  strictEqual(l.remove(all[0]), false, "already gone");
  strictEqual(l.size, 1500);
  deepStrictEqual(
    [...l].map((d) => d.iova),
    all.filter((_, k) => k % 2 === 1).map((d) => d.iova),
  );
});

Deno.test("dma list: findOverlap returns the lowest mapping touching a range", () => {
  const l = new DmaList();
  const a = dma(0x10000n, 0x4000n), b = dma(0x20000n, 0x1000n);
  l.insert(b);
  l.insert(a);
  strictEqual(l.findOverlap(0x0n, 0xffffn), undefined);
  strictEqual(l.findOverlap(0x13fffn, 0x13fffn), a);
  strictEqual(l.findOverlap(0x14000n, 0x1ffffn), undefined);
  strictEqual(l.findOverlap(0x11000n, 0x30000n), a);
  strictEqual(l.findOverlap(0x20fffn, 0xffff_ffff_ffff_ffffn), b);
});

Deno.test("dma list: cursors walk in order from the first mapping ending at or after x", () => {
  const l = new DmaList();
  for (let i = 0; i < 1200; i++) l.insert(dma(BigInt(i) * 0x1000n));
  const c = l.firstEndingFrom(0x3ff800n)!;
  strictEqual(l.at(c)!.iova, 0x3ff000n);
  const seen: bigint[] = [];
  do seen.push(l.at(c)!.iova); while (l.next(c));
  strictEqual(seen.length, 1200 - 0x3ff);
  strictEqual(l.firstEndingFrom(1200n * 0x1000n), undefined);
});

Deno.test("dma list: an equal IOVA goes before the existing one (vfio_link_dma of a 0-size node)", () => {
  const l = new DmaList();
  const old = dma(0x5000n), dup = dma(0x5000n);
  l.insert(old);
  l.insert(dup);
  deepStrictEqual([...l], [dup, old]);
  strictEqual(l.remove(old), true);
  deepStrictEqual([...l], [dup]);
});
