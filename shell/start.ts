/**
 * The `vfsh` command: runs the bundle `deno task build` made (dist/, minified and split, so
 * that the first command needs a fraction of the code to load) when it was made from these
 * very sources, and the sources otherwise. Nothing here imports the shell: what it loads is
 * decided first.
 *
 * @module
 */

/** dist/manifest.json: each source the bundle was made from, with its size and mtime. */
export interface BundleManifest {
  /** Repository-relative path → [size, mtime in ms] when the bundle was made. */
  readonly sources: Readonly<Record<string, readonly [number, number]>>;
}

/**
 * Whether every source of `manifest` under `root` (a directory path ending in `/`) still has
 * the size and mtime it records. One stat a source: ≈ 25 µs each once warm.
 */
export function bundleMatches(root: string, manifest: BundleManifest): boolean {
  const entries = Object.entries(manifest.sources);
  if (entries.length === 0) return false;
  for (const [path, [size, mtime]] of entries) {
    let st: Deno.FileInfo;
    try {
      st = Deno.statSync(root + path);
    } catch {
      return false;
    }
    if (st.size !== size || st.mtime?.getTime() !== mtime) return false;
  }
  return true;
}

/** The module to run: dist/main.js when it matches the sources, else shell/main.ts. */
export function entryModule(root: string): string {
  try {
    const text = Deno.readTextFileSync(root + "dist/manifest.json");
    if (bundleMatches(root, JSON.parse(text) as BundleManifest)) return root + "dist/main.js";
  } catch {
    // No bundle (or none readable): the sources.
  }
  return root + "shell/main.ts";
}

if (import.meta.main) {
  const root = decodeURIComponent(new URL("../", import.meta.url).pathname);
  const { main } = await import("file://" + entryModule(root));
  Deno.exit(await main(Deno.args));
}
