/**
 * The Debian packages the kernel lane needs, and installing them when missing.
 *
 * @module
 */

import { exec, execOk } from "./exec.ts";
import { progress, withHeartbeat } from "./log.ts";

/** Debian package that ships /usr/src/linux-source-6.12.tar.xz. */
export const KERNEL_SOURCE_PACKAGE = "linux-source-6.12";

/** The kernel source tarball that package installs. */
export const KERNEL_SOURCE_TARBALL = "/usr/src/linux-source-6.12.tar.xz";

/** Packages for building the kernel (tinyconfig + fragments, bzImage). */
export const BUILD_PACKAGES = [
  KERNEL_SOURCE_PACKAGE,
  "build-essential",
  "bc",
  "bison",
  "flex",
  "libelf-dev",
  "libssl-dev",
  "xz-utils",
];

/** Packages for booting it: QEMU and the static busybox that the initramfs is made of. */
export const RUN_PACKAGES = ["qemu-system-x86", "busybox-static"];

/** Which of `names` dpkg does not report as installed. */
export async function missingPackages(names: string[]): Promise<string[]> {
  const r = await exec("dpkg-query", ["-W", "-f=${Package} ${Status}\\n", ...names]);
  const installed = new Set(
    r.stdout.split("\n")
      .filter((l) => l.endsWith(" install ok installed"))
      .map((l) => l.split(" ")[0]),
  );
  return names.filter((n) => !installed.has(n));
}

let aptUpdated = false;

/**
 * Install whichever of `names` are missing with apt-get (needs root). Quick when nothing is
 * missing: one dpkg-query call.
 */
export async function ensurePackages(names: string[]): Promise<void> {
  const missing = await missingPackages(names);
  if (missing.length === 0) return;
  if (Deno.uid() !== 0) {
    throw new Error(`missing Debian packages (install them as root): ${missing.join(" ")}`);
  }
  const env = { DEBIAN_FRONTEND: "noninteractive" };
  if (!aptUpdated) {
    await withHeartbeat("apt-get update", execOk("apt-get", ["update"], { env }));
    aptUpdated = true;
  }
  progress(`installing ${missing.join(" ")}`);
  await withHeartbeat(
    "apt-get install",
    execOk("apt-get", ["install", "-y", "--no-install-recommends", ...missing], { env }),
  );
}

/** Installed version of a package ("" when not installed). */
export async function packageVersion(name: string): Promise<string> {
  const r = await exec("dpkg-query", ["-W", "-f=${Version}", name]);
  return r.code === 0 ? r.stdout.trim() : "";
}

/** Whether apt knows an installation candidate for `name` (after `apt-get update`). */
export async function installable(name: string): Promise<boolean> {
  const r = await exec("apt-cache", ["policy", name]);
  const m = r.stdout.match(/Candidate:\s*(\S+)/);
  return r.code === 0 && m !== null && m[1] !== "(none)";
}
