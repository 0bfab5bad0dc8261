import { deepStrictEqual, equal } from "node:assert/strict";
import { cpioNewc } from "./cpio.ts";

interface Parsed {
  name: string;
  mode: number;
  nlink: number;
  rdev: [number, number];
  data: string;
}

/** A minimal newc reader: enough to check what the writer produced. */
function parse(archive: Uint8Array): Parsed[] {
  const dec = new TextDecoder();
  const out: Parsed[] = [];
  let at = 0;
  for (;;) {
    equal(at % 4, 0, "records start 4-aligned");
    const header = dec.decode(archive.subarray(at, at + 110));
    equal(header.slice(0, 6), "070701");
    const field = (i: number) => parseInt(header.slice(6 + 8 * i, 14 + 8 * i), 16);
    const nameSize = field(11);
    const name = dec.decode(archive.subarray(at + 110, at + 110 + nameSize - 1));
    equal(archive[at + 110 + nameSize - 1], 0, "names are NUL-terminated");
    const dataAt = (at + 110 + nameSize + 3) & ~3;
    const size = field(6);
    if (name === "TRAILER!!!") return out;
    const data = dec.decode(archive.subarray(dataAt, dataAt + size));
    out.push({ name, mode: field(1), nlink: field(4), rdev: [field(9), field(10)], data });
    at = (dataAt + size + 3) & ~3;
  }
}

Deno.test("newc records round-trip through a reader", () => {
  const archive = cpioNewc([
    { kind: "dir", path: "bin" },
    { kind: "file", path: "/init", data: new TextEncoder().encode("#!/bin/sh\n"), perm: 0o755 },
    { kind: "symlink", path: "bin/sh", target: "busybox" },
    { kind: "chardev", path: "dev/console", major: 5, minor: 1 },
  ]);
  equal(archive.length % 4, 0);
  deepStrictEqual(parse(archive), [
    { name: "bin", mode: 0o040755, nlink: 2, rdev: [0, 0], data: "" },
    { name: "init", mode: 0o100755, nlink: 1, rdev: [0, 0], data: "#!/bin/sh\n" },
    { name: "bin/sh", mode: 0o120777, nlink: 1, rdev: [0, 0], data: "busybox" },
    { name: "dev/console", mode: 0o020600, nlink: 1, rdev: [5, 1], data: "" },
  ]);
});

Deno.test("odd name and data lengths are padded to 4 bytes", () => {
  for (let n = 1; n <= 8; n++) {
    const archive = cpioNewc([
      { kind: "file", path: "x".repeat(n), data: new Uint8Array(n).fill(65) },
    ]);
    deepStrictEqual(parse(archive).map((e) => e.data), ["A".repeat(n)]);
  }
});

Deno.test("the same input gives the same bytes", () => {
  const entries = [{ kind: "dir" as const, path: "a" }];
  deepStrictEqual(cpioNewc(entries), cpioNewc(entries));
});
