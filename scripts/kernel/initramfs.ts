/**
 * The lane's initramfs: a static busybox and an `/init` that mounts the host's root
 * read-only over virtio-9p, chroots into it and runs the command the host left in the
 * control share. Cached under `~/.cache/vfsh/kernel/initramfs-<hash>/`.
 *
 * @module
 */

import { gzipSync } from "node:zlib";
import { isFile, kernelCacheDir, sha256Hex, withLock, writeAtomic } from "./cache.ts";
import { type CpioEntry, cpioNewc } from "./cpio.ts";
import { progress } from "./log.ts";
import { ensurePackages } from "./packages.ts";

/** The static busybox that Debian's busybox-static installs. */
export const BUSYBOX = "/bin/busybox";

/** 9p mount tags shared between {@linkcode GUEST_INIT} and the QEMU command line. */
export const TAGS = { hostRoot: "hostroot", control: "vfshctl", sharePrefix: "share" } as const;

/** Where the control share appears inside the chroot. */
export const GUEST_CONTROL_DIR = "/run/vfsh";

/** The command script the host writes into the control share; `/init` runs it. */
export const CONTROL_SCRIPT = "cmd.sh";

/**
 * The guest's `/init`. Kernel command line: `vfsh.shares=/a:/b` lists host folders that are
 * exported as tags share0, share1, ... and mounted at the same path, writable. The command's
 * exit status goes to `<control>/exit`; 124/125 mean the guest setup failed.
 */
export const GUEST_INIT = `#!/bin/busybox sh
/bin/busybox --install -s /bin
export PATH=/bin
mount -t proc proc /proc
mount -t sysfs sysfs /sys
mount -t devtmpfs devtmpfs /dev
say() { echo "VFSH-INIT: $* (uptime $(cut -d' ' -f1 /proc/uptime)s)"; }
say up

SHARES=
for w in $(cat /proc/cmdline); do
    case "$w" in vfsh.shares=*) SHARES=\${w#vfsh.shares=} ;; esac
done
# Big 9p messages make loading the ~100 MB deno binary much faster.
O9P=trans=virtio,version=9p2000.L,msize=512000
finish() {
    echo "$1" > /ctl/exit
    sync
    say "exit=$1"
    poweroff -f
}
mkdir -p /ctl /host
mount -t 9p -o "$O9P" ${TAGS.control} /ctl || { say "cannot mount the control share"; poweroff -f; }
mount -t 9p -o "$O9P,ro,cache=loose" ${TAGS.hostRoot} /host || { say "no host root"; finish 125; }
mount -t proc proc /host/proc
mount -t sysfs sysfs /host/sys
mount -t devtmpfs devtmpfs /host/dev
mkdir -p /host/dev/pts /host/dev/shm
mount -t devpts devpts /host/dev/pts
mount -t tmpfs -o mode=1777 tmpfs /host/dev/shm
# The host root is read-only: /run (tmpfs) is where HOME, TMPDIR and DENO_DIR go.
mount -t tmpfs -o mode=755 tmpfs /host/run
mkdir -p /host${GUEST_CONTROL_DIR}
mount --bind /ctl /host${GUEST_CONTROL_DIR}
i=0
for p in $(echo "$SHARES" | tr ':' ' '); do
    mount -t 9p -o "$O9P" ${TAGS.sharePrefix}$i "/host$p" || { say "cannot mount $p"; finish 124; }
    i=$((i + 1))
done
say "chroot ready"
chroot /host /usr/bin/env -i PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin \\
    HOME=/run/home TMPDIR=/run/tmp TERM=dumb /bin/sh ${GUEST_CONTROL_DIR}/${CONTROL_SCRIPT}
finish $?
`;

/** Bump when the archive layout changes. */
const RECIPE = "vfsh-initramfs-1";

/** Whether an ELF binary has no program interpreter (PT_INTERP), i.e. is statically linked. */
export function isStaticElf(bytes: Uint8Array): boolean {
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  if (bytes.length < 64 || view.getUint32(0) !== 0x7f454c46 || bytes[4] !== 2) return false;
  const phoff = Number(view.getBigUint64(0x20, true));
  const phentsize = view.getUint16(0x36, true);
  const phnum = view.getUint16(0x38, true);
  for (let i = 0; i < phnum; i++) {
    const at = phoff + i * phentsize;
    if (at + 4 > bytes.length) return false;
    if (view.getUint32(at, true) === 3) return false; // PT_INTERP
  }
  return true;
}

/** The archive's members: directories, /dev/console, busybox and /init. */
export function initramfsEntries(busybox: Uint8Array): CpioEntry[] {
  const dirs = ["bin", "dev", "proc", "sys", "host", "ctl", "tmp", "run"];
  return [
    ...dirs.map((path): CpioEntry => ({ kind: "dir", path })),
    // The kernel opens /dev/console for init's stdio before /init can mount devtmpfs.
    { kind: "chardev", path: "dev/console", major: 5, minor: 1 },
    { kind: "file", path: "bin/busybox", data: busybox, perm: 0o755 },
    { kind: "file", path: "init", data: new TextEncoder().encode(GUEST_INIT), perm: 0o755 },
  ];
}

/**
 * Path of the gzip'd initramfs, building it (about a second) unless the cache has one for
 * this busybox and this `/init`. Installs busybox-static if missing.
 */
export async function ensureInitramfs(): Promise<string> {
  await ensurePackages(["busybox-static"]);
  const busybox = await Deno.readFile(BUSYBOX);
  if (!isStaticElf(busybox)) throw new Error(`${BUSYBOX} is not statically linked`);
  const hash = await sha256Hex([RECIPE, GUEST_INIT, busybox]);
  const path = `${kernelCacheDir()}/initramfs-${hash.slice(0, 16)}/initramfs.cpio.gz`;
  if (await isFile(path)) return path;
  await withLock(`${kernelCacheDir()}/initramfs.lock`, async () => {
    if (await isFile(path)) return;
    const archive = cpioNewc(initramfsEntries(busybox));
    await writeAtomic(path, gzipSync(archive, { level: 9 }));
    progress(`initramfs: ${path}`);
  });
  return path;
}
