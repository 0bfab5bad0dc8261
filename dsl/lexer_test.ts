import assert from "node:assert/strict";
import { endsInContinuation, lex, Lexer, quoteWord, type Statement } from "./lexer.ts";
import { ScriptError, SourceText } from "./source.ts";

function stmts(text: string): Statement[] {
  return lex(new SourceText("t.vfs", text)).filter((i) => i.kind === "statement") as Statement[];
}
function words(text: string): string[][] {
  return stmts(text).map((s) => s.words.map((w) => w.text));
}

Deno.test("lexer: words, ';', comments and blank lines", () => {
  assert.deepEqual(words("map 0x1000 4K rw  # a comment\n\n  api-version ; info\n"), [
    ["map", "0x1000", "4K", "rw"],
    ["api-version"],
    ["info"],
  ]);
});

Deno.test("lexer: '#' and ';' inside quotes are text", () => {
  assert.deepEqual(words(`echo "a # b; c" 'x;y'`), [["echo", "a # b; c", "x;y"]]);
});

Deno.test("lexer: a trailing backslash continues the line, columns stay physical", () => {
  const s = stmts("map 0x1000 \\\n    4K rw => ok\n");
  assert.equal(s.length, 1);
  assert.deepEqual(s[0].words.map((w) => [w.text, w.line, w.col]), [
    ["map", 1, 1],
    ["0x1000", 1, 5],
    ["4K", 2, 5],
    ["rw", 2, 8],
    ["=>", 2, 11],
    ["ok", 2, 14],
  ]);
  assert.equal(s[0].text, "map 0x1000 4K rw => ok");
});

Deno.test("lexer: endsInContinuation agrees with the lexer on where a line joins the next", () => {
  const lines = [
    "map 0x1000 \\",
    "map 0x1000 \\ \t ",
    "map 0x1000\\",
    "echo a\\\\",
    "map 0x1000",
    "map \\ 0x1000",
    "echo # a comment \\",
    'echo "a \\\\" \\',
    "echo 'a \\' \\",
    "echo 'a \\'",
  ];
  for (const line of lines) {
    // Joined: the next line's word lands in this line's statement.
    const joined = words(`${line}\nnext\n`).some((ws) => ws.length > 1 && ws.at(-1) === "next");
    assert.equal(endsInContinuation(line), joined, line);
  }
  assert.equal(endsInContinuation("map 0x1000 \\"), true);
  assert.equal(endsInContinuation("echo # \\"), false);
  // A line of only `\\` joins nothing to nothing: the next line is the statement.
  assert.equal(endsInContinuation("\\"), true);
  assert.deepEqual(words("\\\nnext\n"), [["next"]]);
});

Deno.test("lexer: a `\\` ending the text continues into nothing, as one before a last newline does", () => {
  // A file saved without a final newline: the `\` is no word of the statement, and the
  // REPL (endsInContinuation) waits for more on the same line.
  for (const line of ["container open \\", "container open \\ \t", "container open\\"]) {
    assert.deepEqual(words(line), [["container", "open"]], JSON.stringify(line));
    assert.equal(endsInContinuation(line), true, JSON.stringify(line));
  }
  // Inside a string it is still the string's: unterminated.
  assert.throws(() => words('echo "a \\'), /unterminated string/);
});

Deno.test("lexer: parentheses keep spaces inside one word", () => {
  assert.deepEqual(words("map ($a + 0x1000) 4K rw"), [["map", "($a + 0x1000)", "4K", "rw"]]);
});

Deno.test("lexer: whole-line comments are kept, trailing ones are not", () => {
  const items = lex(new SourceText("t", "# intro\napi-version # trailing\n"));
  assert.deepEqual(items.map((i) => i.kind), ["comment", "statement"]);
});

Deno.test("lexer: string escapes", () => {
  assert.deepEqual(words(String.raw`echo "a\"b\n\x41"`), [["echo", 'a"b\nA']]);
});

Deno.test("lexer: unterminated string is an error at the quote's column", () => {
  assert.throws(() => lex(new SourceText("t.vfs", 'echo "abc\n')), (e: unknown) => {
    assert.ok(e instanceof ScriptError);
    assert.equal(e.location?.line, 1);
    assert.equal(e.location?.col, 6);
    assert.match(
      e.render(),
      /t\.vfs:1:6: unterminated string: expected a closing "\n {2}echo "abc\n {7}\^/,
    );
    return true;
  });
});

