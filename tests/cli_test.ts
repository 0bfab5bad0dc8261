import assert from "node:assert/strict";

const ROOT = new URL("../", import.meta.url).pathname;

async function vfsh(
  args: string[],
  opts: { perms?: string[]; stdin?: string; cwd?: string } = {},
): Promise<{ code: number; out: string; err: string }> {
  const cmd = new Deno.Command(Deno.execPath(), {
    args: ["run", ...(opts.perms ?? ["--allow-read"]), ROOT + "shell/main.ts", ...args],
    cwd: opts.cwd ?? ROOT,
    stdin: opts.stdin === undefined ? "null" : "piped",
    stdout: "piped",
    stderr: "piped",
    env: { NO_COLOR: "1" },
  });
  const child = cmd.spawn();
  if (opts.stdin !== undefined) {
    const w = child.stdin.getWriter();
    await w.write(new TextEncoder().encode(opts.stdin));
    await w.close();
  }
  const r = await child.output();
  const dec = new TextDecoder();
  return { code: r.code, out: dec.decode(r.stdout), err: dec.decode(r.stderr) };
}

Deno.test("cli: the quickstart runs green with --allow-read only", async () => {
  const r = await vfsh(["run", "examples/quickstart.vfs"]);
  assert.equal(r.code, 0, r.out + r.err);
  assert.match(r.out, /^== examples\/quickstart\.vfs\n/);
  assert.match(r.out, /PASS examples\/quickstart\.vfs: 9 passed, 0 failed\n9 passed, 0 failed\n$/);
  assert.doesNotMatch(r.err, /[Pp]ermission|NotCapable/);
});

Deno.test("cli: exit 1 when an expectation fails, 2 when a script cannot run", async () => {
  const dir = Deno.makeTempDirSync();
  try {
    Deno.writeTextFileSync(`${dir}/fail.vfs`, "container open\napi-version => 1\n");
    Deno.writeTextFileSync(`${dir}/bad.vfs`, "container open\nfrobnicate\n");
    const one = await vfsh(["run", `${dir}/fail.vfs`]);
    assert.equal(one.code, 1);
    assert.match(one.out, /FAIL .*fail\.vfs:2: expected 1, got ok {2}value=0\n/);
    assert.match(one.out, /\n0 passed, 1 failed\n$/);
    const two = await vfsh(["run", `${dir}/fail.vfs`, `${dir}/bad.vfs`, "examples/quickstart.vfs"]);
    assert.equal(two.code, 2);
    assert.match(two.out, /error: .*bad\.vfs:2:1: unknown command 'frobnicate'/);
    assert.match(two.out, /\n9 passed, 1 failed\n$/);
    const missing = await vfsh(["run", `${dir}/nope.vfs`]);
    assert.equal(missing.code, 2);
    assert.match(missing.out, /error: .*nope\.vfs: no such file/);
  } finally {
    Deno.removeSync(dir, { recursive: true });
  }
});

