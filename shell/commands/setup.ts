/**
 * Modes and the commands around them: `mode` (which of the five VFIO-selftest IOMMU modes the
 * session uses), `container setup` (a container set up the mode's way, so one script runs in
 * every mode), `like` (a client's error-tolerance preset), the legacy-container controls of the
 * simulator (`sim container`, `sim dma-entry-limit`) and `dirty-bitmap` (type1 dirty tracking).
 * Also the iommufd-mode forms of `map` and `unmap` (IOMMU_IOAS_MAP / IOMMU_IOAS_UNMAP).
 *
 * @module
 */

import {
  IOMMU_IOAS_ALLOC,
  IOMMU_IOAS_MAP,
  IOMMU_IOAS_UNMAP,
  IOMMU_VFIO_IOAS,
  VFIO_GROUP_GET_DEVICE_FD,
  VFIO_GROUP_SET_CONTAINER,
  VFIO_IOMMU_DIRTY_PAGES,
  VFIO_SET_IOMMU,
} from "../../uapi/ioctl.ts";
import { U64_MAX } from "../../uapi/constants.ts";
import {
  iommu_ioas_alloc,
  iommu_ioas_map,
  iommu_ioas_unmap,
  iommu_vfio_ioas,
} from "../../uapi/structs.ts";
import { errnoName } from "../../uapi/errno.ts";
import type { SimulatorControl } from "../../uapi/kernel.ts";
import {
  type Command,
  type CommandContext,
  type CommandResult,
  defineCommand,
  t,
  z,
} from "./_api.ts";
import {
  applyMode,
  DEFAULT_MODE,
  MODE_NAMES,
  MODES,
  sessionMode,
  setNativeIoas,
} from "../modes.ts";
import { readEnv } from "../env.ts";
import { CLIENT_NAMES, clientPresetOf, isClientName, setClientPreset } from "../clients.ts";
import {
  addArea,
  areaKey,
  container,
  freshMemory,
  iommufdPerm,
  readUser,
  releaseMemory,
  removeAreas,
  sendStruct,
  setBits,
} from "./_util.ts";

const IOAS_MAP_FIXED_IOVA = 1;
/** VFIO_SET_IOMMU's type for a no-IOMMU container. */
const VFIO_NOIOMMU_IOMMU = 8n;

// ---- iommufd mode: map / unmap as IOAS ioctls ----

/** `map` in iommufd mode: IOMMU_IOAS_MAP with FIXED_IOVA on the mode's IOAS. */
export function nativeMap(
  ctx: CommandContext,
  ioas: number,
  a: { iova: bigint; size: bigint; perm: string; vaddr?: bigint },
): CommandResult {
  const fresh = a.vaddr === undefined;
  const vaddr = a.vaddr ?? freshMemory(ctx, a.size);
  const fd = container(ctx);
  const r = sendStruct(ctx, fd, IOMMU_IOAS_MAP, iommu_ioas_map, {
    flags: IOAS_MAP_FIXED_IOVA | iommufdPerm(a.perm),
    ioas_id: ioas,
    user_va: vaddr,
    length: a.size,
    iova: a.iova,
  });
  const ioctl = "IOMMU_IOAS_MAP";
  if (r.ret < 0) {
    if (fresh) releaseMemory(ctx, vaddr);
    return ctx.errno(-r.ret, { ioctl });
  }
  if (a.size > 0n) {
    addArea(ctx.state, areaKey(ctx.state, fd, ioas), {
      iova: a.iova,
      last: a.iova + a.size - 1n,
      vaddr,
      prot: (a.perm.includes("r") ? 1 : 0) | (a.perm.includes("w") ? 2 : 0),
    });
  }
  return ctx.ok({ iova: a.iova, vaddr, ioctl });
}

/** `unmap` in iommufd mode: IOMMU_IOAS_UNMAP (`--all`: iova 0, length U64_MAX). */
export function nativeUnmap(
  ctx: CommandContext,
  ioas: number,
  a: { iova?: bigint; size?: bigint; all: boolean; writeback: boolean },
): CommandResult {
  const iova = a.all ? 0n : a.iova!;
  const length = a.all ? U64_MAX : a.size!;
  const fd = container(ctx);
  const r = sendStruct(ctx, fd, IOMMU_IOAS_UNMAP, iommu_ioas_unmap, {
    ioas_id: ioas,
    iova,
    length,
  });
  const ioctl = "IOMMU_IOAS_UNMAP";
  const written = a.writeback ? new DataView(r.buf.buffer).getBigUint64(16, true) : undefined;
  if (r.ret < 0) return ctx.errno(-r.ret, { ioctl, written_size: written });
  if (length > 0n) {
    const last = iova + length - 1n;
    removeAreas(ctx.state, areaKey(ctx.state, fd, ioas), iova, last > U64_MAX ? U64_MAX : last);
  }
  return ctx.ok({ unmapped: r.out.length, written_size: written, ioctl });
}

