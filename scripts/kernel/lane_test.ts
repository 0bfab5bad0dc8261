import { deepStrictEqual, equal, match, ok } from "node:assert/strict";
import { auditModes, expandTemplate, scenarioCommand, splitRunTranscript } from "./lane.ts";
import {
  AUDIT,
  auditArgs,
  discoverScenarios,
  maskLines,
  SCENARIOS,
  VARIANT_COMMANDS,
} from "./scenarios.ts";

Deno.test("expandTemplate quotes substituted values and keeps unknown placeholders", () => {
  equal(
    expandTemplate("{deno} run {file} {other}", { deno: "/x/deno", file: "a b.vfs" }),
    "/x/deno run 'a b.vfs' {other}",
  );
});

Deno.test("default commands run the shell with the kernel and sim backends", () => {
  const file = "tests/scenarios/a.vfs";
  const guest = scenarioCommand("guest", "legacy", { file });
  ok(guest.startsWith(Deno.execPath()));
  match(guest, /shell\/main\.ts run --backend kernel tests\/scenarios\/a\.vfs$/);
  match(guest, /--allow-ffi/);
  const host = scenarioCommand("host", "iommufd-compat", { file });
  match(host, /--backend sim --kernel-version 6\.12\.117 tests\/scenarios\/a\.vfs$/);
  const edu = scenarioCommand("host", "legacy", { file, vm: "vtd-edu" });
  match(edu, /--profile intel-vtd tests\/scenarios\/a\.vfs$/);
  ok(!scenarioCommand("guest", "legacy", { file, vm: "vtd-edu" }).includes("--profile"));
  const amd = scenarioCommand("host", "iommufd-compat", { file, vm: "amdvi-edu" });
  match(amd, /--profile amd-vi tests\/scenarios\/a\.vfs$/);
  const custom = scenarioCommand("host", "legacy", { file: "f.vfs" }, "cat {file} # {variant}");
  equal(custom, "cat f.vfs # legacy");
});

Deno.test("every variant has commands and a container kind", () => {
  deepStrictEqual(Object.keys(VARIANT_COMMANDS).sort(), ["iommufd-compat", "legacy"]);
  equal(VARIANT_COMMANDS["iommufd-compat"].containerKind, "iommufd");
  equal(VARIANT_COMMANDS.legacy.containerKind, "vfio");
});

Deno.test("discoverScenarios lists .vfs files sorted, merged with the table", async () => {
  const dir = await Deno.makeTempDir({ prefix: "vfsh-scenarios-" });
  try {
    for (const f of ["b.vfs", "a.vfs", "notes.txt"]) await Deno.writeTextFile(`${dir}/${f}`, "");
    SCENARIOS["b"] = { mock: true };
    const found = await discoverScenarios(dir, "tests/scenarios");
    deepStrictEqual(found, [
      { name: "a", file: "tests/scenarios/a.vfs" },
      { mock: true, name: "b", file: "tests/scenarios/b.vfs" },
    ]);
    deepStrictEqual(await discoverScenarios(`${dir}/missing`), []);
  } finally {
    delete SCENARIOS["b"];
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("splitRunTranscript cuts `vfsh run FILE…` output at the == headers", () => {
  const out = [
    "== a.vfs",
    "1> api-version",
    "ok  value=0",
    "PASS a.vfs: 0 passed, 0 failed",
    "== b.vfs",
    "FAIL b.vfs: 0 passed, 1 failed",
    "0 passed, 1 failed",
    "",
  ].join("\n");
  deepStrictEqual(
    splitRunTranscript(out),
    new Map([
      ["a.vfs", "== a.vfs\n1> api-version\nok  value=0\nPASS a.vfs: 0 passed, 0 failed"],
      ["b.vfs", "== b.vfs\nFAIL b.vfs: 0 passed, 1 failed"],
    ]),
  );
  deepStrictEqual(splitRunTranscript("error: no ffi\n"), new Map());
});

Deno.test("the audit runs every mode a variant serves, the host as the same machine", () => {
  deepStrictEqual(auditModes("iommufd-compat"), [
    "iommufd_compat_type1",
    "iommufd_compat_type1v2",
    "iommufd",
  ]);
  equal(auditModes("legacy").length, 5);
  deepStrictEqual(auditModes("legacy", ["iommufd"]), ["iommufd"]);
  const host = auditArgs("host", "legacy", "vfio_type1_iommu", ["x.vfs", "y.vfs"]).join(" ");
  match(
    host,
    /--backend sim --kernel-version 6\.12\.117 --profile intel-vtd --container legacy --mode vfio_type1_iommu x\.vfs y\.vfs$/,
  );
  match(auditArgs("host", "iommufd-compat", "iommufd", ["x.vfs"]).join(" "), /--container iommufd/);
  const guest = auditArgs("guest", "legacy", "iommufd", ["x.vfs"]).join(" ");
  match(guest, /--backend kernel --mode iommufd x\.vfs$/);
  for (const reason of Object.values(AUDIT.exclude)) ok(reason.length > 20);
});

Deno.test("maskLines hides the results of the listed lines only", () => {
  const part = "== f\n3> map 1\nEFAULT (Bad address)\n4> info\nok  x=1\nPASS f: 0 passed, 0 failed";
  equal(
    maskLines(part, [3], "why"),
    "== f\n3> map 1\n(not compared: why)\n4> info\nok  x=1\nPASS f: 0 passed, 0 failed",
  );
  equal(maskLines(part, [9], "why"), part);
});
