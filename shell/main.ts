/**
 * The `vfsh` command line.
 *
 * ```
 * vfsh [OPTIONS]                 interactive shell (no prompts for lines piped in)
 * vfsh run [OPTIONS] FILE… | -   replay scripts, each in a fresh session
 * vfsh -c 'CMDS' [OPTIONS]       run commands given on the command line
 * vfsh compare FILE… [OPTIONS]   run scripts in several IOMMU modes / kernels, show differences
 * ```
 *
 * Exit status of `run` and `-c`: 0 every expectation held, 1 one failed, 2 a script could
 * not run (parse error, unknown command, missing file) or the backend could not start.
 *
 * @module
 */

import denoJson from "../deno.json" with { type: "json" };
import { openBackend } from "./backend.ts";
import { createSession, type Session } from "./session.ts";
import { readEnv } from "./env.ts";
import { applyMode, isModeName, MODE_NAMES, type ModeName, parseModes } from "./modes.ts";
import { CLIENT_NAMES, type ClientName, isClientName } from "./clients.ts";
import { closest } from "./registry.ts";
import { writeStdout, writeStdoutText } from "./stdout.ts";

const USAGE = `vfsh ${denoJson.version}: a scriptable shell for the VFIO container ioctls (iommufd)

usage:
  vfsh [OPTIONS]                 interactive shell (lines piped in run without prompts)
  vfsh run [OPTIONS] FILE… | -   replay .vfs scripts, each in a fresh session (- reads stdin)
  vfsh -c 'CMDS' [OPTIONS]       run commands (';' separates them; -c may repeat)
  vfsh compare FILE… [OPTIONS]   run each script in every --modes mode and --kernels release
                                 (simulator), print only the commands whose results differ
                                 (- reads stdin)

options:
  --backend sim|kernel    sim: the built-in simulator (default); kernel: real ioctls
                          on /dev/iommu (needs --allow-ffi: deno task vfsh:kernel)
  --profile P             simulator platform profile
  --kernel-version V      simulator kernel release (6.2, 6.6, 6.12, 6.12.117, 6.18)
  --container legacy|iommufd  simulator: what serves /dev/vfio/vfio (default iommufd)
  --mode M                IOMMU mode for 'container setup' (${MODE_NAMES.join(", ")})
  --like C                say after each result what client C would conclude
                          (${CLIENT_NAMES.join(", ")})
  --modes M1,M2,…         compare: the modes to run in (default: all five)
  --kernels K1,K2,…       compare: the kernel releases to run as (default: the newest)
  --json                  one JSON object per command instead of the human form
  --plugin PATH           load a plugin module (repeatable; one that fails stops vfsh)
  --record FILE           write the commands and their results to FILE as a scenario
  -q, --quiet             run: print only failures, errors and summaries
  -h, --help              this text
  -V, --version           the version

run exits 0 when every expectation held, 1 when one failed, 2 when a script could not run
or its output could not be written (141 when the reader of its output went away, as SIGPIPE);
Lines piped into the shell run on after an error as typed ones do (set -e: they stop),
and exit as run does.
compare exits 0 when it ran, whatever it found, 2 when a script could not run.
In the shell, 'help' lists the commands and 'help COMMAND' explains one.`;

