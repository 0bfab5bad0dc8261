/**
 * The kernel lane's table: which scenarios run, in which VM, and the command lines that
 * produce each variant's kernel and simulator transcripts. Edit here, not in the lane.
 *
 * @module
 */

import type { KernelVariant } from "./build.ts";
import type { VIommu } from "./vm.ts";
import type { ModeName } from "../../shell/modes.ts";
import { type GuestMachine, isUntranslatable, translateMachine } from "./machine.ts";

/** How the VM is set up for a scenario. */
export interface VmProfile {
  /** QEMU vIOMMU. */
  iommu: VIommu;
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
    setup: [
      "echo 1234 11e8 > /sys/bus/pci/drivers/vfio-pci/new_id",
      // What `container setup` opens on the kernel backend (Deno cannot read sysfs without -A).
      "export VFSH_GROUP=3 VFSH_DEVICE=0000:00:03.0",
    ],
    simArgs: ["--profile", "intel-vtd"],
  },
  /**
   * Emulated AMD-Vi (`amd-iommu,intremap=on`, its own PCI function at 00:03.0) plus `edu` at
   * 0000:00:04.0, IOMMU group 3, bound to vfio-pci: the machine of the simulator's
   * `amd-vi` profile (whose group and address differ: the guest side names its own).
   */
  "amdvi-edu": {
    iommu: "amd",
    devices: ["edu"],
    setup: [
      "echo 1234 11e8 > /sys/bus/pci/drivers/vfio-pci/new_id",
      "export VFSH_GROUP=3 VFSH_DEVICE=0000:00:04.0",
    ],
    simArgs: ["--profile", "amd-vi"],
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
  hwpt_commands: { mock: true },
  mock_domain: { mock: true },
  mock_nested_data: { mock: true },
  type1_vs_type1v2_unmap: { mock: true },
  // A scenario that opens /dev/vfio/3 needs the device: e.g. `group_attach: { vm: "vtd-edu" }`.
  hw_info_vtd: { vm: "vtd-edu" },
  hwpt_alloc_vtd: { vm: "vtd-edu" },
  hw_info_amd: { vm: "amdvi-edu" },
  hwpt_alloc_amd: { vm: "amdvi-edu" },
  iova_ranges_amd: { vm: "amdvi-edu" },
  // vfio_type1v2_iommu: /dev/vfio/vfio is the type1 container on the legacy kernel only.
  iova_ranges_amd_type1: { vm: "amdvi-edu", variants: ["legacy"] },
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

/**
 * The audit corpus (tests/audit/*.vfs, the source of docs/compat-audit.md), held to the real
 * kernels: every file runs in each IOMMU mode the variant serves, all files of one
 * (variant, mode) in one `vfsh run FILE…` process on each side (the transcript is split at
 * the `== FILE` headers). The guest has the vtd-edu machine (group 3, bound to vfio-pci),
 * the host the simulator's `intel-vtd` profile with the same container behind /dev/vfio/vfio.
 */
export const AUDIT = {
  dir: "tests/audit",
  vm: "vtd-edu" as VmProfileName,
  /** The modes each kernel can serve. */
  modes: {
    // VFIO_CONTAINER + type1 on /dev/vfio/vfio; iommufd (and its compat ioctls) on /dev/iommu.
    legacy: [
      "vfio_type1_iommu",
      "vfio_type1v2_iommu",
      "iommufd_compat_type1",
      "iommufd_compat_type1v2",
      "iommufd",
    ],
    // No type1: /dev/vfio/vfio is iommufd too, so the legacy modes cannot be served.
    "iommufd-compat": ["iommufd_compat_type1", "iommufd_compat_type1v2", "iommufd"],
  } as Record<KernelVariant, ModeName[]>,
  /** What serves the simulator's /dev/vfio/vfio, as in each kernel. */
  container: { legacy: "legacy", "iommufd-compat": "iommufd" } as Record<
    KernelVariant,
    "legacy" | "iommufd"
  >,
  /**
   * Audit files that cannot run on a real kernel, with the reason (printed as SKIP). Files
   * whose leading `sim` lines have a real counterpart (scripts/kernel/machine.ts) run without
   * an entry here; any other `sim` control skips a file by itself, naming the line.
   */
  exclude: {
    "20_several_groups": "`sim device add` hot-adds a second device behind an AMD-Vi IOMMU " +
      "next to the VT-d one: QEMU has one vIOMMU per machine, so no guest has both",
  } as Record<string, string>,
  /**
   * Lines of audit files whose results are not compared, with the reason: the command's
   * result lines become `(not compared: …)` on both sides. `modes` narrows it (default: all).
   */
  lines: {
    "09_overflow": [{
      lines: [9],
      reason: "vaddr 0xfffffffffffff000 is not memory this process mapped: the kernel " +
        "backend's FFI guard answers EFAULT itself and the ioctl never reaches the kernel",
    }],
    "04_domain_timing": [{
      lines: [11, 12, 13],
      modes: ["iommufd_compat_type1", "iommufd_compat_type1v2", "iommufd"],
      reason: "vaddr 0x1000 is not memory this process mapped: the kernel backend's FFI guard " +
        "answers EFAULT itself, so the unpinned map (and the EFAULT it causes at " +
        "GET_DEVICE_FD, and the domain-less GET_INFO after it) cannot happen on that backend",
    }, {
      lines: [11],
      modes: ["vfio_type1_iommu", "vfio_type1v2_iommu"],
      reason: "vaddr 0x1000 is not memory this process mapped: the kernel backend's FFI guard " +
        "answers EFAULT itself, so the kernel is never asked (the simulator's EFAULT is " +
        "type1's pinning failing)",
    }],
  } as Record<string, { lines: number[]; modes?: ModeName[]; reason: string }[]>,
};

/**
 * `part` (one file's transcript) with the results of the commands on `lines` replaced by one
 * `(not compared: reason)` line: a result runs from the `N> command` echo to the next echo,
 * comment or PASS/FAIL/ERROR line.
 */
export function maskLines(part: string, lines: number[], reason: string): string {
  const out: string[] = [];
  let masking = false;
  for (const line of part.split("\n")) {
    const echo = /^(\d+)> /.exec(line);
    if (echo || /^(# |(PASS|FAIL|ERROR) )/.test(line)) masking = false;
    if (masking) continue;
    out.push(line);
    if (echo && lines.includes(Number(echo[1]))) {
      out.push(`(not compared: ${reason})`);
      masking = true;
    }
  }
  return out.join("\n");
}

/** An audit file that runs in the guest on a machine its `sim` lines describe. */
export interface MachineScenario extends Scenario {
  machine: GuestMachine;
}

/** Audit files by how they run. */
export interface AuditSelection {
  /** Together, as they are (no `sim` lines). */
  run: Scenario[];
  /** Each alone, on a machine built for its `sim` lines. */
  machine: MachineScenario[];
  /** Not at all, with the reason. */
  skipped: { name: string; reason: string }[];
}

/**
 * Sort audit files (`path` is where to read each) by their leading `sim` lines; `exclude`
 * names files that are skipped, with the reason.
 */
export async function sortAudit(
  files: readonly (Scenario & { path: string })[],
  exclude: Readonly<Record<string, string>> = {},
): Promise<AuditSelection> {
  const out: AuditSelection = { run: [], machine: [], skipped: [] };
  for (const { name, file, path } of files) {
    if (name in exclude) {
      out.skipped.push({ name, reason: exclude[name] });
      continue;
    }
    const m = translateMachine(await Deno.readTextFile(path));
    if (m === undefined) out.run.push({ name, file });
    else if (isUntranslatable(m)) out.skipped.push({ name, reason: `line ${m.line}: ${m.why}` });
    else out.machine.push({ name, file, machine: m });
  }
  return out;
}

/**
 * The audit's `.vfs` names (without `.vfs`) in `dir`, sorted: those that run together as they
 * are, those that run alone on a machine built for them, and those skipped with the reason.
 */
export async function discoverAudit(dir: string, shownAs = AUDIT.dir): Promise<AuditSelection> {
  const found = await discoverScenarios(dir, shownAs);
  return await sortAudit(found.map((s) => ({ ...s, path: `${dir}/${s.name}.vfs` })), AUDIT.exclude);
}

/**
 * The argument list (for the Deno binary) that runs `files` in `mode` on one side of
 * `variant`: the guest against the real kernel, the host in the simulator as that machine.
 */
export function auditArgs(
  side: "guest" | "host",
  variant: KernelVariant,
  mode: ModeName,
  files: string[],
): string[] {
  if (side === "guest") return [...GUEST_KERNEL, "--mode", mode, ...files];
  return [
    ...HOST_SIM,
    ...VM_PROFILES[AUDIT.vm].simArgs,
    "--container",
    AUDIT.container[variant],
    "--mode",
    mode,
    ...files,
  ];
}
