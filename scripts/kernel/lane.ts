/**
 * The kernel lane: run the scenario corpus against real Linux 6.12 kernels (in QEMU) and
 * against the simulator, and compare the transcripts. `scripts/kernel_lane.ts` is the CLI.
 *
 * @module
 */

import { ensureKernel, KERNEL_VARIANTS, type KernelVariant } from "./build.ts";
import { compareTranscripts } from "./compare.ts";
import { ensureInitramfs } from "./initramfs.ts";
import { progress } from "./log.ts";
import { whyLaneCannotRun } from "./preflight.ts";
import {
  discoverScenarios,
  type Scenario,
  unknownTableEntries,
  VARIANT_COMMANDS,
  VM_PROFILES,
  type VmProfileName,
} from "./scenarios.ts";
import { runInVm, shellQuote, type VmResult } from "./vm.ts";

/** The repository root (the guest's cwd and the host runs' cwd). */
export const REPO_ROOT = new URL("../../", import.meta.url).pathname.replace(/\/$/, "");

/** Options of one lane run (the CLI flags). */
export interface LaneOptions {
  /** Variants to run (default: all). */
  variants: KernelVariant[];
  /** Only these scenario names (default: all found). */
  only: string[];
  /** Folder of `.vfs` files (default `tests/scenarios`). */
  scenarioDir: string;
  /** Override of the guest command, with `{deno}`, `{file}` and `{variant}` placeholders. */
  guestCmd?: string;
  /** Override of the host command, same placeholders. */
  hostCmd?: string;
  /** Stop after building the kernels and initramfs. */
  buildOnly: boolean;
  /** Stop after the boot smoke test. */
  smokeOnly: boolean;
  /** Skip the boot smoke test. */
  noSmoke: boolean;
}

/** One scenario's transcript from one side. */
interface Transcript {
  stdout: string;
  stderr: string;
  code: number;
  /** Wall-clock seconds the command took (the guest's clock for the kernel side). */
  seconds: number;
}

/** The Deno binary running this lane; the guest runs the same file from the 9p root. */
function denoBinary(): string {
  return Deno.execPath();
}

/** Expand a `{deno} ... {file}` template, quoting each substituted value for /bin/sh. */
export function expandTemplate(template: string, values: Record<string, string>): string {
  return template.replace(
    /\{(\w+)\}/g,
    (all, key) => key in values ? shellQuote(values[key]) : all,
  );
}

/**
 * The shell command for one scenario on one side (`guest`: kernel, `host`: simulator, which
 * also gets the VM profile's `simArgs`). `override` is a `--guest-cmd`/`--host-cmd` template.
 */
export function scenarioCommand(
  side: "guest" | "host",
  variant: KernelVariant,
  s: Pick<Scenario, "file" | "vm">,
  override?: string,
): string {
  const values = { deno: denoBinary(), file: s.file, variant };
  if (override) return expandTemplate(override, values);
  const profileArgs = side === "host" ? VM_PROFILES[s.vm ?? "plain"].simArgs : [];
  const args = [...VARIANT_COMMANDS[variant][side], ...profileArgs, s.file];
  return [values.deno, ...args].map(shellQuote).join(" ");
}

/** Print the loud skip line and exit (0 only when the lane is marked optional). */
export function skipLane(reason: string): never {
  console.log(`KERNEL LANE SKIPPED: ${reason}`);
  const optional = Deno.env.get("VFSH_KERNEL_LANE_OPTIONAL") === "1";
  if (!optional) console.log("(set VFSH_KERNEL_LANE_OPTIONAL=1 to make this a success)");
  Deno.exit(optional ? 0 : 1);
}

/** Build (or find) every variant's kernel and the initramfs, timing each. */
async function ensureAll(variants: KernelVariant[]): Promise<Map<KernelVariant, string>> {
  const kernels = new Map<KernelVariant, string>();
  for (const v of variants) {
    const t0 = performance.now();
    kernels.set(v, await ensureKernel(v));
    progress(`kernel ${v} ready (${((performance.now() - t0) / 1000).toFixed(1)}s)`);
  }
  await ensureInitramfs();
  return kernels;
}

/**
 * Boot `kernel` and check that the host's Deno runs in the guest and that FFI ioctls reach
 * /dev/iommu (with the mock domain) and /dev/vfio/vfio (of the variant's kind).
 */
