/**
 * Writing to standard output when its reader may have gone away (`vfsh run x.vfs | head`).
 *
 * Deno ignores SIGPIPE, so a write to a pipe nobody reads fails with EPIPE instead of ending
 * the process. Left alone that is an uncaught error with a stack trace; here it ends vfsh
 * quietly with the status a process killed by SIGPIPE has in a shell, as `cat` or `grep`
 * would end: there is nobody left to read anything else.
 *
 * @module
 */

/** The exit status of a process ended by SIGPIPE (128 + 13), as shells report it. */
const BROKEN_PIPE_STATUS = 141;

/** Whether `err` says the other end of a pipe or socket was closed (EPIPE). */
function isBrokenPipe(err: unknown): boolean {
  if (err instanceof Deno.errors.BrokenPipe) return true;
  return (err as { code?: unknown } | null)?.code === "EPIPE";
}

/**
 * Output that cannot be written (a full disk, an I/O error) ends vfsh: what follows would be
 * lost too. A broken pipe ends it as SIGPIPE would; anything else with one line on standard
 * error and status 2, the status of a script that could not run (1 would claim a failed
 * expectation).
 */
export function exitOnOutputError(err: unknown): never {
  if (isBrokenPipe(err)) Deno.exit(BROKEN_PIPE_STATUS);
  try {
    console.error(`vfsh: cannot write output: ${(err as Error)?.message ?? err}`);
  } catch { /* standard error is gone too */ }
  Deno.exit(2);
}

/** Write all of `bytes` to `w`: writeSync may take only part of them. */
export function writeAllSync(w: { writeSync(p: Uint8Array): number }, bytes: Uint8Array): void {
  let off = 0;
  while (off < bytes.length) off += w.writeSync(bytes.subarray(off));
}

/** Write all of `bytes` to standard output; ends the process if that fails ({@link exitOnOutputError}). */
export function writeStdout(bytes: Uint8Array): void {
  try {
    writeAllSync(Deno.stdout, bytes);
  } catch (err) {
    exitOnOutputError(err);
  }
}

const encoder = new TextEncoder();

/** {@link writeStdout} of `text` as UTF-8. */
export function writeStdoutText(text: string): void {
  writeStdout(encoder.encode(text));
}
