/**
 * Running a script in a `--json` session and reading back its command results, for tests of
 * what commands put in their structs and report.
 *
 * @module
 */

import type { Kernel } from "../uapi/kernel.ts";
import { createSession, type Session } from "../shell/session.ts";

/** One command's `--json` object, as much of it as tests read. */
export interface JsonResult {
  command: string;
  ok: boolean;
  errno: { name: string } | null;
  fields: Record<string, unknown>;
}

/**
 * Run `script` as `t.vfs` on `kernel` with `--json` output: the session (still open, for the
 * caller to close), the result of every command in order, and the whole output.
 */
export async function runJson(
  kernel: Kernel,
  script: string,
): Promise<{ s: Session; results: JsonResult[]; text: string }> {
  let text = "";
  const s = await createSession({ kernel, write: (t) => (text += t), json: true });
  await s.runScript(script, "t.vfs");
  const results = text.split("\n").filter((l) => l.startsWith("{")).map((l) => JSON.parse(l))
    .filter((o) => "command" in o) as JsonResult[];
  return { s, results, text };
}

/** `errno` name, or the fields of a success. */
export function outcome(r: JsonResult): string | Record<string, unknown> {
  return r.ok ? r.fields : r.errno!.name;
}
