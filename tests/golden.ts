/**
 * Golden transcripts of the scenarios: `tests/scenarios/NAME.vfs` run in a fresh simulator
 * gives exactly `tests/scenarios/NAME.out` (what `vfsh run tests/scenarios/NAME.vfs`
 * prints before its final summary line). `deno task scenarios:update` rewrites the `.out`
 * files on purpose.
 *
 * @module
 */

import { createSimKernel } from "../sim/mod.ts";
import { createSession, type ScriptReport } from "../shell/session.ts";
import { SCENARIOS, VM_PROFILES } from "../scripts/kernel/scenarios.ts";

/** The repository root, as a path ending in `/`. */
export const ROOT = new URL("../", import.meta.url).pathname;
/** Where the scenarios live, relative to the root. */
export const SCENARIO_DIR = "tests/scenarios";

/** `.vfs` files in `dir` (relative to the root), sorted, as root-relative paths. */
export function vfsFiles(dir: string): string[] {
  const out: string[] = [];
  for (const e of Deno.readDirSync(ROOT + dir)) {
    if (e.isFile && e.name.endsWith(".vfs")) out.push(`${dir}/${e.name}`);
  }
  return out.sort();
}

/**
 * The simulator profile a scenario runs on: the one of the machine the kernel lane boots for
 * it (scripts/kernel/scenarios.ts), else the default.
 */
export function profileOf(file: string): string | undefined {
  const name = file.replace(/^.*\//, "").replace(/\.vfs$/, "");
  const vm = SCENARIOS[name]?.vm;
  if (vm === undefined) return undefined;
  const args: readonly string[] = VM_PROFILES[vm].simArgs;
  const i = args.indexOf("--profile");
  return i < 0 ? undefined : args[i + 1];
}

/** Run `file` (root-relative) in a fresh simulator; its transcript and report. */
export async function transcript(file: string): Promise<{ text: string; report: ScriptReport }> {
  let text = "";
  const session = await createSession({
    kernel: createSimKernel({ profile: profileOf(file) }),
    write: (t) => {
      text += t;
    },
  });
  try {
    const report = await session.runScript(Deno.readTextFileSync(ROOT + file), file);
    return { text, report };
  } finally {
    session.close();
  }
}

/** The golden file of a scenario. */
export function goldenPath(file: string): string {
  return ROOT + file.replace(/\.vfs$/, ".out");
}
