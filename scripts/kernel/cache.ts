/**
 * Where the kernel lane keeps what it builds, content-addressed hashes, and a lock so that
 * two processes do not build into the same directory at once.
 *
 * @module
 */

/** Root of vfsh's caches: `$VFSH_CACHE_DIR`, else `~/.cache/vfsh`. */
export function cacheRoot(): string {
  const override = Deno.env.get("VFSH_CACHE_DIR");
  if (override) return override;
  const home = Deno.env.get("HOME") ?? "/root";
  return `${home}/.cache/vfsh`;
}

/** The kernel lane's cache directory (kernels, initramfs, source, build trees). */
export function kernelCacheDir(): string {
  return `${cacheRoot()}/kernel`;
}

/** Hex SHA-256 of the given parts, each length-prefixed so that boundaries count. */
export async function sha256Hex(parts: (string | Uint8Array)[]): Promise<string> {
  const enc = new TextEncoder();
  const chunks: Uint8Array[] = [];
  for (const p of parts) {
    const bytes = typeof p === "string" ? enc.encode(p) : p;
    chunks.push(enc.encode(`${bytes.length}:`), bytes);
  }
  const all = new Uint8Array(chunks.reduce((n, c) => n + c.length, 0));
  let at = 0;
  for (const c of chunks) {
    all.set(c, at);
    at += c.length;
  }
  const digest = await crypto.subtle.digest("SHA-256", all);
  return [...new Uint8Array(digest)].map((b) => b.toString(16).padStart(2, "0")).join("");
}

/** Whether `path` exists as a regular file. */
export async function isFile(path: string): Promise<boolean> {
  try {
    return (await Deno.stat(path)).isFile;
  } catch {
    return false;
  }
}

/**
 * Run `fn` while holding an exclusive lock on `lockPath` (created if needed). Blocks while
 * another process holds it; the lock goes away with the process if it dies.
 */
export async function withLock<T>(lockPath: string, fn: () => Promise<T>): Promise<T> {
  await Deno.mkdir(lockPath.slice(0, lockPath.lastIndexOf("/")), { recursive: true });
  const file = await Deno.open(lockPath, { create: true, write: true });
  try {
    await file.lock(true);
    return await fn();
  } finally {
    file.close();
  }
}

/** Write `data` to `path` through a temporary file and a rename, so readers never see half. */
export async function writeAtomic(path: string, data: Uint8Array): Promise<void> {
  await Deno.mkdir(path.slice(0, path.lastIndexOf("/")), { recursive: true });
  const tmp = `${path}.tmp-${Deno.pid}`;
  await Deno.writeFile(tmp, data);
  await Deno.rename(tmp, path);
}
