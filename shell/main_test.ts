import { deepStrictEqual, strictEqual } from "node:assert";
import { parseArgs } from "node:util";
import { argsError, OPTIONS, parseArgsFast } from "./main.ts";

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

Deno.test("main: a command line parseArgs refuses is named in one line of vfsh's own words", () => {
  const cases: [string[], string][] = [
    [["--jsn"], "unknown option '--jsn' (did you mean --json?)"],
    [["--kernel", "6.2"], "unknown option '--kernel' (did you mean --kernel-version?)"],
    [["--frobnicate"], "unknown option '--frobnicate'"],
    [["-qx"], "unknown option '-x'"],
    [["--json=1"], "option --json takes no value"],
    [["--backend"], "option --backend needs a value"],
    // Node's own message runs over two lines here.
    [
      ["--backend", "--json"],
      "option --backend needs a value (one that starts with '-' is written --backend=VALUE)",
    ],
    [["-c", "-q"], "option -c needs a value (one that starts with '-' is written --command=VALUE)"],
    [["-c"], "option -c needs a value"],
  ];
  for (const [args, want] of cases) {
    let message: string | undefined;
    try {
      parseArgs({ args, allowPositionals: true, strict: true, options: OPTIONS });
    } catch (e) {
      message = argsError(e);
    }
    strictEqual(message, want, args.join(" "));
  }
});
