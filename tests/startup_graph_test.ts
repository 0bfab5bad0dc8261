/**
 * What `vfsh -c …` and `vfsh run FILE` load before their first command: shell/main.ts with
 * its static imports, and the simulator (the sim backend's dynamic import of
 * sim/kernel.ts). Importing zod costs ~40 ms and a node: module ~15 ms (Deno's Node
 * compatibility layer), several times what the shell needs to start; the start-up benchmark
 * (BENCHMARKS.md) depends on neither being in this set. A core command declares its
 * arguments with `t` and `z` of shell/commands/_api.ts, not of shell/plugin_api.ts.
 */

import { deepStrictEqual } from "node:assert";
import { type GraphModule, moduleGraph } from "../scripts/build.ts";

const ROOT = new URL("../", import.meta.url);

/** Every module reached from `entries` by static (value) imports, with who imports it. */
function staticClosure(g: GraphModule[], entries: string[]): Map<string, string> {
  const byUrl = new Map(g.map((m) => [m.specifier, m]));
  const seen = new Map<string, string>(entries.map((e) => [e, "(entry)"]));
  const todo = [...entries];
  while (todo.length) {
    const url = todo.pop()!;
    for (const d of byUrl.get(url)?.dependencies ?? []) {
      const to = d.code?.specifier;
      if (!to || d.isDynamic || seen.has(to)) continue;
      seen.set(to, url);
      todo.push(to);
    }
  }
  return seen;
}

Deno.test("start-up: vfsh -c and vfsh run load neither zod nor node: modules", async () => {
  const main = new URL("shell/main.ts", ROOT).href;
  const sim = new URL("sim/kernel.ts", ROOT).href;
  const g = await moduleGraph("shell/main.ts");
  const loaded = staticClosure(g, [main, sim]);
  const bad = [...loaded].filter(([url]) => url.startsWith("npm:") || url.startsWith("node:"))
    .map(([url, by]) => `${url} (imported by ${by.replace(ROOT.href, "")})`);
  deepStrictEqual(bad, []);
});