Deno.test("cli: run - reads stdin; -c runs commands; --json", async () => {
  const r = await vfsh(["run", "-"], { stdin: "container open\ncheck-extension TYPE1v2 => 1\n" });
  assert.equal(r.code, 0, r.out);
  assert.match(r.out, /PASS -: 1 passed, 0 failed/);
  // Standard input is read to its end once: a second - is refused before anything runs.
  for (const cmd of ["run", "compare"]) {
    const twice = await vfsh([cmd, "-", "-"], { stdin: "container open\n" });
    assert.equal(twice.code, 2);
    assert.equal(twice.out, "");
    assert.equal(
      twice.err,
      "vfsh: - (standard input) can be given once: it is read to its end the first time\n",
    );
  }
  // Lines piped to the interactive shell print their output only: no prompts.
  const piped = await vfsh([], { stdin: "container open\napi-version\n" });
  assert.equal(piped.code, 0);
  assert.equal(piped.out, "ok  fd=3\nok  value=0\n");
  // They go on after a failure as at a prompt, name <stdin>:N, and exit as `vfsh run` would.
  const failed = await vfsh([], { stdin: "container open\napi-version => 1\napi-version\n" });
  assert.equal(failed.code, 1);
  assert.equal(
    failed.out,
    "ok  fd=3\nok  value=0\nFAIL <stdin>:2: expected 1, got ok  value=0\nok  value=0\n",
  );
  const broken = await vfsh([], { stdin: "container open\n\nnosuch\napi-version => 1\n" });
  assert.equal(broken.code, 2);
  assert.match(broken.out, /^error: <stdin>:3:1: unknown command 'nosuch'/m);
  // -q prints no echo, so a FAIL names its statement; set -e ends the input at the failure.
  const quiet = await vfsh(["-q"], { stdin: "set -e\ncontainer open\napi-version => 1\ninfo\n" });
  assert.equal(quiet.code, 1);
  assert.equal(
    quiet.out,
    "FAIL <stdin>:3: expected 1, got ok  value=0 (api-version => 1)\n" +
      "set -e: stopping at the first failed expectation\n",
  );
  const c = await vfsh(["-c", "container open; api-version => 0; ioas alloc"]);
  assert.equal(c.code, 0);
  assert.equal(c.out, "ok  fd=3\nok  value=0\nok  id=1\n");
  // -c may repeat: each is a line of its own, run in order, and errors name it -c:N.
  const two = await vfsh(["-c", "container open", "-c", "api-version => 0; nosuch"]);
  assert.equal(two.code, 2);
  assert.match(two.out, /^error: -c:2:19: unknown command 'nosuch'/);
  const three = await vfsh(["-c", "container open", "-c", "api-version => 0", "-c", "info"]);
  assert.equal(three.out, "ok  fd=3\nok  value=0\nENODEV (No such device)\n");
  const j = await vfsh(["--json", "-c", "container open; info => ENODEV"]);
  const lines = j.out.trim().split("\n").map((l) => JSON.parse(l));
  assert.equal(lines[1].errno.name, "ENODEV");
  assert.equal(lines[1].expectation.held, true);
});

Deno.test("cli: --help, --version, bad options, --kernel-version", async () => {
  const h = await vfsh(["--help"]);
  assert.equal(h.code, 0);
  assert.match(h.out, /vfsh run \[OPTIONS\] FILE… \| -/);
  const v = await vfsh(["--version"]);
  assert.match(v.out, /^vfsh \d+\.\d+\.\d+\n$/);
  const bad = await vfsh(["--frob"]);
  assert.equal(bad.code, 2);
  assert.match(bad.err, /^vfsh: .*frob/);
  const k = await vfsh(["--kernel-version", "6.2", "-c", "sim kernel"]);
  assert.match(k.out, /^ok {2}version=6\.2\n/);
  const unknown = await vfsh(["--kernel-version", "9.9", "-c", "api-version"]);
  assert.equal(unknown.code, 2);
  assert.match(unknown.err, /^vfsh: simulator: /);
});

Deno.test("cli: the kernel backend without --allow-ffi is one clear line", async () => {
  const r = await vfsh(["--backend", "kernel", "-c", "container open"]);
  assert.equal(r.code, 2);
  assert.match(r.err, /^vfsh: kernel backend: .*--allow-ffi/);
  assert.equal(r.err.trim().split("\n").length, 1);
});

Deno.test("cli: record without write permission says so and keeps going", async () => {
  const r = await vfsh([
    "--record",
    "/tmp/vfsh-denied.vfs",
    "-c",
    "container open; api-version => 0",
  ]);
  assert.equal(r.code, 0, r.out);
  assert.match(
    r.out,
    /^warning: cannot record to \/tmp\/vfsh-denied\.vfs: requires write access to "\/tmp\/vfsh-denied\.vfs", run again with the --allow-write flag; not recording\n/,
  );
  assert.match(r.out, /ok {2}value=0\n$/);
});

Deno.test("cli: run --record takes one FILE (each runs in a fresh session)", async () => {
  const r = await vfsh(["--record", "/tmp/vfsh-never.vfs", "run", "a.vfs", "b.vfs"]);
  assert.equal(r.code, 2);
  assert.match(r.err + r.out, /--record takes one FILE/);
});

Deno.test("cli: a recording file that cannot be written is named with the reason, in words", async () => {
  const cases: [string[], string, RegExp][] = [
    // Device files need --allow-all in Deno 2, which Deno's message says.
    [["--allow-read", "--allow-write"], "/dev/full", /requires all access to "\/dev\/full"/],
    [["-A"], "/dev/full", /: no space left on device; not recording\n/],
    [["-A"], "/tmp", /: is a directory; not recording\n/],
    [["-A"], "/nonexistent-vfsh-dir/a.vfs", /: no such directory; not recording\n/],
  ];
  for (const [perms, path, why] of cases) {
    const r = await vfsh(["--record", path, "-c", "container open; api-version => 0"], { perms });
    assert.equal(r.code, 0, r.out + r.err);
    assert.ok(r.out.startsWith(`warning: cannot record to ${path}: `), r.out);
    assert.match(r.out.split("\n")[0] + "\n", why);
    assert.doesNotMatch(r.out, /os error/);
    assert.match(r.out, /ok {2}value=0\n$/);
  }
});

