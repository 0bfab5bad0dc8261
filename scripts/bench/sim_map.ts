/**
 * Measurement 1: simulator map+unmap through the full ioctl byte path, with 10^3 … 10^6
 * areas resident in one IOAS, by the VFIO compat ioctls (MAP_DMA / UNMAP_DMA on the
 * container) and by the native ones (IOMMU_IOAS_MAP / IOMMU_IOAS_UNMAP).
 *
 * Each op type has one preallocated encoded buffer; a loop only patches `iova`, calls
 * `kernel.ioctl`, and decodes what the kernel wrote back (IOAS_MAP's `iova`, the unmapped
 * length). The IOVAs are holes between resident areas, at positions drawn from a seeded PRNG
 * beforehand. One operation is one ioctl: a map+unmap pair counts as two.
 *
 * A fixed 10^3-area IOAS (its own context) is measured in the same rounds as each larger
 * size, alternating, so the growth ratio compares samples taken under the same load.
 *
 * @module
 */

import { createSimKernel } from "../../sim/mod.ts";
import {
  encode,
  IOMMU_IOAS_MAP,
  iommu_ioas_map,
  IOMMU_IOAS_UNMAP,
  iommu_ioas_unmap,
  type Kernel,
  offsetsOf,
  VFIO_IOMMU_MAP_DMA,
  vfio_iommu_type1_dma_map,
  vfio_iommu_type1_dma_unmap,
  VFIO_IOMMU_UNMAP_DMA,
} from "../../uapi/mod.ts";
import type { BenchOptions, Measurement, MeasurementResult, RowInput } from "./report.ts";
import {
  AREA,
  type FilledIoas,
  fillTo,
  holeIova,
  IOAS_MAP_FIXED_RW,
  IOAS_MAP_OFF,
  openIoas,
} from "./sim_fixture.ts";
import { alternate, formatCount, median, pairedRatio, randomIndices } from "./stats.ts";

/** Which ioctls a loop issues. */
export type MapMode = "compat" | "native";

const MAPD = offsetsOf(vfio_iommu_type1_dma_map);
const UNMAPD = offsetsOf(vfio_iommu_type1_dma_unmap);
const IOAS_UNMAP_OFF = offsetsOf(iommu_ioas_unmap);
/** VFIO_DMA_MAP_FLAG_READ | VFIO_DMA_MAP_FLAG_WRITE. */
const DMA_MAP_RW = 1 | 2;

/**
 * A timed loop of map+unmap pairs at fixed hole IOVAs of one IOAS. `run()` returns
 * nanoseconds per ioctl.
 */
export class MapUnmapLoop {
  readonly #kernel: Kernel;
  readonly #fd: number;
  readonly #iovas: bigint[];
  readonly #mapBuf: Uint8Array;
  readonly #unmapBuf: Uint8Array;
  readonly #mapView: DataView;
  readonly #unmapView: DataView;
  readonly #mode: MapMode;

