/**
 * Measurement 4: start-up. `vfsh -c 'container open; api-version'` (shell/start.ts, as
 * `deno task vfsh` runs it, with dist/ built) against `deno run` of an empty file, both whole processes of the same Deno binary (`Deno.execPath()`) from the
 * repository root, alternating, medians of the wall times and of the per-round ratios.
 *
 * @module
 */

import { runDeno } from "./machine.ts";
import type { BenchOptions, Measurement, MeasurementResult } from "./report.ts";
import { alternate, median, pairedRatio } from "./stats.ts";
import { ensureBundle, vfshArgs } from "./replay.ts";

/** The command the issue times. */
export const STARTUP_COMMAND = "container open; api-version";

/** The 1.5× bound of the issue. */
const RATIO_TARGET = 1.5;

async function wall(args: string[]): Promise<number> {
  const p = await runDeno(args, { discardStdout: true });
  if (p.code !== 0) throw new Error(`deno ${args.join(" ")} exited ${p.code}: ${p.stderr}`);
  return p.wallMs;
}

/** Run the measurement. */
export async function measureStartup(o: BenchOptions): Promise<MeasurementResult> {
  const rounds = o.rounds ?? (o.quick ? 5 : 15);
  const empty = `${o.tmpDir}/empty.ts`;
  await Deno.writeTextFile(empty, "");
  await ensureBundle(o.log);
  const vfsh = vfshArgs(["-c", STARTUP_COMMAND]);
  const base = ["run", empty];
  // Warm-up: fill Deno's module and code caches for both.
  await wall(vfsh);
  await wall(base);
  const s = await alternate({ vfsh: () => wall(vfsh), empty: () => wall(base) }, rounds);
  const ratio = pairedRatio(s.vfsh, s.empty);
  o.log(`startup: vfsh ${median(s.vfsh).toFixed(0)} ms, empty ${median(s.empty).toFixed(0)} ms`);
  return {
    rows: [
      {
        measurement: "startup",
        figure: "start-up: deno run of an empty file",
        value: median(s.empty),
        unit: "ms",
      },
      {
        measurement: "startup",
        figure: `start-up: vfsh -c '${STARTUP_COMMAND}'`,
        value: median(s.vfsh),
        unit: "ms",
        ratio,
        ratioOf: "vs empty",
        target: { on: "ratio", op: "<=", limit: RATIO_TARGET, text: "≤ 1.5×" },
        note: `${rounds} alternating runs each`,
      },
    ],
    details: { rounds, vfshMs: s.vfsh, emptyMs: s.empty },
  };
}

/** The measurement as the harness lists it. */
export const startupMeasurement: Measurement = {
  name: "startup",
  title: "vfsh -c 'container open; api-version' against deno run of an empty file",
  run: measureStartup,
};
