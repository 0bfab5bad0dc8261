/**
 * The kernel lane's table: which scenarios run, in which VM, and the command lines that
 * produce each variant's kernel and simulator transcripts. Edit here, not in the lane.
 *
 * @module
 */

import type { KernelVariant } from "./build.ts";

/** How the VM is set up for a scenario. */
export interface VmProfile {
  /** QEMU vIOMMU. */
  iommu: "none" | "intel";
  /** Extra QEMU `-device` specs. */
  devices: string[];
  /** Guest shell lines run (as root, cwd = repo) before the scenarios. */
  setup: string[];
  /** Shell arguments for the simulator side that model the same machine. */
  simArgs: string[];
}

/** The VM profiles scenarios can ask for. */
export const VM_PROFILES = {
  /** q35 without an IOMMU: /dev/iommu and the compat ioctls, no device. */
  plain: { iommu: "none", devices: [], setup: [], simArgs: [] },
  /**
   * Emulated VT-d plus QEMU's `edu` PCI device (1234:11e8) at 0000:00:03.0, IOMMU group 3,
   * bound to vfio-pci: the machine the simulator's `intel-vtd` profile describes.
   */
  "vtd-edu": {
    iommu: "intel",
    devices: ["edu"],
    setup: ["echo 1234 11e8 > /sys/bus/pci/drivers/vfio-pci/new_id"],
    simArgs: ["--profile", "intel-vtd"],
  },
} as const satisfies Record<string, VmProfile>;

/** Name of a {@linkcode VM_PROFILES} entry. */
export type VmProfileName = keyof typeof VM_PROFILES;

/** What the lane knows about one scenario file beyond its name. */
export interface ScenarioSpec {
  /** VM profile (default `plain`). */
  vm?: VmProfileName;
  /**
   * Uses `IOMMU_TEST_CMD` (the iommufd selftest mock domain). Our kernels are built with
   * IOMMUFD_TEST=y so these run everywhere; the mark says why a scenario would fail on a
   * distribution kernel.
   */
  mock?: boolean;
  /** Only these variants (default: all). */
  variants?: KernelVariant[];
  /** Skip everywhere, with the reason printed. */
  skip?: string;
}

/**
 * Scenario files are `tests/scenarios/<name>.vfs`; every file there runs. Add an entry here
 * for a scenario that needs more than the defaults (a device, the mock domain, one variant).
 */
export const SCENARIOS: Record<string, ScenarioSpec> = {
  dpdk_startup: { mock: true },
  mock_domain: { mock: true },
  type1_vs_type1v2_unmap: { mock: true },
  // A scenario that opens /dev/vfio/3 needs the device: e.g. `group_attach: { vm: "vtd-edu" }`.
};

/** The release of the kernel the lane boots (Debian's linux-source-6.12); the simulator models it. */
export const SIM_RELEASE = "6.12.117";

const words = (s: string) => s.split(" ");
/**
 * Deno flags and shell arguments for the guest: real ioctls through FFI. The guest has no
 * network: --cached-only takes npm packages from the host's node_modules without first
 * trying the registry.
 */
const GUEST_KERNEL = words(
  "run --cached-only --allow-read --allow-ffi --allow-env shell/main.ts run --backend kernel",
);
/** Deno flags and shell arguments for the host: the simulator, as that release answers. */
const HOST_SIM = words(
  `run --allow-read --allow-env shell/main.ts run --backend sim --kernel-version ${SIM_RELEASE}`,
);

/**
 * The command lines per variant, as argument lists for the Deno binary; the scenario's path
 * is appended. `guest` runs in the VM against the real kernel, `host` on this machine against
 * the simulator. `containerKind` is what `/dev/vfio/vfio` is in that kernel (for the smoke test).
 */
export const VARIANT_COMMANDS: Record<
  KernelVariant,
  { guest: string[]; host: string[]; containerKind: "iommufd" | "vfio" }
> = {
  "iommufd-compat": { guest: GUEST_KERNEL, host: HOST_SIM, containerKind: "iommufd" },
  // TODO(sim legacy mode): add the simulator's legacy-type1 switch to `host` once it exists.
  legacy: { guest: GUEST_KERNEL, host: HOST_SIM, containerKind: "vfio" },
};

/** Where scenario files live, relative to the repository root. */
export const SCENARIO_DIR = "tests/scenarios";

/** One scenario as the lane runs it. */
export interface Scenario extends ScenarioSpec {
  /** File name without `.vfs`. */
  name: string;
  /** Path to pass on the command line (relative to the repo root when inside it). */
  file: string;
}

/** The `.vfs` files in `dir` merged with {@linkcode SCENARIOS}, sorted by name. */
export async function discoverScenarios(dir: string, shownAs = dir): Promise<Scenario[]> {
  const names: string[] = [];
  try {
    for await (const e of Deno.readDir(dir)) {
      if (e.isFile && e.name.endsWith(".vfs")) names.push(e.name.slice(0, -4));
    }
  } catch (e) {
    if (!(e instanceof Deno.errors.NotFound)) throw e;
  }
  return names.sort().map((name) => ({ ...SCENARIOS[name], name, file: `${shownAs}/${name}.vfs` }));
}

/** Entries of {@linkcode SCENARIOS} with no file (likely a rename); the lane warns about them. */
export function unknownTableEntries(found: Scenario[]): string[] {
  const have = new Set(found.map((s) => s.name));
  return Object.keys(SCENARIOS).filter((n) => !have.has(n));
}
