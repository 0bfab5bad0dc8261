/**
 * The kernel lane: run the scenario corpus against real Linux 6.12 kernels (in QEMU) and
 * against the simulator, and compare the transcripts. `scripts/kernel_lane.ts` is the CLI.
 *
 * @module
 */

import { ensureKernel, KERNEL_VARIANTS, type KernelVariant } from "./build.ts";
import { removedAfter } from "./cleanup.ts";
import { compareTranscripts } from "./compare.ts";
import { ensureInitramfs } from "./initramfs.ts";
import { progress } from "./log.ts";
import { whyLaneCannotRun } from "./preflight.ts";
import { type Flavor, FLAVORS, writeRandomWalks } from "./random_scenario.ts";
import type { ModeName } from "../../shell/modes.ts";
import {
  AUDIT,
  auditArgs,
  discoverAudit,
  discoverScenarios,
  type MachineScenario,
  maskLines,
  type Scenario,
  sortAudit,
  unknownTableEntries,
  VARIANT_COMMANDS,
  VM_PROFILES,
  type VmProfileName,
} from "./scenarios.ts";
import { runInVm, shellQuote, type VmResult } from "./vm.ts";
import { dropLines } from "./machine.ts";

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
  /** Folder of the audit's `.vfs` files (default `tests/audit`). */
  auditDir?: string;
  /**
   * Which suites run: `scenarios` (tests/scenarios), `audit` (tests/audit), `random` (walks
   * made by scripts/kernel/random_scenario.ts); default all three.
   */
  suites?: LaneSuite[];
  /** Random walks of each flavor (default {@linkcode RANDOM_WALKS}). */
  random?: number;
  /** Seed of the first random walk (default 1; the others follow). */
  randomSeed?: number;
  /** Only these flavors of random walk (default: every one). */
  randomFlavors?: readonly Flavor[];
  /** Only these audit modes (default: every mode the variant serves). */
  modes?: ModeName[];
}

/** The lane's suites. */
export const LANE_SUITES = ["scenarios", "audit", "random"] as const;
export type LaneSuite = typeof LANE_SUITES[number];

/** Random walks of each flavor in a default run: a few seconds of guest time each. */
export const RANDOM_WALKS = 4;

/**
 * Memlock walks in a default run (without `--random`): each file runs alone, a guest process
 * of its own (≈ 4 s) in each of the eight modes, so one seed costs about as much as the
 * other flavors' four.
 */
export const MEMLOCK_WALKS = 1;

