/**
 * Measurement 3: script replay. A generated 100,000-line `.vfs` (see `vfs_gen.ts`) runs
 * through the real CLI, `vfsh run FILE` as a subprocess with stdout to /dev/null, and
 * in-process through `runScript` of mod.ts on a {@linkcode TimedKernel} that clocks every
 * call into the simulator: the difference is the time spent outside the simulator (parse,
 * compile, expectations, formatting). The two runs alternate.
 *
 * @module
 */

import { runScript } from "../../mod.ts";
import { createSimKernel } from "../../sim/mod.ts";
import type { IoctlArg, Kernel, SimulatorControl } from "../../uapi/kernel.ts";
import { REPO_ROOT, runDeno } from "./machine.ts";
import { build } from "../build.ts";
import { entryModule } from "../../shell/start.ts";
import type { BenchOptions, Measurement, MeasurementResult } from "./report.ts";
import { alternate, median } from "./stats.ts";
import { generateVfs } from "./vfs_gen.ts";

/** Deno flags of `deno task vfsh` (the CLI as users start it). */
export const VFSH_FLAGS: readonly string[] = [
  "--v8-flags=--min-semi-space-size=2,--max-semi-space-size=2",
  "--allow-read",
  "--allow-env=HOME,NO_COLOR,TERM,VFSH_HISTORY",
];

/**
 * `deno run <flags> shell/start.ts` + `args` (what `deno task vfsh` runs), as an argument
 * list for the Deno binary. Call {@link ensureBundle} first: start.ts runs dist/ only while
 * it matches the sources.
 */
export function vfshArgs(args: string[]): string[] {
  return ["run", ...VFSH_FLAGS, `${REPO_ROOT}/shell/start.ts`, ...args];
}

/** Make dist/ (`deno task build`) unless it already matches the sources; say which. */
export async function ensureBundle(log: (line: string) => void): Promise<void> {
  const root = new URL("../../", import.meta.url);
  if (entryModule(decodeURIComponent(root.pathname)).endsWith("/dist/main.js")) return;
  await build(new URL("dist/", root));
  log("built dist/ (deno task build): vfsh runs the bundle, as after the README's set-up");
}

/**
 * A Kernel that forwards to another and adds up the wall time spent in each call:
 * `ioctlMs` inside `ioctl`, `otherMs` inside every other method.
 */
export class TimedKernel implements Kernel {
  readonly name: "sim" | "kernel";
  readonly simulator?: SimulatorControl;
  /** Milliseconds inside `ioctl`. */
  ioctlMs = 0;
  /** Milliseconds inside open, close, mmap, munmap, readMemory, writeMemory. */
  otherMs = 0;
  /** Number of ioctl calls. */
  ioctls = 0;

  /** Wrap `inner`. */
  constructor(readonly inner: Kernel) {
    this.name = inner.name;
    this.simulator = inner.simulator;
  }

  /** Timed `ioctl`. */
  ioctl(fd: number, request: number, arg: IoctlArg): number {
    const t0 = performance.now();
    const r = this.inner.ioctl(fd, request, arg);
    this.ioctlMs += performance.now() - t0;
    this.ioctls++;
    return r;
  }

  #timed<T>(f: () => T): T {
    const t0 = performance.now();
    const r = f();
    this.otherMs += performance.now() - t0;
    return r;
  }

  /** Timed `open`. */
  open(path: string): number {
    return this.#timed(() => this.inner.open(path));
  }
  /** Timed `close`. */
  close(fd: number): number {
    return this.#timed(() => this.inner.close(fd));
  }
  /** Timed `mmap`. */
  mmap(length: bigint, fd?: number, offset?: bigint): bigint {
    return this.#timed(() => this.inner.mmap(length, fd, offset));
  }
  /** Timed `munmap`. */
  munmap(addr: bigint, length: bigint): number {
    return this.#timed(() => this.inner.munmap(addr, length));
  }
  /** Timed `readMemory`. */
  readMemory(addr: bigint, into: Uint8Array): number {
    return this.#timed(() => this.inner.readMemory(addr, into));
  }
  /** Timed `writeMemory`. */
  writeMemory(addr: bigint, bytes: Uint8Array): number {
    return this.#timed(() => this.inner.writeMemory(addr, bytes));
  }
}

