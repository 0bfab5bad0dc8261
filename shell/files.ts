/**
 * Script files: reading one (`-` is standard input), and saying in a few words why a file
 * could not be read or written (`no such file`, `is a directory`) for one-line errors.
 * Deno's own errors carry "(os error N)" and the call that failed, which tell a user nothing
 * more.
 *
 * @module
 */

const lowerFirst = (s: string) => s.charAt(0).toLowerCase() + s.slice(1);

/** Paths that are standard input by another name: `-` is the way to read it. */
const STDIN_ALIASES = new Set(["/dev/stdin", "/dev/fd/0", "/proc/self/fd/0"]);

/** Why reading (or writing) `path` failed with `e`. */
export function describeFsError(e: unknown, what: "read" | "write", path?: string): string {
  // Deno's permission check names the flag it wants: --allow-read or --allow-write, but
  // --allow-all for device files such as /dev/stdin or /dev/full, whatever else was granted.
  if (e instanceof Deno.errors.NotCapable) {
    const why = lowerFirst((e as Error).message);
    return what === "read" && path !== undefined && STDIN_ALIASES.has(path)
      ? `${why} (or give - to read standard input)`
      : why;
  }
  if (e instanceof Deno.errors.PermissionDenied) return "permission denied";
  if (e instanceof Deno.errors.NotFound) {
    return what === "read" ? "no such file" : "no such directory";
  }
  if (e instanceof Deno.errors.IsADirectory) return "is a directory";
  return lowerFirst(String((e as Error)?.message ?? e).replace(/ \(os error \d+\).*$/s, ""));
}

/**
 * The text of the script file at `path`. A device is refused before it is read: /dev/zero
 * would never end. A pipe is read to its end (`vfsh run <(make-script)`).
 */
export function readScriptFile(path: string): string {
  const info = Deno.statSync(path);
  const kind = info.isCharDevice
    ? "a character device"
    : info.isBlockDevice
    ? "a block device"
    : info.isSocket
    ? "a socket"
    : undefined;
  if (kind !== undefined) throw new Error(`is ${kind}, not a script`);
  return Deno.readTextFileSync(path);
}

/** The text of the script at `path` ({@link readScriptFile}); `-` reads standard input to its end. */
export async function readScript(path: string): Promise<string> {
  if (path !== "-") return readScriptFile(path);
  return await new Response(Deno.stdin.readable).text();
}
