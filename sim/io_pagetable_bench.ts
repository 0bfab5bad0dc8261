/**
 * Micro-benchmark of the io_pagetable data layer: one fixed-IOVA map plus one unmap per
 * iteration, with 10^3 and 10^6 areas resident, with and without a domain (pinning), and
 * with automatic IOVA allocation; plus the heap cost per resident area. Each iteration runs
 * 1000 operations (the time per iteration in microseconds is the time per map+unmap in ns).
 *
 *   npx -y deno@2.9.6 bench --v8-flags=--expose-gc sim/io_pagetable_bench.ts
 *
 * @module
 */

import { findRelease } from "./release.ts";
import { IOMMU_READ, IOMMU_WRITE, IoPagetable } from "./io_pagetable.ts";
import { PinAccounting } from "./pages.ts";
import { UserMemory } from "./user_memory.ts";
import { U64_MAX } from "../uapi/mod.ts";

const RW = IOMMU_READ | IOMMU_WRITE;
const release = findRelease("6.18")!;

interface Fixture {
  iopt: IoPagetable;
  buf: bigint;
  n: number;
}

/** n resident 4 KiB areas at 0x2000-byte strides, leaving a 4 KiB hole after each. */
function fixture(n: number, opts: { domain?: boolean; privileged?: boolean } = {}): Fixture {
  const memory = new UserMemory();
  const accounting = new PinAccounting({
    privileged: opts.privileged ?? true,
    memlockLimit: U64_MAX,
  });
  const iopt = new IoPagetable({
    memory,
    accounting,
    release: () => release,
    accountMode: () => "user",
  });
  if (opts.domain) {
    iopt.addDomain({
      pgsizeBitmap: 0x1000n,
      apertureStart: 0n,
      apertureLast: U64_MAX,
      enforceCacheCoherency: false,
    }, []);
  }
  const buf = memory.mmap(1n << 24n);
  for (let i = 0; i < n; i++) {
    const r = iopt.mapUserPages({
      uptr: buf + BigInt(i % 4096) * 0x1000n,
      length: 0x1000n,
      prot: RW,
      iova: 0x10000n + BigInt(i) * 0x2000n,
    });
    if (r.errno !== 0) throw new Error(`setup map ${i}: ${r.errno}`);
  }
  return { iopt, buf, n };
}

/** Map into the (k mod n)-th hole, then unmap it again. */
function mapUnmap(f: Fixture, k: number): void {
  const iova = 0x11000n + BigInt(k % f.n) * 0x2000n;
  const r = f.iopt.mapUserPages({ uptr: f.buf, length: 0x1000n, prot: RW, iova });
  if (r.errno !== 0) throw new Error(`map ${r.errno}`);
  const u = f.iopt.unmapIova(iova, 0x1000n);
  if (u.errno !== 0) throw new Error(`unmap ${u.errno}`);
}

/** Map at an automatically allocated IOVA (the first hole), then unmap it. */
function allocUnmap(f: Fixture): void {
  const r = f.iopt.mapUserPages({ uptr: f.buf, length: 0x1000n, prot: RW });
  if (r.errno !== 0) throw new Error(`alloc ${r.errno}`);
  f.iopt.unmapIova(r.iova, 0x1000n);
}

/** Heap + external bytes per resident area, measured around building a fixture. */
async function bytesPerArea(n: number): Promise<number> {
  const gc = (globalThis as { gc?: () => void }).gc;
  // Let freed ArrayBuffer backing stores (typed arrays outgrown on the way) really go.
  const settle = async () => {
    for (let i = 0; i < 3; i++) {
      gc?.();
      await new Promise((r) => setTimeout(r, 50));
    }
    const m = Deno.memoryUsage();
    return m.heapUsed + m.external;
  };
  const before = await settle();
  const f = fixture(n);
  const after = await settle();
  if (f.iopt.areaCount() !== n) throw new Error("fixture");
  return (after - before) / n;
}

// Measured first, before the fixtures below fill the heap.
const perArea = await bytesPerArea(1_000_000);
console.log(`bytes per resident area (10^6 areas): ${perArea.toFixed(1)}`);

const small = fixture(1_000);
const large = fixture(1_000_000);
const largeDomain = fixture(1_000_000, { domain: true, privileged: false });
let k = 0;
// Random holes touch a different leaf each time (cache-cold); sequential ones walk along.
const RANDOM = 7919;
/** Operations per bench iteration: divide the reported time by this for one map+unmap. */
const BATCH = 1000;

Deno.bench("10^3 areas, random holes (x1000)", { group: "map+unmap", baseline: true }, () => {
  for (let i = 0; i < BATCH; i++) mapUnmap(small, k++ * RANDOM);
});

Deno.bench("10^6 areas, random holes (x1000)", { group: "map+unmap" }, () => {
  for (let i = 0; i < BATCH; i++) mapUnmap(large, k++ * RANDOM);
});

Deno.bench("10^6 areas, sequential holes (x1000)", { group: "map+unmap" }, () => {
  for (let i = 0; i < BATCH; i++) mapUnmap(large, k++);
});

Deno.bench("10^6 areas + domain (pin, RLIMIT), random (x1000)", { group: "map+unmap" }, () => {
  for (let i = 0; i < BATCH; i++) mapUnmap(largeDomain, k++ * RANDOM);
});

Deno.bench("auto-IOVA map+unmap, 10^6 areas (x1000)", { group: "alloc" }, () => {
  for (let i = 0; i < BATCH; i++) allocUnmap(large);
});
