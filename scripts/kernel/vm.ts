/**
 * Booting a lane kernel under QEMU (TCG; KVM when /dev/kvm is usable) and running one shell
 * command in it. The guest runs the host's own binaries: it mounts the host's root read-only
 * over virtio-9p and chroots into it.
 *
 * The host and the guest talk through a per-run control folder (a fresh temporary directory,
 * shared over 9p and visible in the guest at {@linkcode GUEST_CONTROL_DIR}): the host writes
 * the command script there, the guest writes stdout, stderr and the exit status back. The
 * serial console is kept apart, for diagnosing boots.
 *
 * @module
 */

import { exec } from "./exec.ts";
import { CONTROL_SCRIPT, ensureInitramfs, GUEST_CONTROL_DIR, TAGS } from "./initramfs.ts";
import { ensurePackages, RUN_PACKAGES } from "./packages.ts";

/** Options for {@linkcode runInVm}. */
export interface VmOptions {
  /** Path of the bzImage (from `ensureKernel`). */
  kernel: string;
  /** Shell command line run by `/bin/sh` in the guest, as root, in the chroot. */
  command: string;
  /** Host folder that is the command's cwd; mounted writable at the same path in the guest. */
  share: string;
  /** More host folders mounted writable at their own paths (e.g. an output folder). */
  extraShares?: string[];
  /**
   * The vIOMMU, before the devices (default none): `intel` is QEMU's VT-d
   * (`intel-iommu,intremap=on`), `amd` its AMD-Vi (`amd-iommu,intremap=on`, which brings its
   * own PCI function and takes the first free slot, 00:03.0, so the first device is at 00:04.0).
   */
  iommu?: VIommu;
  /** Extra `-device` specs, e.g. `["edu"]` (QEMU's PCI test device). */
  devices?: string[];
  /** Kill the VM after this long; {@linkcode runInVm} then throws a {@linkcode VmError}. */
  timeoutMs: number;
  /** Extra environment for the command (HOME, TMPDIR, DENO_DIR are already on /run). */
  env?: Record<string, string>;
  /** Keep stderr apart (in `stderr`) instead of interleaving it into `output`. */
  separateStderr?: boolean;
  /** Initramfs to boot (default: `ensureInitramfs()`). */
  initramfs?: string;
  /** Guest memory (QEMU `-m`), default `4G` (scenarios mmap 2 GiB, like QEMU's guest RAM). */
  memory?: string;
  /** Guest CPUs, default 2. */
  cpus?: number;
  /** Extra kernel command line words. */
  append?: string;
}

/** The vIOMMUs {@linkcode qemuArgs} knows. */
export type VIommu = "none" | "intel" | "amd";

/** What the guest command left behind. */
export interface VmResult {
  /** The guest command's exit status (124/125: the guest could not set up the chroot). */
  exitCode: number;
  /** The command's stdout, with stderr interleaved unless `separateStderr` was set. */
  output: string;
  /** The command's stderr when `separateStderr` was set, else "". */
  stderr: string;
  /** The serial console (kernel and /init messages), for diagnosing the boot. */
  console: string;
  /** Wall-clock seconds from starting QEMU to its exit. */
  seconds: number;
}

/** The VM did not report an exit status: it crashed, did not boot, or timed out. */
export class VmError extends Error {
  /** The serial console up to that point. */
  console: string;
  /** Create one; `console` is kept whole, the message carries its tail. */
  constructor(message: string, serial: string) {
    const tail = serial.trim().split("\n").slice(-25).join("\n");
    super(`${message}\n--- serial console (tail) ---\n${tail}`);
    this.name = "VmError";
    this.console = serial;
  }
}

/** Characters allowed in shared paths: they go into the kernel command line and `-fsdev`. */
const SAFE_PATH = /^\/[A-Za-z0-9._/+@~-]*$/;

/** Resolve `path` to its real absolute path and check it can be shared. */
export async function sharePath(path: string): Promise<string> {
  const real = await Deno.realPath(path);
  if (!(await Deno.stat(real)).isDirectory) throw new Error(`share ${real} is not a directory`);
  if (!SAFE_PATH.test(real) || real === "/") {
    throw new Error(`share ${real}: only [A-Za-z0-9._/+@~-] allowed (no spaces, commas, colons)`);
  }
  return real;
}

