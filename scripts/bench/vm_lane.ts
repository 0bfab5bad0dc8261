/**
 * Measurement 7: the simulator against a real kernel. The scenario corpus
 * (`tests/scenarios/*.vfs`) runs as the kernel lane runs it: on this machine with
 * `--backend sim`, one `vfsh run` per file, and in the lane's QEMU VM with `--backend
 * kernel` (boot included; the guest's own time without the boot is reported too).
 *
 * It never builds a kernel: it runs only when the lane's cache already holds one
 * (`deno task test:kernel` builds them). It is skipped, with the reason in the table, when
 * the kernel lane's modules are missing, no kernel is cached, QEMU is absent,
 * `VFSH_BENCH_VM=0`, or under `--quick` (unless `VFSH_BENCH_VM=1`).
 *
 * The lane's modules are imported at run time, so this file checks and runs even where
 * the lane is not there; what it uses of them is {@linkcode LaneApi}.
 *
 * @module
 */

import { median } from "./stats.ts";
import { REPO_ROOT, run } from "./machine.ts";
import { type BenchOptions, type Measurement, type MeasurementResult, skipped } from "./report.ts";

/** One scenario as the lane's `discoverScenarios` gives it. */
export interface LaneScenario {
  name: string;
  file: string;
  vm?: string;
  variants?: string[];
  skip?: string;
}

/** The VM result fields used here (the lane's `VmResult`). */
export interface LaneVmResult {
  exitCode: number;
  output: string;
  seconds: number;
}

/** What this measurement uses of scripts/kernel/*. */
export interface LaneApi {
  KERNEL_VARIANTS: readonly string[];
  readFragments(variant: string): Promise<string[]>;
  kernelCachePath(variant: string, fragments: string[], sourceVersion: string): Promise<string>;
  packageVersion(name: string): Promise<string>;
  KERNEL_SOURCE_PACKAGE: string;
  SCENARIO_DIR: string;
  discoverScenarios(dir: string, shownAs?: string): Promise<LaneScenario[]>;
  VM_PROFILES: Record<
    string,
    { iommu: "none" | "intel"; devices: readonly string[]; setup: readonly string[] }
  >;
  /** Takes the scenario (`{ file, vm }`); earlier versions of the lane took its file. */
  scenarioCommand(side: "guest" | "host", variant: string, s: LaneScenario | string): string;
  runInVm(o: {
    kernel: string;
    command: string;
    share: string;
    iommu?: "none" | "intel";
    devices?: string[];
    timeoutMs: number;
  }): Promise<LaneVmResult>;
  onPath(name: string): Promise<boolean>;
}

const LANE_MODULES = ["build.ts", "packages.ts", "scenarios.ts", "lane.ts", "vm.ts", "exec.ts"];

/** Import the lane's modules; the API, or why it is not usable. */
export async function loadLane(): Promise<LaneApi | string> {
  const merged: Record<string, unknown> = {};
  for (const m of LANE_MODULES) {
    const url = new URL(`../kernel/${m}`, import.meta.url);
    try {
      Object.assign(merged, await import(url.href));
    } catch (e) {
      return `kernel lane not available (scripts/kernel/${m}: ${
        (e as Error).message.split("\n")[0]
      })`;
    }
  }
  const functions = [
    "readFragments",
    "kernelCachePath",
    "packageVersion",
    "discoverScenarios",
    "scenarioCommand",
    "runInVm",
    "onPath",
  ];
  const missing = functions.filter((f) => typeof merged[f] !== "function");
  for (const k of ["KERNEL_VARIANTS", "KERNEL_SOURCE_PACKAGE", "SCENARIO_DIR", "VM_PROFILES"]) {
    if (merged[k] === undefined) missing.push(k);
  }
  if (missing.length > 0) return `kernel lane does not export ${missing.join(", ")}`;
  return merged as unknown as LaneApi;
}