// ---- mode ----

const mode = defineCommand({
  name: "mode",
  summary: "Show or choose the IOMMU mode (the VFIO selftests' five) that container setup uses",
  description: "vfio_type1_iommu / vfio_type1v2_iommu: /dev/vfio/vfio with SET_IOMMU TYPE1 or\n" +
    "TYPE1v2 (on the simulator /dev/vfio/vfio becomes the legacy type1 container);\n" +
    "iommufd_compat_type1 / iommufd_compat_type1v2: /dev/iommu with the VFIO compat ioctls;\n" +
    "iommufd: /dev/iommu with an IOAS, map/unmap as IOMMU_IOAS_MAP/UNMAP.",
  args: z.object({ name: t.choice(MODE_NAMES, "the mode").optional() }),
  result: z.object({ mode: t.text("the session's mode") }),
  examples: ["mode vfio_type1v2_iommu", "mode"],
  run(ctx, { name }) {
    if (name !== undefined) applyMode(ctx.kernel, ctx.state, name);
    const cur = sessionMode(ctx.state);
    const lines = [`  modes: ${MODE_NAMES.join(", ")}`];
    if (cur === undefined) lines.unshift("  (none chosen: container setup uses the default)");
    return { ...ctx.ok({ mode: cur ?? DEFAULT_MODE }), lines: name === undefined ? lines : [] };
  },
});

/** One failed step of `container setup`. */
function stepFailed(
  ctx: CommandContext,
  modeName: string,
  step: string,
  ret: number,
): CommandResult {
  return {
    ...ctx.errno(-ret, { mode: modeName, step }),
    lines: [`  container setup: ${step} failed with ${errnoName(-ret)}`],
  };
}

/** The steps of `container setup`, in order (a mode skips those it has no use for). */
export const SETUP_STEPS = [
  "open",
  "ioas",
  "group",
  "set-container",
  "set-iommu",
  "device",
] as const;

