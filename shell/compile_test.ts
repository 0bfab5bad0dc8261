import { deepStrictEqual, strictEqual, throws } from "node:assert";
import { parse } from "../dsl/parser.ts";
import { ScriptError } from "../dsl/source.ts";
import { EvalError } from "../dsl/expr.ts";
import type { Env, ResultRecord, Value } from "../dsl/values.ts";
import { compileStatement, knownStatements } from "./compile.ts";
import { Registry } from "./registry.ts";
import corePlugin from "./commands/mod.ts";
import { defineCommand, definePlugin, t, z } from "./plugin_api.ts";

function registry(): Registry {
  const r = new Registry();
  r.register(corePlugin);
  return r;
}

/** What compileStatement makes of `text` (a script of one statement) at line `line`. */
function compiled(reg: Registry, text: string, line = 1) {
  const script = parse("\n".repeat(line - 1) + text, "t.vfs");
  return compileStatement(script.statements[0], reg, script.source);
}

/** What knownStatements gives for `text` standing alone on line `line` at column `col`. */
function known(reg: Registry, text: string, col = 1, line = 1) {
  const src = " ".repeat(col - 1) + text;
  return knownStatements(reg)(src, col - 1, src.length, col, line);
}

Deno.test("compile: let NAME = LITERAL needs no parsing and compiles as parsed", () => {
  const reg = registry();
  for (
    const text of [
      "let a = 0x1000000",
      "let kept = 4K",
      "let _x9 = 0b101",
      "let n = 12",
      "let m = 2MiB",
    ]
  ) {
    for (const [col, line] of [[1, 1], [3, 7]]) {
      const fast = known(new Registry(), text, col, line);
      const slow = compiled(reg, " ".repeat(col - 1) + text, line);
      deepStrictEqual(fast, slow, text);
    }
  }
});

Deno.test("compile: other lets are left to the parser", () => {
  const reg = new Registry();
  for (
    const text of [
      "let last = 1", // an error the parser reports
      "let 1a = 2",
      "let a=1",
      "let a = 1 + 2",
      "let a = $b",
      "let a = ioas alloc",
      "let a = 99999999999999999999", // too large for a literal: the parser says so
      "let big = 0xffffffffffffffff", // beyond 2^53: the parser reads it
      "let a = 1 => ok",
      "leta = 1",
    ]
  ) {
    strictEqual(known(reg, text), undefined, text);
  }
});

Deno.test("compile: long statements alike at both ends are told apart by their whole text", () => {
  // Long texts are hashed by their ends and length only: these two share a slot, and a
  // lookup must still answer each with its own compiled form, never the other's.
  const reg = registry();
  const a = "map 0x1000000000 4K rw --vaddr 0x100000 => ok";
  const b = "map 0x1000000000 4K rw --vaddr 0x200000 => ok";
  const ca = compiled(reg, a);
  strictEqual(known(reg, a), ca);
  strictEqual(known(reg, b), undefined);
  const cb = compiled(reg, b);
  strictEqual(known(reg, b), cb);
  strictEqual(cb.text, b);
  strictEqual(known(reg, a) === cb, false);
});

Deno.test("compile: a statement compiled before is found again in place", () => {
  const reg = registry();
  const c = compiled(reg, "map 0x100000 4K rw => ok");
  strictEqual(known(reg, "map 0x100000 4K rw => ok"), c);
  strictEqual(known(reg, "map 0x100000 4K rw => ok", 2), undefined); // another column
  strictEqual(known(reg, "map 0x100000 4K rw => EEXIST"), undefined);
  // Many other statements later (the cache grows), it is still there.
  for (let i = 0; i < 5000; i++) {
    compiled(reg, `map 0x${(0x200000 + i * 0x1000).toString(16)} 4K rw`);
  }
  strictEqual(known(reg, "map 0x100000 4K rw => ok"), c);
});