/** Output for scripts: buffered, flushed in large blocks and at the end. */
class BufferedOut {
  // Appending to one string (a rope, flattened once when encoded) costs less than an array
  // of pieces joined at each flush.
  #text = "";
  readonly #enc = new TextEncoder();
  /** Where a flush encodes to (encodeInto a buffer kept costs less than encode). */
  #bytes: Uint8Array | undefined;
  write = (text: string): void => {
    this.#text += text;
    if (this.#text.length > 1 << 16) this.flush();
  };
  flush(): void {
    const text = this.#text;
    if (text === "") return;
    this.#text = "";
    let bytes: Uint8Array;
    // A UTF-16 unit takes at most three bytes of UTF-8.
    if (text.length * 3 <= 3 << 17) {
      this.#bytes ??= new Uint8Array(3 << 17);
      bytes = this.#bytes.subarray(0, this.#enc.encodeInto(text, this.#bytes).written);
    } else bytes = this.#enc.encode(text);
    writeStdout(bytes);
  }
}

function colorWanted(): boolean {
  try {
    if (!Deno.stdout.isTerminal()) return false;
  } catch {
    return false;
  }
  if (readEnv("NO_COLOR") !== undefined) return false;
  return !Deno.noColor;
}

const STDIN_TWICE = "- (standard input) can be given once: it is read to its end the first time";

function stdinTwice(files: string[]): boolean {
  return files.indexOf("-") !== files.lastIndexOf("-");
}

/** Whether lines come from a person at a terminal (not a pipe or a file). */
function stdinIsTerminal(): boolean {
  try {
    return Deno.stdin.isTerminal();
  } catch {
    return false;
  }
}

function fail(message: string): number {
  console.error(`vfsh: ${message}`);
  return 2;
}

/** The options of the command line (node:util parseArgs' form). */
export const OPTIONS = {
  backend: { type: "string", default: "sim" },
  profile: { type: "string" },
  "kernel-version": { type: "string" },
  mode: { type: "string" },
  container: { type: "string" },
  like: { type: "string" },
  modes: { type: "string" },
  kernels: { type: "string" },
  json: { type: "boolean", default: false },
  plugin: { type: "string", multiple: true, default: [] as string[] },
  record: { type: "string" },
  quiet: { type: "boolean", short: "q", default: false },
  command: { type: "string", short: "c", multiple: true, default: [] as string[] },
  help: { type: "boolean", short: "h", default: false },
  version: { type: "boolean", short: "V", default: false },
} as const;

/** The parsed command line, as node:util parseArgs gives it for {@link OPTIONS}. */
interface ParsedArgs {
  values: {
    backend: string;
    profile?: string;
    "kernel-version"?: string;
    mode?: string;
    container?: string;
    like?: string;
    modes?: string;
    kernels?: string;
    json: boolean;
    plugin: string[];
    record?: string;
    quiet: boolean;
    command: string[];
    help: boolean;
    version: boolean;
  };
  positionals: string[];
}

const SHORT: Readonly<Record<string, string>> = {
  q: "quiet",
  c: "command",
  h: "help",
  V: "version",
};

/**
 * The command line parsed as parseArgs (strict, positionals allowed) would, for the plain
 * forms: `--name`, `--name value`, `--name=value`, `-x`, `-x value` and positionals. Anything
 * else (an unknown option, a missing or dash-led value, `--`, grouped short options) gives
 * undefined: node:util's parseArgs then decides, with its own messages. This saves loading
 * node:util, and the Node compatibility modules behind it, on every start.
 */
export function parseArgsFast(args: readonly string[]): ParsedArgs | undefined {
  const values: Record<string, unknown> = {};
  const positionals: string[] = [];
  for (let i = 0; i < args.length; i++) {
    const a = args[i];
    if (a.length < 2 || a.charCodeAt(0) !== 45) {
      positionals.push(a); // a word, or `-` alone
      continue;
    }
    let name: string | undefined;
    let inline: string | undefined;
    if (a.charCodeAt(1) === 45) {
      const eq = a.indexOf("=");
      name = eq < 0 ? a.slice(2) : a.slice(2, eq);
      if (eq >= 0) inline = a.slice(eq + 1);
      if (!Object.hasOwn(OPTIONS, name)) return undefined; // also `--`
    } else {
      if (a.length !== 2) return undefined;
      name = SHORT[a[1]];
      if (name === undefined) return undefined;
    }
    const o: { type: string; multiple?: boolean } = OPTIONS[name as keyof typeof OPTIONS];
    let value: string | boolean;
    if (o.type === "boolean") {
      if (inline !== undefined) return undefined;
      value = true;
    } else if (inline !== undefined) {
      value = inline;
    } else {
      const next = args[i + 1];
      if (next === undefined || next.charCodeAt(0) === 45) return undefined;
      value = next;
      i++;
    }
    if (o.multiple) ((values[name] ??= []) as unknown[]).push(value);
    else values[name] = value;
  }
  for (const [name, o] of Object.entries(OPTIONS)) {
    if (values[name] === undefined && "default" in o) {
      values[name] = Array.isArray(o.default) ? [...o.default] : o.default;
    }
  }
  return { values: values as ParsedArgs["values"], positionals };
}

/**
 * What node:util's parseArgs objected to, in one line of vfsh's own words (its messages
 * run over two lines for `--backend --json`, and point at `--` for a mistyped option).
 */
export function argsError(e: unknown): string {
  const { code, message } = e as { code?: string; message?: string };
  const text = String(message ?? e);
  // Node names the option as "'-c, --command <value>'": the short form is what we show.
  const opt = text.match(/'(-[^' <,]*)/)?.[1];
  if (opt === undefined) return text.split("\n")[0];
  if (code === "ERR_PARSE_ARGS_UNKNOWN_OPTION") {
    const names = Object.entries(OPTIONS).flatMap(([name, o]) =>
      "short" in o ? [`--${name}`, `-${o.short}`] : [`--${name}`]
    );
    const near = opt.startsWith("--") ? closest(opt, names) : [];
    return `unknown option '${opt}'${near.length > 0 ? ` (did you mean ${near[0]}?)` : ""}`;
  }
  if (code === "ERR_PARSE_ARGS_INVALID_OPTION_VALUE") {
    if (text.includes("does not take an argument")) return `option ${opt} takes no value`;
    if (text.includes("ambiguous")) {
      const long = opt.startsWith("--") ? opt : `--${SHORT[opt.slice(1)] ?? opt.slice(1)}`;
      return `option ${opt} needs a value (one that starts with '-' is written ${long}=VALUE)`;
    }
    return `option ${opt} needs a value`;
  }
  return text.split("\n")[0];
}

