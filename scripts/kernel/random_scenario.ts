/**
 * Seeded random `.vfs` walks for the kernel lane. The lane runs each in the guest against
 * the real kernel and in the simulator and compares the transcripts, so a walk needs no
 * expectations: any difference is a simulator bug, or a kernel fact still to learn.
 *
 * Four flavors:
 * - `iommufd`: containers on /dev/iommu set up every way (IOAS set before or after
 *   SET_IOMMU, or never; TYPE1, TYPE1v2 or a bad type; with or without the mock domain, a
 *   second IOAS), then compat and native map/unmap, copy, allowed IOVAs, reserved ranges,
 *   IOAS switching and destroys. Runs as a scenario on the plain machine.
 * - `compat`: one `container setup` and the VFIO container calls only (map, unmap, GET_INFO,
 *   extensions, dirty tracking), so one file runs in every IOMMU mode, legacy type1
 *   included. Runs with the audit, on the machine with a real device.
 * - `hwpt`: containers with one or two mock devices and a paging, a nest-parent, a
 *   dirty-tracking and a nested hwpt, then hwpt allocs with every flag, invalidations, dirty
 *   tracking and bitmaps, device replaces, destroys in any order, and IOAS map/unmap/copy
 *   between them. Runs as a scenario on the plain machine.
 * - `memlock`: one `container setup` without CAP_IPC_LOCK under a small RLIMIT_MEMLOCK (its
 *   leading `sim` lines), then maps sized around the limit, unmaps whole and in part, regions
 *   mlocked and freed, and VADDR updates. Runs with the audit, each file alone on the machine
 *   its `sim` lines describe, in every IOMMU mode.
 *
 * Addresses and sizes collide on purpose: IOVAs in a few 64 KiB slots, shifted by a page or
 * half a page; sizes of pages, zero, half a page, odd, or near 2^64; now and then an argsz
 * or flags value the shell would not choose.
 *
 * ```
 * deno run scripts/kernel/random_scenario.ts --seed 7 [--flavor F] [--blocks N] [--ops N]
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
 * `container setup` and the VFIO container calls, for every IOMMU mode. `hwpt`: hw pagetables
 * of the selftest's mock devices, with IOAS calls between. `memlock`: the container calls
 * under a small RLIMIT_MEMLOCK, for every IOMMU mode.
 */
export type Flavor = "iommufd" | "compat" | "hwpt" | "memlock";

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
  const room = len > 0n && len <= BUF_SIZE ? BUF_SIZE - len : BUF_SIZE - 0x1000n;
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

/** The `iommufd` flavor's operations and their weights. */
const OP_KINDS = [
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
] as const;

type OpKind = (typeof OP_KINDS)[number][1];

