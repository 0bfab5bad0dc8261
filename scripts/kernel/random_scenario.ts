/**
 * Seeded random `.vfs` walks for the kernel lane. The lane runs each in the guest against
 * the real kernel and in the simulator and compares the transcripts, so a walk needs no
 * expectations: any difference is a simulator bug, or a kernel fact still to learn.
 *
 * Two flavors:
 * - `iommufd`: containers on /dev/iommu set up every way (IOAS set before or after
 *   SET_IOMMU, or never; TYPE1, TYPE1v2 or a bad type; with or without the mock domain, a
 *   second IOAS), then compat and native map/unmap, copy, allowed IOVAs, reserved ranges,
 *   IOAS switching and destroys. Runs as a scenario on the plain machine.
 * - `compat`: one `container setup` and the VFIO container calls only (map, unmap, GET_INFO,
 *   extensions, dirty tracking), so one file runs in every IOMMU mode, legacy type1
 *   included. Runs with the audit, on the machine with a real device.
 *
 * Addresses and sizes collide on purpose: IOVAs in a few 64 KiB slots, shifted by a page or
 * half a page; sizes of pages, zero, half a page, odd, or near 2^64; now and then an argsz
 * or flags value the shell would not choose.
 *
 * ```
 * deno run scripts/kernel/random_scenario.ts --seed 7 [--flavor compat] [--blocks N] [--ops N]
 * deno task test:kernel --suite random --random 20 --random-seed 100
 * ```
 *
 * Memory comes from one `mem alloc` and every `--vaddr` range stays inside it: the kernel
 * backend answers EFAULT itself, without the ioctl, for memory the process did not map.
 *
 * @module
 */

import { parseArgs } from "node:util";
import { hex } from "../../dsl/number.ts";
import { prng } from "../../tests/_prng.ts";

/**
 * `iommufd`: containers on /dev/iommu, compat and native calls mixed. `compat`: one
 * `container setup` and the VFIO container calls, for every IOMMU mode.
 */
export type Flavor = "iommufd" | "compat";

/** What a generated file is made of. */
export interface RandomScenarioOptions {
  seed: number;
  flavor?: Flavor;
  /** Containers, each set up afresh and closed at the end (`iommufd` only). */
  blocks: number;
  /** Random operations per container. */
  ops: number;
}

/** Size of the one buffer every mapping's user address lies in. */
const BUF_SIZE = 0x800000n;
/** The mock domain's aperture starts here; IOVAs cluster around it. */
const IOVA_BASE = 0x1000000n;
const U64_MAX = (1n << 64n) - 1n;

