/**
 * Simulator-only commands (`sim …`). On the kernel backend each says so on one line.
 *
 * @module
 */

import type { SimulatorControl } from "../../uapi/kernel.ts";
import { type Command, type CommandContext, defineCommand, t, z } from "../plugin_api.ts";
import { container } from "./_util.ts";

function sim(ctx: CommandContext, name: string): SimulatorControl {
  const s = ctx.kernel.simulator;
  if (!s) {
    ctx.fail(`'${name}' is simulator-only (this session runs on the ${ctx.kernel.name} backend)`);
  }
  return s;
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
  args: z.object({ name: t.string("profile name", { label: "NAME" }).optional() }),
  run(ctx, { name }) {
    const s = sim(ctx, "sim profile");
    if (name === undefined) return { ...ctx.ok(), lines: s.profiles().map((p) => `  ${p}`) };
    if (!s.profiles().includes(name)) {
      ctx.fail(`unknown profile '${name}' (profiles: ${s.profiles().join(", ")})`);
    }
    guard(ctx, () => s.setProfile(name));
    return ctx.ok();
  },
});

const deviceAdd = defineCommand({
  name: "sim device add",
  summary: "Add a mock device (and its group) to the simulated platform",
  args: z.object({ name: t.string("device name", { label: "NAME" }) }),
  options: z.object({ profile: t.string("its platform profile", { label: "P" }).optional() }),
  result: z.object({ group: t.dec("its group number (/dev/vfio/N)") }),
  principal: "group",
  run(ctx, { name }, o) {
    const s = sim(ctx, "sim device add");
    const g = guard(ctx, () => s.addDevice(name, o.profile ? { profile: o.profile } : undefined));
    return ctx.ok({ group: BigInt(g) });
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
  run(ctx) {
    const s = sim(ctx, "sim reset");
    guard(ctx, () => s.reset());
    const st = ctx.state;
    st.containers.clear();
    st.compatIoas.clear();
    st.groups.clear();
    st.devices.clear();
    st.mem.clear();
    st.anon.length = 0;
    st.areas.clear();
    st.container = -1;
    st.group = -1;
    return ctx.ok();
  },
});

/** The simulator-only commands. */
export const simCommands: Command[] = [
  profile,
  deviceAdd,
  deviceAttach,
  kernel,
  memlock,
  privileged,
  reset,
];
