/**
 * Where the time goes: `deno task bench -- --profile NAME` reruns measurement NAME with
 * V8's CPU profiler on (`deno run --cpu-prof`, in the harness and in every Deno child it
 * starts) and prints the functions with the most self time across the profiles.
 *
 * @module
 */

/** The parts of a V8 `.cpuprofile` that are read. */
export interface CpuProfile {
  nodes: {
    id: number;
    callFrame: { functionName: string; url: string; lineNumber: number };
  }[];
  samples: number[];
  /** Microseconds since the previous sample, one per sample. */
  timeDeltas: number[];
}

/** Self time of one function (all its profile nodes together). */
export interface FunctionTime {
  /** `name (file:line)`, the file relative to the repository when inside it. */
  name: string;
  /** Self time in milliseconds. */
  selfMs: number;
}

/** Environment variable that makes {@linkcode cpuProfFlags} profile a Deno child. */
export const PROFILE_DIR_ENV = "VFSH_BENCH_CPU_PROF_DIR";

/** Extra `deno run` flags for children: `--cpu-prof` into the profiling folder, if any. */
export function cpuProfFlags(): string[] {
  const dir = Deno.env.get(PROFILE_DIR_ENV);
  return dir ? ["--cpu-prof", `--cpu-prof-dir=${dir}`] : [];
}

/** What self time is added up by: each function, or each source file (npm packages whole). */
export type Grouping = "function" | "file";

/** The file a frame belongs to: repo-relative, `npm:<package>`, `deno runtime`, or the name. */
function fileLabel(frame: CpuProfile["nodes"][number]["callFrame"], root: string): string {
  const url = frame.url;
  if (!url) return frame.functionName.startsWith("(") ? frame.functionName : "(native)";
  const npm = /\/node_modules\/\.deno\/([^/]+)\//.exec(url);
  if (npm) return `npm:${npm[1]}`;
  if (/^(ext|node):/.test(url)) return "deno runtime (ext:, node:)";
  const file = url.replace(/^file:\/\//, "");
  return file.startsWith(root + "/") ? file.slice(root.length + 1) : file;
}

function label(
  frame: CpuProfile["nodes"][number]["callFrame"],
  root: string,
  by: Grouping = "function",
): string {
  if (by === "file") return fileLabel(frame, root);
  const fn = frame.functionName || "(anonymous)";
  if (!frame.url) return fn;
  let file = frame.url.replace(/^file:\/\//, "");
  if (file.startsWith(root + "/")) file = file.slice(root.length + 1);
  else file = file.replace(/^.*\/(?=[^/]+\/[^/]+$)/, "…/");
  return `${fn} (${file}:${frame.lineNumber + 1})`;
}

/**
 * Self time per function (or per file) over `profiles`, largest first. Each sample's time
 * (the next sample's delta, as V8 records it) goes to the node it landed in; `(idle)` is
 * dropped.
 */
export function selfTimes(
  profiles: readonly CpuProfile[],
  root = "",
  by: Grouping = "function",
): FunctionTime[] {
  const byName = new Map<string, number>();
  for (const p of profiles) {
    const names = new Map(p.nodes.map((n) => [n.id, label(n.callFrame, root, by)]));
    for (let i = 0; i < p.samples.length; i++) {
      const dt = p.timeDeltas[i + 1] ?? 0;
      const name = names.get(p.samples[i]) ?? "(unknown)";
      byName.set(name, (byName.get(name) ?? 0) + dt / 1000);
    }
  }
  byName.delete("(idle)");
  return [...byName].map(([name, selfMs]) => ({ name, selfMs })).sort((a, b) =>
    b.selfMs - a.selfMs
  );
}

/** The top `n` as lines `  12.3%   456.7 ms  name`, percentages of the listed total. */
export function formatSelfTimes(times: readonly FunctionTime[], n = 15): string {
  const total = times.reduce((s, t) => s + t.selfMs, 0) || 1;
  return times.slice(0, n).map((t) =>
    `${(100 * t.selfMs / total).toFixed(1).padStart(6)}% ${
      t.selfMs.toFixed(1).padStart(9)
    } ms  ${t.name}`
  ).join("\n");
}

/**
 * Source paths that tell which process recorded a profile, checked in this order (a process
 * sampled only while loading modules has no frame of its entry module, so the later kinds
 * go by any of their modules).
 */
const PROCESS_KINDS: readonly [RegExp, string][] = [
  [/\/scripts\/bench\/main\.ts$/, "the harness (in-process work)"],
  [/\/scripts\/bench\/sim_(memory|fixture)\.ts$/, "memory children"],
  [/\/scripts\/bench\/ffi_call\.ts$/, "FFI loop children"],
  [/\/(shell|dsl)\/[^/]+\.ts$|\/zod@/, "vfsh CLI children"],
];

/** Which kind of process recorded `p`, by the source files its frames mention. */
export function processKind(p: CpuProfile): string {
  const urls = new Set(p.nodes.map((n) => n.callFrame.url));
  for (const [pattern, kind] of PROCESS_KINDS) {
    for (const u of urls) if (pattern.test(u)) return kind;
  }
  return "other Deno children (e.g. the empty file)";
}

/** Profiles grouped by {@linkcode processKind}, the group with the most samples first. */
export function groupByProcess(profiles: readonly CpuProfile[]): [string, CpuProfile[]][] {
  const groups = new Map<string, CpuProfile[]>();
  for (const p of profiles) {
    const k = processKind(p);
    groups.set(k, [...(groups.get(k) ?? []), p]);
  }
  const weight = (ps: CpuProfile[]) =>
    ps.reduce((s, p) => s + p.timeDeltas.reduce((a, b) => a + b, 0), 0);
  return [...groups].sort((a, b) => weight(b[1]) - weight(a[1]));
}

/** Read every `.cpuprofile` in `dir`. */
export async function readProfiles(dir: string): Promise<CpuProfile[]> {
  const out: CpuProfile[] = [];
  for await (const e of Deno.readDir(dir)) {
    if (e.isFile && e.name.endsWith(".cpuprofile")) {
      out.push(JSON.parse(await Deno.readTextFile(`${dir}/${e.name}`)) as CpuProfile);
    }
  }
  return out;
}
