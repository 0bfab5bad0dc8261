/**
 * Running host commands for the kernel lane: captured, or appended to a log file.
 *
 * @module
 */

/** What a finished command left behind. */
export interface ExecResult {
  /** Exit code (non-zero on failure). */
  code: number;
  /** Captured stdout (empty when it went to a log file). */
  stdout: string;
  /** Captured stderr (empty when it went to a log file). */
  stderr: string;
}

/** Options for {@linkcode exec}. */
export interface ExecOptions {
  /** Working directory. */
  cwd?: string;
  /** Extra environment variables. */
  env?: Record<string, string>;
  /** Append stdout and stderr to this file instead of capturing them. */
  logFile?: string;
}

/** Run `cmd` with `args` to completion; never throws for a non-zero exit. */
export async function exec(
  cmd: string,
  args: string[],
  options: ExecOptions = {},
): Promise<ExecResult> {
  if (!options.logFile) {
    const out = await new Deno.Command(cmd, {
      args,
      cwd: options.cwd,
      env: options.env,
      stdin: "null",
    }).output();
    const dec = new TextDecoder();
    return { code: out.code, stdout: dec.decode(out.stdout), stderr: dec.decode(out.stderr) };
  }
  // The same file opened twice in append mode keeps both streams' lines whole.
  const log = await Deno.open(options.logFile, { append: true, create: true });
  const log2 = await Deno.open(options.logFile, { append: true });
  try {
    const child = new Deno.Command(cmd, {
      args,
      cwd: options.cwd,
      env: options.env,
      stdin: "null",
      stdout: "piped",
      stderr: "piped",
    }).spawn();
    await Promise.all([child.stdout.pipeTo(log.writable), child.stderr.pipeTo(log2.writable)]);
    const status = await child.status;
    return { code: status.code, stdout: "", stderr: "" };
  } catch (e) {
    // pipeTo may already have closed them.
    for (const f of [log, log2]) {
      try {
        f.close();
      } catch { /* already closed */ }
    }
    throw e;
  }
}

/** Like {@linkcode exec}, but throws with the command's output when it fails. */
export async function execOk(
  cmd: string,
  args: string[],
  options: ExecOptions = {},
): Promise<ExecResult> {
  const r = await exec(cmd, args, options);
  if (r.code !== 0) {
    const where = options.logFile ? ` (log: ${options.logFile})` : "";
    const tail = (r.stderr || r.stdout).trim().split("\n").slice(-20).join("\n");
    throw new Error(`${cmd} ${args.join(" ")} failed with exit ${r.code}${where}\n${tail}`);
  }
  return r;
}

/** Whether an executable named `name` is on PATH. */
export async function onPath(name: string): Promise<boolean> {
  const dirs = (Deno.env.get("PATH") ?? "/usr/bin:/bin").split(":");
  for (const dir of dirs) {
    try {
      const st = await Deno.stat(`${dir}/${name}`);
      if (st.isFile && ((st.mode ?? 0) & 0o111) !== 0) return true;
    } catch {
      // not in this directory
    }
  }
  return false;
}

/** Last non-empty line of a text file, or "" (used for build heartbeats). */
export function lastLine(path: string): string {
  try {
    const file = Deno.openSync(path);
    try {
      const size = file.statSync().size;
      const n = Math.min(size, 4096);
      const buf = new Uint8Array(n);
      file.seekSync(size - n, Deno.SeekMode.Start);
      const got = file.readSync(buf) ?? 0;
      const lines = new TextDecoder().decode(buf.subarray(0, got)).trim().split("\n");
      return lines[lines.length - 1].trim();
    } finally {
      file.close();
    }
  } catch {
    return "";
  }
}
