/**
 * Can this machine run the kernel lane? Checked before anything slow starts, so a machine
 * that cannot gets one clear "skipped" line instead of a half-built kernel.
 *
 * @module
 */

import { kernelCachePath, type KernelVariant, readFragments } from "./build.ts";
import { cacheRoot, isFile } from "./cache.ts";
import { exec, onPath } from "./exec.ts";
import {
  installable,
  KERNEL_SOURCE_PACKAGE,
  KERNEL_SOURCE_TARBALL,
  packageVersion,
} from "./packages.ts";

/** Free space a kernel build needs: the unpacked source (~1.6 GB) and two build trees. */
export const MIN_FREE_BYTES = 3 * 1024 ** 3;

/** Available bytes on the filesystem holding `path` (or its nearest existing parent). */
export async function freeBytes(path: string): Promise<number> {
  let dir = path;
  while (dir !== "/" && !(await Deno.stat(dir).then(() => true, () => false))) {
    dir = dir.slice(0, dir.lastIndexOf("/")) || "/";
  }
  const r = await exec("df", ["-Pk", dir]);
  const fields = r.stdout.trim().split("\n").pop()?.split(/\s+/) ?? [];
  return Number(fields[3] ?? 0) * 1024;
}

let aptRefreshed = false;

/** Whether `pkg` could be installed: root, and apt has a candidate (refreshing lists once). */
async function canInstall(pkg: string): Promise<boolean> {
  if (Deno.uid() !== 0) return false;
  if (await installable(pkg)) return true;
  if (aptRefreshed) return false;
  aptRefreshed = true;
  await exec("apt-get", ["update"], { env: { DEBIAN_FRONTEND: "noninteractive" } });
  return await installable(pkg);
}

/** Whether every variant's kernel is already in the cache (then no disk space is needed). */
async function allKernelsCached(variants: readonly KernelVariant[]): Promise<boolean> {
  const version = await packageVersion(KERNEL_SOURCE_PACKAGE);
  if (!version) return false;
  for (const v of variants) {
    const dir = await kernelCachePath(v, await readFragments(v), version);
    if (!(await isFile(`${dir}/bzImage`))) return false;
  }
  return true;
}

/**
 * Why the lane cannot run here, or `null` when it can: x86-64 Linux, QEMU and the kernel
 * source present or installable, and enough disk for a build unless the kernels are cached.
 */
export async function whyLaneCannotRun(
  variants: readonly KernelVariant[],
): Promise<string | null> {
  if (Deno.build.os !== "linux" || Deno.build.arch !== "x86_64") {
    return `needs x86_64 Linux, this is ${Deno.build.arch} ${Deno.build.os}`;
  }
  const tools: [string, () => Promise<boolean>, string][] = [
    ["qemu-system-x86", () => onPath("qemu-system-x86_64"), "QEMU (qemu-system-x86_64)"],
    ["busybox-static", () => isFile("/bin/busybox"), "a static busybox"],
    [KERNEL_SOURCE_PACKAGE, () => isFile(KERNEL_SOURCE_TARBALL), KERNEL_SOURCE_TARBALL],
  ];
  for (const [pkg, present, what] of tools) {
    if (!(await present()) && !(await canInstall(pkg))) {
      return `${what} is missing and the Debian package ${pkg} cannot be installed here`;
    }
  }
  if (!(await allKernelsCached(variants))) {
    const free = await freeBytes(cacheRoot());
    if (free < MIN_FREE_BYTES) {
      const gb = (n: number) => (n / 1024 ** 3).toFixed(1);
      return `only ${gb(free)} GB free under ${cacheRoot()}, a kernel build needs ${
        gb(MIN_FREE_BYTES)
      } GB`;
    }
  }
  return null;
}
