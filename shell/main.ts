/**
 * The `vfsh` command line.
 *
 * ```
 * vfsh [OPTIONS]                 interactive shell
 * vfsh run [OPTIONS] FILE… | -   replay scripts, each in a fresh session
 * vfsh -c 'CMDS' [OPTIONS]       run commands given on the command line
 * ```
 *
 * Exit status of `run` and `-c`: 0 every expectation held, 1 one failed, 2 a script could
 * not run (parse error, unknown command, missing file) or the backend could not start.
 *
 * @module
 */

import { parseArgs } from "node:util";
import denoJson from "../deno.json" with { type: "json" };
import { openBackend } from "./backend.ts";
import { createSession, type Session } from "./session.ts";
import { readEnv } from "./env.ts";

const USAGE = `vfsh ${denoJson.version}: a scriptable shell for the VFIO container ioctls (iommufd)

usage:
  vfsh [OPTIONS]                 interactive shell
  vfsh run [OPTIONS] FILE… | -   replay .vfs scripts, each in a fresh session (- reads stdin)
  vfsh -c 'CMDS' [OPTIONS]       run commands (';' separates them)

options:
  --backend sim|kernel    sim: the built-in simulator (default); kernel: real ioctls
                          on /dev/iommu (needs --allow-ffi: deno task vfsh:kernel)
  --profile P             simulator platform profile
  --kernel-version V      simulator kernel release (6.2, 6.6, 6.12, 6.12.117, 6.18)
  --json                  one JSON object per command instead of the human form
  --plugin PATH           load a plugin module (repeatable)
  --record FILE           write the commands and their results to FILE as a scenario
  -q, --quiet             run: print only failures, errors and summaries
  -h, --help              this text
  -V, --version           the version

run exits 0 when every expectation held, 1 when one failed, 2 when a script could not run.
In the shell, 'help' lists the commands and 'help COMMAND' explains one.`;

/** Output for scripts: buffered, flushed in large blocks and at the end. */
class BufferedOut {
  #parts: string[] = [];
  #size = 0;
  readonly #enc = new TextEncoder();
  write = (text: string): void => {
    this.#parts.push(text);
    this.#size += text.length;
    if (this.#size > 1 << 16) this.flush();
  };
  flush(): void {
    if (this.#parts.length === 0) return;
    const bytes = this.#enc.encode(this.#parts.join(""));
    this.#parts = [];
    this.#size = 0;
    let off = 0;
    while (off < bytes.length) off += Deno.stdout.writeSync(bytes.subarray(off));
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

function fail(message: string): number {
  console.error(`vfsh: ${message}`);
  return 2;
}

/** Run the CLI with `args`; returns the exit status. */
export async function main(args: string[]): Promise<number> {
  let parsed;
  try {
    parsed = parseArgs({
      args,
      allowPositionals: true,
      strict: true,
      options: {
        backend: { type: "string", default: "sim" },
        profile: { type: "string" },
        "kernel-version": { type: "string" },
        json: { type: "boolean", default: false },
        plugin: { type: "string", multiple: true, default: [] },
        record: { type: "string" },
        quiet: { type: "boolean", short: "q", default: false },
        command: { type: "string", short: "c" },
        help: { type: "boolean", short: "h", default: false },
        version: { type: "boolean", short: "V", default: false },
      },
    });
  } catch (e) {
    return fail(`${(e as Error).message} (vfsh --help for usage)`);
  }
  const v = parsed.values;
  if (v.help) {
    console.log(USAGE);
    return 0;
  }
  if (v.version) {
    console.log(`vfsh ${denoJson.version}`);
    return 0;
  }
  const pos = parsed.positionals;
  const backendOptions = { profile: v.profile, release: v["kernel-version"] };
  const newSession = async (write: (t: string) => void, color: boolean): Promise<Session> => {
    const kernel = await openBackend(v.backend!, backendOptions);
    return await createSession({
      kernel,
      json: v.json,
      color,
      write,
      plugins: v.plugin as string[],
      quiet: v.quiet,
      record: v.record,
    });
  };

  if (pos[0] === "run") {
    const files = pos.slice(1);
    if (files.length === 0) return fail("run needs at least one FILE (or - for stdin)");
    if (v.command !== undefined) return fail("use either run FILE… or -c 'CMDS', not both");
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
        s.close();
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
    return fail(`unexpected '${pos[0]}' (did you mean: vfsh run ${pos.join(" ")}?)`);
  }
  if (v.command !== undefined) {
    const out = new BufferedOut();
    try {
      let s: Session;
      try {
        s = await newSession(out.write, !v.json && colorWanted());
      } catch (e) {
        out.flush();
        return fail((e as Error).message);
      }
      const r = await s.runScript(v.command, "-c", { echo: false });
      s.close();
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
    s = await newSession((t) => {
      const b = new TextEncoder().encode(t);
      let off = 0;
      while (off < b.length) off += Deno.stdout.writeSync(b.subarray(off));
    }, color);
  } catch (e) {
    return fail((e as Error).message);
  }
  await runRepl(s, { historyFile: defaultHistoryFile(), color });
  return 0;
}

if (import.meta.main) {
  Deno.exit(await main(Deno.args));
}
