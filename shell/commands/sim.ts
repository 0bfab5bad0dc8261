/**
 * Simulator-only commands (`sim …`). On the kernel backend each says so on one line.
 *
 * @module
 */

import type { SimulatorControl } from "../../uapi/kernel.ts";
import { type Command, type CommandContext, defineCommand, forgetMachine, t, z } from "./_api.ts";
import { container } from "./_util.ts";

function sim(ctx: CommandContext, name: string): SimulatorControl {
  const s = ctx.kernel.simulator;
  if (!s) {
    ctx.fail(`'${name}' is simulator-only (this session runs on the ${ctx.kernel.name} backend)`);
  }
  return s;
}

/**
 * After a reboot of the simulated machine: the shell forgets what it had open and mapped (the
 * fds and addresses will be handed out again), and `$NAME` of each memory region it freed.
 */
function forgetRebooted(ctx: CommandContext): void {
  const st = ctx.state;
  for (const [name, region] of st.mem) {
    if (st.vars.get(name) === region.addr) st.vars.delete(name);
  }
  forgetMachine(st);
}

/** Run a simulator control, turning its exceptions (an unknown name…) into one line. */
function guard<T>(ctx: CommandContext, f: () => T): T {
  try {
    return f();
  } catch (e) {
    ctx.fail((e as Error)?.message ?? String(e));
  }
}

const profile = defineCommand({
  name: "sim profile",
  summary:
    "Choose the simulated platform (page sizes, aperture, reserved regions); no NAME lists them",
  description: "The machine reboots with the new platform, as with sim reset: every fd, object\n" +
    "and mapping is gone, and so is $NAME of each memory region.",
  args: z.object({ name: t.string("profile name", { label: "NAME" }).optional() }),
  result: z.object({ profile: t.text("the profile in use") }),
  run(ctx, { name }) {
    const s = sim(ctx, "sim profile");
    if (name === undefined) {
      const current = s.profileName();
      return {
        ...ctx.ok({ profile: current }),
        lines: s.profiles().map((p) => `  ${p}${p === current ? "  (in use)" : ""}`),
      };
    }
    if (!s.profiles().includes(name)) {
      ctx.fail(`unknown profile '${name}' (profiles: ${s.profiles().join(", ")})`);
    }
    guard(ctx, () => s.setProfile(name));
    forgetRebooted(ctx);
    return ctx.ok({ profile: s.profileName() });
  },
});

const deviceAdd = defineCommand({
  name: "sim device add",
  summary: "Add a mock device (and its group) to the simulated platform",
  description: "The device is a PCI function like QEMU's edu (BAR0: 1 MiB of MMIO) behind the\n" +
    "IOMMU of the current profile (or --profile P). --noiommu: a device with no IOMMU at\n" +
    "all, which vfio-pci puts in a no-IOMMU group, /dev/vfio/noiommu-N (needs sim noiommu\n" +
    "on); open it with group open N --noiommu.",
  args: z.object({ name: t.string("device name", { label: "NAME" }) }),
  options: z.object({
    profile: t.string("its platform profile", { label: "P" }).optional(),
    noiommu: t.flag("no IOMMU: a no-IOMMU group (/dev/vfio/noiommu-N)"),
  }),
  result: z.object({ group: t.dec("its group number (/dev/vfio/N)") }),
  principal: "group",
  examples: ["let g = sim device add 0000:00:04.0", "sim device add 0000:00:05.0 --noiommu"],
  run(ctx, { name }, o) {
    const s = sim(ctx, "sim device add");
    const opts = o.noiommu ? { noiommu: true } : o.profile ? { profile: o.profile } : undefined;
    if (o.noiommu && o.profile) ctx.fail("a --noiommu device has no IOMMU, hence no --profile");
    const g = guard(ctx, () => s.addDevice(name, opts));
    return ctx.ok({ group: BigInt(g) });
  },
});

