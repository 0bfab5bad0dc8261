/**
 * `deno task bench`: every speed and size claim of vfsh, measured on this machine. Prints a
 * table (figure, value, target, ratio to the baseline where there is one, PASS/MISS) and,
 * for a full run, writes the same as JSON to bench/results.json. See BENCHMARKS.md.
 *
 * ```
 * deno task bench                      everything (a few minutes on 2 cores)
 * deno task bench -- --quick           smaller sizes, fewer rounds: a smoke test
 * deno task bench -- --only map,ffi    some measurements
 * deno task bench -- --profile replay  rerun one under the CPU profiler, print self times
 * ```
 *
 * @module
 */

import { parseArgs } from "node:util";
import { ffiMeasurement } from "./ffi_call.ts";
import { getInfoMeasurement } from "./get_info.ts";
import { loadAverage, machineInfo, REPO_ROOT } from "./machine.ts";
import {
  formatSelfTimes,
  groupByProcess,
  PROFILE_DIR_ENV,
  readProfiles,
  selfTimes,
} from "./profile.ts";
import { replayMeasurement } from "./replay.ts";
import {
  type BenchOptions,
  evaluate,
  formatMarkdown,
  formatTable,
  type Measurement,
  type Row,
  tally,
} from "./report.ts";
import { mapMeasurement } from "./sim_map.ts";
import { memoryMeasurement } from "./sim_memory.ts";
import { startupMeasurement } from "./startup.ts";
import { vmMeasurement } from "./vm_lane.ts";

/** Every measurement, in the order of the issue (and of the table). */
export const MEASUREMENTS: readonly Measurement[] = [
  mapMeasurement,
  memoryMeasurement,
  replayMeasurement,
  startupMeasurement,
  ffiMeasurement,
  getInfoMeasurement,
  vmMeasurement,
];

/** Where a full run writes its JSON. */
export const RESULTS_FILE = `${REPO_ROOT}/bench/results.json`;

const USAGE = `usage: deno task bench [-- OPTIONS]
  --quick          smaller sizes and fewer rounds (a smoke test; targets at full size only)
  --only NAME      only these measurements (repeatable, or comma-separated)
  --list           list the measurements and exit
  --out FILE       write the JSON here (default: bench/results.json, full runs only)
  --no-write       do not write any JSON
  --markdown       print the table as Markdown as well
  --strict         exit 1 when a target is missed
  --profile NAME   run NAME under V8's CPU profiler (harness and its Deno children) and
                   print the functions with the most self time
  --top N          how many functions --profile lists (default 20)
  --rounds N       alternating rounds per comparison instead of the defaults (with --profile:
                   more rounds make the timed loops outweigh the set-up in the profile)
Environment: VFSH_BENCH_VM=0 skips the VM measurement, =1 runs it even with --quick.`;

/** The parsed command line. */
export interface CliOptions {
  quick: boolean;
  only: string[];
  list: boolean;
  out?: string;
  write: boolean;
  markdown: boolean;
  strict: boolean;
  profile?: string;
  top: number;
  rounds?: number;
}

function positive(text: string, flag: string): number {
  const n = Number(text);
  if (!Number.isInteger(n) || n < 1) throw new RangeError(`${flag} needs a positive integer`);
  return n;
}

/** Parse `argv` (throws a TypeError for an unknown flag, a RangeError for an unknown name). */
export function parseCli(argv: string[]): CliOptions | "help" {
  const { values } = parseArgs({
    args: argv.filter((a) => a !== "--"),
    options: {
      quick: { type: "boolean", default: false },
      only: { type: "string", multiple: true, default: [] },
      list: { type: "boolean", default: false },
      out: { type: "string" },
      "no-write": { type: "boolean", default: false },
      markdown: { type: "boolean", default: false },
      strict: { type: "boolean", default: false },
      profile: { type: "string" },
      top: { type: "string", default: "20" },
      rounds: { type: "string" },
      help: { type: "boolean", short: "h", default: false },
    },
  });
  if (values.help) return "help";
  const only = values.only.flatMap((s) => s.split(",")).map((s) => s.trim()).filter(Boolean);
  const known = MEASUREMENTS.map((m) => m.name);
  for (const name of [...only, ...(values.profile ? [values.profile] : [])]) {
    if (!known.includes(name)) {
      throw new RangeError(`unknown measurement '${name}' (known: ${known.join(", ")})`);
    }
  }
  return {
    quick: values.quick,
    only,
    list: values.list,
    out: values.out,
    write: !values["no-write"],
    markdown: values.markdown,
    strict: values.strict,
    profile: values.profile,
    top: Number(values.top) || 20,
    rounds: values.rounds === undefined ? undefined : positive(values.rounds, "--rounds"),
  };
}

function log(message: string): void {
  const t = (performance.now() / 1000).toFixed(1).padStart(6);
  console.error(`[bench ${t}s] ${message}`);
}

