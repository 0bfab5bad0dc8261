// The benchmark harness's pure helpers. Nothing here is timed: speed is measured by
// `deno task bench`, never asserted in a test.
import assert from "node:assert/strict";
import { runScript } from "../../mod.ts";
import { VFIO_GET_API_VERSION } from "../../uapi/mod.ts";
import { cProgram } from "./ffi_call.ts";
import { cpuModel } from "./machine.ts";
import { MEASUREMENTS, parseCli } from "./main.ts";
import { type CpuProfile, formatSelfTimes, processKind, selfTimes } from "./profile.ts";
import { evaluate, formatMarkdown, formatTable, type RowInput, skipped, tally } from "./report.ts";
import {
  alternate,
  formatCount,
  formatNumber,
  median,
  pairedRatio,
  prng,
  quantile,
  randomIndices,
} from "./stats.ts";
import { generateVfs, VFS_HEADER } from "./vfs_gen.ts";
import { vfshArgs } from "./replay.ts";
import { laneCommand } from "./vm_lane.ts";

Deno.test("median: odd and even counts, unsorted input left as it was, empty is NaN", () => {
  const xs = [5, 1, 4, 2, 3];
  assert.equal(median(xs), 3);
  assert.deepEqual(xs, [5, 1, 4, 2, 3]);
  assert.equal(median([4, 1, 3, 2]), 2.5);
  assert.equal(median([7]), 7);
  assert.ok(Number.isNaN(median([])));
  assert.equal(quantile([1, 2, 3, 4, 5], 0.5), 3);
  assert.equal(quantile([0, 10], 0.25), 2.5);
});

Deno.test("pairedRatio: the median of per-round ratios", () => {
  assert.equal(pairedRatio([2, 9, 6], [1, 3, 2]), 3);
  assert.equal(pairedRatio([1, 1], [0, 2]), 0.5, "a zero baseline is skipped");
});

Deno.test("prng: seeded, deterministic, in [0, 1)", () => {
  const a = prng(42), b = prng(42), c = prng(43);
  const xs = Array.from({ length: 1000 }, a);
  assert.deepEqual(xs, Array.from({ length: 1000 }, b));
  assert.notDeepEqual(xs.slice(0, 5), Array.from({ length: 5 }, c));
  assert.ok(xs.every((x) => x >= 0 && x < 1));
  const idx = randomIndices(500, 10, 7);
  assert.ok(idx.every((i) => i >= 0 && i < 10));
  assert.deepEqual(idx, randomIndices(500, 10, 7));
});

Deno.test("alternate: every sampler each round, order reversed on odd rounds", async () => {
  const order: string[] = [];
  const s = await alternate({
    a: () => (order.push("a"), 1),
    b: () => (order.push("b"), 2),
  }, 3);
  assert.deepEqual(order, ["a", "b", "b", "a", "a", "b"]);
  assert.deepEqual(s, { a: [1, 1, 1], b: [2, 2, 2] });
});

Deno.test("number formatting", () => {
  assert.equal(formatNumber(1234567.8), "1,234,568");
  assert.equal(formatNumber(3.14159), "3.14");
  assert.equal(formatNumber(12), "12");
  assert.equal(formatCount(1_000_000), "10^6");
  assert.equal(formatCount(2_500), "2,500");
});

const ROWS: RowInput[] = [
  {
    measurement: "map",
    figure: "ops at 10^6",
    value: 1_200_000,
    unit: "ops/s",
    target: { on: "value", op: ">=", limit: 1_000_000, text: "≥ 1,000,000 ops/s" },
  },
  {
    measurement: "map",
    figure: "growth",
    value: 900,
    unit: "ns/op",
    ratio: 1.7,
    ratioOf: "vs 10^3",
    target: { on: "ratio", op: "<=", limit: 1.5, text: "≤ 1.5×" },
    note: "paired",
  },
  { measurement: "replay", figure: "in-process", value: 5, unit: "%" },
];

Deno.test("evaluate: targets on the value or the ratio; INFO and SKIP rows", () => {
  const rows = ROWS.map(evaluate);
  assert.deepEqual(rows.map((r) => r.status), ["PASS", "MISS", "INFO"]);
  const s = skipped("vm", "corpus", "VFSH_BENCH_VM=0");
  assert.equal(s.status, "SKIP");
  assert.equal(evaluate({ ...ROWS[0], value: null }).status, "MISS");
  assert.deepEqual(tally([...rows, s]), { PASS: 1, MISS: 1, INFO: 1, SKIP: 1 });
});

Deno.test("formatTable: aligned columns, the skip reason in the value cell", () => {
  const rows = [...ROWS.map(evaluate), skipped("vm", "corpus", "no cached kernel")];
  const lines = formatTable(rows).split("\n");
  assert.equal(lines.length, 2 + rows.length);
  assert.match(lines[0], /^figure\s+value\s+target\s+ratio\s+status\s+note$/);
  assert.match(lines[1], /^-+( +-+){5}$/);
  const col = lines[0].indexOf("status");
  assert.equal(lines[2].slice(col, col + 4), "PASS");
  assert.equal(lines[3].slice(col, col + 4), "MISS");
  assert.match(lines[2], /1,200,000 ops\/s\s+≥ 1,000,000 ops\/s/);
  assert.match(lines[3], /1\.70× vs 10\^3/);
  assert.match(lines[5], /skipped: no cached kernel\s.*SKIP/);
  const md = formatMarkdown([evaluate({ ...ROWS[2], figure: "a|b" })]).split("\n");
  assert.equal(md[0], "| figure | value | target | ratio | status | note |");
  assert.equal(md[2], "| a\\|b | 5 % |  |  | INFO |  |");
});

