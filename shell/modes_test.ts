/** Modes and `container setup`: one script, five ways of setting up a container. */

import { deepStrictEqual, ok, strictEqual } from "node:assert";
import { SimKernel } from "../sim/kernel.ts";
import { createSession, type Session } from "./session.ts";
import { applyMode, MODE_NAMES, nativeIoas, parseModes, sessionMode } from "./modes.ts";
import { main } from "./main.ts";

async function session(
  profile = "intel-vtd",
): Promise<{ s: Session; k: SimKernel; out: () => string }> {
  let text = "";
  const k = new SimKernel({ profile });
  const s = await createSession({ kernel: k, write: (t) => (text += t), json: true });
  return { s, k, out: () => text };
}

function results(text: string): Record<string, unknown>[] {
  return text.split("\n").filter((l) => l.startsWith("{")).map((l) => JSON.parse(l))
    .filter((o) => "command" in o);
}

Deno.test("modes: the five VFIO selftest names, parsed from a list", () => {
  deepStrictEqual(MODE_NAMES, [
    "vfio_type1_iommu",
    "vfio_type1v2_iommu",
    "iommufd_compat_type1",
    "iommufd_compat_type1v2",
    "iommufd",
  ]);
  deepStrictEqual(parseModes("iommufd,vfio_type1_iommu,iommufd"), ["iommufd", "vfio_type1_iommu"]);
  deepStrictEqual(parseModes("all"), [...MODE_NAMES]);
});

Deno.test("modes: a legacy mode makes the simulator's /dev/vfio/vfio the type1 container", async () => {
  const { s, k } = await session();
  strictEqual(k.container(), "iommufd");
  applyMode(k, s.state, "vfio_type1v2_iommu");
  strictEqual(k.container(), "legacy");
  strictEqual(sessionMode(s.state), "vfio_type1v2_iommu");
  s.close();
});

Deno.test("container setup: every mode ends with a working container and a device open", async () => {
  for (const mode of MODE_NAMES) {
    const { s, out } = await session();
    await s.runScript(`container setup --mode ${mode}\nmap 0x100000 2M rw\ninfo`, "t.vfs");
    const r = results(out());
    deepStrictEqual(r.map((x) => x.ok), [true, true, true], mode);
    strictEqual((r[0].fields as Record<string, unknown>).device, "0000:00:03.0");
    strictEqual((r[2].fields as Record<string, unknown>).pgsizes, "0x40201000", `${mode}: domain`);
    strictEqual(s.state.devices.size, 1);
    s.close();
  }
});

Deno.test("container setup: iommufd mode runs map/unmap as IOAS_MAP/IOAS_UNMAP on its IOAS", async () => {
  const { s, k, out } = await session();
  await s.runScript(
    "container setup --mode iommufd\nmap 0x100000 2M rw\nunmap 0x100000 1M\nunmap --all",
    "t.vfs",
  );
  const r = results(out());
  deepStrictEqual(r.map((x) => (x.fields as Record<string, unknown>).ioctl), [
    undefined,
    "IOMMU_IOAS_MAP",
    "IOMMU_IOAS_UNMAP",
    "IOMMU_IOAS_UNMAP",
  ]);
  strictEqual((r[2].errno as { name: string }).name, "ENOENT", "native unmap cannot split");
  strictEqual((r[3].fields as Record<string, unknown>).unmapped, "0x200000");
  strictEqual(nativeIoas(s.state, s.state.container), 1);
  strictEqual(k.container(), "iommufd");
  s.close();
});

Deno.test("container setup: --until stops after a step, --from carries on with the same container", async () => {
  const { s, out } = await session();
  await s.runScript(
    "mode vfio_type1v2_iommu\ncontainer setup --until set-container\nmap 0x100000 4K rw\n" +
      "container setup --from set-iommu\nmap 0x100000 4K rw",
    "t.vfs",
  );
  const r = results(out());
  strictEqual((r[2].errno as { name: string }).name, "EINVAL", "no SET_IOMMU yet");
  strictEqual(r[3].ok, true);
  strictEqual(r[4].ok, true);
  strictEqual(s.state.containers.size, 1);
  s.close();
});

Deno.test("container setup: a failing step is the result's errno and names the step", async () => {
  const { s, out } = await session();
  await s.runScript(
    "mode vfio_type1_iommu\ncontainer setup --until set-iommu\ncontainer setup --from set-iommu",
    "t.vfs",
  );
  const r = results(out());
  strictEqual((r[2].errno as { name: string }).name, "EINVAL");
  strictEqual((r[2].fields as Record<string, unknown>).step, "VFIO_SET_IOMMU");
  s.close();
});

Deno.test("device close / group close: the group leaves its legacy container", async () => {
  const { s, out } = await session();
  await s.runScript(
    "container setup --mode vfio_type1v2_iommu\ngroup unset-container\ndevice close\n" +
      "group close\ninfo",
    "t.vfs",
  );
  const r = results(out());
  deepStrictEqual(
    r.map((x) => x.ok ? "ok" : (x.errno as { name: string }).name),
    ["ok", "EBUSY", "ok", "ok", "EINVAL"],
  );
  strictEqual(s.state.groups.size, 0);
  s.close();
});

Deno.test("unmap --writeback shows the size field after the call, on error too", async () => {
  const { s, out } = await session();
  await s.runScript(
    "container setup --mode vfio_type1v2_iommu\nmap 0x100000 2M rw\nunmap 0x100000 1M --writeback",
    "t.vfs",
  );
  const r = results(out());
  strictEqual((r[2].fields as Record<string, unknown>).written_size, "0x100000");
  s.close();
});

Deno.test("vfsh run --mode: the script runs in that mode; an unknown mode is refused", async () => {
  const dir = Deno.makeTempDirSync();
  const log = console.error;
  console.error = () => {};
  try {
    Deno.writeTextFileSync(
      `${dir}/m.vfs`,
      "container setup\ncheck-extension UPDATE_VADDR => 1\nmode => mode=vfio_type1v2_iommu\n",
    );
    const write = Deno.stdout.writeSync;
    Deno.stdout.writeSync = (b: Uint8Array) => b.length;
    try {
      strictEqual(
        await main([
          "run",
          "--profile",
          "intel-vtd",
          "--mode",
          "vfio_type1v2_iommu",
          `${dir}/m.vfs`,
        ]),
        0,
      );
      strictEqual(await main(["run", "--profile", "intel-vtd", `${dir}/m.vfs`]), 1);
      strictEqual(await main(["run", "--mode", "type2", `${dir}/m.vfs`]), 2);
      strictEqual(await main(["run", "--like", "libfoo", `${dir}/m.vfs`]), 2);
    } finally {
      Deno.stdout.writeSync = write;
    }
  } finally {
    console.error = log;
    Deno.removeSync(dir, { recursive: true });
  }
  ok(true);
});
