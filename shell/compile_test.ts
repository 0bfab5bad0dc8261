import { deepStrictEqual, strictEqual } from "node:assert";
import { parse } from "../dsl/parser.ts";
import { compileStatement, knownStatements } from "./compile.ts";
import { Registry } from "./registry.ts";
import corePlugin from "./commands/mod.ts";

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
