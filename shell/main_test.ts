import { deepStrictEqual, strictEqual } from "node:assert";
import { parseArgs } from "node:util";
import { OPTIONS, parseArgsFast } from "./main.ts";

const CASES: string[][] = [
  [],
  ["run", "a.vfs"],
  ["run", "-", "b.vfs"],
  ["-c", "container open; api-version"],
  ["-c", "x", "--json"],
  ["--command=x"],
  ["-c"],
  ["-c", "-q"],
  ["-c", "--json"],
  ["--backend", "kernel", "run", "x"],
  ["--backend=kernel"],
  ["--backend"],
  ["--backend", "-"],
  ["--backend="],
  ["--plugin", "a.ts", "--plugin=b.ts", "run", "f"],
  ["--json=1"],
  ["--json", "--quiet", "-q", "-h", "-V"],
  ["-qh"],
  ["-cfoo"],
  ["-x"],
  ["--nope"],
  ["--nope=1"],
  ["--", "run"],
  ["run", "--", "-c"],
  ["-"],
  ["--", "--json"],
  ["compare", "a.vfs", "--modes", "vfio_type1_iommu,iommufd", "--kernels=6.2,6.18"],
  ["--profile", "intel-vtd", "--kernel-version", "6.12.117", "--container", "legacy"],
  ["--mode", "iommufd", "--like", "qemu", "--record", "out.vfs", "run", "x.vfs"],
  ["--profile", "a", "--profile", "b"],
  ["run", "-5"],
  ["--help=no"],
  ["-c", "a", "-c", "b"],
];

Deno.test("main: parseArgsFast agrees with node:util parseArgs, or leaves it to it", () => {
  let fast = 0;
  for (const args of CASES) {
    let node: unknown;
    try {
      const r = parseArgs({ args, allowPositionals: true, strict: true, options: OPTIONS });
      node = { values: { ...r.values }, positionals: r.positionals };
    } catch {
      node = undefined;
    }
    const mine = parseArgsFast(args);
    if (mine === undefined) continue;
    fast++;
    deepStrictEqual(
      { values: { ...mine.values }, positionals: mine.positionals },
      node,
      args.join(" "),
    );
  }
  // The usual forms take the fast path.
  strictEqual(fast >= 15, true, `only ${fast} cases took the fast path`);
  strictEqual(parseArgsFast(["-c", "container open; api-version"]) !== undefined, true);
  strictEqual(parseArgsFast(["run", "a.vfs"]) !== undefined, true);
});
