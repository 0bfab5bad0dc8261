/**
 * Measurement 2: memory per resident area. A child process (`--v8-flags=--expose-gc`) opens
 * one IOAS, forces a GC, fills it with N areas through the ioctl path, forces a GC again,
 * and reports the growth of V8's heap plus external (ArrayBuffer) memory divided by N.
 *
 * Run as a child: `deno run --v8-flags=--expose-gc scripts/bench/sim_memory.ts N`.
 *
 * @module
 */

import { createSimKernel } from "../../sim/mod.ts";
import { childResult, printResult, runDeno } from "./machine.ts";
import type { BenchOptions, Measurement, MeasurementResult } from "./report.ts";
import { fillTo, openIoas } from "./sim_fixture.ts";
import { formatCount } from "./stats.ts";

/** What the child reports. */
export interface MemorySample {
  areas: number;
  /** heapUsed growth, bytes. */
  heapDelta: number;
  /** external (ArrayBuffers, …) growth, bytes. */
  externalDelta: number;
  /** (heapDelta + externalDelta) / areas. */
  bytesPerArea: number;
  /** Seconds the fill took. */
  fillSeconds: number;
}

function settledUsage(): { heap: number; external: number } {
  const gc = (globalThis as { gc?: () => void }).gc;
  if (!gc) throw new Error("run with --v8-flags=--expose-gc");
  for (let i = 0; i < 3; i++) gc();
  const m = Deno.memoryUsage();
  return { heap: m.heapUsed, external: m.external };
}

/** In the child: fill one IOAS with `areas` areas and measure the heap growth. */
export function sampleMemory(areas: number): MemorySample {
  const kernel = createSimKernel();
  const f = openIoas(kernel);
  const before = settledUsage();
  const t0 = performance.now();
  fillTo(f, areas);
  const fillSeconds = (performance.now() - t0) / 1000;
  const after = settledUsage();
  // Keep the kernel reachable until after the second measurement.
  if (kernel.close(f.fd) !== 0) throw new Error("close");
  const heapDelta = after.heap - before.heap;
  const externalDelta = after.external - before.external;
  return {
    areas,
    heapDelta,
    externalDelta,
    bytesPerArea: (heapDelta + externalDelta) / areas,
    fillSeconds,
  };
}

/** The 128 bytes/area bound of the issue. */
const BYTES_TARGET = 128;

/** Run the child and turn its report into a row. */
export async function measureMemory(o: BenchOptions): Promise<MeasurementResult> {
  const areas = o.quick ? 100_000 : 1_000_000;
  const p = await runDeno([
    "run",
    "--allow-read",
    "--v8-flags=--expose-gc",
    new URL(import.meta.url).pathname,
    String(areas),
  ]);
  const s = childResult<MemorySample>(p, "the memory child");
  o.log(`memory: ${s.bytesPerArea.toFixed(1)} B/area at ${formatCount(areas)} areas`);
  return {
    rows: [{
      measurement: "memory",
      figure: `sim heap+external per area @${formatCount(areas)} areas`,
      value: s.bytesPerArea,
      unit: "B/area",
      target: areas >= 1_000_000
        ? { on: "value", op: "<=", limit: BYTES_TARGET, text: "≤ 128 B/area" }
        : undefined,
      note: `heap ${(s.heapDelta / 2 ** 20).toFixed(1)} MiB, external ${
        (s.externalDelta / 2 ** 20).toFixed(1)
      } MiB`,
    }],
    details: { ...s },
  };
}

/** The measurement as the harness lists it. */
export const memoryMeasurement: Measurement = {
  name: "memory",
  title: "heap growth per resident area after a forced GC (child with --expose-gc)",
  run: measureMemory,
};

if (import.meta.main) {
  const areas = Number(Deno.args[0] ?? 1_000_000);
  printResult(sampleMemory(areas));
}
