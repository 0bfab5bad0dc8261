/**
 * `vfsh compare`: run each script once per IOMMU mode (and kernel release) in a fresh
 * simulator, and report only the commands whose results differ between the runs, side by
 * side: the command, its file:line, and each run's result grouped by equal results.
 *
 * A command is identified by where it is written (file:line, and how many times that line
 * ran before, for included files), so a run that stopped early shows `(not run)` for the
 * rest. Results are compared in their stable printed form (fds and addresses left out),
 * with the client preset's note appended when `like` is given.
 *
 * @module
 */

import { createSimKernel, findRelease, RELEASES } from "../sim/mod.ts";
import { type ClientName, clientNote } from "./clients.ts";
import { formatResult, PLAIN } from "./format.ts";
import { applyMode, MODE_NAMES, type ModeName, MODES } from "./modes.ts";
import { createSession } from "./session.ts";
import { describeFsError, readScript } from "./files.ts";

/** Options of {@link compareScript} and {@link compareFiles}. */
export interface CompareOptions {
  /** Modes to run in (default: all five). */
  modes?: readonly ModeName[];
  /** Kernel releases to run as (default: the newest modelled). */
  kernels?: readonly string[];
  /** Simulator platform profile (default: the simulator's). */
  profile?: string;
  /** Compare what this client would conclude too. */
  like?: ClientName;
  /** Plugin modules every run loads. */
  plugins?: readonly string[];
}

/** One run: a mode at a kernel release. */
export interface CompareRun {
  readonly mode: ModeName;
  readonly kernel: string;
  /** `mode`, or `mode@kernel` when several kernels are compared. */
  readonly label: string;
}

/** A command whose result is not the same in every run. */
export interface CompareDiff {
  readonly file: string;
  readonly line: number;
  /** The statement as written. */
  readonly command: string;
  /** Each run's result by run label (`(not run)` when the run did not get there). */
  readonly results: Readonly<Record<string, string>>;
}

/** The comparison of one script. */
export interface CompareFileReport {
  readonly file: string;
  /** Commands that ran in at least one run. */
  readonly commands: number;
  readonly diffs: readonly CompareDiff[];
  /** Script errors per run (a run that stops early). */
  readonly errors: readonly { run: string; message: string }[];
  /** Nothing ran at all (unreadable file, parse error, unknown command). */
  readonly failed: boolean;
}

/** The whole comparison. */
export interface CompareReport {
  readonly runs: readonly CompareRun[];
  readonly files: readonly CompareFileReport[];
}

/** The text a run shows for a command it did not reach. */
export const NOT_RUN = "(not run)";

/** Parse a comma-separated list of kernel releases; throws a one-line Error. */
export function parseKernels(list: string): string[] {
  const out: string[] = [];
  for (const k of list.split(",").map((s) => s.trim()).filter((s) => s !== "")) {
    if (findRelease(k) === undefined) {
      throw new Error(
        `unknown kernel release '${k}' (known: ${RELEASES.map((r) => r.version).join(", ")})`,
      );
    }
    if (!out.includes(k)) out.push(k);
  }
  if (out.length === 0) throw new Error("no kernel release given");
  return out;
}

/** The runs of a comparison, modes outer, kernels inner. */
export function compareRuns(o: CompareOptions = {}): CompareRun[] {
  const modes = o.modes ?? MODE_NAMES;
  const kernels = o.kernels ?? [RELEASES[RELEASES.length - 1].version];
  const runs: CompareRun[] = [];
  for (const mode of modes) {
    for (const kernel of kernels) {
      runs.push({ mode, kernel, label: kernels.length > 1 ? `${mode}@${kernel}` : mode });
    }
  }
  return runs;
}

interface Seen {
  file: string;
  line: number;
  command: string;
  result: string;
}

/** Run `text` (named `file`) once as `run`; its results by command key, in order. */
async function runOnce(
  text: string,
  file: string,
  run: CompareRun,
  o: CompareOptions,
): Promise<{ results: Map<string, Seen>; errors: string[] }> {
  const kernel = createSimKernel({
    profile: o.profile,
    release: run.kernel,
    container: MODES[run.mode].api === "legacy" ? "legacy" : "iommufd",
  });
  const results = new Map<string, Seen>();
  const times = new Map<string, number>();
  let out = "";
  const session = await createSession({
    kernel,
    quiet: true,
    like: o.like,
    plugins: [...(o.plugins ?? [])],
    pluginsRequired: true,
    write: (t) => {
      out += t;
    },
    onResult: (e) => {
      const where = `${e.file}:${e.line}`;
      const n = times.get(where) ?? 0;
      times.set(where, n + 1);
      let result = formatResult(e.errno, e.fields, e.formats, PLAIN, true);
      const note = o.like ? clientNote(e) : undefined;
      if (note) result += `  ${note}`;
      results.set(`${where}#${n}`, { file: e.file, line: e.line, command: e.text, result });
    },
  });
  applyMode(kernel, session.state, run.mode);
  try {
    await session.runScript(text, file);
  } finally {
    session.close();
  }
  const errors = out.split("\n").filter((l) => l.startsWith("error: ")).map((l) => l.slice(7));
  return { results, errors };
}

