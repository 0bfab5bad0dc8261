/**
 * The rig's probe replayed against the simulator with the legacy container: every line it
 * printed on the real 6.12.117 `legacy` kernel (VFIO_CONTAINER + vfio_iommu_type1 on
 * /dev/vfio/vfio, iommufd on /dev/iommu; shared/rig/results/results-legacy-*.txt) must come
 * out the same, ret, errno and every decoded value, line by line.
 */

import { deepStrictEqual, strictEqual } from "node:assert";
import { SimKernel } from "../../sim/kernel.ts";
import { Probe, recordedRuns, type Run } from "../_rig_probe.ts";

function replay(run: Run, profile: string, devname?: string): string[] {
  const k = new SimKernel({ profile, release: "6.12.117", container: "legacy" });
  const p = new Probe(k);
  p.run(run.dev, run.group, devname);
  return p.lines;
}

Deno.test("rig legacy: the no-group runs (iommufd with a mock domain, empty type1 container) match 6.12.117", () => {
  const runs = recordedRuns("results-legacy-noiommu.txt");
  deepStrictEqual(runs.map((r) => r.dev), ["/dev/iommu", "/dev/vfio/vfio"]);
  for (const run of runs) {
    strictEqual(run.lines.length > 40, true, "the recording was parsed");
    deepStrictEqual(replay(run, "mock"), run.lines);
  }
});

Deno.test("rig legacy: the intel-vtd group runs (type1 container, iommufd beside it) match 6.12.117", () => {
  const runs = recordedRuns("results-legacy-group.txt");
  deepStrictEqual(runs.map((r) => r.dev), ["/dev/vfio/vfio", "/dev/iommu"]);
  for (const run of runs) {
    strictEqual(run.lines.length > 70, true, "the recording was parsed");
    deepStrictEqual(replay(run, "intel-vtd", "0000:00:03.0"), run.lines);
  }
});
