/**
 * `deno task build` and shell/start.ts: the bundle runs only while it matches its sources,
 * and running from it is indistinguishable from running the sources, plugins included (a
 * plugin imports mod.ts from the sources, so the two hold separate copies of the shell).
 */
import assert from "node:assert/strict";
import { type BundleManifest, bundleMatches, entryModule } from "../shell/start.ts";
import { build, deferDynamicImports } from "../scripts/build.ts";

const ROOT = new URL("../", import.meta.url).pathname;

/** A directory with `files`, and a manifest of them as they are. */
async function stamped(files: Record<string, string>): Promise<[string, BundleManifest]> {
  const dir = await Deno.makeTempDir({ prefix: "vfsh_bundle_" }) + "/";
  const sources: Record<string, [number, number]> = {};
  for (const [path, text] of Object.entries(files)) {
    await Deno.mkdir(dir + path.replace(/[^/]*$/, ""), { recursive: true });
    await Deno.writeTextFile(dir + path, text);
    const st = await Deno.stat(dir + path);
    sources[path] = [st.size, st.mtime!.getTime()];
  }
  return [dir, { sources }];
}

Deno.test("start: the bundle matches while every source keeps its size and mtime", async () => {
  const [dir, m] = await stamped({ "shell/a.ts": "a", "sim/b.ts": "bb" });
  assert.equal(bundleMatches(dir, m), true);
  await Deno.writeTextFile(dir + "sim/b.ts", "bbb");
  assert.equal(bundleMatches(dir, m), false, "a source that changed size");
  await Deno.writeTextFile(dir + "sim/b.ts", "bb");
  await Deno.utime(dir + "sim/b.ts", 1, 1);
  assert.equal(bundleMatches(dir, m), false, "the same size, another mtime");
  await Deno.remove(dir + "shell/a.ts");
  assert.equal(bundleMatches(dir, m), false, "a source gone");
  assert.equal(bundleMatches(dir, { sources: {} }), false, "an empty manifest");
  await Deno.remove(dir, { recursive: true });
});

Deno.test("start: dist/main.js only with a manifest that matches, else shell/main.ts", async () => {
  const [dir, m] = await stamped({ "shell/main.ts": "x" });
  assert.equal(entryModule(dir), dir + "shell/main.ts", "no dist/");
  await Deno.mkdir(dir + "dist");
  await Deno.writeTextFile(dir + "dist/manifest.json", "{not json");
  assert.equal(entryModule(dir), dir + "shell/main.ts", "an unreadable manifest");
  await Deno.writeTextFile(dir + "dist/manifest.json", JSON.stringify(m));
  assert.equal(entryModule(dir), dir + "dist/main.js");
  await Deno.writeTextFile(dir + "shell/main.ts", "edited");
  assert.equal(entryModule(dir), dir + "shell/main.ts", "a source edited since the build");
  await Deno.remove(dir, { recursive: true });
});

Deno.test("build: dynamic imports are made computed, but the simulator's", () => {
  assert.equal(
    deferDynamicImports(
      'let{a}=await import("./kernel-AB12.js");await import("./repl-X9.js");import("node:util")',
    ),
    'let{a}=await import("./kernel-AB12.js");await import(["./repl-X9.js"][0]);' +
      'import(["node:util"][0])',
  );
  // Only literal specifiers of the bundle's own chunks and node: modules.
  assert.equal(
    deferDynamicImports('import(url);reimport("./x.js")'),
    'import(url);reimport("./x.js")',
  );
});

async function run(entry: string, args: string[]): Promise<string> {
  const r = await new Deno.Command(Deno.execPath(), {
    args: ["run", "--allow-read", "--allow-env", entry, ...args],
    cwd: ROOT,
    stdout: "piped",
    stderr: "piped",
    env: { NO_COLOR: "1" },
  }).output();
  const dec = new TextDecoder();
  return `exit ${r.code}\n${dec.decode(r.stdout)}${dec.decode(r.stderr)}`;
}

Deno.test("build: the bundle answers as the sources do, core commands and plugins alike", async () => {
  // Inside the repository, where deno.json maps `zod` for the bundle and the plugin alike.
  const out = `${ROOT}.vfsh-cache/dist-test-${Deno.pid}`;
  await Deno.mkdir(`${ROOT}.vfsh-cache`, { recursive: true });
  const plugin = `${out}-plugin.ts`;
  // A plugin that fails the way plugins do: ctx.fail, and a ShellError of its own.
  await Deno.writeTextFile(
    plugin,
    `import { defineCommand, definePlugin, ShellError } from "${ROOT}mod.ts";
export default definePlugin({ name: "t", commands: [
  defineCommand({ name: "fails", summary: "s", run(ctx) { ctx.fail("by ctx.fail"); } }),
  defineCommand({ name: "throws", summary: "s", run() { throw new ShellError("its own"); } }),
] });
`,
  );
  try {
    const m = await build(new URL(`file://${out}/`));
    assert.ok(Object.keys(m.sources).includes("shell/main.ts"));
    const cases = [
      ["-c", "container open; api-version; map 0x1000 4K rw; bogus"],
      ["--plugin", "examples/plugins/qemu_probe.ts", "-c", "container open; qemu-probe"],
      ["--plugin", plugin, "-c", "fails"],
      ["--plugin", plugin, "-c", "throws"],
      ["run", "--json", "tests/scenarios/mock_domain.vfs"],
      // Chunks behind computed imports: compare (with zod) and the FFI backend.
      ["compare", "--like", "qemu", "examples/quickstart.vfs"],
      ["--backend", "kernel", "-c", "api-version"],
    ];
    // What the first command loads: main.js and the chunks it imports statically, never zod
    // or a node: module (they stay in chunks loaded on demand, as in the sources).
    const seen = new Set<string>();
    const visit = (file: string) => {
      if (seen.has(file)) return;
      seen.add(file);
      const text = Deno.readTextFileSync(`${out}/${file}`);
      assert.doesNotMatch(
        text,
        /(?:from|import)\s*"(zod|node:[^"]*)"/,
        `${file} imports zod or node:`,
      );
      for (const m of text.matchAll(/(?:from|import)\s*"\.\/([^"]+)"/g)) visit(m[1]);
    };
    visit("main.js");
    assert.ok(seen.size >= 2, `static chunks: ${[...seen]}`);
    // Of the dynamic imports only the simulator's is literal, so only it loads ahead.
    const literal = [...seen].flatMap((f) =>
      [...Deno.readTextFileSync(`${out}/${f}`).matchAll(/\bimport\("([^"]+)"\)/g)].map((m) => m[1])
    );
    assert.deepEqual(literal.map((s) => s.replace(/-[A-Z0-9]+\.js$/, "")), ["./kernel"]);
    for (const args of cases) {
      assert.equal(
        await run(`${out}/main.js`, args),
        await run("shell/main.ts", args),
        args.join(" "),
      );
    }
  } finally {
    await Deno.remove(out, { recursive: true });
    await Deno.remove(plugin);
  }
});