export async function smokeTest(variant: KernelVariant, kernel: string): Promise<VmResult> {
  const deno = shellQuote(denoBinary());
  const smoke = "scripts/kernel/guest/ffi_smoke.ts";
  const kind = VARIANT_COMMANDS[variant].containerKind;
  const stamp = `echo "SMOKE: uptime $(cut -d' ' -f1 /proc/uptime)s"`;
  const command = [
    "set -e",
    stamp,
    `${deno} eval 'console.log("deno in guest:", Deno.build.os, Deno.version.deno)'`,
    stamp,
    `${deno} run --allow-ffi ${smoke} /dev/iommu --expect iommufd --mock`,
    stamp,
    `${deno} run --allow-ffi ${smoke} /dev/vfio/vfio --expect ${kind}`,
    stamp,
  ].join("\n");
  const r = await runInVm({ kernel, command, share: REPO_ROOT, timeoutMs: 300_000 });
  const oks = r.output.split("\n").filter((l) => l === "FFI-SMOKE OK").length;
  if (r.exitCode !== 0 || oks !== 2) {
    throw new Error(`smoke test of ${variant} failed (exit ${r.exitCode}):\n${r.output}`);
  }
  return r;
}

/** The guest script for one batch: profile setup, then each scenario into `outDir`. */
function batchScript(
  variant: KernelVariant,
  profile: VmProfileName,
  scenarios: Scenario[],
  outDir: string,
  guestCmd?: string,
): string {
  const lines: string[] = [...VM_PROFILES[profile].setup];
  for (const s of scenarios) {
    const out = (ext: string) => shellQuote(`${outDir}/${s.name}.${ext}`);
    const cmd = scenarioCommand("guest", variant, s, guestCmd);
    const uptime = (ext: string) => `cut -d' ' -f1 /proc/uptime > ${out(ext)}`;
    // A group, so that a template with `;` or `&&` is redirected as a whole.
    lines.push(uptime("t0"), `{ ${cmd}\n} > ${out("stdout")} 2> ${out("stderr")}`);
    lines.push(`echo $? > ${out("rc")}`, uptime("t1"));
  }
  return lines.join("\n");
}

async function readTranscript(outDir: string, name: string): Promise<Transcript> {
  const read = (ext: string) => Deno.readTextFile(`${outDir}/${name}.${ext}`).catch(() => "");
  const rc = (await read("rc")).trim();
  const seconds = Number(await read("t1")) - Number(await read("t0"));
  const [stdout, stderr] = [await read("stdout"), await read("stderr")];
  return { stdout, stderr, code: rc ? Number(rc) : -1, seconds };
}

/** Run `scenarios` in one VM of `variant` with `profile`; transcripts by scenario name. */
async function runGuestBatch(
  variant: KernelVariant,
  kernel: string,
  profile: VmProfileName,
  scenarios: Scenario[],
  options: LaneOptions,
): Promise<Map<string, Transcript>> {
  const outDir = await Deno.makeTempDir({ prefix: `vfsh-lane-${variant}-` });
  try {
    const p = VM_PROFILES[profile];
    progress(`${variant}/${profile}: booting for ${scenarios.length} scenario(s)`);
    const r = await runInVm({
      kernel,
      command: batchScript(variant, profile, scenarios, outDir, options.guestCmd),
      share: REPO_ROOT,
      extraShares: [outDir],
      iommu: p.iommu,
      devices: [...p.devices],
      timeoutMs: 180_000 + 60_000 * scenarios.length,
    });
    progress(`${variant}/${profile}: VM done in ${r.seconds.toFixed(1)}s (exit ${r.exitCode})`);
    if (r.output.trim()) console.error(r.output.trimEnd());
    const out = new Map<string, Transcript>();
    for (const s of scenarios) out.set(s.name, await readTranscript(outDir, s.name));
    return out;
  } finally {
    await Deno.remove(outDir, { recursive: true }).catch(() => {});
  }
}

/** Run one scenario on the host (simulator side). */
async function runHost(
  variant: KernelVariant,
  s: Scenario,
  options: LaneOptions,
): Promise<Transcript> {
  const cmd = scenarioCommand("host", variant, s, options.hostCmd);
  const t0 = performance.now();
  const out = await new Deno.Command("/bin/sh", {
    args: ["-c", cmd],
    cwd: REPO_ROOT,
    env: { NO_COLOR: "1" },
    stdin: "null",
  }).output();
  const dec = new TextDecoder();
  const [stdout, stderr] = [dec.decode(out.stdout), dec.decode(out.stderr)];
  return { stdout, stderr, code: out.code, seconds: (performance.now() - t0) / 1000 };
}

/** A transcript as compared: stdout plus the exit status as a last line. */
function asCompared(t: Transcript): string {
  return `${t.stdout.trimEnd()}\n[exit ${t.code}]`;
}