/** One guest command of a VM batch: its outputs are `name.stdout` etc. */
interface GuestUnit {
  name: string;
  cmd: string;
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

/** The guest script for one batch: profile setup, then each unit's command into `outDir`. */
function batchScript(profile: VmProfileName, units: GuestUnit[], outDir: string): string {
  const lines: string[] = [...VM_PROFILES[profile].setup];
  for (const u of units) {
    const out = (ext: string) => shellQuote(`${outDir}/${u.name}.${ext}`);
    const uptime = (ext: string) => `cut -d' ' -f1 /proc/uptime > ${out(ext)}`;
    // A group, so that a template with `;` or `&&` is redirected as a whole.
    lines.push(uptime("t0"), `{ ${u.cmd}\n} > ${out("stdout")} 2> ${out("stderr")}`);
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

/** Run `units` in one VM of `variant` with `profile`; transcripts by unit name. */
async function runGuestBatch(
  variant: KernelVariant,
  kernel: string,
  profile: VmProfileName,
  units: GuestUnit[],
  perUnitMs: number,
): Promise<Map<string, Transcript>> {
  const outDir = await Deno.makeTempDir({ prefix: `vfsh-lane-${variant}-` });
  try {
    const p = VM_PROFILES[profile];
    progress(`${variant}/${profile}: booting for ${units.length} guest run(s)`);
    const r = await runInVm({
      kernel,
      command: batchScript(profile, units, outDir),
      share: REPO_ROOT,
      extraShares: [outDir],
      iommu: p.iommu,
      devices: [...p.devices],
      timeoutMs: 180_000 + perUnitMs * units.length,
    });
    progress(`${variant}/${profile}: VM done in ${r.seconds.toFixed(1)}s (exit ${r.exitCode})`);
    if (r.output.trim()) console.error(r.output.trimEnd());
    const out = new Map<string, Transcript>();
    for (const u of units) out.set(u.name, await readTranscript(outDir, u.name));
    return out;
  } finally {
    await Deno.remove(outDir, { recursive: true }).catch(() => {});
  }
}

/** Run one command on the host (simulator side). */
async function runHostCommand(cmd: string): Promise<Transcript> {
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

/**
 * Split the stdout of `vfsh run FILE…` at its `== FILE` headers: each file's part (header to
 * its PASS/FAIL line) by file name. Lines before the first header go nowhere; the closing
 * `N passed, M failed` tally is dropped.
 */
export function splitRunTranscript(stdout: string): Map<string, string> {
  const parts = new Map<string, string[]>();
  let cur: string[] | undefined;
  for (const line of stdout.replace(/\n$/, "").split("\n")) {
    const h = /^== (.+)$/.exec(line);
    if (h) parts.set(h[1], cur = []);
    cur?.push(line);
  }
  const last = cur;
  if (last && /^\d+ passed, \d+ failed$/.test(last[last.length - 1] ?? "")) last.pop();
  return new Map([...parts].map(([f, l]) => [f, l.join("\n")]));
}

/** A transcript as compared: stdout plus the exit status as a last line. */
function asCompared(t: Transcript): string {
  return `${t.stdout.trimEnd()}\n[exit ${t.code}]`;
}

/** Print one comparison (of `asCompared` texts); returns whether it passed. */
function report(
  variant: KernelVariant,
  tag: string,
  kernel: { text: string; stderr: string; seconds: number },
  sim: { text: string; stderr: string; seconds: number },
): boolean {
  const r = compareTranscripts(kernel.text, sim.text, [`kernel (${variant})`, "simulator"]);
  if (r.equal) {
    const secs = `kernel ${kernel.seconds.toFixed(1)}s, sim ${sim.seconds.toFixed(1)}s`;
    console.log(`PASS ${variant} ${tag} (${secs})`);
    return true;
  }
  console.log(`FAIL ${variant} ${tag}: ${r.differences.length} line(s) differ`);
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

/** A whole transcript as {@linkcode report} compares it. */
function whole(t: Transcript) {
  return { text: asCompared(t), stderr: t.stderr, seconds: t.seconds };
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

/** What the lane runs: the scenario files and the audit files. */
interface Selection {
  scenarios: Scenario[];
  audit: Scenario[];
  /** Audit files that each run alone, on the machine their `sim` lines describe. */
  auditMachine: MachineScenario[];
  /** The temporary folder of the random walks, if any (removed when the lane ends or is killed). */
  randomDir?: string;
}

/**
 * Write `count` random walks of each flavor into a temporary folder (iommufd and hwpt walks
 * run as scenarios with the mock domain, compat walks with the audit, memlock walks each on
 * its own machine with the audit; without `--random`, {@linkcode MEMLOCK_WALKS} of those) and
 * say which seeds they are. The guest sees the host's root read-only, so a host temp folder
 * serves both sides.
 */
async function selectRandom(
  options: LaneOptions,
  count: number,
): Promise<Pick<Selection, "scenarios" | "audit" | "auditMachine" | "randomDir">> {
  const first = options.randomSeed ?? 1;
  const dir = await Deno.makeTempDir({ prefix: "vfsh-random-" });
  const flavors = options.randomFlavors ?? FLAVORS;
  const memlock = options.random ?? MEMLOCK_WALKS;
  const files = [
    ...await writeRandomWalks(dir, first, count, flavors.filter((f) => f !== "memlock")),
    ...(flavors.includes("memlock")
      ? await writeRandomWalks(dir, first, memlock, ["memlock"])
      : []),
  ];
  const seeds = (n: number) => `${first}..${first + n - 1}`;
  progress(
    `random walks: seeds ${seeds(count)}${
      memlock === count || !flavors.includes("memlock") ? "" : ` (memlock ${seeds(memlock)})`
    } in ${dir} ` +
      `(one: deno run scripts/kernel/random_scenario.ts --seed S --flavor ${FLAVORS.join("|")})`,
  );
  // Walks of the container calls go with the audit, sorted by their `sim` lines as it is.
  const withAudit = files.filter((f) => f.flavor === "compat" || f.flavor === "memlock");
  const audit = await sortAudit(withAudit.map(({ name, file }) => ({ name, file, path: file })));
  for (const { name, reason } of audit.skipped) {
    throw new Error(`${name}: a walk the guest cannot run: ${reason}`);
  }
  return {
    scenarios: files.filter((f) => !withAudit.includes(f)).map(({ name, file }) => ({
      name,
      file,
      mock: true,
    })),
    audit: audit.run,
    auditMachine: audit.machine,
    randomDir: dir,
  };
}

/**
 * Find the scenarios to run, or skip the lane when there are none or no shell to run them;
 * the random walks are written last, once nothing can skip the lane.
 */
async function selectScenarios(options: LaneOptions): Promise<Selection> {
  const suites = options.suites ?? LANE_SUITES;
  const inRepo = (d: string) => d.startsWith("/") ? d : `${REPO_ROOT}/${d}`;
  const dir = inRepo(options.scenarioDir);
  const auditDir = options.auditDir ?? AUDIT.dir;
  let found: Scenario[] = [];
  if (suites.includes("scenarios")) {
    found = await discoverScenarios(dir, options.scenarioDir);
    for (const name of unknownTableEntries(found)) {
      progress(`warning: scenarios.ts names ${name}, but there is no ${name}.vfs`);
    }
    if (options.only.length > 0) found = found.filter((s) => options.only.includes(s.name));
    for (const s of found.filter((s) => s.skip)) console.log(`SKIP ${s.name}: ${s.skip}`);
  }
  let audit: Scenario[] = [];
  let auditMachine: MachineScenario[] = [];
  if (suites.includes("audit")) {
    const a = await discoverAudit(inRepo(auditDir), auditDir);
    for (const name of auditDir === AUDIT.dir ? Object.keys(AUDIT.exclude) : []) {
      if (!a.skipped.some((s) => s.name === name)) {
        progress(`warning: AUDIT.exclude names ${name}, but there is no ${name}.vfs`);
      }
    }
    const wanted = (name: string) => options.only.length === 0 || options.only.includes(name);
    audit = a.run.filter((s) => wanted(s.name));
    auditMachine = a.machine.filter((s) => wanted(s.name));
    for (const s of a.skipped.filter((s) => wanted(s.name))) {
      console.log(`SKIP audit ${s.name}: ${s.reason}`);
    }
  }
  const walks = suites.includes("random") ? options.random ?? RANDOM_WALKS : 0;
  if (found.length + audit.length + auditMachine.length + walks === 0) {
    skipLane(`no scenarios (*.vfs) in ${options.scenarioDir} or ${auditDir}, no random walks`);
  }
  const usesShell = !options.guestCmd || !options.hostCmd;
  const shell = await Deno.stat(`${REPO_ROOT}/shell/main.ts`).then(() => true, () => false);
  if (usesShell && !shell) skipLane("shell/main.ts does not exist yet");
  if (walks === 0) return { scenarios: found, audit, auditMachine };
  const r = await selectRandom(options, walks);
  const wanted = (s: Scenario) => options.only.length === 0 || options.only.includes(s.name);
  return {
    scenarios: [...found, ...r.scenarios.filter(wanted)],
    audit: [...audit, ...r.audit.filter(wanted)],
    auditMachine: [...auditMachine, ...r.auditMachine.filter(wanted)],
    randomDir: r.randomDir,
  };
}

/** Run the lane; returns the process exit status. */
export async function runLane(options: LaneOptions): Promise<number> {
  const variants = options.variants.length > 0 ? options.variants : [...KERNEL_VARIANTS];
  const cannot = await whyLaneCannotRun(variants);
  if (cannot) skipLane(cannot);
  const wantScenarios = !options.buildOnly && !options.smokeOnly;
  const selection: Selection = wantScenarios
    ? await selectScenarios(options)
    : { scenarios: [], audit: [], auditMachine: [] };
  return await removedAfter(
    selection.randomDir,
    () => bootAndCompare(variants, selection, options),
  );
}

/** Build the kernels, smoke-test them unless told not to, then compare `selection`. */
async function bootAndCompare(
  variants: KernelVariant[],
  selection: Selection,
  options: LaneOptions,
): Promise<number> {
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
  return await compareAll(variants, kernels, selection, options);
}

/** The audit modes `variant` runs (the table's, narrowed by --mode). */
export function auditModes(variant: KernelVariant, only?: ModeName[]): ModeName[] {
  return AUDIT.modes[variant].filter((m) => !only?.length || only.includes(m));
}

/**
 * The shell command for one audit run. In a `--guest-cmd`/`--host-cmd` template `{file}` (or
 * `{files}`) becomes `--mode M FILE…`, each word quoted; `{mode}` is the mode alone.
 */
function auditCommand(
  side: "guest" | "host",
  variant: KernelVariant,
  mode: ModeName,
  files: string[],
  override?: string,
): string {
  if (override) {
    const args = ["--mode", mode, ...files].map(shellQuote).join(" ");
    const t = override.replace(/\{files?\}/g, () => args);
    return expandTemplate(t, { deno: denoBinary(), variant, mode });
  }
  return [denoBinary(), ...auditArgs(side, variant, mode, files)].map(shellQuote).join(" ");
}

/** The last lines of both sides' output, after a run that died. */
function printTails(kernel: Transcript, sim: Transcript): void {
  for (const [name, t] of [["kernel", kernel], ["simulator", sim]] as const) {
    const tail = (x: string) => x.trim().split("\n").slice(-10).join("\n");
    console.log(`--- ${name} (exit ${t.code}) stdout/stderr tail ---`);
    console.log(`${tail(t.stdout)}\n${tail(t.stderr)}`);
  }
}

/** Where the guest writes its copy of a machine file (the guest's /run is a tmpfs). */
const GUEST_COPY_DIR = "/run/vfsh-machine";

function guestCopy(s: MachineScenario): string {
  return `${GUEST_COPY_DIR}/${s.name}.vfs`;
}

function machineUnit(m: ModeName, s: MachineScenario): string {
  return `audit.${m}.${s.name}`;
}

/** What the guest does in place of the file's `sim` lines, for the PASS/FAIL line. */
function machineSummary(s: MachineScenario): string {
  return s.machine.summary.join(", ");
}

/**
 * The guest command of a machine file: write the copy with its `sim` lines blank, build the
 * machine, run the copy under the wrappers, put the machine back, keep the run's exit status.
 */
export function machineGuestCommand(
  v: KernelVariant,
  m: ModeName,
  s: MachineScenario,
  override?: string,
): string {
  const copy = guestCopy(s);
  const run = auditCommand("guest", v, m, [copy], override);
  return [
    `mkdir -p ${GUEST_COPY_DIR}`,
    `cat > ${copy} <<'VFSH_EOF'`,
    s.machine.guestText.replace(/\n$/, ""),
    "VFSH_EOF",
    ...s.machine.before,
    [...s.machine.wrap, run].join(" "),
    "rc=$?",
    ...s.machine.after,
    "(exit $rc)",
  ].join("\n");
}

/** Run every batch in the VMs and on the host, print the comparisons and the tally. */
async function compareAll(
  variants: KernelVariant[],
  kernels: Map<KernelVariant, string>,
  selection: Selection,
  options: LaneOptions,
): Promise<number> {
  const tally = new Map<string, { passed: number; failed: number }>();
  const count = (key: string, ok: boolean) => {
    const t = tally.get(key) ?? { passed: 0, failed: 0 };
    if (ok) t.passed++;
    else t.failed++;
    tally.set(key, t);
  };
  for (const v of variants) {
    const groups = batches(selection.scenarios, v);
    const anyAudit = selection.audit.length + selection.auditMachine.length > 0;
    const modes = anyAudit ? auditModes(v, options.modes) : [];
    const profiles = new Set<VmProfileName>([...groups.keys()]);
    if (modes.length > 0) profiles.add(AUDIT.vm);
    for (const profile of profiles) {
      const group = groups.get(profile) ?? [];
      const auditHere = profile === AUDIT.vm ? modes : [];
      // Host first: its Deno fills node_modules, which the offline guest then reads.
      const host = new Map<string, Transcript>();
      for (const s of group) {
        host.set(s.name, await runHostCommand(scenarioCommand("host", v, s, options.hostCmd)));
      }
      const files = selection.audit.map((s) => s.file);
      const machines = selection.auditMachine;
      for (const m of auditHere) {
        if (files.length > 0) {
          host.set(
            `audit.${m}`,
            await runHostCommand(auditCommand("host", v, m, files, options.hostCmd)),
          );
        }
        for (const s of machines) {
          const cmd = auditCommand("host", v, m, [s.file], options.hostCmd);
          host.set(machineUnit(m, s), await runHostCommand(cmd));
        }
      }
      const units: GuestUnit[] = [
        ...group.map((s) => ({
          name: s.name,
          cmd: scenarioCommand("guest", v, s, options.guestCmd),
        })),
        ...(files.length === 0 ? [] : auditHere.map((m) => ({
          name: `audit.${m}`,
          cmd: auditCommand("guest", v, m, files, options.guestCmd),
        }))),
        ...auditHere.flatMap((m) =>
          machines.map((s) => ({
            name: machineUnit(m, s),
            cmd: machineGuestCommand(v, m, s, options.guestCmd),
          }))
        ),
      ];
      const perUnitMs = Math.max(60_000, 15_000 * files.length);
      const guest = await runGuestBatch(v, kernels.get(v)!, profile, units, perUnitMs);
      for (const s of group) {
        const [k, h] = [guest.get(s.name)!, host.get(s.name)!];
        const tag = `${s.name}${s.mock ? " [mock domain]" : ""}`;
        count(`${v} scenarios`, report(v, tag, whole(k), whole(h)));
      }
      for (const m of files.length > 0 ? auditHere : []) {
        const [k, h] = [guest.get(`audit.${m}`)!, host.get(`audit.${m}`)!];
        const [kp, hp] = [splitRunTranscript(k.stdout), splitRunTranscript(h.stdout)];
        const n = files.length;
        for (const f of files) {
          if (!kp.has(f) || !hp.has(f)) {
            // A run that died before this file: never a pass, even if both sides died alike.
            console.log(`FAIL ${v} ${m} ${f}: no '== ${f}' in the transcript`);
            printTails(k, h);
            count(`${v} ${m}`, false);
            continue;
          }
          const name = f.replace(/^.*\//, "").replace(/\.vfs$/, "");
          const masks = (AUDIT.lines[name] ?? []).filter((x) => !x.modes || x.modes.includes(m));
          const side = (t: Transcript, parts: Map<string, string>) => ({
            text: masks.reduce((p, x) => maskLines(p, x.lines, x.reason), parts.get(f)!),
            stderr: "",
            seconds: t.seconds / n,
          });
          count(`${v} ${m}`, report(v, `${m} ${f}`, side(k, kp), side(h, hp)));
        }
        if (k.stderr.trim()) {
          console.log(`--- kernel stderr (${v} ${m}, tail) ---`);
          console.log(k.stderr.trim().split("\n").slice(-10).join("\n"));
        }
      }
      for (const m of auditHere) {
        for (const s of machines) {
          const [k, h] = [guest.get(machineUnit(m, s))!, host.get(machineUnit(m, s))!];
          const copy = guestCopy(s);
          const [kp, hp] = [
            splitRunTranscript(k.stdout).get(copy),
            splitRunTranscript(h.stdout).get(s.file),
          ];
          if (kp === undefined || hp === undefined) {
            console.log(`FAIL ${v} ${m} ${s.file}: no '== FILE' in the transcript`);
            printTails(k, h);
            count(`${v} ${m}`, false);
            continue;
          }
          const masks = (AUDIT.lines[s.name] ?? []).filter((x) => !x.modes || x.modes.includes(m));
          const side = (t: Transcript, part: string) => ({
            text: `${
              masks.reduce((p, x) => maskLines(p, x.lines, x.reason), part)
            }\n[exit ${t.code}]`,
            stderr: t.stderr,
            seconds: t.seconds,
          });
          const tag = `${m} ${s.file} [machine: ${machineSummary(s)}]`;
          const kernelSide = side(k, kp.replaceAll(copy, s.file));
          count(`${v} ${m}`, report(v, tag, kernelSide, side(h, dropLines(hp, s.machine.lines))));
        }
      }
    }
  }
  let passed = 0, failed = 0;
  for (const [key, t] of tally) {
    console.log(`kernel-lane: ${key}: ${t.passed} passed, ${t.failed} failed`);
    passed += t.passed;
    failed += t.failed;
  }
  console.log(`kernel-lane: ${passed} passed, ${failed} failed`);
  return failed === 0 ? 0 : 1;
}
