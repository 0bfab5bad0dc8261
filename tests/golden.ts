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

/** Run `file` (root-relative) in a fresh simulator; its transcript and report. */
export async function transcript(file: string): Promise<{ text: string; report: ScriptReport }> {
  let text = "";
  const session = await createSession({
    kernel: createSimKernel(),
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
