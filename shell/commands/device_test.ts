/**
 * The device-memory and no-IOMMU commands: `device region-info`, `mem mmap-region`,
 * `sim noiommu`, `sim device add --noiommu`, `group open --noiommu`, and `container setup`
 * with a no-IOMMU group.
 */

import { deepStrictEqual, ok, strictEqual } from "node:assert";
import { SimKernel } from "../../sim/kernel.ts";
import { createSession } from "../session.ts";

async function run(script: string, opts: { profile?: string; mode?: string } = {}) {
  let text = "";
  const k = new SimKernel({ profile: opts.profile ?? "intel-vtd" });
  const s = await createSession({ kernel: k, write: (t) => (text += t), json: true });
  const prefix = opts.mode ? `mode ${opts.mode}\n` : "";
  await s.runScript(prefix + script, "t.vfs");
  const results = text.split("\n").filter((l) => l.startsWith("{")).map((l) => JSON.parse(l))
    .filter((o) => "command" in o) as {
      command: string;
      ok: boolean;
      errno: { name: string } | null;
      fields: Record<string, unknown>;
    }[];
  return { s, k, results: opts.mode ? results.slice(1) : results, text };
}

Deno.test("device region-info: BAR0 of the last device opened, by index; errors as errnos", async () => {
  const { s, results } = await run(
    "container setup\ndevice region-info 0\ndevice region-info 7\ndevice region-info 8",
  );
  deepStrictEqual(results[1].fields, {
    flags: "0x7",
    size: "0x100000",
    offset: "0x0",
    cap_offset: 0,
  });
  strictEqual(results[2].fields.offset, "0x70000000000");
  strictEqual(results[3].errno?.name, "EINVAL");
  s.close();
});

Deno.test("device region-info: without a device fd says how to get one", async () => {
  const { s, text } = await run("device region-info 0");
  ok(text.includes("no device fd"), text);
  s.close();
});

Deno.test("mem mmap-region: maps the BAR; legacy maps it for DMA, iommufd answers EFAULT", async () => {
  for (const [mode, want] of [["vfio_type1v2_iommu", true], ["iommufd_compat_type1v2", false]]) {
    const { s, k, results } = await run(
      "container setup\nmem mmap-region bar 0\nmap 0x100000 1M rw --vaddr $bar\nmem free bar",
      { mode: mode as string },
    );
    strictEqual(results[1].ok, true, `${mode}: ${JSON.stringify(results[1])}`);
    strictEqual(results[1].fields.size, "0x100000");
    strictEqual(results[2].ok, want, `${mode}: ${JSON.stringify(results[2])}`);
    if (!want) strictEqual(results[2].errno?.name, "EFAULT");
    strictEqual(results[3].ok, true);
    strictEqual(s.state.mem.has("bar"), false);
    deepStrictEqual(k.internalErrors, []);
    s.close();
  }
});

Deno.test("mem mmap-region: SIZE and --offset inside the region; past it the kernel's EINVAL", async () => {
  const { s, results, text } = await run(
    "container setup\nmem mmap-region a 0 8K --offset 0x2000\nmem mmap-region b 0 8K " +
      "--offset 0xff000\nmem mmap-region c 7\nmem mmap-region d 2",
  );
  strictEqual(results[1].fields.offset, "0x2000");
  strictEqual(results[1].fields.size, "0x2000");
  strictEqual(results[2].errno?.name, "EINVAL");
  strictEqual(results[3].errno?.name, "EINVAL", "config space cannot be mmapped");
  ok(text.includes("region 2 has 0x0 bytes"), text);
  s.close();
});

Deno.test("mem read on device memory is refused (vfsh never touches it)", async () => {
  const { s, text } = await run("container setup\nmem mmap-region bar 0\nmem read bar 0 4");
  ok(text.includes("cannot read user memory"), text);
  s.close();
});

Deno.test("sim noiommu: shows and sets; sim device add --noiommu needs it on", async () => {
  const { s, results, text } = await run(
    "sim noiommu\nsim device add 0000:00:05.0 --noiommu",
  );
  strictEqual(results[0].fields.noiommu, "off");
  ok(text.includes("enable_unsafe_noiommu_mode"), text);
  s.close();
  const r2 = await run(
    "sim noiommu on\nlet g = sim device add 0000:00:05.0 --noiommu\ngroup open $g --noiommu\n" +
      "group open $g",
  );
  strictEqual(r2.results[1].fields.group, 0);
  strictEqual(r2.results[2].ok, true);
  strictEqual(r2.results[3].errno?.name, "ENOENT");
  r2.s.close();
});

Deno.test("container setup with a no-IOMMU group: no IOAS, SET_IOMMU NOIOMMU, in every mode", async () => {
  for (
    const mode of [
      "vfio_type1_iommu",
      "vfio_type1v2_iommu",
      "iommufd_compat_type1",
      "iommufd_compat_type1v2",
      "iommufd",
    ]
  ) {
    const { s, results } = await run(
      "sim noiommu on\nlet g = sim device add 0000:00:05.0 --noiommu\n" +
        "container setup --group $g\ninfo",
      { mode },
    );
    strictEqual(results[2].ok, true, `${mode}: ${JSON.stringify(results[2])}`);
    strictEqual(results[2].fields.device, "0000:00:05.0");
    strictEqual(results[3].errno?.name, mode.startsWith("vfio") ? "ENOTTY" : "ENODEV", mode);
    s.close();
  }
});

Deno.test("container setup: the default group is the platform's first IOMMU group", async () => {
  const { s, results } = await run(
    "sim noiommu on\nsim device add 0000:00:05.0 --noiommu\ncontainer setup",
  );
  strictEqual(results[2].fields.group, 3);
  s.close();
});
