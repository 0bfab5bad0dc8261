import { deepStrictEqual, equal, match, ok } from "node:assert/strict";
import { dropLines, type GuestMachine, isUntranslatable, translateMachine } from "./machine.ts";
import { machineGuestCommand } from "./lane.ts";
import { discoverAudit } from "./scenarios.ts";

const PARAM = "/sys/module/vfio_iommu_type1/parameters/dma_entry_limit";

function machine(text: string): GuestMachine {
  const m = translateMachine(text);
  if (m === undefined || isUntranslatable(m)) throw new Error(`not a machine: ${text}`);
  return m;
}

Deno.test("a file without sim lines runs as it is", () => {
  equal(translateMachine("# sim in a comment\ncontainer setup\nmap 0x1000 4K rw\n"), undefined);
});

Deno.test("sim dma-entry-limit sets the type1 module parameter, and puts the default back", () => {
  const m = machine("# audit: x\nsim dma-entry-limit 3   # row 23\ncontainer setup\n");
  deepStrictEqual(m.lines, [2]);
  deepStrictEqual(m.before, [`if [ -e ${PARAM} ]; then echo 3 > ${PARAM}; fi`]);
  deepStrictEqual(m.after, [`if [ -e ${PARAM} ]; then echo 65535 > ${PARAM}; fi`]);
  deepStrictEqual(m.wrap, []);
  deepStrictEqual(m.summary, ["dma_entry_limit=3"]);
  equal(m.guestText, "# audit: x\n\ncontainer setup\n");
});

Deno.test("sim privileged off and sim rlimit memlock wrap the run in prlimit and setpriv", () => {
  const m = machine("sim privileged off\nsim rlimit memlock 1M\ncontainer setup");
  deepStrictEqual(m.lines, [1, 2]);
  deepStrictEqual(m.wrap, [
    "prlimit --memlock=1048576:1048576 --",
    "setpriv --bounding-set=-ipc_lock,-sys_resource,-sys_rawio --",
  ]);
  equal(m.guestText, "\n\ncontainer setup");
  deepStrictEqual(m.summary, [
    "RLIMIT_MEMLOCK=1048576",
    "without CAP_IPC_LOCK/SYS_RESOURCE/SYS_RAWIO",
  ]);
  deepStrictEqual(machine("sim rlimit memlock 0xffffffffffffffff\nx").wrap, [
    "prlimit --memlock=unlimited:unlimited --",
  ]);
  deepStrictEqual(machine("sim privileged on\nx").wrap, []);
});

Deno.test("a sim control with no real counterpart keeps the file simulator-only, naming the line", () => {
  const t = translateMachine("# x\n\nsim device add 0000:01:00.0 --profile amd-vi\nmap 1 1 rw\n");
  ok(t !== undefined && isUntranslatable(t));
  equal(t.line, 3);
  match(t.why, /sim device add 0000:01:00\.0 --profile amd-vi.*no counterpart/);
});

Deno.test("a sim line after the first command cannot be built before the run", () => {
  const t = translateMachine("container setup\nsim dma-entry-limit 3\n");
  ok(t !== undefined && isUntranslatable(t));
  equal(t.line, 2);
  match(t.why, /after the first command/);
  const bad = translateMachine("sim rlimit memlock lots\n");
  ok(bad !== undefined && isUntranslatable(bad) && /not a byte count/.test(bad.why));
});

Deno.test("dropLines removes the echo and the result of the listed lines only", () => {
  const part = "== f\n# c\n2> sim x\nok\n3> info\nok  a=1\nPASS f: 0 passed, 0 failed";
  equal(dropLines(part, [2]), "== f\n# c\n3> info\nok  a=1\nPASS f: 0 passed, 0 failed");
  equal(dropLines(part, [7]), part);
});

Deno.test("the guest command writes the copy, builds the machine and keeps the run's status", () => {
  const m = machine("sim dma-entry-limit 3\ncontainer setup\n");
  const s = { name: "11_x", file: "tests/audit/11_x.vfs", machine: m };
  const cmd = machineGuestCommand("legacy", "vfio_type1v2_iommu", s);
  const lines = cmd.split("\n");
  equal(lines[0], "mkdir -p /run/vfsh-machine");
  equal(lines[1], "cat > /run/vfsh-machine/11_x.vfs <<'VFSH_EOF'");
  deepStrictEqual(lines.slice(2, 5), ["", "container setup", "VFSH_EOF"]);
  equal(lines[5], m.before[0]);
  match(lines[6], /--backend kernel --mode vfio_type1v2_iommu \/run\/vfsh-machine\/11_x\.vfs$/);
  deepStrictEqual(lines.slice(7), ["rc=$?", m.after[0], "(exit $rc)"]);
});

Deno.test("the audit corpus: the dma_entry_limit and memlock files run on a built machine", async () => {
  const a = await discoverAudit(new URL("../../tests/audit", import.meta.url).pathname);
  const machines = a.machine.map((s) => s.name);
  ok(machines.includes("11_dma_entry_limit"), machines.join(", "));
  ok(machines.includes("12_memlock"), machines.join(", "));
  ok(a.skipped.some((s) => s.name === "20_several_groups"));
  ok(!a.run.some((s) => machines.includes(s.name)));
});
