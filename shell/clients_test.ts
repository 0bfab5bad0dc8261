/** Client presets: each client's error-tolerance policy, as a note after each result. */

import { deepStrictEqual, ok, strictEqual } from "node:assert";
import { createSimKernel } from "../sim/mod.ts";
import { type ClientName, clientVerdict, dmaOp, type ResultEvent } from "./clients.ts";
import { createSession } from "./session.ts";
import { E } from "../uapi/errno.ts";
import type { ShellState } from "./plugin_api.ts";

function ev(
  command: string,
  errno: number,
  fields: Record<string, bigint | string> = {},
  args: Record<string, unknown> = {},
  options: Record<string, unknown> = {},
): ResultEvent {
  return {
    command,
    text: command,
    file: "t.vfs",
    line: 1,
    errno,
    fields,
    formats: new Map(),
    args,
    options,
    state: {} as ShellState,
  };
}

const v = (c: ClientName, e: ResultEvent) => clientVerdict(c, e);

Deno.test("clients: which ioctl a result came from (map/unmap in iommufd mode say so)", () => {
  strictEqual(dmaOp(ev("map", 0)), "MAP_DMA");
  strictEqual(dmaOp(ev("map", 0, { ioctl: "IOMMU_IOAS_MAP" })), "IOAS_MAP");
  strictEqual(dmaOp(ev("unmap", E.ENOENT, { ioctl: "IOMMU_IOAS_UNMAP" })), "IOAS_UNMAP");
  strictEqual(dmaOp(ev("ioas unmap", 0)), "IOAS_UNMAP");
  strictEqual(dmaOp(ev("info", 0)), "other");
});

Deno.test("qemu: ENOENT from IOAS_UNMAP is success (iommufd backend), not from UNMAP_DMA", () => {
  strictEqual(v("qemu", ev("ioas unmap", E.ENOENT)), "ok, ENOENT taken as success");
  strictEqual(
    v("qemu", ev("unmap", E.ENOENT, { ioctl: "IOMMU_IOAS_UNMAP" })),
    "ok, ENOENT taken as success",
  );
  strictEqual(v("qemu", ev("unmap", E.ENOENT)), "ENOENT reported, goes on");
  strictEqual(v("qemu", ev("ioas unmap", E.EINVAL)), "EINVAL reported, goes on");
});

Deno.test("qemu: a failed map is fatal; EBUSY on the legacy map is retried after an unmap", () => {
  strictEqual(
    v("qemu", ev("map", E.EINVAL)),
    "fatal: EINVAL, DMA mapping failed, unable to continue",
  );
  strictEqual(v("qemu", ev("map", E.EBUSY)), "unmaps the range and retries once");
  strictEqual(
    v("qemu", ev("ioas map", E.EFAULT)),
    "fatal: IOMMU_IOAS_MAP failed: Bad address, PCI BAR?",
  );
  strictEqual(v("qemu", ev("map", 0)), "ok");
});

Deno.test("dpdk: EEXIST on map is skipped; an unmap must return exactly the requested size", () => {
  strictEqual(v("dpdk", ev("map", E.EEXIST)), "ok, already mapped, skipping");
  strictEqual(v("dpdk", ev("map", E.ENOSPC)), "ENOSPC");
  strictEqual(
    v("dpdk", ev("unmap", 0, { unmapped: 0x200000n }, { size: 0x100000n }, { all: false })),
    "EIO, unmap size mismatch",
  );
  strictEqual(
    v("dpdk", ev("unmap", 0, { unmapped: 0x100000n }, { size: 0x100000n }, { all: false })),
    "ok",
  );
  strictEqual(v("dpdk", ev("unmap", 0, { unmapped: 0n }, {}, { all: true })), "ok", "no size");
  strictEqual(v("dpdk", ev("set-iommu", E.ENODEV)), "ENODEV, tries the next IOMMU type");
  strictEqual(v("dpdk", ev("ioas map", 0)), "n/a, DPDK drives a type1 container");
});

Deno.test("spdk: a failed map is logged and ignored", () => {
  strictEqual(
    v("spdk", ev("map", E.EINVAL)),
    'ignored, logs "Cannot set up DMA mapping, error -22"',
  );
  strictEqual(v("spdk", ev("unmap", E.EINVAL)), "EINVAL");
});

Deno.test("rust-vmm: map/unmap errors are errors; unmap size must match (InvalidDmaUnmapSize)", () => {
  strictEqual(v("rust-vmm", ev("map", E.EEXIST)), "IommuDmaMap error (EEXIST)");
  strictEqual(v("rust-vmm", ev("unmap", E.ENOENT)), "IommuDmaUnmap error (ENOENT)");
  strictEqual(
    v("rust-vmm", ev("unmap", 0, { unmapped: 0n }, { size: 0x1000n }, { all: false })),
    "InvalidDmaUnmapSize",
  );
});

async function transcript(script: string, like?: ClientName): Promise<string> {
  let out = "";
  const s = await createSession({
    kernel: createSimKernel({ profile: "intel-vtd" }),
    like,
    write: (t) => {
      out += t;
    },
  });
  await s.runScript(script, "t.vfs");
  s.close();
  return out;
}

Deno.test("--like: each result line says what the client concludes", async () => {
  const out = await transcript(
    "container setup --mode iommufd\nmap 0x100000 2M rw\nunmap 0x100000 1M\nunmap 0x100000 2M",
    "qemu",
  );
  const lines = out.split("\n").filter((l) => !/^\d+> |^==|^PASS/.test(l) && l !== "");
  deepStrictEqual(lines, [
    "ok  group=3 device=0000:00:03.0  [qemu: ok]",
    "ok  iova=0x100000  [qemu: ok]",
    "ENOENT (No such file or directory)  [qemu: ok, ENOENT taken as success]",
    "ok  unmapped=0x200000  [qemu: ok]",
  ]);
});

Deno.test("--like: the like command switches the preset; simulator commands get no note", async () => {
  const out = await transcript(
    "sim profile intel-vtd\nlike dpdk\ncontainer setup --mode vfio_type1_iommu\n" +
      "map 0x100000 2M rw\nunmap 0x100000 1M\nlike none\nunmap --all",
  );
  ok(out.includes("ok  unmapped=0x200000  [dpdk: EIO, unmap size mismatch]"));
  ok(out.includes("\nok  profile=intel-vtd\n"), "sim profile has no note");
  ok(out.includes("ok  unmapped=0x0\n"), "none: no note");
});