  /** Prepare `pairs` map+unmap pairs at holes `positions` of `f`, by `mode`. */
  constructor(f: FilledIoas, mode: MapMode, positions: Int32Array) {
    this.#kernel = f.kernel;
    this.#fd = f.fd;
    this.#mode = mode;
    this.#iovas = Array.from(positions, holeIova);
    if (mode === "compat") {
      this.#mapBuf = encode(vfio_iommu_type1_dma_map, {
        flags: DMA_MAP_RW,
        vaddr: f.vaddr,
        size: AREA,
      });
      this.#unmapBuf = encode(vfio_iommu_type1_dma_unmap, { size: AREA });
    } else {
      this.#mapBuf = encode(iommu_ioas_map, {
        flags: IOAS_MAP_FIXED_RW,
        ioas_id: f.ioasId,
        user_va: f.vaddr,
        length: AREA,
      });
      this.#unmapBuf = encode(iommu_ioas_unmap, { ioas_id: f.ioasId, length: AREA });
    }
    this.#mapView = new DataView(this.#mapBuf.buffer);
    this.#unmapView = new DataView(this.#unmapBuf.buffer);
  }

  /** Run every pair once; nanoseconds per ioctl. */
  run(): number {
    const t0 = performance.now();
    if (this.#mode === "compat") this.#compat();
    else this.#native();
    return ((performance.now() - t0) * 1e6) / (2 * this.#iovas.length);
  }

  #compat(): void {
    const k = this.#kernel, fd = this.#fd, iovas = this.#iovas;
    const mb = this.#mapBuf, ub = this.#unmapBuf, mv = this.#mapView, uv = this.#unmapView;
    for (let i = 0; i < iovas.length; i++) {
      const iova = iovas[i];
      mv.setBigUint64(MAPD.iova, iova, true);
      const m = k.ioctl(fd, VFIO_IOMMU_MAP_DMA, mb);
      if (m !== 0) throw new Error(`MAP_DMA at 0x${iova.toString(16)} answered ${m}`);
      uv.setBigUint64(UNMAPD.iova, iova, true);
      const u = k.ioctl(fd, VFIO_IOMMU_UNMAP_DMA, ub);
      if (u !== 0 || uv.getBigUint64(UNMAPD.size, true) !== AREA) {
        throw new Error(`UNMAP_DMA at 0x${iova.toString(16)} answered ${u}`);
      }
    }
  }

  #native(): void {
    const k = this.#kernel, fd = this.#fd, iovas = this.#iovas;
    const mb = this.#mapBuf, ub = this.#unmapBuf, mv = this.#mapView, uv = this.#unmapView;
    for (let i = 0; i < iovas.length; i++) {
      const iova = iovas[i];
      mv.setBigUint64(IOAS_MAP_OFF.iova, iova, true);
      const m = k.ioctl(fd, IOMMU_IOAS_MAP, mb);
      if (m !== 0 || mv.getBigUint64(IOAS_MAP_OFF.iova, true) !== iova) {
        throw new Error(`IOAS_MAP at 0x${iova.toString(16)} answered ${m}`);
      }
      uv.setBigUint64(IOAS_UNMAP_OFF.iova, iova, true);
      const u = k.ioctl(fd, IOMMU_IOAS_UNMAP, ub);
      if (u !== 0 || uv.getBigUint64(IOAS_UNMAP_OFF.length, true) !== AREA) {
        throw new Error(`IOAS_UNMAP at 0x${iova.toString(16)} answered ${u}`);
      }
    }
  }
}

/** Sizes and repetitions of one run. */
export interface MapPlan {
  /** The reference size every other size is compared against. */
  small: number;
  /** The sizes the large IOAS is grown to, in order. */
  levels: number[];
  /** map+unmap pairs per timed loop. */
  pairs: number;
  /** Alternating rounds per size. */
  rounds: number;
}

/** The plan for a full run or a `--quick` one; `rounds` overrides the rounds per size. */
export function mapPlan(quick: boolean, rounds?: number): MapPlan {
  const plan = quick
    ? { small: 1_000, levels: [10_000, 100_000], pairs: 5_000, rounds: 3 }
    : { small: 1_000, levels: [10_000, 100_000, 1_000_000], pairs: 20_000, rounds: 7 };
  return rounds === undefined ? plan : { ...plan, rounds };
}

/** ns/op samples of one size, both modes, with the 10^3 samples of the same rounds. */
interface LevelSamples {
  areas: number;
  fillMs: number;
  compat: number[];
  native: number[];
  smallCompat: number[];
  smallNative: number[];
}