/** Print one comparison; returns whether it passed. */
function report(variant: KernelVariant, s: Scenario, kernel: Transcript, sim: Transcript) {
  const r = compareTranscripts(asCompared(kernel), asCompared(sim), [
    `kernel (${variant})`,
    "simulator",
  ]);
  const tag = `${variant} ${s.name}${s.mock ? " [mock domain]" : ""}`;
  if (r.equal) {
    const secs = `kernel ${kernel.seconds.toFixed(1)}s, sim ${sim.seconds.toFixed(1)}s`;
    console.log(`PASS ${tag} (${secs})`);
    return true;
  }
  console.log(`FAIL ${tag}: ${r.differences.length} line(s) differ`);
  console.log(r.sideBySide);
  for (const [side, t] of [["kernel", kernel], ["simulator", sim]] as const) {
    if (t.stderr.trim()) {
      console.log(
        `--- ${side} stderr (tail) ---\n${t.stderr.trim().split("\n").slice(-10).join("\n")}`,
      );
    }
  }
  return false;
}

/** Scenarios that run on `variant`, grouped by VM profile. */
function batches(scenarios: Scenario[], variant: KernelVariant) {
  const groups = new Map<VmProfileName, Scenario[]>();
  for (const s of scenarios) {
    if (s.skip || (s.variants && !s.variants.includes(variant))) continue;
    const vm = s.vm ?? "plain";
    groups.set(vm, [...(groups.get(vm) ?? []), s]);
  }
  return groups;
}

/** Find the scenarios to run, or skip the lane when there are none or no shell to run them. */
async function selectScenarios(options: LaneOptions): Promise<Scenario[]> {
  const dir = options.scenarioDir.startsWith("/")
    ? options.scenarioDir
    : `${REPO_ROOT}/${options.scenarioDir}`;
  let found = await discoverScenarios(dir, options.scenarioDir);
  for (const name of unknownTableEntries(found)) {
    progress(`warning: scenarios.ts names ${name}, but there is no ${name}.vfs`);
  }
  if (options.only.length > 0) found = found.filter((s) => options.only.includes(s.name));
  for (const s of found.filter((s) => s.skip)) console.log(`SKIP ${s.name}: ${s.skip}`);
  if (found.length === 0) skipLane(`no scenarios (*.vfs) in ${options.scenarioDir}`);
  const usesShell = !options.guestCmd || !options.hostCmd;
  const shell = await Deno.stat(`${REPO_ROOT}/shell/main.ts`).then(() => true, () => false);
  if (usesShell && !shell) skipLane("shell/main.ts does not exist yet");
  return found;
}

/** Run the lane; returns the process exit status. */
export async function runLane(options: LaneOptions): Promise<number> {
  const variants = options.variants.length > 0 ? options.variants : [...KERNEL_VARIANTS];
  const cannot = await whyLaneCannotRun(variants);
  if (cannot) skipLane(cannot);
  const wantScenarios = !options.buildOnly && !options.smokeOnly;
  const scenarios = wantScenarios ? await selectScenarios(options) : [];
  const kernels = await ensureAll(variants);
  if (options.buildOnly) return 0;
  if (!options.noSmoke) {
    for (const v of variants) {
      const r = await smokeTest(v, kernels.get(v)!);
      console.log(
        `BOOT OK ${v}: guest Deno + FFI on /dev/iommu and /dev/vfio/vfio ` +
          `(VM ${r.seconds.toFixed(1)}s)`,
      );
    }
  }
  if (options.smokeOnly) return 0;
  return await compareAll(variants, kernels, scenarios, options);
}

/** Run every batch in the VMs and on the host, print the comparisons and the tally. */
async function compareAll(
  variants: KernelVariant[],
  kernels: Map<KernelVariant, string>,
  scenarios: Scenario[],
  options: LaneOptions,
): Promise<number> {
  let passed = 0, failed = 0;
  for (const v of variants) {
    for (const [profile, group] of batches(scenarios, v)) {
      // Host first: its Deno fills node_modules, which the offline guest then reads.
      const host = new Map<string, Transcript>();
      for (const s of group) host.set(s.name, await runHost(v, s, options));
      const guest = await runGuestBatch(v, kernels.get(v)!, profile, group, options);
      for (const s of group) {
        const ok = report(v, s, guest.get(s.name)!, host.get(s.name)!);
        if (ok) passed++;
        else failed++;
      }
    }
  }
  console.log(`kernel-lane: ${passed} passed, ${failed} failed`);
  return failed === 0 ? 0 : 1;
}
