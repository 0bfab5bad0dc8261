import { deepStrictEqual, equal, match, ok } from "node:assert/strict";
import { compareTranscripts, transcriptLines } from "./compare.ts";

const labels: [string, string] = ["kernel", "sim"];

Deno.test("identical transcripts are equal and render nothing", () => {
  const r = compareTranscripts("a\nb\n", "a\nb\n", labels);
  equal(r.equal, true);
  deepStrictEqual(r.differences, []);
  equal(r.sideBySide, "");
});

Deno.test("trailing whitespace and a missing final newline are ignored", () => {
  const r = compareTranscripts("a  \nb\t\r\n\n\n", "a\nb", labels);
  equal(r.equal, true);
});

Deno.test("leading and inner whitespace are not ignored", () => {
  deepStrictEqual(compareTranscripts(" a", "a", labels).differences, [
    { line: 1, left: " a", right: "a" },
  ]);
  equal(compareTranscripts("a  b", "a b", labels).equal, false);
});

Deno.test("a changed line is reported with both sides", () => {
  const r = compareTranscripts("x\nret=0\ny", "x\nret=-19\ny", labels);
  deepStrictEqual(r.differences, [{ line: 2, left: "ret=0", right: "ret=-19" }]);
});

Deno.test("an extra line on one side shows as missing on the other", () => {
  const r = compareTranscripts("a\nb\nc", "a\nb", labels);
  deepStrictEqual(r.differences, [{ line: 3, left: "c", right: undefined }]);
  match(r.sideBySide, /3 ! c\s+\| <end>/);
});

Deno.test("blank lines in the middle count", () => {
  const r = compareTranscripts("a\n\nb", "a\nb", labels);
  deepStrictEqual(r.differences.map((d) => d.line), [2, 3]);
});

Deno.test("side by side shows labels, line numbers, markers and context", () => {
  const left = Array.from({ length: 20 }, (_, i) => `line ${i + 1}`);
  const right = [...left];
  right[9] = "changed";
  const r = compareTranscripts(left.join("\n"), right.join("\n"), labels, { context: 1 });
  const rows = r.sideBySide.split("\n");
  match(rows[0], /^\s+kernel\s+\| sim$/);
  ok(rows.some((row) => row.trim() === "...     | ..."), r.sideBySide);
  ok(rows.some((row) => /^ 9 {3}line 9\s+\| line 9$/.test(row)), r.sideBySide);
  ok(rows.some((row) => /^10 ! line 10\s+\| changed$/.test(row)), r.sideBySide);
  ok(rows.some((row) => /^11 {3}line 11\s+\| line 11$/.test(row)), r.sideBySide);
  equal(rows.filter((row) => row.includes("line 5")).length, 0);
  equal(rows[rows.length - 1].trim(), "...     | ...");
});

Deno.test("nearby differences share one block", () => {
  const r = compareTranscripts("a\nb\nc\nd\ne", "A\nb\nc\nD\ne", labels, { context: 1 });
  equal(r.differences.length, 2);
  equal(r.sideBySide.split("\n").filter((row) => row.includes("...")).length, 0);
});

Deno.test("the left column is padded so the separators line up", () => {
  const r = compareTranscripts("short\nlonger line", "x\ny", labels);
  const bars = r.sideBySide.split("\n").map((row) => row.indexOf("|"));
  equal(new Set(bars).size, 1);
});

Deno.test("transcriptLines keeps inner blank lines and drops trailing ones", () => {
  deepStrictEqual(transcriptLines("a\n\nb \n \n"), ["a", "", "b"]);
  deepStrictEqual(transcriptLines(""), []);
});
