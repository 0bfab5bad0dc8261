/**
 * `container setup` and its neighbours where no simulator is there to ask (the kernel
 * backend), and the one-line refusals of commands given nothing to act on.
 */

import { deepStrictEqual, strictEqual } from "node:assert";
import { SimKernel } from "../../sim/kernel.ts";
import type { Kernel } from "../../uapi/kernel.ts";
import { kernelLike } from "../../tests/_sim_helpers.ts";
import { createSession } from "../session.ts";

/** Run `lines` typed one by one; the output's lines. */
async function typed(lines: string[], kernel: Kernel = new SimKernel()): Promise<string[]> {
  let text = "";
  const s = await createSession({ kernel, write: (t) => (text += t) });
  for (const l of lines) await s.runLine(l);
  s.close();
  return text.split("\n").filter((l) => l !== "");
}

/** Set environment variables for the length of `f`. */
async function withEnv(vars: Record<string, string>, f: () => Promise<void>): Promise<void> {
  const old = Object.fromEntries(Object.keys(vars).map((k) => [k, Deno.env.get(k)]));
  for (const [k, v] of Object.entries(vars)) Deno.env.set(k, v);
  try {
    await f();
  } finally {
    for (const [k, v] of Object.entries(old)) {
      if (v === undefined) Deno.env.delete(k);
      else Deno.env.set(k, v);
    }
  }
}

Deno.test("container setup on the kernel backend without --group or VFSH_GROUP says what it needs", async () => {
  await withEnv({ VFSH_GROUP: "" }, async () => {
    deepStrictEqual(
      await typed(["container setup"], kernelLike(new SimKernel({ profile: "intel-vtd" }))),
      [
        "error: container setup: --group N is needed on the kernel backend (and --device NAME to " +
        "open one), or VFSH_GROUP=N and VFSH_DEVICE=NAME in the environment",
      ],
    );
  });
});

Deno.test("container setup on the kernel backend takes its group and device from VFSH_GROUP and VFSH_DEVICE", async () => {
  await withEnv({ VFSH_GROUP: "3", VFSH_DEVICE: "0000:00:03.0" }, async () => {
    const out = await typed(
      ["container setup"],
      kernelLike(new SimKernel({ profile: "intel-vtd" })),
    );
    strictEqual(out.length, 1, out.join("\n"));
    strictEqual(out[0].startsWith("ok "), true, out[0]);
    strictEqual(out[0].includes("group=3 device=0000:00:03.0"), true, out[0]);
  });
});

Deno.test("container setup: --until before --from is refused before anything is opened", async () => {
  // No container was opened: the next ioctl still has no fd to go to.
  deepStrictEqual(await typed(["container setup --from device --until open", "ioas alloc"]), [
    "error: container setup: --until open comes before --from device",
    "EBADF (Bad file descriptor)",
  ]);
});

Deno.test("device close, group close and dirty-bitmap refuse what they cannot act on", async () => {
  deepStrictEqual(
    await typed([
      "device close 99",
      "group close",
      "container open",
      "ioas alloc",
      "dirty-bitmap 0 0x100000000000",
    ]),
    [
      "error: device close: fd 99 is not a device fd of this shell",
      "error: group close: no current group (group open N)",
      "ok  fd=3",
      "ok  id=1",
      "error: dirty-bitmap: a 536870912-byte bitmap is larger than the shell will allocate",
    ],
  );
});

Deno.test("sim commands on the kernel backend say they are simulator-only", async () => {
  deepStrictEqual(
    await typed(
      ["sim container legacy", "sim dma-entry-limit 4"],
      kernelLike(new SimKernel({ profile: "intel-vtd" })),
    ),
    [
      "error: sim container: 'sim container' is simulator-only (this session runs on the kernel backend)",
      "error: sim dma-entry-limit: 'sim dma-entry-limit' is simulator-only (this session runs on the kernel backend)",
    ],
  );
});

Deno.test("container open: a missing node gets the hint for that node", async () => {
  // A machine with no VFIO or iommufd device nodes at all.
  const bare: Kernel = { ...kernelLike(new SimKernel()), open: () => -2 };
  deepStrictEqual(
    await typed(
      [
        "container open",
        "container open /dev/vfio/vfio",
        "container open /dev/vfio/7",
        "container open /dev/vfio/noiommu-0",
        "container open /dev/iommuu",
      ],
      bare,
    ),
    [
      "ENOENT (No such file or directory)",
      "hint: no /dev/iommu: the iommufd module is not loaded (modprobe iommufd), or the kernel is older than 6.2",
      "ENOENT (No such file or directory)",
      "hint: no /dev/vfio/vfio: the vfio module is not loaded (modprobe vfio), or iommufd was built without CONFIG_IOMMUFD_VFIO_CONTAINER",
      "ENOENT (No such file or directory)",
      "hint: /dev/vfio/7 is a group, not a container: group open 7",
      "ENOENT (No such file or directory)",
      "hint: /dev/vfio/noiommu-0 is a group, not a container: group open 0 --noiommu",
      "ENOENT (No such file or directory)",
      "hint: no /dev/iommuu: a container is /dev/iommu or /dev/vfio/vfio",
    ],
  );
});
