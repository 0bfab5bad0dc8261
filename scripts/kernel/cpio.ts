/**
 * A writer for the cpio "newc" format, the one the Linux kernel unpacks as an initramfs.
 * Written here so that building the initramfs needs no `cpio` tool and needs no root for
 * device nodes.
 *
 * @module
 */

/** One archive member. */
export type CpioEntry =
  | { kind: "dir"; path: string; perm?: number }
  | { kind: "file"; path: string; data: Uint8Array; perm?: number }
  | { kind: "symlink"; path: string; target: string }
  | { kind: "chardev"; path: string; major: number; minor: number; perm?: number };

const S_IFDIR = 0o040000;
const S_IFREG = 0o100000;
const S_IFLNK = 0o120000;
const S_IFCHR = 0o020000;

const enc = new TextEncoder();

/** Round `n` up to a multiple of 4 (newc pads names and data to 4 bytes). */
function pad4(n: number): number {
  return (n + 3) & ~3;
}

function hex8(n: number): string {
  return n.toString(16).padStart(8, "0");
}

/** mode, content and device numbers of one entry. */
function describe(e: CpioEntry): { mode: number; data: Uint8Array; rdev: [number, number] } {
  switch (e.kind) {
    case "dir":
      return { mode: S_IFDIR | (e.perm ?? 0o755), data: new Uint8Array(), rdev: [0, 0] };
    case "file":
      return { mode: S_IFREG | (e.perm ?? 0o644), data: e.data, rdev: [0, 0] };
    case "symlink":
      return { mode: S_IFLNK | 0o777, data: enc.encode(e.target), rdev: [0, 0] };
    case "chardev":
      return {
        mode: S_IFCHR | (e.perm ?? 0o600),
        data: new Uint8Array(),
        rdev: [e.major, e.minor],
      };
  }
}

/** One header + name + data record; `ino` must be unique within the archive. */
function record(
  name: string,
  ino: number,
  mode: number,
  data: Uint8Array,
  rdev: [number, number],
): Uint8Array {
  const nameBytes = enc.encode(name);
  const nlink = (mode & S_IFDIR) === S_IFDIR ? 2 : 1;
  // ino mode uid gid nlink mtime filesize devmajor devminor rdevmajor rdevminor namesize check
  const fields = [ino, mode, 0, 0, nlink, 0, data.length, 0, 0, rdev[0], rdev[1]];
  const header = "070701" + fields.map(hex8).join("") + hex8(nameBytes.length + 1) + hex8(0);
  const nameEnd = pad4(header.length + nameBytes.length + 1);
  const out = new Uint8Array(nameEnd + pad4(data.length));
  out.set(enc.encode(header), 0);
  out.set(nameBytes, header.length);
  out.set(data, nameEnd);
  return out;
}

/**
 * Serialize `entries` (in the given order; parents before children) as a newc archive,
 * owned by root, timestamps 0, so the same input gives the same bytes.
 */
export function cpioNewc(entries: CpioEntry[]): Uint8Array {
  const parts = entries.map((e, i) => {
    const { mode, data, rdev } = describe(e);
    return record(e.path.replace(/^\/+/, ""), i + 1, mode, data, rdev);
  });
  parts.push(record("TRAILER!!!", 0, 0, new Uint8Array(), [0, 0]));
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  let at = 0;
  for (const p of parts) {
    out.set(p, at);
    at += p.length;
  }
  return out;
}