/** A random generator with the picks a scenario needs. */
class Dice {
  #next: () => number;
  constructor(seed: number) {
    this.#next = prng(seed);
  }
  /** An integer in [0, n). */
  int(n: number): number {
    return Math.floor(this.#next() * n);
  }
  /** True with probability p. */
  chance(p: number): boolean {
    return this.#next() < p;
  }
  pick<T>(items: readonly T[]): T {
    return items[this.int(items.length)];
  }
  /** One of `choices` [weight, value]. */
  weighted<T>(choices: readonly (readonly [number, T])[]): T {
    let r = this.#next() * choices.reduce((s, [w]) => s + w, 0);
    for (const [w, v] of choices) {
      if ((r -= w) < 0) return v;
    }
    return choices[choices.length - 1][1];
  }
}

/** IOVAs: a few slots 64 KiB apart, shifted by a page or half a page now and then. */
function iova(d: Dice): bigint {
  return d.weighted<() => bigint>([
    [
      20,
      () =>
        IOVA_BASE + BigInt(d.int(8)) * 0x10000n +
        d.pick([0n, 0n, 0n, 0x1000n, 0x2000n, 0x800n, 0x3000n]),
    ],
    [2, () => d.pick([0n, 0x1000n, 0x100000n, 0xfff000n])],
    [1, () => d.pick([0x80000000n, 0x7ffff000n, 1n << 48n, U64_MAX - 0xfffn, 1n << 63n])],
  ])();
}

/** Sizes: mostly pages, sometimes zero, half a page, odd, or huge. */
function size(d: Dice): bigint {
  return d.weighted<() => bigint>([
    [20, () => BigInt(1 + d.int(4)) * 0x1000n],
    [6, () => d.pick([0x10000n, 0x20000n, 0x8000n])],
    [2, () => d.pick([0n, 0x800n, 1n, 0x1800n])],
    [1, () => d.pick([0x200000n, U64_MAX & ~0xfffn, 1n << 63n])],
  ])();
}

/**
 * A size for a mapping: {@link size} within the buffer. The kernel backend answers EFAULT
 * itself, without the call, for a user range it did not map, so larger sizes cannot be
 * compared; overflow is still reached through IOVAs near the top.
 */
function mapSize(d: Dice): bigint {
  for (;;) {
    const len = size(d);
    if (len <= BUF_SIZE) return len;
  }
}

const perm = (d: Dice) => d.weighted([[8, "rw"], [2, "r"], [2, "w"], [1, "-"]] as const);

/** A user address inside the buffer with room for `len` bytes (at least a page). */
function vaddr(d: Dice, len: bigint): string {
  const room = len > 0n && len < BUF_SIZE ? BUF_SIZE - len : BUF_SIZE - 0x1000n;
  const pages = room / 0x1000n;
  let off = BigInt(d.int(Number(pages) + 1)) * 0x1000n;
  if (d.chance(0.05) && off + len + 0x800n <= BUF_SIZE) off += 0x800n;
  return off === 0n ? "$buf" : `$buf+${hex(off)}`;
}

/** Lines that set up one container; the IOAS in use is `$ioas` when there is one. */
function setup(d: Dice): string[] {
  const lines = ["container open", "let ioas = ioas alloc"];
  const order = d.weighted([[6, "set-first"], [2, "iommu-first"], [1, "no-set"]] as const);
  const type = d.weighted([[3, "TYPE1v2"], [2, "TYPE1"], [1, "9"]] as const);
  if (order === "set-first") lines.push("ioas set $ioas", `set-iommu ${type}`);
  if (order === "iommu-first") lines.push(`set-iommu ${type}`, "ioas set $ioas");
  if (d.chance(0.5)) lines.push("test mock-domain $ioas");
  if (d.chance(0.2)) lines.push(`option huge-pages $ioas ${d.pick(["off", "on"])}`);
  if (d.chance(0.3)) {
    lines.push("let other = ioas alloc");
    if (d.chance(0.4)) lines.push("test mock-domain $other");
  }
  return lines;
}

/** One random operation (of `only` kind, if given). */
function op(d: Dice, hasOther: boolean, only?: "map" | "unmap" | "info"): string {
  const target = () => (hasOther && d.chance(0.3) ? "$other" : "$ioas");
  const kind = only ?? d.weighted(
    [
      [10, "map"],
      [6, "unmap"],
      [5, "ioas map"],
      [4, "ioas unmap"],
      [1, "unmap all"],
      [2, "copy"],
      [2, "info"],
      [1, "ranges"],
      [1, "allow"],
      [1, "huge"],
      [1, "get"],
      [1, "map-file"],
      [1, "reserve"],
      [1, "switch"],
      [1, "destroy"],
      [1, "extension"],
    ] as const,
  );
  switch (kind) {
    case "map": {
      const len = mapSize(d);
      return `map ${hex(iova(d))} ${hex(len)} ${perm(d)} --vaddr ${vaddr(d, len)}` +
        odd(d, [["--argsz", ["16", "31", "33", "64"]], ["--flags", ["0", "4", "8", "0x10"]]]);
    }
    case "unmap":
      return `unmap ${hex(iova(d))} ${hex(size(d))}` +
        odd(d, [["--argsz", ["16", "23", "40"]], ["--flags", ["1", "2", "3", "4", "8"]]]);
    case "unmap all":
      return d.chance(0.7) ? "unmap --all" : `ioas unmap ${target()} --all`;
    case "ioas map": {
      const len = mapSize(d);
      const at = d.chance(0.3) ? "-" : hex(iova(d));
      return `ioas map ${target()} ${at} ${hex(len)} ${perm(d)} --vaddr ${vaddr(d, len)}`;
    }
    case "ioas unmap":
      return `ioas unmap ${target()} ${hex(iova(d))} ${hex(size(d))}`;
    case "copy": {
      const dst = target();
      const src = dst === "$ioas" && hasOther ? "$other" : "$ioas";
      const at = d.chance(0.4) ? "-" : hex(iova(d));
      return `ioas copy ${dst} ${src} ${hex(iova(d))} ${at} ${hex(size(d))} ${perm(d)}`;
    }
    case "info":
      return "info" +
        odd(d, [["--argsz", ["0", "15", "16", "24", "32", "48"]], ["--flags", ["1", "2"]]]);
    case "ranges":
      return `ioas iova-ranges ${target()}`;
    case "allow": {
      if (d.chance(0.3)) return `ioas allow-iovas ${target()}`;
      const start = iova(d);
      let end = start + size(d) - 1n;
      if (end > U64_MAX) end = U64_MAX;
      return `ioas allow-iovas ${target()} ${hex(start)}-${hex(end < start ? start : end)}`;
    }
    case "huge":
      return `option huge-pages ${target()}`;
    case "get":
      return "ioas get";
    case "map-file": {
      const len = mapSize(d);
      const at = d.chance(0.3) ? "-" : hex(iova(d));
      const start = d.pick(["0", "0", "0x1000", "0x800", "0x7ff000", "0x800000"]);
      return `ioas map-file ${target()} $mfd ${at} ${hex(len)} ${perm(d)} --start ${start}`;
    }
    case "reserve":
      return `test add-reserved ${target()} ${hex(iova(d))} ${hex(size(d))}`;
    case "switch":
      return hasOther && d.chance(0.5)
        ? `ioas set ${d.pick(["$other", "$ioas"])}`
        : d.pick(["ioas clear", "ioas set $ioas", "ioas set 99"]);
    case "destroy":
      return `destroy ${d.pick(hasOther ? ["$other", "99", "$ioas"] : ["99", "$ioas"])}`;
    case "extension":
      return `check-extension ${
        d.pick(["TYPE1", "TYPE1v2", "DMA_CC_IOMMU", "UNMAP_ALL", "2", "5", "0"])
      }`;
  }
}

/** Now and then, one of `options` with a value that the shell would not choose. */
function odd(d: Dice, options: readonly (readonly [string, readonly string[]])[]): string {
  if (!d.chance(0.08)) return "";
  const [flag, values] = d.pick(options);
  return ` ${flag} ${d.pick(values)}`;
}

/** One random VFIO container call, as every IOMMU mode has them. */
function compatOp(d: Dice): string {
  const kind = d.weighted(
    [
      [10, "map"],
      [7, "unmap"],
      [1, "unmap all"],
      [2, "info"],
      [1, "extension"],
      [1, "dirty"],
      [1, "bitmap"],
    ] as const,
  );
  switch (kind) {
    case "map":
    case "unmap":
    case "info":
      return op(d, false, kind);
    case "unmap all":
      return "unmap --all";
    case "extension":
      return `check-extension ${
        d.pick(["TYPE1", "TYPE1v2", "DMA_CC_IOMMU", "UNMAP_ALL", "UPDATE_VADDR", "2", "0"])
      }`;
    case "dirty":
      return `dirty-pages ${d.pick(["start", "stop"])}`;
    case "bitmap":
      return `dirty-bitmap ${hex(iova(d))} ${hex(size(d))}`;
  }
}

/** The shape of the lane's random walks: `blocks` ignored for `compat`. */
export const WALK_SHAPE: Record<Flavor, { blocks: number; ops: number }> = {
  iommufd: { blocks: 8, ops: 60 },
  compat: { blocks: 1, ops: 150 },
};

/** The text of one generated scenario. */
export function randomScenario(o: RandomScenarioOptions): string {
  const d = new Dice(o.seed);
  const flavor = o.flavor ?? "iommufd";
  const shape = flavor === "compat" ? `--ops ${o.ops}` : `--blocks ${o.blocks} --ops ${o.ops}`;
  const command =
    `deno run scripts/kernel/random_scenario.ts --seed ${o.seed} --flavor ${flavor} ${shape}`;
  const out = [
    flavor === "compat"
      ? "# A random walk of the VFIO container calls, for every IOMMU mode."
      : "# A random walk of compat and native calls on containers set up every way.",
    `# Made by: ${command}`,
    "# The kernel lane compares it with the real kernel; regenerate it rather than edit it.",
    "mem alloc buf " + hex(BUF_SIZE),
  ];
  if (flavor === "compat") {
    out.push("container setup");
    for (let i = 0; i < o.ops; i++) out.push(compatOp(d));
    return out.join("\n") + "\n";
  }
  out.push("let mfd = memfd random " + hex(BUF_SIZE));
  for (let b = 0; b < o.blocks; b++) {
    out.push("");
    const lines = setup(d);
    const hasOther = lines.includes("let other = ioas alloc");
    out.push(...lines);
    for (let i = 0; i < o.ops; i++) out.push(op(d, hasOther));
    out.push("container close");
  }
  return out.join("\n") + "\n";
}

/** One file written by {@linkcode writeRandomWalks}. */
export interface RandomWalkFile {
  name: string;
  file: string;
  flavor: Flavor;
  seed: number;
}

/**
 * Write `count` walks of each flavor, seeds `firstSeed`…, into `dir` with the lane's shape:
 * `random_walk_<seed>.vfs` (iommufd) and `random_compat_<seed>.vfs` (compat).
 */
export async function writeRandomWalks(
  dir: string,
  firstSeed: number,
  count: number,
): Promise<RandomWalkFile[]> {
  const files: RandomWalkFile[] = [];
  for (let seed = firstSeed; seed < firstSeed + count; seed++) {
    for (const flavor of ["iommufd", "compat"] as const) {
      const name = `random_${flavor === "compat" ? "compat" : "walk"}_${seed}`;
      const file = `${dir}/${name}.vfs`;
      await Deno.writeTextFile(file, randomScenario({ seed, flavor, ...WALK_SHAPE[flavor] }));
      files.push({ name, file, flavor, seed });
    }
  }
  return files;
}

if (import.meta.main) {
  const { values } = parseArgs({
    args: Deno.args,
    options: {
      seed: { type: "string", default: "1" },
      flavor: { type: "string", default: "iommufd" },
      blocks: { type: "string" },
      ops: { type: "string" },
    },
  });
  const num = (s: string, what: string) => {
    const n = Number(s);
    if (!Number.isSafeInteger(n) || n < 0) throw new Error(`--${what}: not a count: ${s}`);
    return n;
  };
  const flavor = values.flavor;
  if (flavor !== "iommufd" && flavor !== "compat") {
    throw new Error(`--flavor: iommufd or compat, not ${flavor}`);
  }
  const shape = WALK_SHAPE[flavor];
  console.log(
    randomScenario({
      seed: num(values.seed, "seed"),
      flavor,
      blocks: values.blocks === undefined ? shape.blocks : num(values.blocks, "blocks"),
      ops: values.ops === undefined ? shape.ops : num(values.ops, "ops"),
    }).trimEnd(),
  );
}
