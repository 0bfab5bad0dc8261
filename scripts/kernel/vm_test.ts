import { deepStrictEqual, equal, match, ok, rejects } from "node:assert/strict";
import { controlScript, qemuArgs, sharePath, shellQuote } from "./vm.ts";

const base = {
  kernel: "/k/bzImage",
  initramfs: "/k/initramfs.cpio.gz",
  control: "/tmp/vfsh-vm-x",
  shares: ["/work/main", "/tmp/out"],
  iommu: "none" as const,
  devices: [],
  memory: "2G",
  cpus: 2,
  append: "",
  kvm: false,
};

/** The value following `flag` each time it occurs. */
function values(args: string[], flag: string): string[] {
  return args.flatMap((a, i) => (a === flag ? [args[i + 1]] : []));
}

Deno.test("qemuArgs: q35, TCG, the kernel, and the 9p exports", () => {
  const args = qemuArgs(base);
  deepStrictEqual(values(args, "-machine"), ["q35"]);
  deepStrictEqual(values(args, "-cpu"), ["max"]);
  deepStrictEqual(values(args, "-accel"), ["tcg,thread=multi"]);
  deepStrictEqual(values(args, "-kernel"), ["/k/bzImage"]);
  const fsdevs = values(args, "-fsdev");
  match(fsdevs[0], /^local,id=hostroot,path=\/,.*readonly=on/);
  ok(!fsdevs[1].includes("readonly"), "the control folder is writable");
  ok(fsdevs[2].includes("path=/work/main") && !fsdevs[2].includes("readonly"));
  ok(fsdevs[3].includes("path=/tmp/out"));
  const tags = values(args, "-device").map((d) => d.match(/mount_tag=(\w+)/)?.[1]);
  deepStrictEqual(tags, ["hostroot", "vfshctl", "share0", "share1"]);
  const slots = values(args, "-device").map((d) => d.match(/addr=(\w+)/)?.[1]);
  deepStrictEqual(slots, ["0x1", "0x2", "0x10", "0x11"], "00:03.0 stays free for a device");
  match(values(args, "-append")[0], /console=ttyS0 .*no_timer_check/);
  match(values(args, "-append")[0], /vfsh\.shares=\/work\/main:\/tmp\/out$/);
});

Deno.test("qemuArgs: the vIOMMU comes before the devices it translates for", () => {
  const args = qemuArgs({ ...base, iommu: "intel", devices: ["edu"], kvm: true, append: "x=1" });
  const devices = values(args, "-device");
  equal(devices[0], "intel-iommu,intremap=on");
  equal(devices[devices.length - 1], "edu");
  deepStrictEqual(values(args, "-accel"), ["kvm"]);
  match(values(args, "-append")[0], / x=1$/);
});

Deno.test("qemuArgs: AMD-Vi comes after the fixed 9p slots, before the devices", () => {
  const args = qemuArgs({ ...base, iommu: "amd", devices: ["edu"] });
  const devices = values(args, "-device");
  // amd-iommu's own PCI function takes the first free slot: not 00:01.0 (9p) but 00:03.0.
  const at = devices.indexOf("amd-iommu,intremap=on");
  deepStrictEqual(
    devices.slice(0, at).map((d) => d.match(/addr=(\w+)/)?.[1]),
    ["0x1", "0x2", "0x10", "0x11"],
  );
  deepStrictEqual(devices.slice(at), ["amd-iommu,intremap=on", "edu"]);
  ok(!args.some((a) => a.startsWith("intel-iommu")));
  ok(!qemuArgs(base).some((a) => a.includes("iommu")), "no vIOMMU by default");
});

Deno.test("controlScript sets the environment, cwd and redirections", () => {
  const s = controlScript("/work/main", { A: "it's" }, false);
  match(s, /^export DENO_DIR=\/run\/deno-dir$/m);
  match(s, /^export A='it'\\''s'$/m);
  match(s, /^cd \/work\/main \|\| exit 124$/m);
  match(s, /command\.sh > \/run\/vfsh\/stdout 2>&1$/m);
  match(controlScript("/w", {}, true), /2>\/run\/vfsh\/stderr$/m);
  match(controlScript("/w", { DENO_DIR: "/run/x" }, true), /^export DENO_DIR=\/run\/x$/m);
});

Deno.test("shellQuote survives /bin/sh", async () => {
  for (const s of ["plain", "a b", "it's", "$HOME", "`x`", "a\nb", ""]) {
    const out = await new Deno.Command("/bin/sh", {
      args: ["-c", `printf %s ${shellQuote(s)}`],
    }).output();
    equal(new TextDecoder().decode(out.stdout), s);
  }
});

Deno.test("sharePath resolves real paths and refuses unsafe ones", async () => {
  const dir = await Deno.makeTempDir({ prefix: "vfsh-share-" });
  try {
    equal(await sharePath(dir), await Deno.realPath(dir));
    await Deno.mkdir(`${dir}/a b`);
    await rejects(sharePath(`${dir}/a b`), /no spaces/);
    await Deno.writeTextFile(`${dir}/f`, "");
    await rejects(sharePath(`${dir}/f`), /not a directory/);
    await rejects(sharePath("/"));
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
