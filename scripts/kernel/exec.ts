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
  const log = await Deno.open(options.logFile, { append: true, create: true });
  try {
    const child = new Deno.Command(cmd, {
      args,
      cwd: options.cwd,
      env: options.env,
      stdin: "null",
      stdout: "piped",
      stderr: "piped",
    }).spawn();
    // A manual pump rather than pipeTo(file.writable), which held the data back until the
    // end and so made the log useless for watching a 10-minute build.
    await Promise.all([pump(child.stdout, log), pump(child.stderr, log)]);
    const status = await child.status;
    return { code: status.code, stdout: "", stderr: "" };
  } finally {
    log.close();
  }
}

/** Copy `stream` into `file` chunk by chunk as it arrives. */
async function pump(stream: ReadableStream<Uint8Array>, file: Deno.FsFile): Promise<void> {
  for await (let chunk of stream) {
    while (chunk.length > 0) chunk = chunk.subarray(await file.write(chunk));
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
