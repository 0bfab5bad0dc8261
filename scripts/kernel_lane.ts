/**
 * `deno task test:kernel`: check vfsh's simulator against real Linux 6.12 kernels.
 *
 * Builds (once, cached in ~/.cache/vfsh/kernel) the `iommufd-compat` and `legacy` kernels,
 * boots each in QEMU, runs every `tests/scenarios/*.vfs` there with `--backend kernel` and on
 * this machine with `--backend sim`, and compares the transcripts. It also runs the audit
 * corpus (`tests/audit/*.vfs`) in every IOMMU mode each kernel serves, on the vtd-edu
 * machine, and seeded random walks (scripts/kernel/random_scenario.ts) both ways. Exit
 * status 1 on any difference, or when the machine cannot run the lane (a `KERNEL LANE
 * SKIPPED: <reason>` line; exit 0 instead with VFSH_KERNEL_LANE_OPTIONAL=1).
 *
 * The scenario table and the per-variant command lines are in scripts/kernel/scenarios.ts.
 *
 * @module
 */

import { parseArgs } from "node:util";
import { KERNEL_VARIANTS, type KernelVariant } from "./kernel/build.ts";
import {
  LANE_SUITES,
  type LaneOptions,
  type LaneSuite,
  MEMLOCK_WALKS,
  RANDOM_WALKS,
  runLane,
} from "./kernel/lane.ts";
import { SCENARIO_DIR } from "./kernel/scenarios.ts";
import { type Flavor, FLAVORS } from "./kernel/random_scenario.ts";
import { isModeName, type ModeName } from "../shell/modes.ts";

const USAGE = `usage: deno run -A scripts/kernel_lane.ts [options]
  --variant V        iommufd-compat | legacy (repeatable; default: both)
  --scenario NAME    only this scenario (repeatable)
  --scenario-dir D   folder of .vfs files (default: ${SCENARIO_DIR})
  --guest-cmd T      guest command template, e.g. '{deno} run ... {file}' ({variant} too)
  --host-cmd T       host (simulator) command template, same placeholders
  --build-only       build the kernels and the initramfs, then stop
  --smoke-only       build, boot each kernel and run the Deno/FFI smoke test, then stop
  --no-smoke         skip the boot smoke test before the scenarios
  --audit-dir D      folder of the audit's .vfs files (default: tests/audit)
  --suite S          scenarios | audit | random (repeatable; default: all three)
  --random N         random walks of each flavor (default: ${RANDOM_WALKS}, memlock ${MEMLOCK_WALKS})
  --random-seed S    seed of the first random walk (default: 1)
  --random-flavor F  iommufd | compat | hwpt | memlock (repeatable; default: all four)
  --mode M           audit: only this IOMMU mode (repeatable; default: all the variant serves)
Environment: VFSH_KERNEL_LANE_OPTIONAL=1 turns "cannot run here" into success;
VFSH_CACHE_DIR moves the cache (default ~/.cache/vfsh); VFSH_NO_KVM=1 forces TCG.`;

/** Parse the command line into {@linkcode LaneOptions}; exits on --help or a bad flag. */
function parseOptions(argv: string[]): LaneOptions {
  const { values } = parseArgs({
    args: argv,
    options: {
      variant: { type: "string", multiple: true, default: [] },
      scenario: { type: "string", multiple: true, default: [] },
      "scenario-dir": { type: "string", default: SCENARIO_DIR },
      "audit-dir": { type: "string" },
      "guest-cmd": { type: "string" },
      "host-cmd": { type: "string" },
      "build-only": { type: "boolean", default: false },
      "smoke-only": { type: "boolean", default: false },
      "no-smoke": { type: "boolean", default: false },
      suite: { type: "string", multiple: true, default: [] },
      random: { type: "string" },
      "random-seed": { type: "string" },
      "random-flavor": { type: "string", multiple: true, default: [] },
      mode: { type: "string", multiple: true, default: [] },
      help: { type: "boolean", short: "h", default: false },
    },
  });
  if (values.help) {
    console.log(USAGE);
    Deno.exit(0);
  }
  const bad = values.variant.filter((v) => !KERNEL_VARIANTS.includes(v as KernelVariant));
  if (bad.length > 0) {
    console.error(`unknown variant ${bad.join(", ")}\n${USAGE}`);
    Deno.exit(2);
  }
  const badSuite = values.suite.filter((s) => !LANE_SUITES.includes(s as LaneSuite));
  const badMode = values.mode.filter((m) => !isModeName(m));
  const badFlavor = values["random-flavor"].filter((f) => !FLAVORS.includes(f as Flavor));
  if (badSuite.length > 0 || badMode.length > 0 || badFlavor.length > 0) {
    const all = [...badSuite, ...badMode, ...badFlavor].join(", ");
    console.error(`unknown suite/mode/flavor ${all}\n${USAGE}`);
    Deno.exit(2);
  }
  const count = (flag: string, text: string | undefined) => {
    if (text === undefined) return undefined;
    const n = Number(text);
    if (text.trim() === "" || !Number.isSafeInteger(n) || n < 0) {
      console.error(`--${flag}: not a whole number ≥ 0: ${text}\n${USAGE}`);
      Deno.exit(2);
    }
    return n;
  };
  return {
    suites: values.suite.length > 0 ? values.suite as LaneSuite[] : undefined,
    random: count("random", values.random),
    randomSeed: count("random-seed", values["random-seed"]),
    randomFlavors: values["random-flavor"].length > 0
      ? values["random-flavor"] as Flavor[]
      : undefined,
    modes: values.mode as ModeName[],
    variants: values.variant as KernelVariant[],
    only: values.scenario,
    scenarioDir: values["scenario-dir"],
    auditDir: values["audit-dir"],
    guestCmd: values["guest-cmd"],
    hostCmd: values["host-cmd"],
    buildOnly: values["build-only"],
    smokeOnly: values["smoke-only"],
    noSmoke: values["no-smoke"],
  };
}

if (import.meta.main) {
  const options = parseOptions(Deno.args);
  try {
    Deno.exit(await runLane(options));
  } catch (e) {
    // A build or VM failure is the lane failing, not a transcript difference: say so plainly.
    console.log(`KERNEL LANE ERROR: ${e instanceof Error ? e.message : e}`);
    Deno.exit(1);
  }
}
