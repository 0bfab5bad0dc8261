/** `vfsh compare`: runs per mode and kernel, only differing commands, grouping, CLI. */

import { deepStrictEqual, ok, strictEqual } from "node:assert";
import {
  compareJson,
  compareRuns,
  compareScript,
  describeRuns,
  formatCompare,
  groupResults,
  NOT_RUN,
  parseKernels,
} from "./compare.ts";
import { main } from "./main.ts";

const SCRIPT = [
  "container setup",
  "map 0x100000 2M rw",
  "unmap 0x100000 1M",
  "unmap --all",
].join("\n");

Deno.test("compare: one run per mode and kernel, labelled mode@kernel when kernels vary", () => {
  deepStrictEqual(compareRuns({ modes: ["iommufd"] }).map((r) => r.label), ["iommufd"]);
  deepStrictEqual(
    compareRuns({ modes: ["iommufd", "vfio_type1_iommu"], kernels: ["6.2", "6.18"] }).map((r) =>
      r.label
    ),
    ["iommufd@6.2", "iommufd@6.18", "vfio_type1_iommu@6.2", "vfio_type1_iommu@6.18"],
  );
  strictEqual(compareRuns().length, 5, "all five modes by default");
});

Deno.test("compare: only commands whose results differ are reported, with file:line", async () => {
  const r = await compareScript(SCRIPT, "t.vfs", { profile: "intel-vtd" });
  strictEqual(r.commands, 4);
  strictEqual(r.failed, false);
  deepStrictEqual(r.diffs.map((d) => d.line), [3, 4]);
  deepStrictEqual(r.diffs[0].results, {
    vfio_type1_iommu: "ok  unmapped=0x200000",
    vfio_type1v2_iommu: "EINVAL (Invalid argument)",
    iommufd_compat_type1: "ok  unmapped=0x100000",
    iommufd_compat_type1v2: "ENOENT (No such file or directory)",
    iommufd: "ENOENT (No such file or directory)",
  });
});

Deno.test("compare: kernels are compared too (legacy overflow errno changed in 6.18)", async () => {
  const r = await compareScript(
    "container setup\nmap 0xfffffffffffff000 8K rw",
    "o.vfs",
    { modes: ["vfio_type1v2_iommu"], kernels: ["6.12", "6.18"], profile: "intel-vtd" },
  );
  deepStrictEqual(r.diffs[0].results, {
    "vfio_type1v2_iommu@6.12": "EINVAL (Invalid argument)",
    "vfio_type1v2_iommu@6.18": "EOVERFLOW (Value too large for defined data type)",
  });
});

Deno.test("compare: a run that stops early shows (not run) for the rest", async () => {
  const r = await compareScript(
    "container setup\nlet x = unmap 0x100000 1M\necho $x",
    "s.vfs",
    { modes: ["vfio_type1_iommu", "iommufd"], profile: "intel-vtd" },
  );
  strictEqual(r.errors.length, 1);
  strictEqual(r.errors[0].run, "iommufd");
  deepStrictEqual(r.diffs.map((d) => d.results), [
    { vfio_type1_iommu: "ok  unmapped=0x0", iommufd: "ENOENT (No such file or directory)" },
    { vfio_type1_iommu: "ok  text=0", iommufd: NOT_RUN },
  ]);
});

Deno.test("compare: a script that cannot run at all is reported failed", async () => {
  const r = await compareScript("no-such-command 1", "bad.vfs", { modes: ["iommufd"] });
  strictEqual(r.failed, true);
});

Deno.test("compare: an error every run met is said once, others with their runs", async () => {
  const modes = ["vfio_type1_iommu", "iommufd_compat_type1", "iommufd"] as const;
  const runs = compareRuns({ modes: [...modes] });
  const bad = await compareScript("let x = 1/0", "bad.vfs", { modes: [...modes] });
  strictEqual(bad.errors.length, 3);
  const partly = await compareScript(
    "container setup\nlet x = unmap 0x100000 1M\necho $x",
    "part.vfs",
    { modes: [...modes], profile: "intel-vtd" },
  );
  const lines = formatCompare({ runs, files: [bad, partly] }).filter((l) => l.includes("error"));
  deepStrictEqual(lines, [
    "  error: bad.vfs:1:10: division by zero",
    "  error in iommufd: part.vfs:2:5: let x: 'unmap' failed with ENOENT, nothing to bind",
  ]);
});

