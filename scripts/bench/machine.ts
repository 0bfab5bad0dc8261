/**
 * The machine a run happens on (for results.json and BENCHMARKS.md) and the subprocess
 * helpers the measurements share.
 *
 * @module
 */

import process from "node:process";
import { cpuProfFlags } from "./profile.ts";

/** The repository root, without a trailing slash. */
export const REPO_ROOT = new URL("../../", import.meta.url).pathname.replace(/\/$/, "");

/** What is recorded about the machine with every run. */
export interface MachineInfo {
  /** `nproc`: processors available to this process. */
  nproc: number;
  /** `model name` from /proc/cpuinfo (first processor). */
  model: string;
  /** /proc/loadavg's 1, 5 and 15 minute averages. */
  loadavg: [number, number, number];
  /** Deno, V8 and TypeScript versions. */
  deno: string;
  v8: string;
  /** `os arch`. */
  platform: string;
  /** Kernel release (uname -r). */
  kernel: string;
}

async function commandText(cmd: string, args: string[]): Promise<string | undefined> {
  try {
    const out = await new Deno.Command(cmd, { args, stdout: "piped", stderr: "null" }).output();
    return out.success ? new TextDecoder().decode(out.stdout).trim() : undefined;
  } catch {
    return undefined;
  }
}

/** The load averages now. */
export function loadAverage(): [number, number, number] {
  try {
    const f = Deno.readTextFileSync("/proc/loadavg").split(/\s+/).slice(0, 3).map(Number);
    return [f[0], f[1], f[2]];
  } catch {
    const l = Deno.loadavg();
    return [l[0], l[1], l[2]];
  }
}

/** `model name` of the first processor in /proc/cpuinfo, or "unknown". */
export function cpuModel(cpuinfo: string): string {
  const m = /^model name\s*:\s*(.*)$/m.exec(cpuinfo);
  return m ? m[1].trim() : "unknown";
}

/** Collect {@linkcode MachineInfo}. */
export async function machineInfo(): Promise<MachineInfo> {
  const nproc = Number(await commandText("nproc", [])) || navigator.hardwareConcurrency;
  let cpuinfo = "";
  try {
    cpuinfo = await Deno.readTextFile("/proc/cpuinfo");
  } catch { /* not Linux */ }
  return {
    nproc,
    model: cpuModel(cpuinfo),
    loadavg: loadAverage(),
    deno: Deno.version.deno,
    v8: Deno.version.v8,
    platform: `${Deno.build.os} ${Deno.build.arch}`,
    kernel: (await commandText("uname", ["-r"])) ?? "unknown",
  };
}

/** What a finished subprocess left. */
export interface ProcResult {
  code: number;
  stdout: string;
  stderr: string;
  /** Wall-clock milliseconds from spawn to exit, as seen by this process. */
  wallMs: number;
}

/** Options of {@linkcode run}. */
export interface RunOptions {
  cwd?: string;
  env?: Record<string, string>;
  /** Discard stdout instead of collecting it (the child still writes it, to /dev/null). */
  discardStdout?: boolean;
}

/** Run `cmd args…` to completion and time it. */
export async function run(cmd: string, args: string[], o: RunOptions = {}): Promise<ProcResult> {
  const t0 = performance.now();
  const out = await new Deno.Command(cmd, {
    args,
    cwd: o.cwd ?? REPO_ROOT,
    env: { NO_COLOR: "1", ...o.env },
    stdin: "null",
    stdout: o.discardStdout ? "null" : "piped",
    stderr: "piped",
  }).output();
  const wallMs = performance.now() - t0;
  const dec = new TextDecoder();
  return {
    code: out.code,
    stdout: o.discardStdout ? "" : dec.decode(out.stdout),
    stderr: dec.decode(out.stderr),
    wallMs,
  };
}

/**
 * Run the Deno binary running this harness (`Deno.execPath()`) with `args`. Under
 * `--profile` a `deno run` child gets the CPU profiler flags too (see profile.ts).
 */
export function runDeno(args: string[], o: RunOptions = {}): Promise<ProcResult> {
  const full = args[0] === "run" ? ["run", ...cpuProfFlags(), ...args.slice(1)] : args;
  return run(Deno.execPath(), full, o);
}

/** The prefix of the one line a bench child prints its result on. */
export const RESULT_PREFIX = "BENCH-RESULT ";

/** Print `value` as a child's result line (read back by {@linkcode childResult}). */
export function printResult(value: unknown): void {
  console.log(RESULT_PREFIX + JSON.stringify(value));
}

/** The result line of a child's stdout; throws with the child's stderr when it has none. */
export function childResult<T>(p: ProcResult, what: string): T {
  const line = p.stdout.split("\n").find((l) => l.startsWith(RESULT_PREFIX));
  if (p.code !== 0 || line === undefined) {
    const tail = (p.stderr || p.stdout).trim().split("\n").slice(-15).join("\n");
    throw new Error(`${what} exited ${p.code} without a result:\n${tail}`);
  }
  return JSON.parse(line.slice(RESULT_PREFIX.length)) as T;
}

/** CPU time (user + system) this process has used so far, in milliseconds (all threads). */
export function cpuMs(): number {
  const u = process.cpuUsage(); // getrusage(RUSAGE_SELF), microseconds
  return (u.user + u.system) / 1000;
}
