/**
 * Loading a plugin module from a file. Every failure becomes one line naming the plugin
 * file: not found, no permission, a syntax error in the module, no default export, a
 * declaration the shell cannot read.
 *
 * @module
 */

import { pathToFileURL } from "node:url";
import { resolve } from "node:path";
import { type Command, kindOf, type Plugin, ShellError, thrownMessage } from "./plugin_core.ts";
import { describeFsError } from "./files.ts";

const NOT_A_PLUGIN = "its default export is not a plugin " +
  "(export default definePlugin({ name, commands }))";
const NOT_A_COMMAND = "a command is defineCommand({ name, summary, run })";

/** Property `key` of `x`, or a one-line error naming the plugin file when reading it throws. */
function read(x: object, key: string, path: string, what: string): unknown {
  try {
    return (x as Record<string, unknown>)[key];
  } catch (e) {
    throw new ShellError(`plugin ${path}: reading ${what} threw: ${thrownMessage(e)}`);
  }
}

/** Element `i` of a plugin's commands, checked to be a command the registry can read. */
function readCommand(c: unknown, i: number, path: string): Command {
  const at = `commands[${i}]`;
  if (typeof c !== "object" || c === null || Array.isArray(c)) {
    throw new ShellError(`plugin ${path}: ${at} is not a command (${kindOf(c)}); ${NOT_A_COMMAND}`);
  }
  const name = read(c, "name", path, `the name of ${at}`);
  if (typeof name !== "string") {
    throw new ShellError(`plugin ${path}: ${at} has no name (${kindOf(name)}); ${NOT_A_COMMAND}`);
  }
  if (typeof read(c, "run", path, `the run of ${at} ('${name}')`) !== "function") {
    throw new ShellError(`plugin ${path}: ${at} ('${name}') has no run function`);
  }
  return c as Command;
}

/**
 * The plugin `x` declares, read once and checked: a plain module may export anything
 * (definePlugin checks only what goes through it), and what it exports may throw when read.
 */
function readPlugin(x: unknown, path: string): Plugin {
  if (typeof x !== "object" || x === null) throw new ShellError(`plugin ${path}: ${NOT_A_PLUGIN}`);
  const name = read(x, "name", path, "its name");
  const commands = read(x, "commands", path, "its commands");
  if (typeof name !== "string" || name === "" || !Array.isArray(commands)) {
    throw new ShellError(`plugin ${path}: ${NOT_A_PLUGIN}`);
  }
  const version = read(x, "version", path, "its version");
  const description = read(x, "description", path, "its description");
  return Object.freeze({
    name,
    ...(typeof version === "string" ? { version } : {}),
    ...(typeof description === "string" ? { description } : {}),
    // Array.from, not map: a hole in the array is an undefined command too.
    commands: Object.freeze(Array.from(commands, (c, i) => readCommand(c, i, path))),
  });
}

/**
 * Import the plugin module at `file` and return its default export, checked. Messages name
 * it as `path` (what the user typed).
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
    throw new ShellError(`plugin ${path} failed to load: ${thrownMessage(e)}`);
  }
  return readPlugin(mod.default, path);
}