Deno.test("compare: with a client preset the verdicts are compared too", async () => {
  const r = await compareScript("container setup\nunmap 0x1000000 2M", "q.vfs", {
    modes: ["iommufd_compat_type1v2", "iommufd"],
    kernels: ["6.18"],
    profile: "intel-vtd",
    like: "qemu",
  });
  deepStrictEqual(r.diffs[0].results, {
    iommufd_compat_type1v2: "ok  unmapped=0x0  [qemu: ok]",
    iommufd: "ENOENT (No such file or directory)  [qemu: ok, ENOENT taken as success]",
  });
});

Deno.test("compare: equal results are grouped and their runs named briefly", async () => {
  const o = { modes: ["vfio_type1_iommu", "iommufd_compat_type1v2", "iommufd"] as const };
  const runs = compareRuns({ ...o, kernels: ["6.6", "6.18"] });
  const r = await compareScript("container setup\nunmap 0x1000000 2M", "e.vfs", {
    ...o,
    kernels: ["6.6", "6.18"],
    profile: "intel-vtd",
  });
  const groups = groupResults(r.diffs[0], runs);
  deepStrictEqual(groups.map((g) => [g.result, describeRuns(g.runs, runs)]), [
    ["ok  unmapped=0x0", "vfio_type1_iommu; iommufd_compat_type1v2 @6.18"],
    ["ENOENT (No such file or directory)", "iommufd_compat_type1v2 @6.6; iommufd"],
  ]);
  const text = formatCompare({ runs, files: [r] }).join("\n");
  ok(text.includes("e.vfs:2  unmap 0x1000000 2M"));
  ok(text.includes("1 differing command in 1 file"));
  const json = compareJson({ runs, files: [r] });
  strictEqual(json.differing, 1);
});

Deno.test("compare: kernel lists are checked", () => {
  deepStrictEqual(parseKernels("6.2, 6.18,6.2"), ["6.2", "6.18"]);
  let msg = "";
  try {
    parseKernels("5.10");
  } catch (e) {
    msg = (e as Error).message;
  }
  ok(msg.includes("unknown kernel release '5.10'"));
});

async function cli(args: string[]): Promise<{ status: number; out: string }> {
  const chunks: Uint8Array[] = [];
  const orig = Deno.stdout.writeSync;
  const origErr = console.error;
  let err = "";
  Deno.stdout.writeSync = (b: Uint8Array) => {
    chunks.push(b.slice());
    return b.length;
  };
  console.error = (...a: unknown[]) => {
    err += a.join(" ") + "\n";
  };
  try {
    const status = await main(args);
    return { status, out: new TextDecoder().decode(concat(chunks)) + err };
  } finally {
    Deno.stdout.writeSync = orig;
    console.error = origErr;
  }
}

function concat(parts: Uint8Array[]): Uint8Array {
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  let o = 0;
  for (const p of parts) {
    out.set(p, o);
    o += p.length;
  }
  return out;
}

Deno.test("compare CLI: exit 0 whatever it found, --json for tools, 2 when it could not run", async () => {
  const dir = Deno.makeTempDirSync();
  try {
    Deno.writeTextFileSync(`${dir}/a.vfs`, SCRIPT);
    const human = await cli(["compare", `${dir}/a.vfs`, "--profile", "intel-vtd"]);
    strictEqual(human.status, 0);
    ok(human.out.includes(`${dir}/a.vfs:3  unmap 0x100000 1M`));
    const json = await cli([
      "compare",
      `${dir}/a.vfs`,
      "--modes",
      "vfio_type1_iommu,iommufd",
      "--kernels",
      "6.6,6.18",
      "--json",
    ]);
    strictEqual(json.status, 0);
    const parsed = JSON.parse(json.out);
    deepStrictEqual(parsed.runs, [
      "vfio_type1_iommu@6.6",
      "vfio_type1_iommu@6.18",
      "iommufd@6.6",
      "iommufd@6.18",
    ]);
    strictEqual(parsed.files[0].differences[0].line, 3);
    strictEqual((await cli(["compare", `${dir}/missing.vfs`])).status, 2);
    strictEqual((await cli(["compare", `${dir}/a.vfs`, "--modes", "nope"])).status, 2);
    strictEqual((await cli(["run", `${dir}/a.vfs`, "--modes", "iommufd"])).status, 2);
  } finally {
    Deno.removeSync(dir, { recursive: true });
  }
});
