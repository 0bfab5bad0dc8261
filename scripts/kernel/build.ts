/**
 * Building the lane's Linux 6.12 kernels from Debian's `linux-source-6.12`: tinyconfig plus
 * the fragments in `config/`, `make bzImage`, cached by a hash of fragments and source version.
 *
 * Layout under `~/.cache/vfsh/kernel/`:
 * - `<variant>-<hash>/bzImage` (+ `config`, `info.json`): the finished kernels;
 * - `src/<version>/linux-source-6.12/`: the unpacked source (shared by both variants);
 * - `obj/<version>-<variant>/`: the out-of-tree build, kept for incremental rebuilds.
 *
 * @module
 */

import { isFile, kernelCacheDir, sha256Hex, withLock, writeAtomic } from "./cache.ts";
import { execOk, lastLine } from "./exec.ts";
import { checkKconfig, mergeKconfig } from "./kconfig.ts";
import { progress, withHeartbeat } from "./log.ts";
import {
  BUILD_PACKAGES,
  ensurePackages,
  KERNEL_SOURCE_PACKAGE,
  KERNEL_SOURCE_TARBALL,
  packageVersion,
} from "./packages.ts";

/**
 * Which VFIO container the kernel has:
 * - `iommufd-compat`: `/dev/vfio/vfio` is served by iommufd (`IOMMUFD_VFIO_CONTAINER=y`);
 * - `legacy`: `/dev/vfio/vfio` is the classic type1 container (`VFIO_CONTAINER=y`).
 *
 * Both have `/dev/iommu` (iommufd) with `IOMMUFD_TEST` (the selftest mock domain).
 */
export type KernelVariant = "iommufd-compat" | "legacy";

/** Every variant, in the order the lane runs them. */
export const KERNEL_VARIANTS: readonly KernelVariant[] = ["iommufd-compat", "legacy"];

/** Bump when the build steps change in a way that changes the output. */
const RECIPE = "vfsh-kernel-1";

const CONFIG_DIR = new URL("./config/", import.meta.url);

/** The config fragments of `variant`, in the order they are applied. */
export async function readFragments(variant: KernelVariant): Promise<string[]> {
  if (!KERNEL_VARIANTS.includes(variant)) throw new Error(`unknown kernel variant ${variant}`);
  return [
    await Deno.readTextFile(new URL("base.config", CONFIG_DIR)),
    await Deno.readTextFile(new URL(`${variant}.config`, CONFIG_DIR)),
  ];
}

/** Where one variant's kernel lives in the cache, given the fragments and source version. */
export async function kernelCachePath(
  variant: KernelVariant,
  fragments: string[],
  sourceVersion: string,
): Promise<string> {
  const hash = await sha256Hex([RECIPE, variant, sourceVersion, ...fragments]);
  return `${kernelCacheDir()}/${variant}-${hash.slice(0, 16)}`;
}

/** Installed `linux-source-6.12` version, installing the build packages if it is missing. */
async function sourceVersion(): Promise<string> {
  let version = await packageVersion(KERNEL_SOURCE_PACKAGE);
  if (!version) {
    await ensurePackages(BUILD_PACKAGES);
    version = await packageVersion(KERNEL_SOURCE_PACKAGE);
  }
  if (!version) throw new Error(`${KERNEL_SOURCE_PACKAGE} is not installed`);
  return version;
}

/**
 * Path of a bzImage for `variant`, building it first unless the cache has it (then the call
 * takes a few milliseconds). A build installs missing Debian packages, unpacks the source
 * once, and takes about 10 minutes on 2 cores; progress goes to stderr.
 */
export async function ensureKernel(variant: KernelVariant): Promise<string> {
  const fragments = await readFragments(variant);
  const version = await sourceVersion();
  const dir = await kernelCachePath(variant, fragments, version);
  const bzImage = `${dir}/bzImage`;
  if (await isFile(bzImage)) return bzImage;
  await withLock(`${kernelCacheDir()}/${variant}.lock`, async () => {
    if (await isFile(bzImage)) return; // another process built it meanwhile
    await ensurePackages(BUILD_PACKAGES);
    const src = await ensureSource(version);
    const obj = `${kernelCacheDir()}/obj/${version}-${variant}`;
    await buildKernel(variant, src, obj, fragments);
    await Deno.mkdir(dir, { recursive: true });
    await Deno.copyFile(`${obj}/.config`, `${dir}/config`);
    const info = { variant, sourceVersion: version, builtAt: new Date().toISOString() };
    await Deno.writeTextFile(`${dir}/info.json`, JSON.stringify(info, null, 2) + "\n");
    await writeAtomic(bzImage, await Deno.readFile(`${obj}/arch/x86/boot/bzImage`));
  });
  progress(`kernel ${variant}: ${bzImage}`);
  return bzImage;
}

/** The unpacked kernel source tree for `version`, unpacking the tarball the first time. */
async function ensureSource(version: string): Promise<string> {
  const base = `${kernelCacheDir()}/src/${version}`;
  const tree = `${base}/linux-source-6.12`;
  return await withLock(`${kernelCacheDir()}/src.lock`, async () => {
    if (await isFile(`${tree}/Makefile`)) return tree;
    const tmp = `${base}.tmp-${Deno.pid}`;
    await Deno.remove(tmp, { recursive: true }).catch(() => {});
    await Deno.mkdir(tmp, { recursive: true });
    await withHeartbeat(
      `unpack ${KERNEL_SOURCE_TARBALL}`,
      execOk("tar", ["-C", tmp, "-xf", KERNEL_SOURCE_TARBALL]),
    );
    await Deno.remove(base, { recursive: true }).catch(() => {});
    await Deno.rename(tmp, base);
    return tree;
  });
}

/** tinyconfig + fragments + olddefconfig, checked, then `make bzImage` (log in `obj`). */
async function buildKernel(
  variant: KernelVariant,
  src: string,
  obj: string,
  fragments: string[],
): Promise<void> {
  await Deno.mkdir(obj, { recursive: true });
  const log = `${obj}/build.log`;
  await Deno.writeTextFile(log, "");
  const make = (...targets: string[]) =>
    execOk("make", ["-C", src, `O=${obj}`, "ARCH=x86_64", ...targets], { logFile: log });
  progress(`kernel ${variant}: configuring in ${obj} (log: ${log})`);
  await make("tinyconfig");
  const config = `${obj}/.config`;
  await Deno.writeTextFile(config, mergeKconfig(await Deno.readTextFile(config), fragments));
  await make("olddefconfig");
  const problems = checkKconfig(await Deno.readTextFile(config), fragments);
  if (problems.length > 0) {
    throw new Error(`kernel ${variant}: config fragments did not land:\n${problems.join("\n")}`);
  }
  const jobs = navigator.hardwareConcurrency || 2;
  await withHeartbeat(
    `kernel ${variant}: make -j${jobs} bzImage`,
    make(`-j${jobs}`, "bzImage"),
    () => lastLine(log).slice(0, 80),
  );
}