Deno.test("cli: --plugin loads a plugin; one that fails to load stops vfsh before anything runs", async () => {
  const good = await vfsh([
    "--plugin",
    "examples/plugins/qemu_probe.ts",
    "-c",
    "container open; let a = ioas alloc; ioas set $a; qemu-probe => iommu_type=TYPE1v2",
  ]);
  assert.match(good.out, /QEMU concludes: VFIO_TYPE1v2_IOMMU/);
  assert.equal(good.code, 0, good.out + good.err);
  // As a bad --profile does: what would run is not what was asked for. Every form stops
  // with 2 and the reason (a clash with a core command too), and no command runs.
  const forms = [["-c", "container open"], ["run", "examples/quickstart.vfs"], [
    "compare",
    "examples/quickstart.vfs",
  ], []];
  const broken: [string, RegExp][] = [
    ["shell/testdata/plugins/not_a_plugin.ts", /: its default export is not a plugin/],
    ["shell/testdata/plugins/clash.ts", /command 'map' is already defined by plugin core/],
    ["/nonexistent-vfsh.ts", /^vfsh: plugin \/nonexistent-vfsh\.ts: no such file\n$/],
  ];
  for (const form of forms) {
    for (const [plugin, why] of broken) {
      const r = await vfsh(["--plugin", plugin, ...form], { stdin: "" });
      assert.equal(r.code, 2, `${plugin} ${form}: ${r.out}${r.err}`);
      assert.match(r.err, why);
      assert.equal(r.out, "", `${plugin} ${form}`);
    }
  }
});

/** README.md's tour: the script it shows (`$ cat tour.vfs`), and what `vfsh run` prints for it. */
function tourOf(readme: string): { script: string; transcript: string } {
  const tour = readme.match(/<!-- tour:start -->([\s\S]*?)<!-- tour:end -->/)?.[1];
  if (tour === undefined) throw new Error("README.md: no <!-- tour:start --> … <!-- tour:end -->");
  const m = tour.match(
    /```\n\$ cat tour\.vfs\n([\s\S]*?)\n\$ npx -y deno@[\d.]+ task vfsh run tour\.vfs\n([\s\S]*?)```/,
  );
  if (!m) throw new Error("README.md: the tour has no `$ cat tour.vfs` / `vfsh run` block");
  return { script: m[1].trimEnd() + "\n", transcript: m[2] };
}

