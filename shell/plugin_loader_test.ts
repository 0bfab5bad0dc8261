import assert from "node:assert/strict";
import { createSimKernel } from "../sim/mod.ts";
import { loadPluginFile } from "./plugin_loader.ts";
import { isShellError } from "./plugin_core.ts";
import { createSession } from "./session.ts";

const PLUGINS = new URL("./testdata/plugins/", import.meta.url).pathname;

/** The message loading `file` fails with (it must be a ShellError), or "loaded". */
async function refusal(file: string): Promise<string> {
  try {
    await loadPluginFile(file);
  } catch (e) {
    assert.ok(isShellError(e), `not a ShellError: ${e}`);
    return (e as Error).message;
  }
  return "loaded";
}

Deno.test("plugin loader: a commands array holding what is no command is one line naming the file", async () => {
  const file = `${PLUGINS}undefined_command.ts`;
  assert.equal(
    await refusal(file),
    `plugin ${file}: commands[1] is not a command (undefined); ` +
      "a command is defineCommand({ name, summary, run })",
  );
  const dir = Deno.makeTempDirSync();
  try {
    const cases: [string, string][] = [
      ["[null]", "commands[0] is not a command (null)"],
      ["[5]", "commands[0] is not a command (a number)"],
      ["[[]]", "commands[0] is not a command (an array)"],
      // A hole is an undefined command too.
      ["[, ]", "commands[0] is not a command (undefined)"],
      ["[{ summary: 'x', run() {} }]", "commands[0] has no name (undefined)"],
      ["[{ name: 'norun', summary: 'x' }]", "commands[0] ('norun') has no run function"],
      [
        "[{ get name() { throw new Error('inner'); }, run() {} }]",
        "reading the name of commands[0] threw: inner",
      ],
    ];
    for (const [i, [commands, want]] of cases.entries()) {
      const f = `${dir}/p${i}.ts`;
      Deno.writeTextFileSync(f, `export default { name: "p", commands: ${commands} };\n`);
      assert.match(await refusal(f), new RegExp(`^plugin ${f}: ${RegExp.escape(want)}`), commands);
    }
  } finally {
    Deno.removeSync(dir, { recursive: true });
  }
});

Deno.test("plugin loader: a declaration that throws when read is one line naming the file", async () => {
  const file = `${PLUGINS}name_getter.ts`;
  assert.equal(await refusal(file), `plugin ${file}: reading its name threw: name getter`);
});

Deno.test("plugin loader: a good plugin loads with its commands", async () => {
  const p = await loadPluginFile(`${PLUGINS}good.ts`);
  assert.equal(p.name, "good");
  assert.deepEqual(p.commands.map((c) => c.name), ["twice", "calls"]);
});

Deno.test("plugin loader: plugin load says it in one line at the statement, and nothing is loaded", async () => {
  let out = "";
  const s = await createSession({ kernel: createSimKernel(), write: (t) => void (out += t) });
  try {
    for (const name of ["undefined_command.ts", "name_getter.ts"]) {
      out = "";
      await s.runLine(`plugin load ${PLUGINS}${name}`);
      assert.match(out, new RegExp(`^error: plugin load: plugin ${PLUGINS}${name}: `));
      assert.doesNotMatch(out, /internal error|Cannot read properties/);
      assert.equal(out.trimEnd().split("\n").length, 1, out);
    }
    out = "";
    await s.runLine("fine");
    assert.match(out, /unknown command 'fine'/);
  } finally {
    s.close();
  }
});