/** Run the measurement; rows for the table and the raw samples. */
export async function measureMapUnmap(o: BenchOptions): Promise<MeasurementResult> {
  const plan = mapPlan(o.quick, o.rounds);
  const small = openIoas(createSimKernel());
  fillTo(small, plan.small);
  const big = openIoas(createSimKernel());
  const smallLoops = {
    compat: new MapUnmapLoop(small, "compat", randomIndices(plan.pairs, plan.small, 1)),
    native: new MapUnmapLoop(small, "native", randomIndices(plan.pairs, plan.small, 2)),
  };
  const levels: LevelSamples[] = [];
  for (const [i, n] of plan.levels.entries()) {
    const t0 = performance.now();
    fillTo(big, n);
    const fillMs = performance.now() - t0;
    o.log(`map: ${formatCount(n)} areas resident (fill ${(fillMs / 1000).toFixed(1)} s)`);
    const compat = new MapUnmapLoop(big, "compat", randomIndices(plan.pairs, n, 10 + i));
    const native = new MapUnmapLoop(big, "native", randomIndices(plan.pairs, n, 20 + i));
    // Warm-up: one untimed pass of each loop, so the JIT has settled before the rounds.
    for (const l of [smallLoops.compat, compat, smallLoops.native, native]) l.run();
    const s = await alternate({
      smallCompat: () => smallLoops.compat.run(),
      compat: () => compat.run(),
      smallNative: () => smallLoops.native.run(),
      native: () => native.run(),
    }, plan.rounds);
    levels.push({
      areas: n,
      fillMs,
      compat: s.compat,
      native: s.native,
      smallCompat: s.smallCompat,
      smallNative: s.smallNative,
    });
  }
  return { rows: mapRows(plan, levels), details: { plan, levels } };
}

/** 10^6 ops/s target and the 1.5× growth bound of the issue. */
const OPS_TARGET = 1_000_000;
const GROWTH_TARGET = 1.5;

function mapRows(plan: MapPlan, levels: LevelSamples[]): RowInput[] {
  const rows: RowInput[] = [];
  const largest = levels[levels.length - 1];
  for (const mode of ["compat", "native"] as const) {
    const label = mode === "compat" ? "MAP_DMA+UNMAP_DMA" : "IOAS_MAP+IOAS_UNMAP";
    const smallKey = mode === "compat" ? "smallCompat" : "smallNative";
    const smallAll = levels.flatMap((l) => l[smallKey]);
    rows.push({
      measurement: "map",
      figure: `sim ${mode} ${label} @${formatCount(plan.small)} areas`,
      value: 1e9 / median(smallAll),
      unit: "ops/s",
      note: `${median(smallAll).toFixed(0)} ns/op`,
    });
    for (const l of levels) {
      const ns = median(l[mode]);
      const isTop = l === largest && l.areas >= 1_000_000;
      rows.push({
        measurement: "map",
        figure: `sim ${mode} ${label} @${formatCount(l.areas)} areas`,
        value: 1e9 / ns,
        unit: "ops/s",
        ratio: pairedRatio(l[mode], l[smallKey]),
        ratioOf: `cost vs ${formatCount(plan.small)}`,
        note: `${ns.toFixed(0)} ns/op`,
        target: isTop
          ? { on: "value", op: ">=", limit: OPS_TARGET, text: "≥ 1,000,000 ops/s" }
          : undefined,
      });
    }
    const growthTarget = largest.areas >= 1_000_000;
    rows.push({
      measurement: "map",
      figure: `sim ${mode} cost/op @${formatCount(largest.areas)} ÷ @${formatCount(plan.small)}`,
      value: median(largest[mode]),
      unit: "ns/op",
      ratio: pairedRatio(largest[mode], largest[smallKey]),
      ratioOf: "(paired rounds)",
      target: growthTarget
        ? { on: "ratio", op: "<=", limit: GROWTH_TARGET, text: "≤ 1.5×" }
        : undefined,
    });
  }
  return rows;
}

/** The measurement as the harness lists it. */
export const mapMeasurement: Measurement = {
  name: "map",
  title: "simulator map+unmap through the ioctl byte path, 10^3…10^6 resident areas",
  run: measureMapUnmap,
};
