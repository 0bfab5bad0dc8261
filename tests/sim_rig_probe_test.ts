/**
 * The rig's probe (shared/rig/probe.c) replayed against the simulator: every line it printed
 * on the real 6.12.117 kernel (shared/rig/results/results-iommufd-compat-*.txt) must come out
 * the same, ret, errno and every decoded value. Lines that depend on the host (timestamps,
 * device numbers, the mmap address) are left out of the comparison.
 */

import { deepStrictEqual, strictEqual } from "node:assert";
import { SimKernel } from "../sim/kernel.ts";
import { Probe, recordedRuns, type Run } from "./_rig_probe.ts";

function replay(run: Run, profile: string, devname?: string): string[] {
  const k = new SimKernel({ profile, release: "6.12.117" });
  const p = new Probe(k);
  p.run(run.dev, run.group, devname);
  return p.lines;
}

Deno.test("rig: the noiommu and mock-domain probe runs match the 6.12.117 kernel line by line", () => {
  const runs = recordedRuns("results-iommufd-compat-noiommu.txt");
  deepStrictEqual(runs.map((r) => r.dev), ["/dev/iommu", "/dev/vfio/vfio"]);
  for (const run of runs) {
    strictEqual(run.lines.length > 100, true, "the recording was parsed");
    deepStrictEqual(replay(run, "mock"), run.lines);
  }
});

Deno.test("rig: the intel-vtd group probe runs match the 6.12.117 kernel line by line", () => {
  const runs = recordedRuns("results-iommufd-compat-group.txt");
  deepStrictEqual(runs.map((r) => r.dev), ["/dev/vfio/vfio", "/dev/iommu"]);
  for (const run of runs) {
    strictEqual(run.lines.length > 80, true, "the recording was parsed");
    deepStrictEqual(replay(run, "intel-vtd", "0000:00:03.0"), run.lines);
  }
});