const setup = defineCommand({
  name: "container setup",
  summary: "Open and set up a container the current mode's way (group, SET_IOMMU or IOAS)",
  description: "Hides the set-up differences between modes, so one script runs in all of them:\n" +
    "  vfio_type1*_iommu:     open /dev/vfio/vfio, group open N, group set-container,\n" +
    "                         set-iommu TYPE1|TYPE1v2, group device NAME\n" +
    "  iommufd_compat_type1*: open /dev/iommu, ioas alloc, ioas set, group open N,\n" +
    "                         group set-container, set-iommu TYPE1|TYPE1v2, group device NAME\n" +
    "  iommufd:               open /dev/iommu, ioas alloc, ioas set, group open N,\n" +
    "                         group set-container, group device NAME; then map and unmap run\n" +
    "                         as IOMMU_IOAS_MAP / IOMMU_IOAS_UNMAP on that IOAS\n" +
    "Steps: open, ioas, group, set-container, set-iommu, device. --until STEP stops after\n" +
    "STEP; --from STEP carries on with the current container and group from STEP.\n" +
    "The group defaults to the simulated platform's first one (--group and --device are\n" +
    "needed on the kernel backend); opening the device is what attaches iommufd's domain.\n" +
    "A no-IOMMU group (/dev/vfio/noiommu-N; --noiommu on the kernel backend) is set up the\n" +
    "way DPDK does it in every mode: no IOAS, set-iommu NOIOMMU.\n" +
    "--mode M first makes M the session's mode.",
  options: z.object({
    mode: t.choice(MODE_NAMES, "the mode (default: the session's)").optional(),
    group: t.int("VFIO group number (/dev/vfio/N)", { bits: 31, label: "N" }).optional(),
    device: t.string("device to open in the group", { label: "NAME" }).optional(),
    "no-device": t.flag("do not open a device of the group"),
    noiommu: t.flag("the group is a no-IOMMU one, /dev/vfio/noiommu-N (found by itself in sim)"),
    from: t.choice(SETUP_STEPS, "start at this step (with the current container)").optional(),
    until: t.choice(SETUP_STEPS, "stop after this step").optional(),
  }),
  result: z.object({
    mode: t.text("the mode used", { volatile: true }),
    fd: t.fd("the container fd"),
    ioas: t.dec("the IOAS (iommufd modes)", { volatile: true }),
    group: t.dec("the group number"),
    device: t.text("the device opened"),
    step: t.text("the step that failed"),
  }),
  examples: [
    "container setup",
    "container setup --mode vfio_type1_iommu",
    "container setup --until set-container",
    "container setup --group 3 --device 0000:00:03.0",
  ],
  run(ctx, _a, o) {
    if (o.mode !== undefined) applyMode(ctx.kernel, ctx.state, o.mode);
    const m = MODES[sessionMode(ctx.state) ?? DEFAULT_MODE];
    const from = SETUP_STEPS.indexOf(o.from ?? "open");
    const until = SETUP_STEPS.indexOf(o.until ?? "device");
    if (until < from) return ctx.fail(`--until ${o.until} comes before --from ${o.from}`);
    const does = (step: typeof SETUP_STEPS[number]) => {
      const i = SETUP_STEPS.indexOf(step);
      return i >= from && i <= until;
    };
    const st = ctx.state;
    let group = o.group === undefined ? undefined : Number(o.group);
    let device = o["no-device"] ? undefined : o.device;
    if (group === undefined && from > 0 && st.group >= 0) group = st.groups.get(st.group);
    if (group === undefined) {
      const groups = ctx.kernel.simulator?.groups?.() ?? envVfioGroups();
      const first = groups.find((g) => g.devices.length > 0 && !("noiommu" in g && g.noiommu));
      if (first === undefined) {
        return ctx.fail(
          ctx.kernel.simulator
            ? "the simulated platform has no group (sim device add NAME)"
            : "--group N is needed on the kernel backend (and --device NAME to open one), " +
              "or VFSH_GROUP=N and VFSH_DEVICE=NAME in the environment",
        );
      }
      group = first.group;
      if (!o["no-device"]) device ??= first.devices[0];
    } else if (device === undefined && !o["no-device"]) {
      const groups = ctx.kernel.simulator?.groups?.() ?? envVfioGroups();
      device = groups.find((g) => g.group === group)?.devices[0];
    }
    let fd = st.container;
    let ioas = st.compatIoas.get(fd);
    if (does("open")) {
      fd = ctx.kernel.open(m.node);
      if (fd < 0) return stepFailed(ctx, m.name, `open ${m.node}`, fd);
      st.containers.add(fd);
      st.container = fd;
      ioas = undefined;
    } else if (fd < 0) {
      return ctx.fail("no current container: start at the open step");
    }
    const noiommu = o.noiommu ||
      (ctx.kernel.simulator?.groups?.().some((g) => g.group === group && g.noiommu) ?? false);
    if (does("ioas") && m.api !== "legacy" && !noiommu) {
      const a = sendStruct(ctx, fd, IOMMU_IOAS_ALLOC, iommu_ioas_alloc, {});
      if (a.ret < 0) return stepFailed(ctx, m.name, "IOMMU_IOAS_ALLOC", a.ret);
      ioas = Number(a.out.out_ioas_id);
      const s = sendStruct(ctx, fd, IOMMU_VFIO_IOAS, iommu_vfio_ioas, { op: 1, ioas_id: ioas });
      if (s.ret < 0) return stepFailed(ctx, m.name, "IOMMU_VFIO_IOAS SET", s.ret);
      st.compatIoas.set(fd, ioas);
    }
    let gfd = [...st.groups].find(([, n]) => n === group)?.[0];
    if (does("group") && gfd === undefined) {
      const path = noiommu ? `/dev/vfio/noiommu-${group}` : `/dev/vfio/${group}`;
      gfd = ctx.kernel.open(path);
      if (gfd < 0) return stepFailed(ctx, m.name, `open ${path}`, gfd);
      st.groups.set(gfd, group);
    }
    if (gfd !== undefined) st.group = gfd;
    if (does("set-container")) {
      if (gfd === undefined) return ctx.fail(`group ${group} is not open: start at the group step`);
      const fdArg = new Uint8Array(4);
      new DataView(fdArg.buffer).setInt32(0, fd, true);
      const sc = ctx.kernel.ioctl(gfd, VFIO_GROUP_SET_CONTAINER, ctx.userBytes(fdArg));
      if (sc < 0) return stepFailed(ctx, m.name, "VFIO_GROUP_SET_CONTAINER", sc);
    }
    if (does("set-iommu") && (m.type !== undefined || noiommu)) {
      const si = ctx.kernel.ioctl(fd, VFIO_SET_IOMMU, noiommu ? VFIO_NOIOMMU_IOMMU : m.type!);
      if (si < 0) return stepFailed(ctx, m.name, "VFIO_SET_IOMMU", si);
    }
    if (does("device") && device !== undefined) {
      if (gfd === undefined) return ctx.fail(`group ${group} is not open: start at the group step`);
      const name = new TextEncoder().encode(device + "\0");
      const dfd = ctx.kernel.ioctl(gfd, VFIO_GROUP_GET_DEVICE_FD, ctx.userBytes(name));
      if (dfd < 0) return stepFailed(ctx, m.name, `VFIO_GROUP_GET_DEVICE_FD ${device}`, dfd);
      st.devices.add(dfd);
    }
    if (m.api === "native" && ioas !== undefined) setNativeIoas(st, fd, ioas);
    return ctx.ok({
      mode: m.name,
      fd: BigInt(fd),
      ioas: ioas === undefined ? undefined : BigInt(ioas),
      group: BigInt(group),
      device: does("device") ? device : undefined,
    });
  },
});

