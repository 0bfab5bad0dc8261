import { deepStrictEqual, equal, match, ok } from "node:assert/strict";
import { expandTemplate, scenarioCommand } from "./lane.ts";
import { discoverScenarios, SCENARIOS, VARIANT_COMMANDS } from "./scenarios.ts";

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
