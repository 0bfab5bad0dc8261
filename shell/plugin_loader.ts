/**
 * Loading a plugin module from a file. Every failure becomes one line naming the plugin
 * file: not found, no permission, a syntax error in the module, no default export, a
 * declaration the shell cannot read.
 *
 * @module
 */

import { pathToFileURL } from "node:url";
import { resolve } from "node:path";
import { type Plugin, ShellError } from "./plugin_core.ts";
import { describeFsError } from "./files.ts";

function isPlugin(x: unknown): x is Plugin {
  return typeof x === "object" && x !== null && typeof (x as Plugin).name === "string" &&
    Array.isArray((x as Plugin).commands);
}

/**
 * Import the plugin module at `file` and return its default export. Messages name it as
 * `path` (what the user typed).
 */
export async function loadPluginFile(file: string, path = file): Promise<Plugin> {
  const abs = resolve(file);
  try {
    const st = Deno.statSync(abs);
    if (!st.isFile) throw new ShellError(`plugin ${path}: not a file`);
  } catch (e) {
    if (e instanceof ShellError) throw e;
    throw new ShellError(`plugin ${path}: ${describeFsError(e, "read")}`);
  }
  let mod: Record<string, unknown>;
  try {
    mod = await import(pathToFileURL(abs).href);
  } catch (e) {
    const msg = ((e as Error)?.message ?? String(e)).split("\n")[0];
    throw new ShellError(`plugin ${path} failed to load: ${msg}`);
  }
  const p = mod.default;
  if (!isPlugin(p)) {
    throw new ShellError(
      `plugin ${path}: its default export is not a plugin (export default definePlugin({ name, commands }))`,
    );
  }
  return p;
}