/**
 * On the kernel backend: the group (and device) named by VFSH_GROUP / VFSH_DEVICE, as a test
 * machine (the kernel lane's guest) announces them; Deno needs --allow-all to look in sysfs.
 */
function envVfioGroups(): { group: number; devices: string[] }[] {
  const group = readEnv("VFSH_GROUP");
  if (group === undefined || !/^\d+$/.test(group)) return [];
  const device = readEnv("VFSH_DEVICE");
  return [{ group: Number(group), devices: device ? [device] : [] }];
}

const deviceClose = defineCommand({
  name: "device close",
  summary: "Close a device fd from group device (default: every one this shell opened)",
  args: z.object({ fd: t.int("the device fd", { bits: 31, label: "FD" }).optional() }),
  result: z.object({ closed: t.dec("device fds closed") }),
  run(ctx, { fd }) {
    const fds = fd === undefined ? [...ctx.state.devices] : [Number(fd)];
    for (const d of fds) {
      if (!ctx.state.devices.has(d)) return ctx.fail(`fd ${d} is not a device fd of this shell`);
      const r = ctx.kernel.close(d);
      if (r < 0) return ctx.errno(-r);
      ctx.state.devices.delete(d);
    }
    return ctx.ok({ closed: BigInt(fds.length) });
  },
});

const groupClose = defineCommand({
  name: "group close",
  summary: "Close the current group fd (the group leaves its container once nothing holds it)",
  run(ctx) {
    const g = ctx.state.group;
    if (!ctx.state.groups.has(g)) return ctx.fail("no current group (group open N)");
    const r = ctx.kernel.close(g);
    if (r < 0) return ctx.errno(-r);
    ctx.state.groups.delete(g);
    const rest = [...ctx.state.groups.keys()];
    ctx.state.group = rest.length ? rest[rest.length - 1] : -1;
    return ctx.ok();
  },
});

// ---- like ----

const like = defineCommand({
  name: "like",
  summary: "After each result, say what a client would conclude (qemu, dpdk, spdk, rust-vmm)",
  description: "qemu: a failed map is fatal, EBUSY on map is retried, ENOENT from IOAS_UNMAP is\n" +
    "success; dpdk: EEXIST on map is skipped, an unmap must return the requested size (else\n" +
    "EIO); spdk: map failures are logged and ignored; rust-vmm: every map/unmap error is an\n" +
    "error and an unmap must return the requested size. `like none` turns it off.",
  args: z.object({ client: t.choice([...CLIENT_NAMES, "none"], "the client").optional() }),
  result: z.object({ client: t.text("the preset in force") }),
  examples: ["like qemu", "like none"],
  run(ctx, { client }) {
    if (client !== undefined) {
      setClientPreset(ctx.state, isClientName(client) ? client : undefined);
    }
    return ctx.ok({ client: clientPresetOf(ctx.state) ?? "none" });
  },
});

// ---- simulator: the legacy container ----

function sim(ctx: CommandContext, name: string): SimulatorControl {
  const s = ctx.kernel.simulator;
  if (!s) {
    ctx.fail(`'${name}' is simulator-only (this session runs on the ${ctx.kernel.name} backend)`);
  }
  return s;
}