/** The first variant whose kernel is in the lane's cache: [variant, bzImage], or undefined. */
export async function cachedKernel(lane: LaneApi): Promise<[string, string] | undefined> {
  const version = await lane.packageVersion(lane.KERNEL_SOURCE_PACKAGE);
  if (!version) return undefined;
  for (const v of lane.KERNEL_VARIANTS) {
    const dir = await lane.kernelCachePath(v, await lane.readFragments(v), version);
    try {
      if ((await Deno.stat(`${dir}/bzImage`)).isFile) return [v, `${dir}/bzImage`];
    } catch { /* not cached */ }
  }
  return undefined;
}

/** Why the VM measurement does not run now, or undefined when it does. */
function vmSwitch(o: BenchOptions): string | undefined {
  const env = Deno.env.get("VFSH_BENCH_VM");
  if (env === "0") return "VFSH_BENCH_VM=0";
  if (o.quick && env !== "1") return "--quick (VFSH_BENCH_VM=1 runs it)";
  return undefined;
}

/**
 * The lane's command line for one scenario on one side. The lane's `scenarioCommand` has
 * taken the scenario's file and, later, the scenario itself: try the scenario first, and fall
 * back to the file when the command does not name it.
 */
export function laneCommand(
  lane: Pick<LaneApi, "scenarioCommand">,
  side: "guest" | "host",
  variant: string,
  s: LaneScenario,
): string {
  try {
    const c = lane.scenarioCommand(side, variant, s);
    if (c.includes(s.file)) return c;
  } catch { /* an older lane: takes the file */ }
  return lane.scenarioCommand(side, variant, s.file);
}

/** Seconds of guest uptime printed by the stamp lines of the VM command. */
const STAMP = "BENCH-UPTIME";

/** Run the corpus on the host (simulator); wall seconds, and the failing scenario names. */
async function simCorpus(
  lane: LaneApi,
  variant: string,
  scenarios: LaneScenario[],
): Promise<{ seconds: number; failed: string[] }> {
  const failed: string[] = [];
  const t0 = performance.now();
  for (const s of scenarios) {
    const p = await run("/bin/sh", ["-c", laneCommand(lane, "host", variant, s)], {
      discardStdout: true,
    });
    if (p.code !== 0) failed.push(s.name);
  }
  return { seconds: (performance.now() - t0) / 1000, failed };
}

/** Run the corpus in the VM, one boot per VM profile. */
async function vmCorpus(
  lane: LaneApi,
  variant: string,
  kernel: string,
  scenarios: LaneScenario[],
): Promise<{ seconds: number; guestSeconds: number; boots: number; failed: string[] }> {
  const groups = new Map<string, LaneScenario[]>();
  for (const s of scenarios) {
    groups.set(s.vm ?? "plain", [...(groups.get(s.vm ?? "plain") ?? []), s]);
  }
  let seconds = 0, guestSeconds = 0;
  const failed: string[] = [];
  for (const [profile, group] of groups) {
    const p = lane.VM_PROFILES[profile];
    const stamp = `echo "${STAMP} $(cut -d' ' -f1 /proc/uptime)"`;
    const lines = [...p.setup, stamp];
    for (const s of group) {
      const cmd = laneCommand(lane, "guest", variant, s);
      lines.push(`{ ${cmd}\n} > /dev/null 2>&1 || echo "BENCH-FAILED ${s.name}"`);
    }
    lines.push(stamp);
    const r = await lane.runInVm({
      kernel,
      command: lines.join("\n"),
      share: REPO_ROOT,
      iommu: p.iommu,
      devices: [...p.devices],
      timeoutMs: 180_000 + 90_000 * group.length,
    });
    seconds += r.seconds;
    const ups = [...r.output.matchAll(new RegExp(`^${STAMP} ([0-9.]+)$`, "gm"))].map((m) =>
      Number(m[1])
    );
    if (ups.length === 2) guestSeconds += ups[1] - ups[0];
    for (const m of r.output.matchAll(/^BENCH-FAILED (\S+)$/gm)) failed.push(m[1]);
  }
  return { seconds, guestSeconds, boots: groups.size, failed };
}

