import { equal, ok } from "node:assert/strict";
import { GUEST_INIT, initramfsEntries, isStaticElf, TAGS } from "./initramfs.ts";

/** A 64-bit little-endian ELF header with the given program header types. */
function elf(types: number[]): Uint8Array {
  const bytes = new Uint8Array(64 + 56 * types.length);
  const v = new DataView(bytes.buffer);
  v.setUint32(0, 0x7f454c46);
  bytes[4] = 2;
  v.setBigUint64(0x20, 64n, true);
  v.setUint16(0x36, 56, true);
  v.setUint16(0x38, types.length, true);
  types.forEach((t, i) => v.setUint32(64 + 56 * i, t, true));
  return bytes;
}

Deno.test("isStaticElf looks for PT_INTERP", async () => {
  equal(isStaticElf(elf([1, 1])), true);
  equal(isStaticElf(elf([6, 3, 1])), false);
  equal(isStaticElf(new TextEncoder().encode("#!/bin/sh\n")), false);
  // The Deno binary running this test is dynamically linked.
  equal(isStaticElf(await Deno.readFile(Deno.execPath())), false);
});

Deno.test("the guest init is valid shell and uses the QEMU tags", async () => {
  const out = await new Deno.Command("/bin/sh", { args: ["-n", "-c", GUEST_INIT] }).output();
  equal(out.code, 0, new TextDecoder().decode(out.stderr));
  for (const tag of [TAGS.hostRoot, TAGS.control, TAGS.sharePrefix]) ok(GUEST_INIT.includes(tag));
  ok(GUEST_INIT.includes("vfsh.shares="));
});

Deno.test("the archive has /init, busybox and a console node", () => {
  const entries = initramfsEntries(new Uint8Array([1, 2, 3]));
  const byPath = new Map(entries.map((e) => [e.path, e]));
  equal(byPath.get("init")?.kind, "file");
  equal(byPath.get("bin/busybox")?.kind, "file");
  const consoleNode = byPath.get("dev/console");
  ok(consoleNode?.kind === "chardev" && consoleNode.major === 5 && consoleNode.minor === 1);
  const dirs = entries.filter((e) => e.kind === "dir").map((e) => e.path);
  for (const d of ["dev", "proc", "sys", "host", "ctl", "run"]) ok(dirs.includes(d), d);
});
