/**
 * Bad input never crashes the shell and never loses state. Lines of the bundled scripts are
 * mutated (seeded PRNG: characters inserted or dropped, words swapped for junk, numbers made
 * extreme, lines cut short or spliced together) and run two ways:
 *
 * - whole scripts through `runScript`: the status is one of the three the spec defines, no
 *   message is an internal error or a stack trace, and every error line names the script
 *   and line;
 * - line by line through one session (as typed at the prompt): `runLine` never throws, and
 *   a variable set before the junk still holds after it.
 *
 * A failure prints its seed; rerun with that seed to get the same case.
 *
 * @module
 */

import { ok } from "node:assert";
import { createSession, runScript } from "../mod.ts";
import { createSimKernel } from "../sim/mod.ts";
import { prng } from "./_prng.ts";

const ROOT = new URL("../", import.meta.url);

/** Lines of every bundled script, minus those that write files or load code. */
function corpusScripts(): string[][] {
  const dirs = ["tests/scenarios/", "examples/"];
  const scripts: string[][] = [];
  for (const dir of dirs) {
    for (const e of Deno.readDirSync(new URL(dir, ROOT))) {
      if (!e.name.endsWith(".vfs")) continue;
      const text = Deno.readTextFileSync(new URL(dir + e.name, ROOT));
      scripts.push(text.split("\n").filter((l) => !/^\s*(record|plugin|include)\b/.test(l)));
    }
  }
  return scripts;
}

/** Words that are wrong almost anywhere, or right in the wrong place. */
const JUNK = [
  "0x",
  "-1",
  "0xffffffffffffffff",
  "18446744073709551616",
  "999999999999999999999999",
  "$",
  "=>",
  '"',
  "{",
  "}",
  "(",
  ")",
  "=",
  "\\",
  ";",
  "#",
  "4K",
  "1G",
  "0",
  "--",
  "--json",
  "rw",
  "$undefined",
  "\t",
  "ENOENT",
  "EINVAL",
  "1e9",
  "0b101",
  "-0x1",
  "1/0",
  "4K/(1-1)",
  "0xffffffffffffffff*2",
  "(".repeat(5000) + "1" + ")".repeat(5000),
  "-".repeat(5000) + "1",
  Array(5000).fill("1").join("+"),
  "ioas",
  "map",
  "let",
  "expect",
  "set -e",
  "é",
  "\u0000",
];

const EXTREME = ["0", "1", "-5", "0x1000", "0xffffffffffffffff", "0x8000000000000000"];

/** One to three random edits of `line`. */
function mutate(line: string, rnd: () => number, donors: string[]): string {
  const pick = <T>(a: readonly T[]): T => a[Math.floor(rnd() * a.length)];
  for (let k = Math.floor(rnd() * 3); k >= 0; k--) {
    const words = line.split(" ");
    const at = Math.floor(rnd() * words.length);
    const r = rnd();
    if (r < 0.2) {
      const i = Math.floor(rnd() * (line.length + 1));
      line = line.slice(0, i) + pick(JUNK) + line.slice(i);
    } else if (r < 0.35) {
      const i = Math.floor(rnd() * line.length);
      line = line.slice(0, i) + line.slice(i + 1 + Math.floor(rnd() * 3));
    } else if (r < 0.5) {
      words[at] = pick(JUNK);
      line = words.join(" ");
    } else if (r < 0.6) {
      line = line.slice(0, Math.floor(rnd() * line.length));
    } else if (r < 0.75) {
      words.splice(at, 0, pick(pick(donors).split(" ")));
      line = words.join(" ");
    } else if (r < 0.85) {
      words.splice(at, 1);
      line = words.join(" ");
    } else {
      line = words.map((w) => /^(\d+[KMGT]?|0x[0-9a-f]+)$/i.test(w) ? pick(EXTREME) : w).join(" ");
    }
  }
  return line;
}

/** Output lines that only a bug prints. */
const INTERNAL = /internal error|TypeError|RangeError|ReferenceError|^\s+at /;

Deno.test("fuzz: mutated scripts end with status 0, 1 or 2, and every error says file:line", async () => {
  const scripts = corpusScripts();
  const donors = scripts.flat().filter((l) => l.trim() !== "" && !l.startsWith("#"));
  const statuses = [0, 0, 0];
  for (let seed = 1; seed <= 600; seed++) {
    const rnd = prng(seed);
    const lines = ["set +e", ...scripts[Math.floor(rnd() * scripts.length)]];
    // One or two bad lines: a script with a syntax error stops before it runs, so most of
    // them must still compile for the commands' own checks to be reached.
    for (let k = 1 + Math.floor(rnd() * 2); k > 0; k--) {
      const at = 1 + Math.floor(rnd() * (lines.length - 1));
      lines[at] = mutate(lines[at], rnd, donors);
    }
    let out = "";
    const r = await runScript("fuzz.vfs", {
      text: lines.join("\n"),
      write: (s) => out += s,
      json: rnd() < 0.2,
    });
    ok([0, 1, 2].includes(r.status), `seed ${seed}: status ${r.status}`);
    statuses[r.status]++;
    for (const line of out.split("\n")) {
      ok(!INTERNAL.test(line), `seed ${seed}: ${line}`);
      if (line.startsWith("error:")) ok(/fuzz\.vfs:\d+/.test(line), `seed ${seed}: ${line}`);
    }
  }
  // Both kinds of case were reached: scripts that ran to the end and scripts that could not.
  ok(statuses[0] + statuses[1] > 30 && statuses[2] > 30, `statuses ${statuses}`);
});

Deno.test("fuzz: typed junk never throws out of runLine and leaves the session's variables", async () => {
  const scripts = corpusScripts();
  const donors = scripts.flat().filter((l) => l.trim() !== "" && !l.startsWith("#"));
  const rnd = prng(42);
  let out = "";
  const session = await createSession({ kernel: createSimKernel(), write: (s) => out += s });
  await session.runLine("let fuzz_canary = 0x5eed");
  // Every script typed in, four times, a third of their lines mangled: the intact lines build the state
  // (containers, IOASes, mappings) that the mangled ones then act on.
  for (let pass = 0; pass < 4; pass++) {
    for (const typed of scripts.flat()) {
      const line = rnd() < 0.3 ? mutate(typed, rnd, donors) : typed;
      out = "";
      await session.runLine(line);
      for (const l of out.split("\n")) ok(!INTERNAL.test(l), `${JSON.stringify(line)}: ${l}`);
    }
  }
  out = "";
  await session.runLine("echo $fuzz_canary");
  ok(/0x5eed|24301/.test(out), `the variable set before the junk: ${out}`);
  session.close();
});