const simContainer = defineCommand({
  name: "sim container",
  summary: "What serves /dev/vfio/vfio from the next open: legacy (type1) or iommufd",
  description: "legacy: drivers/vfio/container.c with vfio_iommu_type1 (a kernel built with\n" +
    "VFIO_CONTAINER, like the rig's `legacy` kernel); iommufd: IOMMUFD_VFIO_CONTAINER.\n" +
    "/dev/iommu is iommufd either way. Files already open keep what they are.",
  args: z.object({ impl: t.choice(["legacy", "iommufd"], "the implementation").optional() }),
  result: z.object({ container: t.text("what serves /dev/vfio/vfio") }),
  examples: ["sim container legacy"],
  run(ctx, { impl }) {
    const s = sim(ctx, "sim container");
    if (!s.setContainer || !s.container) return ctx.fail("this simulator has no legacy container");
    if (impl !== undefined) s.setContainer(impl);
    return ctx.ok({ container: s.container() });
  },
});

const dmaEntryLimit = defineCommand({
  name: "sim dma-entry-limit",
  summary: "vfio_iommu_type1's dma_entry_limit (mappings per legacy container, default 65535)",
  description: "Applies to legacy containers that SET_IOMMU from now on, as the module\n" +
    "parameter does; iommufd has no such limit.",
  args: z.object({ limit: t.int("mappings per container", { bits: 32, label: "N" }) }),
  examples: ["sim dma-entry-limit 4"],
  run(ctx, { limit }) {
    const s = sim(ctx, "sim dma-entry-limit");
    if (!s.setDmaEntryLimit) return ctx.fail("this simulator has no legacy container");
    s.setDmaEntryLimit(Number(limit));
    return ctx.ok();
  },
});

// ---- dirty-bitmap ----

const dirtyBitmap = defineCommand({
  name: "dirty-bitmap",
  summary: "VFIO_IOMMU_DIRTY_PAGES GET_BITMAP of [IOVA, IOVA+SIZE) (type1 v2 with tracking on)",
  args: z.object({
    iova: t.int("IO virtual address", { label: "IOVA" }),
    size: t.size("bytes to report"),
  }),
  options: z.object({
    pgsize: t.int("bitmap page size (default 4K: the smallest IOMMU page)", { label: "N" })
      .optional(),
    argsz: t.int("send this argsz instead of 48", { bits: 32, label: "N" }).optional(),
  }),
  result: z.object({
    dirty: t.dec("pages reported dirty"),
    bitmap: t.hexBytes("the bitmap (up to 64 bytes)"),
  }),
  principal: "dirty",
  examples: ["dirty-pages start", "dirty-bitmap 0x100000 2M => dirty=512"],
  run(ctx, { iova, size }, o) {
    const pgsize = o.pgsize ?? 0x1000n;
    const bits = pgsize > 0n ? size / pgsize : 0n;
    const bytes = Number(((bits + 63n) / 64n) * 8n);
    if (bytes > 1 << 24) ctx.fail(`a ${bytes}-byte bitmap is larger than the shell will allocate`);
    const bm = ctx.kernel.mmap(BigInt(Math.max(bytes, 8)));
    if (bm < 0n) ctx.fail(`cannot allocate the bitmap (mmap: errno ${-bm})`);
    ctx.state.anon.push({ addr: bm, size: BigInt(Math.max(bytes, 8)) });
    const argsz = Number(o.argsz ?? 48n);
    const buf = new Uint8Array(Math.max(argsz, 48));
    const v = new DataView(buf.buffer);
    v.setUint32(0, argsz, true);
    v.setUint32(4, 4, true);
    v.setBigUint64(8, iova, true);
    v.setBigUint64(16, size, true);
    v.setBigUint64(24, pgsize, true);
    v.setBigUint64(32, BigInt(bytes), true);
    v.setBigUint64(40, bm, true);
    const ret = ctx.kernel.ioctl(container(ctx), VFIO_IOMMU_DIRTY_PAGES, buf);
    if (ret < 0) return ctx.errno(-ret);
    const out = bytes > 0 ? readUser(ctx, bm, bytes) : new Uint8Array(0);
    return ctx.ok({ dirty: setBits(out), bitmap: out.length <= 64 ? out : undefined });
  },
});

/** Mode, set-up, client-preset and legacy-container commands. */
export const setupCommands: Command[] = [
  mode,
  setup,
  deviceClose,
  groupClose,
  like,
  simContainer,
  dmaEntryLimit,
  dirtyBitmap,
];