/** One random operation (of `only` kind, if given). */
function op(d: Dice, hasOther: boolean, only?: OpKind): string {
  const target = () => (hasOther && d.chance(0.3) ? "$other" : "$ioas");
  const kind = only ?? d.weighted(OP_KINDS);
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

/** Lines that set up one `hwpt` container: mock devices and one hwpt of each kind. */
function hwptSetup(d: Dice): { lines: string[]; hasOther: boolean; hasDev2: boolean } {
  const lines = ["container open", "let ioas = ioas alloc"];
  const hasOther = d.chance(0.4);
  if (hasOther) lines.push("let other = ioas alloc");
  if (d.chance(0.4)) lines.push("ioas set $ioas", "set-iommu TYPE1v2");
  if (d.chance(0.2)) lines.push(`option huge-pages $ioas ${d.pick(["off", "on"])}`);
  if (d.chance(0.3)) lines.push(`ioas map $ioas ${hex(IOVA_BASE)} 0x10000 rw --vaddr $buf`);
  lines.push("let dev = test mock-domain $ioas", "let idev = $last.idev");
  const hasDev2 = d.chance(0.4);
  if (hasDev2) {
    // The second device may lack dirty tracking, or have 1 MiB IO pages too.
    const flags = d.weighted(
      [
        [4, ""],
        [2, " --dev-flags MOCK_FLAGS_DEVICE_NO_DIRTY"],
        [2, " --dev-flags MOCK_FLAGS_DEVICE_HUGE_IOVA"],
        [1, " --dev-flags 0"],
      ] as const,
    );
    lines.push(
      `let dev2 = test mock-domain ${hasOther && d.chance(0.5) ? "$other" : "$ioas"}${flags}`,
      "let idev2 = $last.idev",
    );
  }
  const iotlb = d.pick(["00000000", "efbead0b", "01000000"]);
  lines.push(
    "let paging = hwpt alloc $idev $ioas",
    "let parent = hwpt alloc $idev $ioas --flags HWPT_ALLOC_NEST_PARENT",
    "let dt = hwpt alloc $idev $ioas --flags HWPT_ALLOC_DIRTY_TRACKING",
    `let nested = hwpt alloc $idev $parent --data-type HWPT_DATA_SELFTEST --data ${iotlb}`,
  );
  return { lines, hasOther, hasDev2 };
}

/** The `hwpt` flavor's operations and their weights. */
const HWPT_OP_KINDS = [
  [4, "alloc"],
  [3, "invalidate"],
  [2, "dirty-tracking"],
  [3, "dirty-bitmap"],
  [3, "replace"],
  [1, "mock-domain"],
  [2, "destroy"],
  [1, "hw-info"],
  [4, "ioas map"],
  [3, "ioas unmap"],
  [1, "copy"],
  [1, "map"],
  [1, "unmap"],
  [1, "reserve"],
  [1, "allow"],
] as const;

/** One random operation of the `hwpt` flavor. */
function hwptOp(d: Dice, hasOther: boolean, hasDev2: boolean): string {
  const kind = d.weighted(HWPT_OP_KINDS);
  const hwpts = ["$paging", "$parent", "$dt", "$nested"];
  // Page tables and address spaces by name, and now and then any small object id.
  const pt = () =>
    d.weighted<() => string>([
      [6, () => d.pick(hwpts)],
      [3, () => (hasOther && d.chance(0.4) ? "$other" : "$ioas")],
      [2, () => String(1 + d.int(16))],
      [1, () => "99"],
    ])();
  const idev = () =>
    d.weighted<() => string>([
      [8, () => (hasDev2 && d.chance(0.4) ? "$idev2" : "$idev")],
      [1, () => d.pick(["$dev", "99", "$ioas"])],
    ])();
  switch (kind) {
    case "alloc": {
      const flags = d.weighted(
        [
          [6, ""],
          [3, " --flags HWPT_ALLOC_NEST_PARENT"],
          [3, " --flags HWPT_ALLOC_DIRTY_TRACKING"],
          [1, " --flags HWPT_ALLOC_NEST_PARENT|HWPT_ALLOC_DIRTY_TRACKING"],
          [1, ` --flags HWPT_FAULT_ID_VALID --fault-id ${d.pick(["0", "99", "$ioas"])}`],
          [1, ` --flags ${d.pick(["8", "0x10", "0x80000000"])}`],
        ] as const,
      );
      const data = d.weighted(
        [
          [6, ""],
          [4, " --data-type HWPT_DATA_SELFTEST --data 00000000"],
          [1, ` --data-type HWPT_DATA_SELFTEST --data ${d.pick(["00", "0000000000", "01000000"])}`],
          [1, " --data-type HWPT_DATA_SELFTEST"],
          [1, ` --data-type ${d.pick(["HWPT_DATA_VTD_S1", "7"])} --data 00000000`],
        ] as const,
      );
      const size = d.chance(0.06) ? ` --size ${d.pick(["16", "24", "40", "44", "56"])}` : "";
      return `hwpt alloc ${idev()} ${pt()}${flags}${data}${size}`;
    }
    case "invalidate": {
      const n = d.weighted([[1, 0], [5, 1], [2, 2], [1, 3]] as const);
      const entries: string[] = [];
      for (let i = 0; i < n; i++) {
        entries.push(
          d.weighted([[6, "00000000"], [3, "01000000"], [1, "02000000"]] as const),
          d.weighted([[4, "00000000"], [3, "01000000"], [2, "03000000"], [1, "04000000"]] as const),
        );
      }
      const type = d.weighted(
        [
          [8, " --data-type HWPT_INVALIDATE_DATA_SELFTEST"],
          [1, ""],
          [1, " --data-type 77"],
        ] as const,
      );
      const extra = d.chance(0.1)
        ? d.pick([" --entry-len 0", " --entry-len 4", " --entry-len 12", " --entry-len 4097"])
        : d.chance(0.05)
        ? d.pick([" --entry-num 0", " --entry-num 3"])
        : "";
      const target = d.chance(0.7) ? "$nested" : pt();
      return `hwpt invalidate ${target}${
        entries.length ? " " + entries.join(" ") : ""
      }${type}${extra}`;
    }
    case "dirty-tracking": {
      const target = d.chance(0.6) ? "$dt" : pt();
      return `hwpt dirty-tracking ${target} ${d.pick(["on", "on", "off"])}` +
        (d.chance(0.05) ? " --flags 2" : "");
    }
    case "dirty-bitmap": {
      const target = d.chance(0.6) ? "$dt" : pt();
      const page = d.weighted(
        [[6, ""], [2, " --page-size 2K"], [1, " --page-size 8K"], [
          1,
          ` --page-size ${d.pick(["0", "3K", "1"])}`,
        ]] as const,
      );
      const len = size(d);
      // The bitmap is user memory the shell allocates: keep it small.
      const length = len > 0x100000n ? 0x10000n : len;
      return `hwpt dirty-bitmap ${target} ${hex(iova(d))} ${hex(length)}${page}` +
        (d.chance(0.3) ? " --no-clear" : "");
    }
    case "replace": {
      const dev = d.weighted(
        [
          [6, "$dev"],
          [hasDev2 ? 4 : 0, "$dev2"],
          [1, d.pick(["$idev", "99", "$paging"])],
        ] as const,
      );
      return `test replace ${dev} ${pt()}`;
    }
    case "mock-domain":
      return `test mock-domain ${pt()}` +
        (d.chance(0.3) ? ` --dev-flags ${d.pick(["1", "2", "3", "4", "8"])}` : "");
    case "destroy":
      return `destroy ${
        d.weighted<string>([
          [5, d.pick(hwpts)],
          [2, d.pick(hasDev2 ? ["$dev", "$dev2"] : ["$dev"])],
          [1, hasOther ? "$other" : "$ioas"],
          [1, String(1 + d.int(16))],
        ])
      }`;
    case "hw-info":
      return `hw-info ${idev()}` +
        (d.chance(0.3) ? ` --data-len ${d.pick(["0", "4", "8", "16"])}` : "");
    case "ioas map":
    case "ioas unmap":
    case "copy":
    case "map":
    case "unmap":
    case "reserve":
    case "allow":
      return op(d, hasOther, kind);
  }
}

/** RLIMIT_MEMLOCK of a `memlock` walk, weighted: 0 (nothing lockable), 16, 64, 256, 1024 pages. */
const MEMLOCK_LIMITS = [
  [1, 0n],
  [3, 0x10000n],
  [3, 0x40000n],
  [3, 0x100000n],
  [2, 0x400000n],
] as const;

/** Names of the regions a `memlock` walk allocates, mlocks and frees besides `buf`. */
const REGIONS = ["m1", "m2", "m3"] as const;

/**
 * The `memlock` flavor's lines after its `sim` lines: one `container setup`, then maps and
 * unmaps sized around the limit, regions mlocked and freed, and VADDR updates. The walk keeps
 * what the kernel backend needs: every `--vaddr` range lies in a region still allocated.
 */
function memlockWalk(d: Dice, limit: bigint, ops: number): string[] {
  const lines = ["container setup"];
  const live = new Map<string, bigint>();
  const mapped: { iova: bigint; len: bigint }[] = [];
  const pageUp = (n: bigint) => (n + 0xfffn) & ~0xfffn;
  // Sizes around the limit, so that the limit bites now and then and not always.
  const len = () => {
    const n = d.weighted<() => bigint>([
      [4, () => BigInt(1 + d.int(4)) * 0x1000n],
      [6, () => d.pick([limit / 4n, limit / 2n, limit - 0x1000n, limit, limit + 0x1000n])],
      [1, () => d.pick([limit * 2n, 0n, 0x800n])],
    ])();
    return n < 0n ? 0x1000n : n;
  };
  const mapLen = () => {
    const n = len();
    return n > BUF_SIZE ? BUF_SIZE : n;
  };
  // Slots twice the largest usual size apart, shifted now and then into their neighbour.
  const slot = pageUp(limit * 2n) || 0x10000n;
  const at = () =>
    d.chance(0.1)
      ? iova(d)
      : IOVA_BASE + BigInt(d.int(8)) * slot + d.pick([0n, 0n, 0n, 0x1000n, limit / 2n, limit]);
  // A user address for `n` bytes: a region allocated here when one is large enough.
  const user = (n: bigint) => {
    const fits = [...live].filter(([, size]) => size >= n);
    return fits.length > 0 && d.chance(0.35) ? `$${d.pick(fits)[0]}` : vaddr(d, n);
  };
  // A range mapped before (or tried), the latest ones most often.
  const known = () => d.chance(0.6) ? d.pick(mapped.slice(-3)) : d.pick(mapped);
  for (let i = 0; i < ops; i++) {
    const kind = d.weighted(
      [
        [10, "map"],
        [7, "unmap"],
        [1, "unmap all"],
        [4, "mem"],
        [2, "vaddr"],
        [1, "info"],
      ] as const,
    );
    switch (kind) {
      case "map": {
        const n = mapLen();
        const a = at();
        mapped.push({ iova: a, len: n });
        lines.push(`map ${hex(a)} ${hex(n)} ${perm(d)} --vaddr ${user(n)}`);
        break;
      }
      case "unmap": {
        if (mapped.length === 0 || d.chance(0.15)) {
          lines.push(`unmap ${hex(at())} ${hex(len())}`);
          break;
        }
        const m = known();
        const half = m.len < 0x2000n ? m.len : pageUp(m.len / 2n);
        lines.push(
          d.weighted<() => string>([
            [6, () => `unmap ${hex(m.iova)} ${hex(m.len)}`],
            [1, () => `unmap ${hex(m.iova)} ${hex(half)}`],
            [1, () => `unmap ${hex(m.iova + half)} ${hex(m.len - half)}`],
          ])(),
        );
        break;
      }
      case "unmap all":
        lines.push("unmap --all");
        break;
      case "mem": {
        const name = d.pick(REGIONS);
        const size = live.get(name);
        if (size === undefined) {
          const n = pageUp(mapLen()) || 0x1000n;
          live.set(name, n);
          lines.push(`mem alloc ${name} ${hex(n)}`);
          if (d.chance(0.6)) lines.push(`mem mlock ${name}`);
        } else if (d.chance(0.4)) {
          lines.push(`mem mlock ${name}`);
        } else {
          live.delete(name);
          lines.push(`mem free ${name}`);
        }
        break;
      }
      case "vaddr": {
        // Legacy type1's live update: drop the user address, then give a new one.
        const m = mapped.length > 0 && d.chance(0.8) ? known() : { iova: at(), len: mapLen() };
        lines.push(`unmap ${hex(m.iova)} ${hex(m.len)} --flags DMA_UNMAP_FLAG_VADDR`);
        if (d.chance(0.7)) {
          const p = d.chance(0.7) ? "-" : "rw";
          lines.push(
            `map ${hex(m.iova)} ${hex(m.len)} ${p} --vaddr ${
              user(m.len)
            } --flags DMA_MAP_FLAG_VADDR`,
          );
        }
        break;
      }
      case "info":
        lines.push("info");
        break;
    }
  }
  return lines;
}

/** The shape of the lane's random walks: `blocks` ignored for `compat` and `memlock`. */
export const WALK_SHAPE: Record<Flavor, { blocks: number; ops: number }> = {
  iommufd: { blocks: 8, ops: 60 },
  compat: { blocks: 1, ops: 150 },
  hwpt: { blocks: 6, ops: 60 },
  memlock: { blocks: 1, ops: 150 },
};

const HEADLINE: Record<Flavor, string> = {
  iommufd: "# A random walk of compat and native calls on containers set up every way.",
  compat: "# A random walk of the VFIO container calls, for every IOMMU mode.",
  hwpt: "# A random walk of hw pagetables on the selftest's mock devices, IOAS calls between.",
  memlock: "# A random walk of locked-memory accounting under a small RLIMIT_MEMLOCK, every mode.",
};

/** The text of one generated scenario. */
export function randomScenario(o: RandomScenarioOptions): string {
  const d = new Dice(o.seed);
  const flavor = o.flavor ?? "iommufd";
  const oneBlock = flavor === "compat" || flavor === "memlock";
  const shape = oneBlock ? `--ops ${o.ops}` : `--blocks ${o.blocks} --ops ${o.ops}`;
  const command =
    `deno run scripts/kernel/random_scenario.ts --seed ${o.seed} --flavor ${flavor} ${shape}`;
  const out = [
    HEADLINE[flavor],
    `# Made by: ${command}`,
    "# The kernel lane compares it with the real kernel; regenerate it rather than edit it.",
  ];
  if (flavor === "memlock") {
    // The machine first: the lane builds it in the guest from these leading lines.
    const limit = d.weighted(MEMLOCK_LIMITS);
    out.push("sim privileged off", `sim rlimit memlock ${hex(limit)}`);
    out.push("mem alloc buf " + hex(BUF_SIZE), ...memlockWalk(d, limit, o.ops));
    return out.join("\n") + "\n";
  }
  out.push("mem alloc buf " + hex(BUF_SIZE));
  if (flavor === "compat") {
    out.push("container setup");
    for (let i = 0; i < o.ops; i++) out.push(compatOp(d));
    return out.join("\n") + "\n";
  }
  if (flavor === "hwpt") {
    for (let b = 0; b < o.blocks; b++) {
      const { lines, hasOther, hasDev2 } = hwptSetup(d);
      out.push("", ...lines);
      for (let i = 0; i < o.ops; i++) out.push(hwptOp(d, hasOther, hasDev2));
      out.push("container close");
    }
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

/** Every flavor, in the order the lane writes them. */
export const FLAVORS: readonly Flavor[] = ["iommufd", "compat", "hwpt", "memlock"];

/** File names of each flavor's walks, before `_<seed>.vfs`. */
const FILE_STEM: Record<Flavor, string> = {
  iommufd: "random_walk",
  compat: "random_compat",
  hwpt: "random_hwpt",
  memlock: "random_memlock",
};

/**
 * Write `count` walks of each flavor (of `flavors`), seeds `firstSeed`…, into `dir` with the
 * lane's shape:
 * `random_walk_<seed>.vfs` (iommufd), `random_compat_<seed>.vfs` (compat),
 * `random_hwpt_<seed>.vfs` (hwpt) and `random_memlock_<seed>.vfs` (memlock).
 */
export async function writeRandomWalks(
  dir: string,
  firstSeed: number,
  count: number,
  flavors: readonly Flavor[] = FLAVORS,
): Promise<RandomWalkFile[]> {
  const files: RandomWalkFile[] = [];
  for (let seed = firstSeed; seed < firstSeed + count; seed++) {
    for (const flavor of FLAVORS.filter((f) => flavors.includes(f))) {
      const name = `${FILE_STEM[flavor]}_${seed}`;
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
  const flavor = FLAVORS.find((f) => f === values.flavor);
  if (flavor === undefined) {
    throw new Error(`--flavor: ${FLAVORS.join(", ")}, not ${values.flavor}`);
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
