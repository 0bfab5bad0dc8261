/**
 * Measurement 6: VFIO_IOMMU_GET_INFO with many holes. IOASes with 1,000 / 2,500 / 5,000 /
 * 10,000 reserved ranges (IOMMU_TEST_CMD ADD_RESERVED through `kernel.ioctl`, each a 4 KiB
 * hole) answer GET_INFO with an IOVA_RANGE capability of holes + 1 ranges. The cost per call
 * should grow linearly with the number of ranges: ns per range at each size, and the ratio
 * of the largest size's ns/range to the smallest's. The sizes alternate within each round
 * (one iommufd context per size).
 *
 * @module
 */

import { createSimKernel } from "../../sim/mod.ts";
import {
  encode,
  IOMMU_TEST_CMD,
  iommu_test_cmd,
  offsetsOf,
  VFIO_IOMMU_GET_INFO,
  vfio_iommu_type1_info,
} from "../../uapi/mod.ts";
import type { BenchOptions, Measurement, MeasurementResult, RowInput } from "./report.ts";
import { type FilledIoas, openIoas } from "./sim_fixture.ts";
import { alternate, formatNumber, median, pairedRatio } from "./stats.ts";

const T = offsetsOf(iommu_test_cmd);
const INFO = offsetsOf(vfio_iommu_type1_info);
/** IOMMU_TEST_OP_ADD_RESERVED. */
const OP_ADD_RESERVED = 1;
/** VFIO_IOMMU_TYPE1_INFO_CAP_IOVA_RANGE. */
const CAP_IOVA_RANGE = 1;
/** First reserved hole, and the distance between holes. */
const HOLE_BASE = 0x1_0000_0000n;
const HOLE_STRIDE = 0x2000n;
const HOLE_SIZE = 0x1000n;

/** Reserve `holes` 4 KiB ranges in `f`'s IOAS through IOMMU_TEST_CMD. */
export function addHoles(f: FilledIoas, holes: number): void {
  const cmd = encode(iommu_test_cmd, {
    op: OP_ADD_RESERVED,
    id: f.ioasId,
    "add_reserved.length": HOLE_SIZE,
  });
  const v = new DataView(cmd.buffer);
  for (let j = 0; j < holes; j++) {
    v.setBigUint64(T["add_reserved.start"], HOLE_BASE + BigInt(j) * HOLE_STRIDE, true);
    const rc = f.kernel.ioctl(f.fd, IOMMU_TEST_CMD, cmd);
    if (rc !== 0) throw new Error(`ADD_RESERVED ${j}: ${rc}`);
  }
}

/** A GET_INFO caller with a buffer as large as the kernel says it needs. */
export class GetInfoLoop {
  readonly #buf: Uint8Array;
  readonly #view: DataView;
  readonly #argsz: number;

  /** Ask once with the bare struct to learn the size needed, then size the buffer. */
  constructor(readonly f: FilledIoas, readonly ranges: number) {
    const probe = encode(vfio_iommu_type1_info);
    const rc = f.kernel.ioctl(f.fd, VFIO_IOMMU_GET_INFO, probe);
    if (rc !== 0) throw new Error(`GET_INFO probe: ${rc}`);
    this.#argsz = new DataView(probe.buffer).getUint32(INFO.argsz, true);
    this.#buf = encode(vfio_iommu_type1_info, { argsz: this.#argsz });
    this.#view = new DataView(this.#buf.buffer);
  }

  /** One call; returns nr_iovas from the IOVA_RANGE capability. */
  call(): number {
    this.#view.setUint32(INFO.argsz, this.#argsz, true);
    const rc = this.f.kernel.ioctl(this.f.fd, VFIO_IOMMU_GET_INFO, this.#buf);
    if (rc !== 0) throw new Error(`GET_INFO: ${rc}`);
    let off = this.#view.getUint32(INFO.cap_offset, true);
    while (off !== 0) {
      if (this.#view.getUint16(off, true) === CAP_IOVA_RANGE) {
        return this.#view.getUint32(off + 8, true);
      }
      off = this.#view.getUint32(off + 4, true);
    }
    throw new Error("GET_INFO: no IOVA_RANGE capability");
  }

  /** `calls` calls; nanoseconds per call. */
  run(calls: number): number {
    const t0 = performance.now();
    for (let i = 0; i < calls; i++) {
      if (this.call() !== this.ranges) throw new Error("GET_INFO: wrong nr_iovas");
    }
    return ((performance.now() - t0) * 1e6) / calls;
  }
}

/** The hole counts the issue names. */
export const HOLE_COUNTS: readonly number[] = [1_000, 2_500, 5_000, 10_000];

/** The 2× bound of the issue. */
const RATIO_TARGET = 2;

/** Run the measurement. */
export async function measureGetInfo(o: BenchOptions): Promise<MeasurementResult> {
  const rounds = o.rounds ?? (o.quick ? 3 : 7);
  const sampleMs = o.quick ? 20 : 60;
  const loops = HOLE_COUNTS.map((holes) => {
    const f = openIoas(createSimKernel());
    addHoles(f, holes);
    return new GetInfoLoop(f, holes + 1);
  });
  // Warm-up and calibration: enough calls per sample for about sampleMs each.
  const calls = loops.map((l) => {
    l.run(5);
    const ns = l.run(5);
    return Math.max(5, Math.ceil((sampleMs * 1e6) / ns));
  });
  const s = await alternate(
    Object.fromEntries(loops.map((l, i) => [String(HOLE_COUNTS[i]), () => l.run(calls[i])])),
    rounds,
  );
  const rows: RowInput[] = [];
  const perRange = HOLE_COUNTS.map((h) => s[String(h)].map((ns) => ns / h));
  for (const [i, h] of HOLE_COUNTS.entries()) {
    rows.push({
      measurement: "get-info",
      figure: `GET_INFO @${formatNumber(h)} holes`,
      value: median(perRange[i]),
      unit: "ns/range",
      ratio: i === 0 ? undefined : pairedRatio(perRange[i], perRange[0]),
      ratioOf: i === 0 ? undefined : `vs ${formatNumber(HOLE_COUNTS[0])}`,
      note: `${(median(s[String(h)]) / 1000).toFixed(1)} µs/call`,
    });
  }
  const last = HOLE_COUNTS.length - 1;
  rows.push({
    measurement: "get-info",
    figure: `GET_INFO ns/range @${formatNumber(HOLE_COUNTS[last])} ÷ @${
      formatNumber(HOLE_COUNTS[0])
    }`,
    value: median(perRange[last]),
    unit: "ns/range",
    ratio: pairedRatio(perRange[last], perRange[0]),
    ratioOf: "(paired rounds)",
    target: { on: "ratio", op: "<=", limit: RATIO_TARGET, text: "≤ 2×" },
  });
  o.log(`get-info: ${HOLE_COUNTS.map((h, i) => `${h}: ${median(perRange[i]).toFixed(1)}`)}`);
  return { rows, details: { rounds, callsPerSample: calls, nsPerCall: s } };
}

/** The measurement as the harness lists it. */
export const getInfoMeasurement: Measurement = {
  name: "get-info",
  title: "VFIO_IOMMU_GET_INFO with 1,000…10,000 reserved holes: ns per range",
  run: measureGetInfo,
};
