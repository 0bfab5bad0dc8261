/**
 * `deno task build`: bundle the shell into dist/ for a faster start (shell/start.ts runs it
 * while it matches the sources). `deno bundle` splits the code so that the first command
 * loads only what it needs (zod, the REPL, `compare` and the FFI backend come in chunks of
 * their own) and minifies it; zod stays an import, so that plugins and the shell share one.
 * The manifest records each source's size and mtime, taken before bundling, so that a
 * source edited meanwhile makes the bundle stale rather than wrong.
 *
 * Deno loads every chunk a literal `import("./x.js")` names before the importing module runs,
 * as it does for static imports: the REPL, `compare`, the plugin loader and the FFI backend,
 * and with `compare` zod, whose node_modules set-up takes a lock and writes a file on every
 * start. {@link deferDynamicImports} makes those imports computed, so each chunk is read
 * when it is first wanted; the simulator's stays literal, as every sim run needs it at once.
 *
 * @module
 */

import type { BundleManifest } from "../shell/start.ts";

const ROOT = new URL("../", import.meta.url);
const ENTRY = "shell/main.ts";

/** A module of `deno info --json`: its URL and what it imports. */
export interface GraphModule {
  specifier: string;
  dependencies?: { specifier: string; code?: { specifier: string }; isDynamic?: boolean }[];
}

/** `deno info --json ENTRY` from the repository root: every module it can load. */
export async function moduleGraph(entry: string): Promise<GraphModule[]> {
  const p = await new Deno.Command(Deno.execPath(), {
    args: ["info", "--json", entry],
    cwd: ROOT,
    stdout: "piped",
    stderr: "piped",
  }).output();
  if (!p.success) throw new Error(`deno info ${entry}: ${new TextDecoder().decode(p.stderr)}`);
  return (JSON.parse(new TextDecoder().decode(p.stdout)) as { modules: GraphModule[] }).modules;
}

/** Repository-relative paths of the local modules the entry can load (dynamic imports too). */
async function localSources(): Promise<string[]> {
  const root = ROOT.href;
  return (await moduleGraph(ENTRY)).map((m) => m.specifier)
    .filter((s) => s.startsWith(root))
    .map((s) => decodeURIComponent(s.slice(root.length)))
    .sort();
}

/** The chunk of sim/kernel.ts (the sim backend's import): named after its entry's file. */
const SIM_CHUNK = /^\.\/kernel-[A-Z0-9]+\.js$/;

/**
 * `js` (a chunk of the bundle) with its literal dynamic imports, but the simulator's, made
 * computed (`import(["./x.js"][0])`), which Deno's module graph does not follow ahead of time.
 */
export function deferDynamicImports(js: string): string {
  return js.replace(
    /\bimport\("((?:\.\/|node:)[^"]+)"\)/g,
    (literal, spec: string) => SIM_CHUNK.test(spec) ? literal : `import(["${spec}"][0])`,
  );
}

/** Size and mtime of each of `paths`. */
function stamp(paths: string[]): BundleManifest {
  const sources: Record<string, [number, number]> = {};
  for (const path of paths) {
    const st = Deno.statSync(new URL(path, ROOT));
    sources[path] = [st.size, st.mtime?.getTime() ?? 0];
  }
  return { sources };
}

/** Build dist/ (into `outDir`, default dist/ of the repository). */
export async function build(outDir = new URL("dist/", ROOT)): Promise<BundleManifest> {
  const manifest = stamp(await localSources());
  const tmp = new URL(`${outDir.href.replace(/\/$/, "")}.tmp/`);
  await Deno.remove(tmp, { recursive: true }).catch(() => {});
  const p = await new Deno.Command(Deno.execPath(), {
    args: [
      "bundle",
      "--quiet",
      "--platform=deno",
      "--code-splitting",
      "--minify",
      "--external=zod",
      `--outdir=${tmp.pathname}`,
      ENTRY,
    ],
    cwd: ROOT,
    stdout: "inherit",
    stderr: "inherit",
  }).output();
  if (!p.success) throw new Error("deno bundle failed");
  let literal = 0;
  for (const e of Deno.readDirSync(tmp)) {
    if (!e.name.endsWith(".js")) continue;
    const file = new URL(e.name, tmp);
    const js = deferDynamicImports(Deno.readTextFileSync(file));
    literal += js.split('import("').length - 1;
    Deno.writeTextFileSync(file, js);
  }
  // Only the simulator's is left: none means sim/kernel.ts was renamed (and is deferred too).
  if (literal !== 1) throw new Error(`expected one literal dynamic import left, found ${literal}`);
  await Deno.writeTextFile(new URL("manifest.json", tmp), JSON.stringify(manifest) + "\n");
  await Deno.remove(outDir, { recursive: true }).catch(() => {});
  await Deno.rename(tmp, outDir);
  return manifest;
}

if (import.meta.main) {
  const m = await build();
  console.log(`dist/: bundle of ${Object.keys(m.sources).length} sources (deno task vfsh runs it)`);
}