/** Run the selected measurements; the evaluated rows and each one's details. */
export async function runBench(
  selected: readonly Measurement[],
  options: BenchOptions,
): Promise<{ rows: Row[]; details: Record<string, unknown>; errors: number }> {
  const rows: Row[] = [];
  const details: Record<string, unknown> = {};
  let errors = 0;
  for (const m of selected) {
    log(`${m.name}: ${m.title}`);
    const t0 = performance.now();
    try {
      const r = await m.run(options);
      rows.push(...r.rows.map(evaluate));
      details[m.name] = { seconds: (performance.now() - t0) / 1000, ...r.details };
    } catch (e) {
      errors++;
      const message = e instanceof Error ? e.message : String(e);
      log(`${m.name} failed: ${e instanceof Error ? e.stack : e}`);
      rows.push(evaluate({
        measurement: m.name,
        figure: `${m.name}: ${m.title}`,
        value: null,
        unit: "",
        status: "MISS",
        note: `error: ${message.split("\n")[0]}`,
      }));
      details[m.name] = { error: message };
    }
    log(`${m.name} done in ${((performance.now() - t0) / 1000).toFixed(1)} s`);
  }
  return { rows, details, errors };
}

/** `--profile NAME`: rerun this harness for NAME under --cpu-prof and summarise. */
async function profile(o: CliOptions): Promise<number> {
  const dir = await Deno.makeTempDir({ prefix: "vfsh-bench-prof-" });
  try {
    const args = [
      "run",
      "-A",
      "--cpu-prof",
      `--cpu-prof-dir=${dir}`,
      new URL(import.meta.url).pathname,
      "--only",
      o.profile!,
      "--no-write",
      ...(o.quick ? ["--quick"] : []),
      ...(o.rounds ? ["--rounds", String(o.rounds)] : []),
    ];
    const p = await new Deno.Command(Deno.execPath(), {
      args,
      cwd: REPO_ROOT,
      env: { [PROFILE_DIR_ENV]: dir },
      stdin: "null",
      stdout: "inherit",
      stderr: "inherit",
    }).output();
    const profiles = await readProfiles(dir);
    console.log(`\nCPU profile of '${o.profile}': ${profiles.length} process(es)`);
    for (const [kind, group] of groupByProcess(profiles)) {
      const times = selfTimes(group, REPO_ROOT);
      const total = times.reduce((s, t) => s + t.selfMs, 0);
      console.log(
        `\n${kind}: ${group.length} process(es), ${total.toFixed(0)} ms sampled; ` +
          `top ${o.top} by self time`,
      );
      console.log(formatSelfTimes(times, o.top));
      console.log("  by file:");
      console.log(formatSelfTimes(selfTimes(group, REPO_ROOT, "file"), 8));
    }
    return p.code;
  } finally {
    await Deno.remove(dir, { recursive: true }).catch(() => {});
  }
}

/** The CLI; returns the exit status. */
export async function main(argv: string[]): Promise<number> {
  let o: CliOptions | "help";
  try {
    o = parseCli(argv);
  } catch (e) {
    console.error(`bench: ${(e as Error).message}\n${USAGE}`);
    return 2;
  }
  if (o === "help") {
    console.log(USAGE);
    return 0;
  }
  if (o.list) {
    for (const m of MEASUREMENTS) console.log(`${m.name.padEnd(9)} ${m.title}`);
    return 0;
  }
  if (o.profile) return await profile(o);
  const selected = o.only.length > 0
    ? MEASUREMENTS.filter((m) => o.only.includes(m.name))
    : MEASUREMENTS;
  const startedAt = new Date();
  const machine = await machineInfo();
  log(`${machine.nproc} × ${machine.model}, load ${machine.loadavg.join(" ")}`);
  const tmpDir = await Deno.makeTempDir({ prefix: "vfsh-bench-" });
  let result;
  try {
    result = await runBench(selected, { quick: o.quick, rounds: o.rounds, tmpDir, log });
  } finally {
    await Deno.remove(tmpDir, { recursive: true }).catch(() => {});
  }
  const seconds = (Date.now() - startedAt.getTime()) / 1000;
  const loadEnd = loadAverage();
  const t = tally(result.rows);
  console.log(formatTable(result.rows));
  console.log(
    `\n${t.PASS} PASS, ${t.MISS} MISS, ${t.INFO} INFO, ${t.SKIP} SKIP in ${seconds.toFixed(0)} s` +
      ` (${machine.nproc} × ${machine.model}; load ${machine.loadavg.join(" ")} → ${
        loadEnd.join(" ")
      })`,
  );
  if (o.markdown) console.log(`\n${formatMarkdown(result.rows)}`);
  const partial = o.quick || o.only.length > 0 || o.rounds !== undefined;
  const out = o.out ?? (partial ? undefined : RESULTS_FILE);
  if (o.write && out) {
    const json = {
      command: ["deno task bench", ...argv.filter((a) => a !== "--")].join(" "),
      startedAt: startedAt.toISOString(),
      seconds,
      machine: {
        ...machine,
        loadavg: undefined,
        loadavgStart: machine.loadavg,
        loadavgEnd: loadEnd,
      },
      options: { quick: o.quick, only: o.only, rounds: o.rounds },
      tally: t,
      rows: result.rows,
      details: result.details,
    };
    const dir = out.includes("/") ? out.slice(0, out.lastIndexOf("/")) : ".";
    if (dir) await Deno.mkdir(dir, { recursive: true });
    await Deno.writeTextFile(out, JSON.stringify(json, null, 2) + "\n");
    log(`wrote ${out}`);
  } else if (o.write && partial) {
    log("partial run (--quick/--only/--rounds): no JSON written (use --out FILE)");
  }
  if (result.errors > 0) return 1;
  return o.strict && t.MISS > 0 ? 1 : 0;
}

if (import.meta.main) {
  Deno.exit(await main(Deno.args));
}