// The first thing a newcomer reads must not drift from what the shell does.
Deno.test("readme: the tour's script prints the transcript the README shows", async () => {
  const { script, transcript } = tourOf(await Deno.readTextFile(ROOT + "README.md"));
  const dir = await Deno.makeTempDir({ prefix: "vfsh_tour_" });
  try {
    await Deno.writeTextFile(`${dir}/tour.vfs`, script);
    const r = await vfsh(["run", "tour.vfs"], { cwd: dir });
    assert.equal(r.code, 0, r.err);
    assert.equal(r.out, transcript);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("readme: tourOf finds the script and the transcript, and says when it cannot", () => {
  const readme = "x\n<!-- tour:start -->\n```\n$ cat tour.vfs\ncontainer open\n\n" +
    "$ npx -y deno@2.9.6 task vfsh run tour.vfs\n== tour.vfs\nok\n```\n<!-- tour:end -->\n";
  assert.deepEqual(tourOf(readme), {
    script: "container open\n",
    transcript: "== tour.vfs\nok\n",
  });
  assert.throws(() => tourOf("no tour"), /no <!-- tour:start -->/);
  assert.throws(
    () => tourOf("<!-- tour:start -->\n```\n$ ls\n```\n<!-- tour:end -->"),
    /no `\$ cat tour\.vfs`/,
  );
});

/** Run vfsh, read its first block of output, then close the pipe as `| head -1` would. */
async function vfshHead(args: string[], stdin?: string): Promise<{ code: number; err: string }> {
  const child = new Deno.Command(Deno.execPath(), {
    args: ["run", "--allow-read", "--allow-env", ROOT + "shell/main.ts", ...args],
    cwd: ROOT,
    stdin: stdin === undefined ? "null" : "piped",
    stdout: "piped",
    stderr: "piped",
    env: { NO_COLOR: "1", VFSH_HISTORY: "" },
  }).spawn();
  const errText = new Response(child.stderr).text();
  if (stdin !== undefined) {
    const w = child.stdin.getWriter();
    // Not awaited: vfsh may stop reading once its output is gone.
    w.write(new TextEncoder().encode(stdin)).then(() => w.close()).catch(() => {});
  }
  const reader = child.stdout.getReader();
  const first = await reader.read();
  assert.ok(!first.done && first.value.length > 0, "some output before the pipe closes");
  await reader.cancel();
  const { code } = await child.status;
  return { code, err: await errText };
}

Deno.test("cli: a reader that goes away ends vfsh quietly with status 141, as SIGPIPE would", async () => {
  const dir = Deno.makeTempDirSync();
  try {
    // Far more output than a pipe holds, so that writes go on after the reader has gone.
    const lines = "echo 'a line long enough to fill a pipe buffer quickly'\n".repeat(40_000);
    Deno.writeTextFileSync(`${dir}/long.vfs`, lines);
    for (const args of [["run", `${dir}/long.vfs`], ["run", "--json", `${dir}/long.vfs`]]) {
      const r = await vfshHead(args);
      assert.equal(r.code, 141, r.err);
      assert.equal(r.err, "", args.join(" "));
    }
    // Lines piped to the interactive shell: their output goes through the session's writer.
    const repl = await vfshHead([], "echo 'a line long enough to fill a pipe'\n".repeat(200_000));
    assert.equal(repl.code, 141, repl.err);
    assert.equal(repl.err, "");
  } finally {
    Deno.removeSync(dir, { recursive: true });
  }
});

Deno.test("cli: output that cannot be written ends vfsh with one line and status 2", async () => {
  // /dev/full answers every write with ENOSPC; a shell opens it as stdout for us.
  const main = ROOT + "shell/main.ts";
  const q = (a: string) => `'${a}'`;
  for (
    const args of [["-c", "echo hi"], ["--help"], ["run", ROOT + "examples/quickstart.vfs"], []]
  ) {
    const line = [Deno.execPath(), "run", "--allow-read", main, ...args].map(q).join(" ");
    const r = await new Deno.Command("sh", {
      args: ["-c", `printf 'echo hi\\n' | ${line} > /dev/full`],
      stderr: "piped",
    }).output();
    const err = new TextDecoder().decode(r.stderr);
    assert.equal(r.code, 2, `${args.join(" ")}: ${err}`);
    assert.match(err, /^vfsh: cannot write output: No space left on device[^\n]*\n$/);
  }
});

Deno.test("cli: a device is no script: run and include refuse it before reading (/dev/zero never ends)", async () => {
  const run = await vfsh(["run", "/dev/zero"]);
  assert.equal(run.code, 2);
  assert.match(run.out, /^error: \/dev\/zero: is a character device, not a script$/m);
  const inc = await vfsh(["-c", "include /dev/zero"]);
  assert.equal(inc.code, 2);
  assert.match(
    inc.out,
    /include: cannot include \/dev\/zero: is a character device, not a script$/m,
  );
});

Deno.test("cli: files that cannot be read are named with the reason; compare - reads stdin", async () => {
  // Deno wants --allow-all for device files, whatever --allow-read says: its message says so.
  const stdinPath = await vfsh(["run", "/dev/stdin"], { stdin: "api-version\n" });
  assert.equal(stdinPath.code, 2);
  assert.match(
    stdinPath.out,
    /^error: \/dev\/stdin: requires all access to "\/dev\/stdin", run again with the --allow-all flag \(or give - to read standard input\)\n/,
  );
  const missing = await vfsh(["compare", "/nonexistent-vfsh.vfs"]);
  assert.equal(missing.code, 2);
  assert.match(missing.out, /error: \/nonexistent-vfsh\.vfs: no such file\n/);
  assert.doesNotMatch(missing.out, /os error/);
  const dir = await vfsh(["compare", "examples"]);
  assert.match(dir.out, /error: examples: is a directory\n/);
  const piped = await vfsh(["compare", "-", "--modes", "iommufd_compat_type1,vfio_type1_iommu"], {
    stdin: "container open\nset-iommu TYPE1\nmap 0x1000 4K rw\n",
  });
  assert.equal(piped.code, 0, piped.out + piped.err);
  assert.match(piped.out, /^== -: \d+ of 3 commands differ across 2 runs\n/);
});