/** Run the CLI with `args`; returns the exit status. */
export async function main(args: string[]): Promise<number> {
  let parsed = parseArgsFast(args);
  if (parsed === undefined) {
    try {
      const { parseArgs } = await import("node:util");
      parsed = parseArgs({
        args,
        allowPositionals: true,
        strict: true,
        options: OPTIONS as unknown as NonNullable<Parameters<typeof parseArgs>[0]>["options"],
      }) as unknown as ParsedArgs;
    } catch (e) {
      return fail(`${argsError(e)}; vfsh --help for usage`);
    }
  }
  const v = parsed.values;
  if (v.help) {
    writeStdoutText(USAGE + "\n");
    return 0;
  }
  if (v.version) {
    writeStdoutText(`vfsh ${denoJson.version}\n`);
    return 0;
  }
  const pos = parsed.positionals;
  if (v.mode !== undefined && !isModeName(v.mode)) {
    return fail(`unknown mode '${v.mode}' (modes: ${MODE_NAMES.join(", ")})`);
  }
  if (v.like !== undefined && !isClientName(v.like)) {
    return fail(`unknown client '${v.like}' (clients: ${CLIENT_NAMES.join(", ")})`);
  }
  if (v.container !== undefined && v.container !== "legacy" && v.container !== "iommufd") {
    return fail(`unknown container '${v.container}' (legacy or iommufd)`);
  }
  const mode = v.mode as ModeName | undefined;
  const like = v.like as ClientName | undefined;
  if (pos[0] === "compare") return await compareMain(pos.slice(1), v);
  if (v.modes !== undefined || v.kernels !== undefined) {
    return fail("--modes and --kernels are options of vfsh compare");
  }
  const backendOptions = {
    profile: v.profile,
    release: v["kernel-version"],
    container: v.container as "legacy" | "iommufd" | undefined,
  };
  const newSession = async (write: (t: string) => void, color: boolean): Promise<Session> => {
    const kernel = await openBackend(v.backend!, backendOptions);
    const s = await createSession({
      kernel,
      json: v.json,
      color,
      write,
      plugins: v.plugin as string[],
      // What --plugin names must load: without it, what runs is not what was asked for.
      pluginsRequired: true,
      quiet: v.quiet,
      record: v.record,
      like,
    });
    if (mode !== undefined) applyMode(kernel, s.state, mode);
    return s;
  };

  if (pos[0] === "run") {
    const files = pos.slice(1);
    if (files.length === 0) return fail("run needs at least one FILE (or - for stdin)");
    if (stdinTwice(files)) return fail(STDIN_TWICE);
    if (v.command.length > 0) return fail("use either run FILE… or -c 'CMDS', not both");
    if (v.record !== undefined && files.length > 1) {
      return fail("--record takes one FILE: each runs in a fresh session, a recording is one");
    }
    const out = new BufferedOut();
    const color = !v.json && colorWanted();
    let passed = 0, failed = 0, status = 0;
    try {
      for (const f of files) {
        let s: Session;
        try {
          s = await newSession(out.write, color);
        } catch (e) {
          out.flush();
          return fail((e as Error).message);
        }
        const r = await s.runFile(f);
        // The backend is dropped with the session: a simulator needs nothing given back.
        s.close({ release: v.backend === "kernel" });
        passed += r.passed;
        failed += r.failed;
        status = Math.max(status, r.status);
      }
      if (v.json) out.write(JSON.stringify({ passed, failed, status }) + "\n");
      else out.write(`${passed} passed, ${failed} failed\n`);
    } finally {
      out.flush();
    }
    return status;
  }
  if (pos.length > 0) {
    if (pos[0] === "help") {
      return fail("unexpected 'help' (did you mean: vfsh --help, or vfsh -c help?)");
    }
    return fail(`unexpected '${pos[0]}' (did you mean: vfsh run ${pos.join(" ")}?)`);
  }
  if (v.command.length > 0) {
    const out = new BufferedOut();
    try {
      let s: Session;
      try {
        s = await newSession(out.write, !v.json && colorWanted());
      } catch (e) {
        out.flush();
        return fail((e as Error).message);
      }
      // Each -c is a line of its own, run in order (errors say -c:N for the Nth).
      const r = await s.runScript(v.command.join("\n"), "-c", { echo: false });
      s.close({ release: v.backend === "kernel" });
      return r.status;
    } finally {
      out.flush();
    }
  }
  // Interactive.
  const { runRepl, defaultHistoryFile, useColor } = await import("./repl.ts");
  const color = useColor();
  let s: Session;
  try {
    s = await newSession(writeStdoutText, color);
  } catch (e) {
    return fail((e as Error).message);
  }
  // Lines piped in are no typing: no prompts (runRepl's default) and no history.
  const typed = stdinIsTerminal();
  await runRepl(s, { historyFile: typed ? defaultHistoryFile() : undefined, color });
  // Lines piped in are a script read a line at a time: they exit as `vfsh run` would, though
  // they go on after an error as at the prompt. Typing at a prompt ends with 0.
  return typed ? 0 : s.status();
}