/** Run the measurement (or report why it is skipped). */
export async function measureVm(o: BenchOptions): Promise<MeasurementResult> {
  const figure = "scenario corpus: test VM (boot included) vs simulator";
  const skip = (why: string): MeasurementResult => ({
    rows: [skipped("vm", figure, why)],
    details: { skipped: why },
  });
  const off = vmSwitch(o);
  if (off) return skip(off);
  const lane = await loadLane();
  if (typeof lane === "string") return skip(lane);
  if (Deno.build.os !== "linux" || Deno.build.arch !== "x86_64") return skip("needs x86_64 Linux");
  if (!(await lane.onPath("qemu-system-x86_64"))) return skip("qemu-system-x86_64 not installed");
  const cached = await cachedKernel(lane);
  if (!cached) {
    return skip("no cached kernel under ~/.cache/vfsh/kernel (deno task test:kernel builds one)");
  }
  const [variant, kernel] = cached;
  const all = await lane.discoverScenarios(`${REPO_ROOT}/${lane.SCENARIO_DIR}`, lane.SCENARIO_DIR);
  const scenarios = all.filter((s) => !s.skip && (!s.variants || s.variants.includes(variant)));
  if (scenarios.length === 0) return skip(`no scenarios in ${lane.SCENARIO_DIR}`);
  o.log(`vm: ${scenarios.length} scenarios on ${variant} (${kernel})`);
  // Simulator, VM, simulator: the VM run is minutes under TCG, so it runs once, between two
  // simulator runs (their median is the baseline).
  const sim1 = await simCorpus(lane, variant, scenarios);
  let vm;
  try {
    vm = await vmCorpus(lane, variant, kernel, scenarios);
  } catch (e) {
    return skip(`the VM did not finish: ${(e as Error).message.split("\n")[0]}`);
  }
  const sim2 = await simCorpus(lane, variant, scenarios);
  const simSeconds = median([sim1.seconds, sim2.seconds]);
  o.log(`vm: VM ${vm.seconds.toFixed(1)} s, simulator ${simSeconds.toFixed(1)} s`);
  // A scenario that exits non-zero did not run its course: the times are not comparable,
  // and the row says so (MISS) instead of quoting a ratio as if they were.
  const simFailed = [...new Set([...sim1.failed, ...sim2.failed])];
  const vmFailed = [...new Set(vm.failed)];
  const failedNote = (f: string[]) => f.length ? `; exit ≠ 0: ${f.join(", ")}` : "";
  const status = simFailed.length + vmFailed.length > 0 ? "MISS" as const : undefined;
  const n = scenarios.length;
  return {
    rows: [
      {
        measurement: "vm",
        figure: `scenario corpus (${n} files): simulator, vfsh run per file`,
        value: simSeconds,
        unit: "s",
        status: simFailed.length > 0 ? "MISS" : undefined,
        note: `median of 2 runs${failedNote(simFailed)}`,
      },
      {
        measurement: "vm",
        figure: `scenario corpus: test VM ${variant} (boot included)`,
        value: vm.seconds,
        unit: "s",
        ratio: vm.seconds / simSeconds,
        ratioOf: "vs simulator",
        status,
        note: `${vm.boots} boot(s), TCG unless /dev/kvm${failedNote(vmFailed)}`,
      },
      {
        measurement: "vm",
        figure: "scenario corpus: in the guest, boot excluded",
        value: vm.guestSeconds,
        unit: "s",
        ratio: vm.guestSeconds / simSeconds,
        ratioOf: "vs simulator",
        status,
      },
    ],
    details: { variant, kernel, scenarios: scenarios.map((s) => s.name), sim1, sim2, vm },
  };
}

/** The measurement as the harness lists it. */
export const vmMeasurement: Measurement = {
  name: "vm",
  title: "scenario corpus in the simulator and in the kernel lane's VM (cached kernel only)",
  run: measureVm,
};
