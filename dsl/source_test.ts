import assert from "node:assert/strict";
import { ScriptError, SourceText } from "./source.ts";

function rendered(line: string, col: number, message = "bad"): string[] {
  const src = new SourceText("t.vfs", `first\n${line}\n`);
  return new ScriptError(message, src.at(2, col)).render().split("\n");
}

Deno.test("source: the line and a caret under the column, tabs kept", () => {
  assert.deepEqual(rendered("map\t0x1000 zz", 12), [
    "t.vfs:2:12: bad",
    "  map\t0x1000 zz",
    "     \t       ^",
  ]);
});

Deno.test("source: control characters show as '?', so a binary file cannot drive the terminal", () => {
  const [head, text, caret] = rendered("\x1b[2J\x00ok\x7f\u0085 é", 7, "unknown command '\x1b[2J'");
  assert.equal(head, "t.vfs:2:7: unknown command '?[2J'");
  assert.equal(text, "  ?[2J?ok?? é");
  assert.equal(caret, "        ^");
});

Deno.test("source: a long line is shown as the stretch around the column", () => {
  const line = "x".repeat(1000) + "HERE" + "y".repeat(1000);
  const [, text, caret] = rendered(line, 1001);
  assert.equal(text.length, 2 + 1 + 160 + 1);
  assert.ok(text.startsWith("  …x") && text.endsWith("y…"), text);
  assert.equal(text[caret.length - 1], "H", "the caret stands under the column");
  // Near either end there is one ellipsis only.
  assert.ok(rendered(line, 3)[1].startsWith("  xxx"));
  assert.ok(rendered(line, 2004)[1].endsWith("yyy"));
  assert.equal(rendered(line, 2004)[2].length - 1, rendered(line, 2004)[1].length - 1);
});