/** `vfsh compare FILE… [--modes …] [--kernels …] [--profile P] [--like C] [--json]`. */
async function compareMain(
  files: string[],
  v: {
    modes?: string;
    kernels?: string;
    profile?: string;
    like?: string;
    json?: boolean;
    backend?: string;
    plugin?: string[];
    "kernel-version"?: string;
    mode?: string;
  },
): Promise<number> {
  if (files.length === 0) return fail("compare needs at least one FILE");
  if (stdinTwice(files)) return fail(STDIN_TWICE);
  if (v.backend !== "sim") return fail("compare runs on the simulator only (no --backend kernel)");
  if (v.mode !== undefined) return fail("compare takes --modes M1,M2,… (not --mode)");
  const { compareFiles, compareJson, formatCompare, parseKernels } = await import("./compare.ts");
  let modes: ModeName[] | undefined;
  let kernels: string[] | undefined;
  try {
    if (v.modes !== undefined) modes = parseModes(v.modes);
    if (v.kernels !== undefined) kernels = parseKernels(v.kernels);
    else if (v["kernel-version"] !== undefined) kernels = parseKernels(v["kernel-version"]);
  } catch (e) {
    return fail((e as Error).message);
  }
  let report;
  try {
    report = await compareFiles(files, {
      modes,
      kernels,
      profile: v.profile,
      like: v.like as ClientName | undefined,
      plugins: v.plugin,
    });
  } catch (e) {
    return fail((e as Error).message);
  }
  const out = new BufferedOut();
  if (v.json) out.write(JSON.stringify(compareJson(report)) + "\n");
  else for (const l of formatCompare(report)) out.write(l + "\n");
  out.flush();
  return report.files.some((f) => f.failed) ? 2 : 0;
}

if (import.meta.main) {
  Deno.exit(await main(Deno.args));
}
