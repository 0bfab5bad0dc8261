/**
 * IOMMU modes, named as the kernel's VFIO selftests name them
 * (tools/testing/selftests/vfio/lib/iommu.c): which node a client opens, which IOMMU type it
 * asks for, and whether it talks VFIO container ioctls or native iommufd ones. A session has
 * one current mode; `container setup` sets a container up the mode's way, and in the native
 * `iommufd` mode `map` / `unmap` run as IOMMU_IOAS_MAP / IOMMU_IOAS_UNMAP, so that one script
 * runs unchanged in every mode.
 *
 * @module
 */

import type { Kernel } from "../uapi/kernel.ts";
import type { ShellState } from "./plugin_core.ts";

/** The five modes of the VFIO selftests. */
export const MODE_NAMES = [
  "vfio_type1_iommu",
  "vfio_type1v2_iommu",
  "iommufd_compat_type1",
  "iommufd_compat_type1v2",
  "iommufd",
] as const;

/** One of {@link MODE_NAMES}. */
export type ModeName = typeof MODE_NAMES[number];

/** What a mode means. */
export interface Mode {
  readonly name: ModeName;
  /** The container node. */
  readonly node: "/dev/vfio/vfio" | "/dev/iommu";
  /** VFIO_SET_IOMMU's type (1 TYPE1, 3 TYPE1v2); none for native iommufd. */
  readonly type?: bigint;
  /** legacy: the type1 container; compat: iommufd's VFIO container ioctls; native: IOAS ioctls. */
  readonly api: "legacy" | "compat" | "native";
}

/** Every mode by name. */
export const MODES: Readonly<Record<ModeName, Mode>> = Object.freeze({
  vfio_type1_iommu: { name: "vfio_type1_iommu", node: "/dev/vfio/vfio", type: 1n, api: "legacy" },
  vfio_type1v2_iommu: {
    name: "vfio_type1v2_iommu",
    node: "/dev/vfio/vfio",
    type: 3n,
    api: "legacy",
  },
  iommufd_compat_type1: {
    name: "iommufd_compat_type1",
    node: "/dev/iommu",
    type: 1n,
    api: "compat",
  },
  iommufd_compat_type1v2: {
    name: "iommufd_compat_type1v2",
    node: "/dev/iommu",
    type: 3n,
    api: "compat",
  },
  iommufd: { name: "iommufd", node: "/dev/iommu", api: "native" },
});

/** The mode `container setup` uses when none was chosen. */
export const DEFAULT_MODE: ModeName = "iommufd_compat_type1v2";

/** Whether `name` is a mode. */
export function isModeName(name: string): name is ModeName {
  return (MODE_NAMES as readonly string[]).includes(name);
}

/** Parse a comma-separated mode list (`all` for every mode); throws a one-line Error. */
export function parseModes(list: string): ModeName[] {
  if (list.trim() === "all") return [...MODE_NAMES];
  const out: ModeName[] = [];
  for (const w of list.split(",").map((s) => s.trim()).filter((s) => s !== "")) {
    if (!isModeName(w)) throw new Error(`unknown mode '${w}' (modes: ${MODE_NAMES.join(", ")})`);
    if (!out.includes(w)) out.push(w);
  }
  if (out.length === 0) throw new Error("no mode given");
  return out;
}

interface ModeState {
  mode?: ModeName;
  /** Container fds set up in native mode → their IOAS id. */
  native: Map<number, number>;
}

const STATES = new WeakMap<ShellState, ModeState>();

function stateOf(state: ShellState): ModeState {
  let s = STATES.get(state);
  if (s === undefined) STATES.set(state, s = { native: new Map() });
  return s;
}

/** The session's mode, if one was chosen. */
export function sessionMode(state: ShellState): ModeName | undefined {
  return STATES.get(state)?.mode;
}

/**
 * Make `mode` the session's mode. On the simulator a legacy mode also makes /dev/vfio/vfio the
 * legacy type1 container (as on the rig's `legacy` kernel); other modes leave it as it is.
 */
export function applyMode(kernel: Kernel, state: ShellState, mode: ModeName): void {
  stateOf(state).mode = mode;
  if (MODES[mode].api === "legacy") kernel.simulator?.setContainer?.("legacy");
}

/** Note that container `fd` was set up in native mode on IOAS `ioas`. */
export function setNativeIoas(state: ShellState, fd: number, ioas: number): void {
  stateOf(state).native.set(fd, ioas);
}

/**
 * The IOAS that `map` / `unmap` on container `fd` go to as IOAS_MAP / IOAS_UNMAP, when `fd`
 * was set up in native iommufd mode and is still open.
 */
export function nativeIoas(state: ShellState, fd: number): number | undefined {
  const s = STATES.get(state);
  if (s === undefined || s.native.size === 0) return undefined;
  const ioas = s.native.get(fd);
  // Closed (and maybe reused by another open) since: `container close` forgets compatIoas.
  if (ioas === undefined || !state.containers.has(fd) || state.compatIoas.get(fd) !== ioas) {
    s.native.delete(fd);
    return undefined;
  }
  return ioas;
}