Deno.test("lexer: unbalanced parentheses", () => {
  const headline = (text: string) => {
    try {
      lex(new SourceText("t", text));
    } catch (e) {
      return (e as ScriptError).headline();
    }
    return "no error";
  };
  assert.match(headline("map ($a 4K\n"), /^t:1:5: unbalanced '\('/);
  assert.match(headline("map $a) 4K\n"), /^t:1:7: unbalanced '\)'/);
});

Deno.test("lexer: CRLF line endings", () => {
  assert.deepEqual(words("api-version\r\ninfo\r\n"), [["api-version"], ["info"]]);
});

Deno.test("lexer: verbatim statements, and known ones passed over unbuilt", () => {
  const src = new SourceText(
    "t",
    "map 0x1000 4K rw\n  map  0x1000 4K rw\nmap \\\n  4K\necho 'a b'\n",
  );
  const all = stmts("map 0x1000 4K rw\n  map  0x1000 4K rw\nmap \\\n  4K\necho 'a b'\n");
  assert.deepEqual(all.map((s) => [s.text, s.col, s.verbatim]), [
    ["map 0x1000 4K rw", 1, true],
    ["map 0x1000 4K rw", 3, false],
    ["map 4K", 1, false],
    ["echo 'a b'", 1, true],
  ]);
  const asked: string[] = [];
  const lexer = new Lexer(src);
  const seen: string[] = [];
  const known = (text: string, col: number, line: number) => {
    asked.push(`${line}:${col}:${text}`);
    return text.startsWith("map");
  };
  for (let i = lexer.next(known); i !== undefined; i = lexer.next(known)) {
    if (i.kind === "statement") seen.push(i.text);
  }
  // Only verbatim statements without quotes are offered; those it knows are not returned.
  assert.deepEqual(asked, ["1:1:map 0x1000 4K rw"]);
  assert.deepEqual(seen, ["map 0x1000 4K rw", "map 4K", "echo 'a b'"]);
});

Deno.test("lexer: in place, whole lines are offered first and passed over when known", () => {
  const text = [
    "map 0x1000 4K rw", // known as a whole line
    "map 0x2000 4K rw # a comment", // the line is not known, its statement is
    "map 0x3000 4K rw; map 0x4000 4K rw", // two statements, each known
    "  map 0x5000 4K rw", // not at column 1: only the statement is offered
    "map 0x6000 \\", // ends in `\`: joins the next line, never offered whole
    "  4K rw",
    "unmap 0x1000 4K",
    "# a comment line: never offered",
  ].join("\n") + "\n";
  const lexer = new Lexer(new SourceText("t", text));
  const asked: string[] = [];
  const known = (src: string, start: number, end: number, col: number, line: number) => {
    const s = src.slice(start, end);
    asked.push(`${line}:${col}:${s}`);
    return !s.includes("#") && !s.includes(";") && s.startsWith("map 0x");
  };
  const seen: string[] = [];
  for (let i = lexer.next(known, true); i !== undefined; i = lexer.next(known, true)) {
    if (i.kind === "statement") seen.push(`${i.line}:${i.col}:${i.text}`);
  }
  assert.deepEqual(asked, [
    "1:1:map 0x1000 4K rw",
    "2:1:map 0x2000 4K rw # a comment",
    "2:1:map 0x2000 4K rw",
    "3:1:map 0x3000 4K rw; map 0x4000 4K rw",
    "3:1:map 0x3000 4K rw",
    "3:19:map 0x4000 4K rw",
    "4:3:map 0x5000 4K rw",
    "7:1:unmap 0x1000 4K",
    "7:1:unmap 0x1000 4K",
  ]);
  assert.deepEqual(seen, ["5:1:map 0x6000 4K rw", "7:1:unmap 0x1000 4K"]);
});

Deno.test("lexer: quoteWord writes any text as one word that reads back as that text", () => {
  const samples = [
    "inc.vfs",
    "../a/b-c_d.vfs",
    "dir with space/f.vfs",
    "a;b",
    "#x",
    "$HOME/x",
    "it's",
    'say "hi"\\ $x',
    "tab\there",
    "nl\nhere",
    "bell\x07",
    "(a)",
    "=>",
    "é/ü.vfs",
  ];
  for (const t of samples) {
    const q = quoteWord(t);
    assert.deepEqual(words(`include ${q}`), [["include", t]], `${JSON.stringify(t)} as ${q}`);
  }
  assert.equal(quoteWord("inc.vfs"), "inc.vfs", "a plain path stays bare");
  assert.equal(quoteWord("a b"), "'a b'");
});
