import assert from "node:assert/strict";
import { type Command, type Plugin, ShellError } from "./plugin_core.ts";
import { Registry } from "./registry.ts";

const run = () => ({ errno: 0, fields: {} });

/** The message registering a plugin of `commands` throws (a ShellError), or "registered". */
function refusal(commands: unknown[]): string {
  try {
    new Registry().register({ name: "p", commands: commands as Command[] } as Plugin);
  } catch (e) {
    assert.ok(e instanceof ShellError, `not a ShellError: ${e}`);
    return e.message;
  }
  return "registered";
}

Deno.test("registry: a command that cannot be read is one line naming the plugin and the command", () => {
  assert.equal(refusal([undefined]), "plugin p: commands[0] is not a command (undefined)");
  assert.equal(
    refusal([{ name: "a", run }, 5]),
    "plugin p: commands[1] is not a command (a number)",
  );
  const throwing = {
    name: "x",
    run,
    get args(): never {
      throw new Error("boom");
    },
  };
  assert.equal(refusal([throwing]), "plugin p: command 'x' cannot be read: boom");
  // The shell's own reasons are said as they are.
  assert.equal(
    refusal([{ name: "Hello", run }]),
    "plugin p: command 'Hello': 'Hello' is not a valid command word (a-z, 0-9, -)",
  );
  assert.equal(refusal([{ name: "fine", run }]), "registered");
});