Deno.test("generateVfs: exactly N lines, and the first 1000 replay and pass on the simulator", async () => {
  const text = generateVfs(100_000);
  const lines = text.split("\n");
  assert.equal(lines.length, 100_001);
  assert.equal(lines[100_000], "");
  assert.deepEqual(lines.slice(1, 1 + VFS_HEADER.length), VFS_HEADER);
  assert.equal(generateVfs(100_000), text, "deterministic");
  for (const kind of [/^let /, /=> /, /^expect /, /^ioas map /, /^unmap /, /EEXIST/]) {
    assert.ok(lines.some((l) => kind.test(l)), `has ${kind}`);
  }
  const head = lines.slice(0, 1000).join("\n") + "\n";
  let out = "";
  const r = await runScript("generated.vfs", { text: head, write: (t) => out += t });
  assert.equal(r.status, 0, out.slice(-2000));
  assert.equal(r.failed, 0);
  assert.ok(r.passed > 500, `${r.passed} expectations passed`);
});

Deno.test("parseCli: --only takes names and lists, rejects unknown names", () => {
  const o = parseCli(["--", "--quick", "--only", "map,ffi", "--only", "vm"]);
  assert.ok(o !== "help");
  assert.equal(o.quick, true);
  assert.deepEqual(o.only, ["map", "ffi", "vm"]);
  assert.equal(o.write, true);
  assert.throws(() => parseCli(["--only", "nope"]), RangeError);
  assert.equal(parseCli(["-h"]), "help");
  assert.deepEqual(
    MEASUREMENTS.map((m) => m.name),
    ["map", "memory", "replay", "startup", "ffi", "get-info", "vm"],
  );
});

Deno.test("selfTimes: sample time goes to the node it landed in; idle is dropped", () => {
  const frame = (functionName: string, lineNumber = 0) => ({
    functionName,
    url: functionName.startsWith("(") ? "" : "file:///repo/sim/x.ts",
    lineNumber,
  });
  const profile: CpuProfile = {
    nodes: [
      { id: 1, callFrame: frame("(root)") },
      { id: 2, callFrame: frame("insert", 9) },
      { id: 3, callFrame: frame("(idle)") },
      { id: 4, callFrame: frame("") },
    ],
    samples: [2, 2, 3, 4, 2],
    timeDeltas: [0, 1000, 2000, 5000, 2000],
  };
  const t = selfTimes([profile, profile], "/repo");
  assert.deepEqual(t, [
    { name: "insert (sim/x.ts:10)", selfMs: 6 },
    { name: "(anonymous) (sim/x.ts:1)", selfMs: 4 },
  ]);
  assert.match(formatSelfTimes(t, 1), /^ +60\.0% +6\.0 ms {2}insert \(sim\/x\.ts:10\)$/);
  assert.deepEqual(selfTimes([profile], "/repo", "file"), [{ name: "sim/x.ts", selfMs: 5 }]);
  assert.equal(processKind(profile), "other Deno children (e.g. the empty file)");
  const main = { functionName: "main", url: "file:///repo/shell/main.ts", lineNumber: 0 };
  const cli = { ...profile, nodes: [...profile.nodes, { id: 9, callFrame: main }] };
  assert.equal(processKind(cli), "vfsh CLI children");
});

Deno.test("cProgram: the same request number, errno checked on every call", () => {
  const c = cProgram(VFIO_GET_API_VERSION);
  assert.match(c, /#define REQUEST 0x3b64UL/);
  assert.match(c, /errno != ENOTTY_/);
  assert.match(c, /getrusage\(RUSAGE_SELF/);
});

Deno.test("cpuModel: the first model name of /proc/cpuinfo", () => {
  assert.equal(cpuModel("processor\t: 0\nmodel name\t: AMD EPYC\nprocessor\t: 1\n"), "AMD EPYC");
  assert.equal(cpuModel(""), "unknown");
});

Deno.test("laneCommand: passes the scenario, or its file to a lane that takes the file", () => {
  const s = { name: "x", file: "tests/scenarios/x.vfs", vm: "plain" };
  const takesScenario = {
    scenarioCommand: (_side: string, _v: string, sc: unknown) =>
      `deno run ${(sc as { file: string }).file}`,
  };
  const takesFile = {
    scenarioCommand: (_side: string, _v: string, f: unknown) =>
      `deno run ${(f as string).replaceAll("'", "")}`,
  };
  assert.equal(laneCommand(takesScenario, "host", "v", s), "deno run tests/scenarios/x.vfs");
  assert.equal(laneCommand(takesFile, "host", "v", s), "deno run tests/scenarios/x.vfs");
});

Deno.test("vfshArgs: the benchmark starts vfsh with the flags of `deno task vfsh`", async () => {
  const tasks = JSON.parse(await Deno.readTextFile(new URL("../../deno.json", import.meta.url)))
    .tasks as Record<string, string>;
  const task = tasks.vfsh.split(" ");
  const args = vfshArgs(["-c", "api-version"]);
  // Everything the task passes but the history file it may write.
  const wanted = task.slice(2, task.indexOf("shell/start.ts"))
    .filter((f) => !f.startsWith("--allow-write"));
  assert.deepEqual(args.slice(1, 1 + wanted.length), wanted);
  assert.ok(args[1 + wanted.length].endsWith("/shell/start.ts"));
});