/** Quote `s` for /bin/sh. */
export function shellQuote(s: string): string {
  return /^[A-Za-z0-9._/=:+@%-]+$/.test(s) ? s : `'${s.replaceAll("'", `'\\''`)}'`;
}

/** The script `/init` runs in the chroot: environment, cwd, redirections, then `command`. */
export function controlScript(
  share: string,
  env: Record<string, string>,
  separateStderr: boolean,
): string {
  const all: Record<string, string> = {
    DENO_DIR: "/run/deno-dir",
    DENO_NO_UPDATE_CHECK: "1",
    NO_COLOR: "1",
    VFSH_IN_VM: "1",
    ...env,
  };
  const c = GUEST_CONTROL_DIR;
  const errTo = separateStderr ? `${c}/stderr` : "&1";
  return [
    ...Object.entries(all).map(([k, v]) => `export ${k}=${shellQuote(v)}`),
    `mkdir -p "$HOME" "$TMPDIR" "$DENO_DIR"`,
    `cd ${shellQuote(share)} || exit 124`,
    `/bin/sh ${c}/command.sh > ${c}/stdout 2>${errTo}`,
    "",
  ].join("\n");
}

/** PCI slot of the first share's 9p device; shares use the slots from here on. */
const FIRST_SHARE_SLOT = 0x10;
/** Shares that fit below the ICH9 functions at slot 0x1f. */
const MAX_SHARES = 0x1f - FIRST_SHARE_SLOT;

function hex(n: number): string {
  return `0x${n.toString(16)}`;
}

/** QEMU's arguments for one run (without the binary). */
export function qemuArgs(o: {
  kernel: string;
  initramfs: string;
  control: string;
  shares: string[];
  iommu: VIommu;
  devices: string[];
  memory: string;
  cpus: number;
  append: string;
  kvm: boolean;
}): string[] {
  const fs9p = (id: string, path: string, tag: string, slot: number, readonly: boolean) => [
    "-fsdev",
    `local,id=${id},path=${path},security_model=none,multidevs=remap${
      readonly ? ",readonly=on" : ""
    }`,
    "-device",
    `virtio-9p-pci,fsdev=${id},mount_tag=${tag},addr=${hex(slot)}`,
  ];
  if (o.shares.length > MAX_SHARES) throw new Error(`at most ${MAX_SHARES} shares`);
  // no_timer_check: under TCG on a busy host the IO-APIC timer check can fail and panic
  // ("timer doesn't work through Interrupt-remapped IO-APIC"); the check proves nothing here.
  const cmdline = ["console=ttyS0", "panic=-1", "quiet", "no_timer_check"];
  cmdline.push(`vfsh.shares=${o.shares.join(":")}`);
  return [
    ...["-machine", "q35", "-cpu", "max", "-smp", String(o.cpus), "-m", o.memory],
    ...(o.kvm ? ["-accel", "kvm"] : ["-accel", "tcg,thread=multi"]),
    ...["-nodefaults", "-no-user-config", "-display", "none", "-serial", "stdio", "-no-reboot"],
    // The vIOMMU must exist before the PCI devices it translates for.
    ...(o.iommu === "intel" ? ["-device", "intel-iommu,intremap=on"] : []),
    ...["-kernel", o.kernel, "-initrd", o.initramfs],
    ...["-append", [...cmdline, o.append].filter(Boolean).join(" ")],
    // Fixed slots: 9p at 00:01.0 and 00:02.0 as in the rig, so the first extra device lands
    // at 00:03.0 in IOMMU group 3; the shares sit at 00:10.0 and up, out of the way.
    ...fs9p("hostroot", "/", TAGS.hostRoot, 1, true),
    ...fs9p("ctl", o.control, TAGS.control, 2, false),
    ...o.shares.flatMap((p, i) =>
      fs9p(`share${i}`, p, `${TAGS.sharePrefix}${i}`, FIRST_SHARE_SLOT + i, false)
    ),
    // AMD-Vi's PCI function (AMDVI-PCI, 1022:0018) takes the first free slot when the device
    // is realized, and its `addr` cannot be set: after the 9p devices it lands at 00:03.0
    // (before them it would take 00:01.0 and clash). Still before the translated devices.
    ...(o.iommu === "amd" ? ["-device", "amd-iommu,intremap=on"] : []),
    ...o.devices.flatMap((d) => ["-device", d]),
  ];
}

/** Whether KVM can be used (never on the lane's usual hosts, but faster where it exists). */
async function kvmUsable(): Promise<boolean> {
  if (Deno.env.get("VFSH_NO_KVM") === "1") return false;
  try {
    const f = await Deno.open("/dev/kvm", { read: true, write: true });
    f.close();
    return true;
  } catch {
    return false;
  }
}

async function readOr(path: string, fallback: string): Promise<string> {
  try {
    return await Deno.readTextFile(path);
  } catch {
    return fallback;
  }
}

/**
 * Boot `kernel`, run `command` in the guest with cwd `share`, and return its exit status and
 * output. Throws {@linkcode VmError} when the VM ends without reporting a status (kernel
 * panic, timeout). Several VMs may run at once; each gets its own control folder.
 */
export async function runInVm(options: VmOptions): Promise<VmResult> {
  await ensurePackages(RUN_PACKAGES);
  const initramfs = options.initramfs ?? await ensureInitramfs();
  const share = await sharePath(options.share);
  const extra = await Promise.all((options.extraShares ?? []).map(sharePath));
  const control = await Deno.makeTempDir({ prefix: "vfsh-vm-" });
  try {
    await sharePath(control);
    const script = controlScript(share, options.env ?? {}, options.separateStderr ?? false);
    await Deno.writeTextFile(`${control}/${CONTROL_SCRIPT}`, script);
    await Deno.writeTextFile(`${control}/command.sh`, options.command + "\n");
    const args = qemuArgs({
      kernel: options.kernel,
      initramfs,
      control,
      shares: [share, ...extra],
      iommu: options.iommu ?? "none",
      devices: options.devices ?? [],
      memory: options.memory ?? "4G",
      cpus: options.cpus ?? 2,
      append: options.append ?? "",
      kvm: await kvmUsable(),
    });
    const { serial, seconds, timedOut } = await runQemu(args, options.timeoutMs);
    const status = (await readOr(`${control}/exit`, "")).trim();
    if (status === "") {
      const why = timedOut ? `timed out after ${options.timeoutMs} ms` : "ended without a status";
      throw new VmError(`VM ${why} (kernel ${options.kernel})`, serial);
    }
    return {
      exitCode: Number(status),
      output: await readOr(`${control}/stdout`, ""),
      stderr: await readOr(`${control}/stderr`, ""),
      console: serial,
      seconds,
    };
  } finally {
    await Deno.remove(control, { recursive: true }).catch(() => {});
  }
}

/** Run QEMU to completion (or kill it at the deadline), collecting the serial console. */
async function runQemu(
  args: string[],
  timeoutMs: number,
): Promise<{ serial: string; seconds: number; timedOut: boolean }> {
  const t0 = performance.now();
  const child = new Deno.Command("qemu-system-x86_64", {
    args,
    stdin: "null",
    stdout: "piped",
    stderr: "piped",
  }).spawn();
  let timedOut = false;
  const timer = setTimeout(() => {
    timedOut = true;
    child.kill("SIGKILL");
  }, timeoutMs);
  try {
    const out = await child.output();
    const dec = new TextDecoder();
    const serial = dec.decode(out.stdout) + dec.decode(out.stderr);
    return { serial, seconds: (performance.now() - t0) / 1000, timedOut };
  } finally {
    clearTimeout(timer);
  }
}

/** The QEMU version line, or "" when QEMU is not installed (for the lane's preflight). */
export async function qemuVersion(): Promise<string> {
  try {
    const r = await exec("qemu-system-x86_64", ["--version"]);
    return r.code === 0 ? r.stdout.split("\n")[0] : "";
  } catch {
    return "";
  }
}
