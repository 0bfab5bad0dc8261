/**
 * The shell's own commands: `help`, `plugin load`, `include`, `set -e/+e`, `echo`, `vars`,
 * `history`, `record`, `record stop`, `quit`.
 *
 * @module
 */

import type { Value } from "../../dsl/values.ts";
import { isRecord } from "../../dsl/values.ts";
import { formatResult, formatValue } from "../format.ts";
import { type Command, type CommandResult, defineCommand, t, z } from "./_api.ts";

function text(lines: string[]): CommandResult {
  return { errno: 0, fields: {}, lines, silent: true };
}

/** How a variable is shown by `vars` and `echo`: small numbers in decimal, others in hex. */
export function showValue(v: Value): string {
  if (typeof v === "bigint") {
    return v >= 0n && v < 0x10000n ? v.toString(10) : formatValue(v, "hex");
  }
  if (isRecord(v)) return formatResult(v.errno, v.fields);
  return formatValue(v);
}

const help = defineCommand({
  name: "help",
  summary: "List the commands, or show how to use one",
  args: z.object({ command: z.array(t.string("a command name")) }),
  examples: ["help", "help ioas map"],
  run(ctx, { command }) {
    return text(ctx.shell.help(command.length ? command.join(" ") : undefined));
  },
});

const pluginLoad = defineCommand({
  name: "plugin load",
  summary: "Load a plugin module (its default export is definePlugin({ name, commands }))",
  args: z.object({ path: t.path("the module, relative to the script") }),
  result: z.object({ plugin: t.text("its name"), commands: t.dec("how many commands it added") }),
  examples: ["plugin load examples/plugins/qemu_probe.ts"],
  async run(ctx, { path }) {
    const p = await ctx.shell.loadPlugin(path);
    return {
      ...ctx.ok({ plugin: p.name, commands: BigInt(p.commands.length) }),
      silent: true,
      lines: [
        p.commands.length
          ? `plugin ${p.name} loaded: ${p.commands.join(", ")}`
          : `plugin ${p.name} loaded (no commands)`,
      ],
    };
  },
});

const include = defineCommand({
  name: "include",
  summary: "Run another script here, in this session (path relative to this script)",
  args: z.object({ path: t.path("the script") }),
  async run(ctx, { path }) {
    await ctx.shell.include(path);
    return text([]);
  },
});

const set = defineCommand({
  name: "set",
  summary: "set -e: stop a script at the first failed expectation; set +e: go on (the default)",
  args: z.object({ flag: t.choice(["-e", "+e"], "-e or +e") }),
  run(ctx, { flag }) {
    ctx.shell.setErrexit(flag === "-e");
    return text([]);
  },
});

const echo = defineCommand({
  name: "echo",
  summary: "Print the words ($variables are replaced by their values)",
  args: z.object({ words: z.array(t.string("words")) }),
  result: z.object({ text: t.text("what was printed") }),
  examples: ['echo "IOAS is" $ioas'],
  run(ctx, { words }) {
    const line = words.join(" ");
    return { ...ctx.ok({ text: line }), lines: [line], silent: true };
  },
});

const vars = defineCommand({
  name: "vars",
  summary: "Show every variable",
  run(ctx) {
    const names = [...ctx.state.vars.keys()].sort();
    const lines = names.map((n) => `$${n} = ${showValue(ctx.state.vars.get(n)!)}`);
    return text(lines.length ? lines : ["(no variables)"]);
  },
});

const history = defineCommand({
  name: "history",
  summary: "Show the lines typed in this session",
  run(ctx) {
    const h = ctx.shell.history();
    return text(h.map((l, i) => `${String(i + 1).padStart(4)}  ${l}`));
  },
});

const record = defineCommand({
  name: "record",
  summary: "Write every command from now on to FILE, with the result it got as its => expectation",
  args: z.object({ path: t.path("the .vfs file to write (in a script: beside the script)") }),
  examples: ["record session.vfs", "record stop"],
  run(ctx, { path }) {
    let file: string;
    try {
      file = ctx.shell.startRecording(path);
    } catch (e) {
      // Not being able to write is no reason to stop a session or a script.
      return text([`warning: ${(e as Error).message}; not recording`]);
    }
    return text([`recording to ${file} (record stop to end)`]);
  },
});

const recordStop = defineCommand({
  name: "record stop",
  summary: "Stop recording",
  run(ctx) {
    const r = ctx.shell.stopRecording();
    return text([
      r
        ? `recorded ${r.commands} command${r.commands === 1 ? "" : "s"} to ${r.path}`
        : "not recording",
    ]);
  },
});

const quit = defineCommand({
  name: "quit",
  summary: "Leave the shell",
  run(ctx) {
    ctx.shell.quit();
    return text([]);
  },
});

/** The shell's own commands. */
export const shellCommands: Command[] = [
  help,
  pluginLoad,
  include,
  set,
  echo,
  vars,
  history,
  record,
  recordStop,
  quit,
];