/** A plugin whose commands take a JS number, and answer with a text principal value. */
const testPlugin = definePlugin({
  name: "compile-test",
  commands: [
    defineCommand({
      name: "num",
      summary: "takes a JS number",
      args: z.object({ n: z.number() }),
      options: z.object({ m: z.number().optional() }),
      run: (ctx) => ctx.ok(),
    }),
    defineCommand({
      name: "word",
      summary: "answers with a word",
      result: z.object({ value: t.text("the word") }),
      run: (ctx) => ctx.ok({ value: "TYPE1v2" }),
    }),
  ],
});

function withTestPlugin(): Registry {
  const reg = registry();
  reg.register(testPlugin);
  return reg;
}

/** The headline of the ScriptError compiling `text` throws, or "no error". */
function refusal(reg: Registry, text: string): string {
  try {
    compiled(reg, text);
  } catch (e) {
    if (e instanceof ScriptError) return e.headline();
    throw e;
  }
  return "no error";
}

const vars = (v: Record<string, Value>): Env => ({ lookup: (n) => v[n] });

Deno.test("compile: a z.number() argument refuses an integer a JS number cannot hold exactly", () => {
  const reg = withTestPlugin();
  const args = (text: string, env: Env = vars({})) => {
    const c = compiled(reg, text);
    if (c.kind !== "command") throw new Error(text);
    return c.call.build(env);
  };
  deepStrictEqual(args("num 9007199254740991").args, { n: 9007199254740991 });
  deepStrictEqual(args("num 0 --m 0x1fffffffffffff").options, { m: 9007199254740991 });
  const range = "is out of range (0 … 0x1fffffffffffff)";
  strictEqual(refusal(reg, "num 9007199254740992"), `t.vfs:1:5: value 0x20000000000000 ${range}`);
  strictEqual(refusal(reg, "num 9007199254740993"), `t.vfs:1:5: value 0x20000000000001 ${range}`);
  strictEqual(
    refusal(reg, "num 0xffffffffffffffff"),
    `t.vfs:1:5: value 0xffffffffffffffff ${range}`,
  );
  strictEqual(refusal(reg, "num 1 --m 8P"), `t.vfs:1:11: value 0x20000000000000 ${range}`);
  strictEqual(refusal(reg, "num 4P*2-1"), "no error");
  // A variable is checked when it is read.
  throws(
    () => args("num $big", vars({ big: 1n << 53n })),
    (e) => e instanceof EvalError && e.message === `value 0x20000000000000 ${range}`,
  );
});

Deno.test("compile: a bare value on a command without a principal value is refused before it runs", () => {
  const reg = registry();
  const hint = "use FIELD=VALUE, ok or an errno name";
  strictEqual(
    refusal(reg, "ioas set 1 => !0"),
    `t.vfs:1:16: 'ioas set' has no principal value to compare with '0': ${hint}`,
  );
  strictEqual(
    refusal(reg, "let x = ioas set 1 => 1"),
    `t.vfs:1:23: 'ioas set' has no principal value to compare with '1': ${hint}`,
  );
  for (const fine of ["ioas set 1 => ok", "ioas set 1 => !ENOENT", "info => 0xfffffffffffff000"]) {
    strictEqual(refusal(reg, fine), "no error", fine);
  }
});

Deno.test("compile: a bare word is text against a text principal value, a constant elsewhere", () => {
  const reg = withTestPlugin();
  const holds = (text: string, r: ResultRecord) => {
    const c = compiled(reg, text);
    if (c.kind !== "command" || !c.expect) throw new Error(text);
    return c.expect.check(r, vars({}));
  };
  const word: ResultRecord = { errno: 0, fields: { value: "TYPE1v2" }, principal: "value" };
  const three: ResultRecord = { errno: 0, fields: { value: 3n }, principal: "value" };
  // The same expectation text on both kinds of command: each keeps its own compiled form.
  strictEqual(holds("check-extension TYPE1v2 => TYPE1v2", three), true);
  strictEqual(holds("word => TYPE1v2", word), true);
  strictEqual(holds("check-extension TYPE1v2 => TYPE1v2", three), true);
  strictEqual(holds("word => EINVAL", { errno: 22, fields: {}, principal: "value" }), true);
  strictEqual(holds('word => "EINVAL"', { ...word, fields: { value: "EINVAL" } }), true);
});
