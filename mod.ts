/**
 * vfsh: a scriptable shell for the Linux VFIO container ioctls as iommufd implements them,
 * with a built-in simulator of the kernel.
 *
 * - {@link runScript} replays a `.vfs` script and reports its expectations;
 * - {@link createSession} gives a shell to drive line by line (the REPL uses it);
 * - {@link definePlugin} / {@link defineCommand} (with zod schemas, `z` and the `t` helpers)
 *   add commands: help, completion, validation and JSON come from the declaration;
 * - {@link backends} create a simulated kernel (`sim`) or the real one (`kernel`, which
 *   needs `--allow-ffi`).
 *
 * @example
 * ```ts
 * import { runScript } from "./mod.ts";
 * const report = await runScript("demo.vfs", {
 *   text: "container open\napi-version => 0\n",
 *   write: () => {},
 * });
 * console.log(report.status); // 0
 * ```
 *
 * @module
 */

import { type BackendOptions, openBackend } from "./shell/backend.ts";
import { createSession, type ScriptReport, type Session } from "./shell/session.ts";
import type { Kernel } from "./uapi/kernel.ts";

export {
  type ArgKind,
  type Command,
  type CommandContext,
  type CommandResult,
  type CommandSpec,
  defineCommand,
  definePlugin,
  type FieldFormat,
  type FieldValue,
  type MemRegion,
  type Plugin,
  type Range,
  type SchemaHelpers,
  type ShellArea,
  type ShellControl,
  ShellError,
  type ShellState,
  t,
  type Value,
  type VfshMeta,
  z,
} from "./shell/plugin_api.ts";
export {
  createSession,
  type ScriptReport,
  type Session,
  type SessionOptions,
} from "./shell/session.ts";
export { type BackendOptions, backends, openBackend } from "./shell/backend.ts";
export { ScriptError } from "./dsl/source.ts";
export type { Location } from "./dsl/source.ts";
export type { ResultRecord } from "./dsl/values.ts";
export type { BackendName, IoctlArg, Kernel, MappingRow, SimulatorControl } from "./uapi/kernel.ts";

/** Options of {@link runScript}. */
export interface RunScriptOptions extends BackendOptions {
  /** Run this text instead of reading the file (the name is still used in messages). */
  text?: string;
  /** A backend instance, or its name (default `"sim"`: a fresh simulated machine). */
  backend?: Kernel | "sim" | "kernel";
  /** One JSON object per command instead of the human transcript. */
  json?: boolean;
  /** Only failures, errors and the summary. */
  quiet?: boolean;
  /** Where output goes (default: stdout). */
  write?: (text: string) => void;
  /** Plugin modules to load first. */
  plugins?: string[];
}

/**
 * Run one script in a fresh session and return how its expectations went
 * (`status` 0: all held, 1: one failed, 2: it could not run).
 */
export async function runScript(
  file: string,
  options: RunScriptOptions = {},
): Promise<ScriptReport> {
  const b = options.backend ?? "sim";
  const kernel = typeof b === "string"
    ? await openBackend(b, { profile: options.profile, release: options.release })
    : b;
  const session: Session = await createSession({
    kernel,
    json: options.json,
    quiet: options.quiet,
    write: options.write,
    plugins: options.plugins,
  });
  try {
    return options.text !== undefined
      ? await session.runScript(options.text, file)
      : await session.runFile(file);
  } finally {
    // A simulator made here dies with the session: dropping it beats unmapping block by
    // block. A real kernel, or a backend the caller passed in, gets everything released.
    session.close({ release: b !== "sim" });
  }
}