/** Compare one script given as text. */
export async function compareScript(
  text: string,
  file: string,
  o: CompareOptions = {},
): Promise<CompareFileReport> {
  const runs = compareRuns(o);
  const per: Map<string, Seen>[] = [];
  const errors: { run: string; message: string }[] = [];
  const order: string[] = [];
  const known = new Set<string>();
  for (const run of runs) {
    const r = await runOnce(text, file, run, o);
    per.push(r.results);
    for (const m of r.errors) errors.push({ run: run.label, message: m });
    for (const k of r.results.keys()) {
      if (!known.has(k)) {
        known.add(k);
        order.push(k);
      }
    }
  }
  const diffs: CompareDiff[] = [];
  for (const k of order) {
    const seen = per.find((m) => m.has(k))!.get(k)!;
    const results: Record<string, string> = {};
    const distinct = new Set<string>();
    runs.forEach((run, i) => {
      const v = per[i].get(k)?.result ?? NOT_RUN;
      results[run.label] = v;
      distinct.add(v);
    });
    if (distinct.size > 1) {
      diffs.push({ file: seen.file, line: seen.line, command: seen.command, results });
    }
  }
  return {
    file,
    commands: order.length,
    diffs,
    errors,
    failed: order.length === 0 && errors.length > 0,
  };
}

/** Compare script files (`-`: standard input); an unreadable file is reported as failed. */
export async function compareFiles(
  files: readonly string[],
  o: CompareOptions = {},
): Promise<CompareReport> {
  const reports: CompareFileReport[] = [];
  for (const f of files) {
    let text: string;
    try {
      text = await readScript(f);
    } catch (e) {
      reports.push({
        file: f,
        commands: 0,
        diffs: [],
        errors: [{ run: "*", message: `${f}: ${describeFsError(e, "read", f)}` }],
        failed: true,
      });
      continue;
    }
    reports.push(await compareScript(text, f, o));
  }
  return { runs: compareRuns(o), files: reports };
}

/** Group runs with equal results: `[result, labels]` in the order results first appear. */
export function groupResults(
  diff: CompareDiff,
  runs: readonly CompareRun[],
): { result: string; runs: CompareRun[] }[] {
  const groups: { result: string; runs: CompareRun[] }[] = [];
  for (const run of runs) {
    const v = diff.results[run.label];
    const g = groups.find((x) => x.result === v);
    if (g) g.runs.push(run);
    else groups.push({ result: v, runs: [run] });
  }
  return groups;
}

/**
 * Name a set of runs briefly: modes that hold at every compared kernel by name alone, the
 * others with the kernels where they hold (`iommufd@6.2,6.6`), modes with the same kernel
 * set together.
 */
export function describeRuns(subset: readonly CompareRun[], all: readonly CompareRun[]): string {
  const kernels = [...new Set(all.map((r) => r.kernel))];
  const byMode = new Map<ModeName, string[]>();
  for (const r of subset) {
    const l = byMode.get(r.mode) ?? [];
    l.push(r.kernel);
    byMode.set(r.mode, l);
  }
  const bySet = new Map<string, ModeName[]>();
  for (const [mode, ks] of byMode) {
    const key = ks.length === kernels.length ? "" : ks.join(",");
    const l = bySet.get(key) ?? [];
    l.push(mode);
    bySet.set(key, l);
  }
  const parts: string[] = [];
  for (const [key, modes] of bySet) {
    parts.push(key === "" ? modes.join(", ") : `${modes.join(", ")} @${key}`);
  }
  return parts.join("; ");
}

/** Errors as lines: each message once, with the runs it came from unless it came from all. */
function errorLines(
  errors: readonly { run: string; message: string }[],
  runs: readonly CompareRun[],
): string[] {
  const byMessage = new Map<string, string[]>();
  for (const e of errors) byMessage.set(e.message, [...(byMessage.get(e.message) ?? []), e.run]);
  return [...byMessage].map(([message, from]) =>
    from.length === runs.length || from.includes("*")
      ? `  error: ${message}`
      : `  error in ${from.join(", ")}: ${message}`
  );
}

/** The human form of a report. */
export function formatCompare(report: CompareReport): string[] {
  const out: string[] = [];
  const runs = report.runs;
  let differing = 0;
  for (const f of report.files) {
    if (f.failed) {
      out.push(`== ${f.file}: could not run`, ...errorLines(f.errors, runs));
      continue;
    }
    differing += f.diffs.length;
    out.push(
      `== ${f.file}: ${f.diffs.length} of ${f.commands} command${
        f.commands === 1 ? "" : "s"
      } differ across ${runs.length} run${runs.length === 1 ? "" : "s"}`,
    );
    for (const d of f.diffs) {
      out.push(`${d.file}:${d.line}  ${d.command}`);
      const groups = groupResults(d, runs);
      const w = Math.max(...groups.map((g) => g.result.length));
      for (const g of groups) out.push(`  ${g.result.padEnd(w)}   ${describeRuns(g.runs, runs)}`);
    }
    out.push(...errorLines(f.errors, runs));
  }
  out.push(
    `${differing} differing command${differing === 1 ? "" : "s"} in ${report.files.length} file${
      report.files.length === 1 ? "" : "s"
    } (runs: ${runs.map((r) => r.label).join(", ")})`,
  );
  return out;
}

/** The JSON form of a report. */
export function compareJson(report: CompareReport): Record<string, unknown> {
  return {
    runs: report.runs.map((r) => r.label),
    files: report.files.map((f) => ({
      file: f.file,
      commands: f.commands,
      failed: f.failed,
      errors: f.errors,
      differences: f.diffs,
    })),
    differing: report.files.reduce((n, f) => n + f.diffs.length, 0),
  };
}