const noiommu = defineCommand({
  name: "sim noiommu",
  summary: "VFIO no-IOMMU support: off (not built, the default), built (parameter off), on",
  description: "off: a kernel without CONFIG_VFIO_NOIOMMU, like the rig's. built: the option\n" +
    "is set but vfio's enable_unsafe_noiommu_mode parameter is off (iommufd then reports\n" +
    "CHECK_EXTENSION(NOIOMMU) = 1 from 6.3, the legacy container 0). on: both, so that\n" +
    "sim device add NAME --noiommu can make a no-IOMMU group. CAP_SYS_RAWIO, which no-IOMMU\n" +
    "groups need, comes with sim privileged on.",
  args: z.object({ setting: t.choice(["off", "built", "on"], "the setting").optional() }),
  result: z.object({ noiommu: t.text("the setting in force") }),
  examples: ["sim noiommu on", "sim noiommu"],
  run(ctx, { setting }) {
    const s = sim(ctx, "sim noiommu");
    if (!s.setNoIommu || !s.noIommu) return ctx.fail("this simulator has no no-IOMMU support");
    if (setting !== undefined) guard(ctx, () => s.setNoIommu!(setting));
    return ctx.ok({ noiommu: s.noIommu() });
  },
});

const deviceAttach = defineCommand({
  name: "sim device attach",
  summary:
    "Attach a mock device to an IOAS (default: the compat IOAS, created as group attach does)",
  args: z.object({
    name: t.string("device name", { label: "NAME" }),
    ioas: t.int("IOAS id", { bits: 32, label: "IOAS" }).optional(),
  }),
  result: z.object({ ioas: t.dec("the IOAS it is attached to") }),
  principal: "ioas",
  run(ctx, { name, ioas }) {
    const s = sim(ctx, "sim device attach");
    const r = guard(
      ctx,
      () => s.attachDevice(container(ctx), name, ioas === undefined ? undefined : Number(ioas)),
    );
    if (r.errno) return ctx.errno(Math.abs(r.errno));
    return ctx.ok({ ioas: r.ioasId === undefined ? undefined : BigInt(r.ioasId) });
  },
});

const kernel = defineCommand({
  name: "sim kernel",
  summary: "Answer as kernel release VERSION does (no VERSION: show the current one and the list)",
  args: z.object({
    version: t.string("e.g. 6.2, 6.6, 6.12, 6.12.117, 6.18", { label: "VERSION" }).optional(),
  }),
  result: z.object({ version: t.text("the release modelled") }),
  run(ctx, { version }) {
    const s = sim(ctx, "sim kernel");
    if (version === undefined) {
      return {
        ...ctx.ok({ version: s.kernelVersion() }),
        lines: [`  known: ${s.kernelVersions().join(", ")}`],
      };
    }
    if (!s.kernelVersions().includes(version)) {
      ctx.fail(`unknown kernel release '${version}' (known: ${s.kernelVersions().join(", ")})`);
    }
    guard(ctx, () => s.setKernelVersion(version));
    return ctx.ok({ version: s.kernelVersion() });
  },
});

const memlock = defineCommand({
  name: "sim rlimit memlock",
  summary: "Set the simulated RLIMIT_MEMLOCK in bytes (U64_MAX: unlimited)",
  args: z.object({ size: t.size("bytes") }),
  examples: ["sim rlimit memlock 64K"],
  run(ctx, { size }) {
    const s = sim(ctx, "sim rlimit memlock");
    guard(ctx, () => s.setMemlockLimit(size));
    return ctx.ok();
  },
});

const privileged = defineCommand({
  name: "sim privileged",
  summary: "Run the simulated process as root (on, the default) or as an unprivileged user (off)",
  description:
    "Root has CAP_IPC_LOCK (pins are not charged to RLIMIT_MEMLOCK), CAP_SYS_RESOURCE\n" +
    "(IOMMU_OPTION RLIMIT_MODE) and CAP_SYS_RAWIO (no-IOMMU groups, SET_IOMMU NOIOMMU).",
  args: z.object({ on: t.choice(["on", "off"], "on or off") }),
  run(ctx, { on }) {
    const s = sim(ctx, "sim privileged");
    guard(ctx, () => s.setPrivileged(on === "on"));
    return ctx.ok();
  },
});

const reset = defineCommand({
  name: "sim reset",
  summary: "A freshly booted simulated machine: every fd, object and mapping is gone",
  description: "The shell forgets them too, and $NAME of each memory region.",
  run(ctx) {
    const s = sim(ctx, "sim reset");
    guard(ctx, () => s.reset());
    forgetRebooted(ctx);
    return ctx.ok();
  },
});

/** The simulator-only commands. */
export const simCommands: Command[] = [
  profile,
  deviceAdd,
  deviceAttach,
  noiommu,
  kernel,
  memlock,
  privileged,
  reset,
];
