import assert from "node:assert/strict";
import { parse, StatementReader } from "./parser.ts";
import { type ScriptError, SourceText } from "./source.ts";

function headline(text: string): string {
  try {
    parse(text, "t.vfs");
  } catch (e) {
    return (e as ScriptError).headline();
  }
  return "no error";
}

Deno.test("parser: a lexer error anywhere is reported before a syntax error", () => {
  assert.match(headline("let\nmap 0x1000 4K rw\n"), /^t\.vfs:1:1: expected a name after 'let'/);
  assert.match(headline('let\necho "open\n'), /^t\.vfs:2:6: unterminated string/);
});

Deno.test("parser: the reader gives statements one at a time, with column and verbatim", () => {
  const r = new StatementReader(
    new SourceText("t", "  api-version => 0\nlet a=1 ; expect value == 0\n"),
  );
  const got = [];
  for (let s = r.next(); s !== undefined; s = r.next()) {
    got.push([s.kind, s.kind === "comment" ? 0 : s.col, s.kind !== "comment" && s.verbatim]);
  }
  assert.deepEqual(got, [["command", 3, true], ["let", 1, true], ["expect", 11, true]]);
});

Deno.test("parser: a bad variable name says what a name may be", () => {
  const rule = "a letter or '_', then letters, digits or '_'";
  assert.equal(headline("let 9x = 1\n"), `t.vfs:1:5: bad variable name '9x': ${rule}`);
  assert.equal(headline("let a-b = 1\n"), `t.vfs:1:5: bad variable name 'a-b': ${rule}`);
  assert.equal(headline("let _ok9 = 1\n"), "no error");
});