/** One in-process replay: total and simulator time. */
export interface InProcessSample {
  totalMs: number;
  ioctlMs: number;
  otherMs: number;
  ioctls: number;
  passed: number;
}

/** Replay `text` in this process on a fresh simulator, timing the simulator's share. */
export async function replayInProcess(file: string, text: string): Promise<InProcessSample> {
  const kernel = new TimedKernel(createSimKernel());
  const t0 = performance.now();
  const r = await runScript(file, { text, backend: kernel, write: () => {} });
  const totalMs = performance.now() - t0;
  if (r.status !== 0) throw new Error(`in-process replay of ${file}: status ${r.status}`);
  return {
    totalMs,
    ioctlMs: kernel.ioctlMs,
    otherMs: kernel.otherMs,
    ioctls: kernel.ioctls,
    passed: r.passed,
  };
}

/** Replay `file` with the CLI as a subprocess (stdout to /dev/null); wall milliseconds. */
export async function replayCli(file: string): Promise<number> {
  const p = await runDeno(vfshArgs(["run", file]), { discardStdout: true });
  if (p.code !== 0) throw new Error(`vfsh run ${file} exited ${p.code}: ${p.stderr.trim()}`);
  return p.wallMs;
}

/** The 300,000 lines/s bound of the issue. */
const LINES_TARGET = 300_000;

/** Run the measurement. */
export async function measureReplay(o: BenchOptions): Promise<MeasurementResult> {
  const lines = o.quick ? 20_000 : 100_000;
  const rounds = o.rounds ?? (o.quick ? 1 : 3);
  const file = `${o.tmpDir}/replay_${lines}.vfs`;
  const text = generateVfs(lines);
  await Deno.writeTextFile(file, text);
  // Untimed warm-up on the first 2,000 lines: Deno's caches for the CLI, the JIT here.
  await ensureBundle(o.log);
  const warm = `${o.tmpDir}/replay_warm.vfs`;
  const warmText = text.split("\n").slice(0, 2_000).join("\n") + "\n";
  await Deno.writeTextFile(warm, warmText);
  await replayCli(warm);
  await replayInProcess(warm, warmText);
  const inProc: InProcessSample[] = [];
  const s = await alternate({
    cli: () => replayCli(file),
    inProcess: async () => {
      const r = await replayInProcess(file, text);
      inProc.push(r);
      return r.totalMs;
    },
  }, rounds);
  const cliMs = median(s.cli);
  const totalMs = median(s.inProcess);
  const outside = inProc.map((r) => 1 - (r.ioctlMs + r.otherMs) / r.totalMs);
  const ioctlMs = median(inProc.map((r) => r.ioctlMs));
  o.log(`replay: CLI ${cliMs.toFixed(0)} ms, in-process ${totalMs.toFixed(0)} ms`);
  return {
    rows: [
      {
        measurement: "replay",
        figure: `replay ${lines.toLocaleString("en")}-line .vfs: vfsh run (process)`,
        value: lines / (cliMs / 1000),
        unit: "lines/s",
        target: lines >= 100_000
          ? { on: "value", op: ">=", limit: LINES_TARGET, text: "≥ 300,000 lines/s" }
          : undefined,
        note: `${cliMs.toFixed(0)} ms wall, start-up included`,
      },
      {
        measurement: "replay",
        figure: "replay in-process (runScript)",
        value: lines / (totalMs / 1000),
        unit: "lines/s",
        note: `${totalMs.toFixed(0)} ms`,
      },
      {
        measurement: "replay",
        figure: "replay: share of time outside the simulator",
        value: 100 * median(outside),
        unit: "%",
        note: `in kernel.ioctl ${ioctlMs.toFixed(0)} ms of ${totalMs.toFixed(0)} ms (${
          inProc[0].ioctls
        } ioctls)`,
      },
    ],
    details: { lines, rounds, cliMs: s.cli, inProcess: inProc },
  };
}

/** The measurement as the harness lists it. */
export const replayMeasurement: Measurement = {
  name: "replay",
  title: "a generated 100,000-line .vfs through `vfsh run` and through runScript",
  run: measureReplay,
};
