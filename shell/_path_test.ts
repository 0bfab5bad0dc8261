import { strictEqual } from "node:assert";
import * as node from "node:path";
import { dirname, isAbsolute, join, normalize, relative, resolve } from "./_path.ts";

const SAMPLES = [
  "",
  ".",
  "..",
  "/",
  "//",
  "///",
  "a",
  "a/",
  "/a",
  "//a",
  "/a/",
  "a/b",
  "a//b",
  "a/./b",
  "a/../b",
  "../a",
  "../../a/b/../c",
  "/../a",
  "/a/b/..",
  "/a/b/../..",
  "a/b/../../..",
  "./a",
  "./",
  ".a",
  "..a",
  "a..",
  "a/...",
  "tests/scenarios/x.vfs",
  "/work/main/tests/../examples/quickstart.vfs",
  "dir with space/f.vfs",
  "a/b/c/",
];

Deno.test("_path: the same answers as node:path", () => {
  for (const p of SAMPLES) {
    strictEqual(isAbsolute(p), node.isAbsolute(p), `isAbsolute(${JSON.stringify(p)})`);
    strictEqual(normalize(p), node.normalize(p), `normalize(${JSON.stringify(p)})`);
    strictEqual(dirname(p), node.dirname(p), `dirname(${JSON.stringify(p)})`);
    strictEqual(resolve(p), node.resolve(p), `resolve(${JSON.stringify(p)})`);
    for (const q of SAMPLES) {
      strictEqual(join(p, q), node.join(p, q), `join(${JSON.stringify(p)}, ${JSON.stringify(q)})`);
      strictEqual(resolve(p, q), node.resolve(p, q), `resolve(${JSON.stringify([p, q])})`);
      strictEqual(relative(p, q), node.relative(p, q), `relative(${JSON.stringify([p, q])})`);
    }
  }
  strictEqual(join(), node.join());
  strictEqual(resolve(), node.resolve());
});
