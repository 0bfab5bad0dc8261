import assert from "node:assert/strict";
import { relative } from "node:path";
import { createSimKernel } from "../sim/mod.ts";
import { createSession, type Session } from "./session.ts";
import { IoctlRefused } from "../uapi/kernel.ts";

const PLUGINS = new URL("./testdata/plugins/", import.meta.url).pathname;

/** Run `f` with a fresh temporary folder, removed afterwards whatever happens. */
async function withTempDir(f: (dir: string) => Promise<void>): Promise<void> {
  const dir = Deno.makeTempDirSync();
  try {
    await f(dir);
  } finally {
    Deno.removeSync(dir, { recursive: true });
  }
}

async function shell(opts: { json?: boolean } = {}) {
  let out = "";
  const s = await createSession({
    kernel: createSimKernel(),
    json: opts.json,
    write: (t) => {
      out += t;
    },
  });
  return {
    s,
    /** Run lines; return what they printed. */
    async run(...lines: string[]): Promise<string> {
      out = "";
      for (const l of lines) await s.runLine(l);
      return out;
    },
    async script(text: string, file = "t.vfs") {
      out = "";
      const r = await s.runScript(text, file);
      return { ...r, out };
    },
  };
}

Deno.test("session: results print on one stable line; the prompt shows the container", async () => {
  const { s, run } = await shell();
  assert.equal(s.prompt(), "vfsh sim> ");
  assert.equal(await run("container open"), "ok  fd=3\n");
  assert.equal(s.prompt(), "vfsh sim fd=3> ");
  assert.equal(await run("api-version"), "ok  value=0\n");
  assert.equal(await run("info"), "ENODEV (No such device)\n");
  assert.equal(await run("ioas alloc; ioas set 1; set-iommu TYPE1v2"), "ok  id=1\nok\nok\n");
  assert.equal(
    await run("map 0x100000 2M rw --vaddr 0x7f0000000000"),
    "ok  iova=0x100000 vaddr=0x7f0000000000\n",
  );
  assert.equal(await run("unmap --all"), "ok  unmapped=0x200000\n");
  s.close();
});

Deno.test("session: a line with an origin names it in errors and FAIL lines; status is the worst so far", async () => {
  let out = "";
  const s = await createSession({ kernel: createSimKernel(), write: (t) => void (out += t) });
  const at = (line: number) => ({ file: "<stdin>", line });
  await s.runLine("container open; api-version => 0", at(1));
  assert.equal(s.status(), 0);
  // A continued statement: the error's line is where its column is, not where it began.
  await s.runLine("map 1 2 \\\n 3", at(4));
  assert.match(out, /^error: <stdin>:5:2: map: PERM must be one of/m);
  assert.equal(s.status(), 2);
  out = "";
  await s.runLine("api-version => 1", at(9));
  assert.match(out, /^FAIL <stdin>:9: expected 1, got ok {2}value=0$/m);
  assert.equal(s.status(), 2, "an error outranks a failed expectation");
  // Typed at the prompt (no origin): the caret under the line says where.
  out = "";
  await s.runLine("api-version => 1");
  assert.match(out, /^FAIL expected 1, got/m);
  await s.runLine("bogus");
  assert.match(out, /^error: unknown command 'bogus'/m);
  s.close();
});

Deno.test("session: --json names a piped line's place in its input", async () => {
  let out = "";
  const s = await createSession({
    kernel: createSimKernel(),
    json: true,
    write: (t) => void (out += t),
  });
  await s.runLine("container open", { file: "<stdin>", line: 3 });
  // A division by zero is found when the continued line runs, after api-version has.
  await s.runLine("let z = 0; api-version => 1;\\\n let x = 1/$z", { file: "<stdin>", line: 7 });
  const objs = out.trim().split("\n").map((l) => JSON.parse(l));
  assert.deepEqual(objs.map((o) => [o.file, o.line]), [["<stdin>", 3], ["<stdin>", 7], [
    "<stdin>",
    8,
  ]]);
  assert.equal(objs[2].col, 11);
  s.close();
});

Deno.test("session: a FAIL line gives the column of a statement that does not begin its line", async () => {
  const { script } = await shell();
  const r = await script(
    "container open\n  api-version => 1\napi-version => 0; api-version => 2; expect value == 3\n",
    "f.vfs",
  );
  const fails = r.out.split("\n").filter((l) => /^FAIL f\.vfs:\d/.test(l));
  assert.deepEqual(fails, [
    "FAIL f.vfs:2: expected 1, got ok  value=0", // first on its line, indented: no column
    "FAIL f.vfs:3:19: expected 2, got ok  value=0",
    "FAIL f.vfs:3:37: expected value == 3, got 0x0",
  ]);
});

Deno.test("session: a backend that refuses an ioctl is the command's error, not a broken command", async () => {
  const kernel = createSimKernel();
  const ioctl = kernel.ioctl.bind(kernel);
  kernel.ioctl = (fd, request, arg) => {
    if (request === 0x40086602) throw new IoctlRefused("refusing ioctl 0x40086602: too short");
    return ioctl(fd, request, arg);
  };
  let out = "";
  const s = await createSession({ kernel, write: (t) => void (out += t) });
  const r = await s.runScript("container open\nioctl 0x40086602 00000000\napi-version\n", "f.vfs");
  assert.equal(r.status, 2);
  assert.match(out, /^error: f\.vfs:2:1: ioctl: refusing ioctl 0x40086602: too short$/m);
  assert.doesNotMatch(out, /internal error/);
  s.close();
});

Deno.test("session: an errno the backend gave without the ioctl says so, in text and --json", async () => {
  const kernel = createSimKernel();
  const ioctl = kernel.ioctl.bind(kernel);
  let refusal: string | undefined;
  kernel.ioctl = (fd, request, arg) => {
    if (request === 0x3b71) { // VFIO_IOMMU_MAP_DMA: as the FFI guard answers a stray vaddr
      refusal = "not sent: vaddr lies outside memory this shell mapped";
      return -14;
    }
    if (request === 0x40086602) { // a refusal, then the command throws
      refusal = "stale";
      throw new IoctlRefused("too short");
    }
    return ioctl(fd, request, arg);
  };
  kernel.takeRefusal = () => {
    const r = refusal;
    refusal = undefined;
    return r;
  };
  const lines = [
    "container open",
    "let i = ioas alloc",
    "ioas set $i",
    "set-iommu TYPE1v2",
    "map 0x1000 4K rw => EFAULT",
    "map 0x1000 4K rw => ok",
    "ioctl 0x40086602 00000000",
    "unmap --all",
  ];
  for (const json of [false, true]) {
    let out = "";
    const s = await createSession({ kernel, json, write: (t) => void (out += t) });
    for (const l of lines) await s.runLine(l);
    if (json) {
      const objects = out.trim().split("\n").filter((l) => l.startsWith("{")).map((l) =>
        JSON.parse(l)
      );
      assert.equal(objects[4].refused, "not sent: vaddr lies outside memory this shell mapped");
      assert.equal(objects.at(-1).command, "unmap --all");
      assert.equal(objects.at(-1).refused, undefined);
    } else {
      assert.match(
        out,
        /^EFAULT \(Bad address\) {2}\[not sent: vaddr lies outside memory this shell mapped\]$/m,
      );
      assert.match(out, /^FAIL .*got EFAULT \(Bad address\) {2}\[not sent: vaddr lies/m);
      // A refusal belongs to its own command only, even one that threw.
      assert.match(out, /too short\nok {2}unmapped=0x0\n$/);
    }
    s.close();
  }
});

Deno.test("session: piped lines under set -e end at the first failure or error; typed ones skip the line", async () => {
  for (const [bad, said] of [["api-version => 1", "failed expectation"], ["nosuch", "error"]]) {
    let out = "";
    const s = await createSession({ kernel: createSimKernel(), write: (t) => void (out += t) });
    const at = (line: number) => ({ file: "<stdin>", line });
    assert.deepEqual(await s.runLine("set -e; container open", at(1)), { exit: false });
    assert.deepEqual(await s.runLine(`${bad}; api-version`, at(2)), { exit: true });
    assert.match(out, new RegExp(`set -e: stopping at the first ${said}\\n$`));
    // The api-version after the failure did not run (the one with => 1 did, in the first case).
    assert.equal(out.match(/^ok {2}value=0$/gm)?.length ?? 0, said === "error" ? 0 : 1, out);
    s.close();
  }
  // At a prompt the session goes on.
  let out = "";
  const s = await createSession({ kernel: createSimKernel(), write: (t) => void (out += t) });
  await s.runLine("set -e; container open");
  assert.deepEqual(await s.runLine("api-version => 1; api-version"), { exit: false });
  assert.match(out, /set -e: the rest of this line is skipped\n$/);
  s.close();
});

Deno.test("session: status is 1 when only an expectation failed", async () => {
  const s = await createSession({ kernel: createSimKernel(), write: () => {} });
  await s.runLine("container open => ok");
  assert.equal(s.status(), 0);
  await s.runLine("api-version => 1");
  assert.equal(s.status(), 1);
  s.close();
});

Deno.test("session: bad input is one line and loses no state", async () => {
  const { s, run } = await shell();
  await run("container open", "let ioas = ioas alloc", "ioas set $ioas");
  const cases: [string, RegExp][] = [
    [
      "unmapp 0 4K",
      /^error: unknown command 'unmapp' \(did you mean unmap\?\)\n {2}unmapp 0 4K\n {2}\^\n$/,
    ],
    ["ioas mapp 1 0 4K rw", /unknown sub-command 'ioas mapp' \(did you mean ioas map/],
    ["map 0x1000 4K", /error: map: missing PERM \(usage: map IOVA SIZE r\|w\|rw\|- /],
    ["map 0x1000 4K rw extra", /error: map: unexpected argument 'extra'/],
    ["map 0x10000000000000000 4K rw", /does not fit 64 bits[^\n]*\n {2}map 0x1\d+ 4K rw\n {6}\^/],
    ["map 0x1000 4K rw --vadr 1", /unknown option --vadr \(did you mean --vaddr\?\)/],
    [
      "include /no/such/file.vfs",
      /error: include: cannot include \/no\/such\/file.vfs: no such file/,
    ],
    [
      "plugin load /no/such/plugin.ts",
      /error: plugin load: plugin \/no\/such\/plugin.ts: no such file/,
    ],
    ["map $nope 4K rw", /error: variable \$nope is not set\n {2}map \$nope 4K rw\n {6}\^/],
    ['echo "unterminated', /error: unterminated string: expected a closing "/],
    ["container use 42", /error: container use: fd 42 is not an open container \(open: 3\)/],
    ["mem read nothing 0 4", /no memory region 'nothing'/],
  ];
  for (const [line, re] of cases) {
    const out = await run(line);
    assert.match(out, re, `for: ${line}`);
    assert.equal(out.split("\n").filter((l) => l.startsWith("error:")).length, 1, line);
  }
  // The state is intact: same container, same variable, same compat IOAS.
  assert.equal(s.prompt(), "vfsh sim fd=3> ");
  assert.equal(await run("ioas get => $ioas"), "ok  id=1\n");
  assert.equal(await run("echo $ioas"), "1\n");
  s.close();
});

Deno.test("session: expectations hold, fail with expected and actual, and negate", async () => {
  const { s, script } = await shell();
  const r = await script(
    [
      "container open",
      "api-version => 0",
      "api-version => ok",
      "api-version => !ENOENT",
      "check-extension TYPE1v2 => value=1",
      "info => ENODEV",
      "info => 0x1000", // fails: it is an errno
      "api-version => !0", // fails
    ].join("\n"),
  );
  assert.equal(r.passed, 5);
  assert.equal(r.failed, 2);
  assert.equal(r.status, 1);
  assert.match(r.out, /FAIL t\.vfs:7: expected 0x1000, got ENODEV \(No such device\)\n/);
  assert.match(r.out, /FAIL t\.vfs:8: expected !0, got ok {2}value=0\n/);
  assert.match(r.out, /FAIL t\.vfs: 5 passed, 2 failed\n$/);
  s.close();
});

Deno.test("session: let binds principal values and numbers; expect checks $last", async () => {
  const { s, script } = await shell();
  const r = await script(
    [
      "container open",
      "let a = ioas alloc => 1",
      "let b = ioas alloc",
      "let sum = $a + $b * 2",
      "ioas set $b",
      "ioas get => $sum-3",
      "expect id == 2",
      "expect id != 3",
      "expect id >= $a+1",
      "expect errno == 0",
      "map 0x100000 2M rw",
      "let iova = map 0x400000 2M rw",
      "unmap $iova 2M",
      "expect unmapped == 2M",
      "expect unmapped < 1M", // fails
    ].join("\n"),
  );
  assert.equal(r.failed, 1, r.out);
  assert.equal(r.passed, 7, r.out);
  assert.match(r.out, /FAIL t\.vfs:15: expected unmapped < 1M, got 0x200000/);
  s.close();
});

Deno.test("session: a let whose command fails stops the script (status 2)", async () => {
  const { s, script } = await shell();
  const r = await script("container open\nlet x = info\napi-version => 0\n");
  assert.equal(r.status, 2);
  assert.match(r.out, /error: t\.vfs:2:5: let x: 'info' failed with ENODEV, nothing to bind/);
  assert.doesNotMatch(r.out, /3> api-version/);
  s.close();
});

Deno.test("session: set -e stops at the first failed expectation; set +e goes on", async () => {
  const { s, script } = await shell();
  const r = await script("container open\nset -e\napi-version => 1\napi-version => 0\n");
  assert.equal(r.failed, 1);
  assert.equal(r.passed, 0);
  assert.match(r.out, /set -e: stopping/);
  const r2 = await script("set +e\napi-version => 1\napi-version => 0\n");
  assert.equal(r2.passed, 1);
  assert.equal(r2.failed, 1);
  s.close();
});

Deno.test("session: an unknown command anywhere stops the script before it runs", async () => {
  const { s, script } = await shell();
  const r = await script("container open\napi-version => 0\nbogus 1 2\n", "x.vfs");
  assert.equal(r.status, 2);
  assert.equal(r.passed, 0);
  assert.match(r.out, /error: x\.vfs:3:1: unknown command 'bogus'/);
  assert.doesNotMatch(r.out, /1> container open/);
  s.close();
});

Deno.test("session: a parse error names file:line:col, shows the line and a caret", async () => {
  const { s, script } = await shell();
  const r = await script("container open\nmap 0x1000 0x1ffffffffffffffffff rw\n", "p.vfs");
  assert.equal(r.status, 2);
  assert.match(
    r.out,
    /error: p\.vfs:2:12: number '0x1ffffffffffffffffff' does not fit 64 bits.*\n {2}map 0x1000 0x1f+ rw\n {13}\^\n/,
  );
  s.close();
});

Deno.test("session: a byte-order mark before the first line is not part of it", () =>
  withTempDir(async (dir) => {
    // As Windows editors save UTF-8: EF BB BF, then the script.
    Deno.writeTextFileSync(`${dir}/bom.vfs`, "\ufeffcontainer open\napi-version => 0\n");
    Deno.writeTextFileSync(`${dir}/main.vfs`, "include bom.vfs\n");
    for (const file of ["bom.vfs", "main.vfs"]) {
      let out = "";
      const s = await createSession({ kernel: createSimKernel(), write: (t) => (out += t) });
      const r = await s.runFile(`${dir}/${file}`);
      s.close();
      assert.equal(r.status, 0, out);
      assert.equal(r.passed, 1, out);
      assert.match(out, /1> container open\n/);
    }
  }));

Deno.test("session: a plugin field the shell cannot print is one line naming the plugin", async () => {
  for (const json of [false, true]) {
    const { s, run } = await shell({ json });
    await run(`plugin load ${PLUGINS}bad_result.ts`);
    const out = await run("count", "table", "fine", "let v = 5");
    const errors = out.split("\n").filter((l) => l.includes("plugin bad-result"));
    assert.equal(errors.length, 2, out);
    assert.match(errors[0], /command 'count' returned field 'value' as a number/);
    assert.match(errors[1], /command 'table' returned field 'm' as a Map/);
    assert.doesNotMatch(out, /internal error/);
    assert.match(await run("echo $v"), json ? /"text":"5"/ : /^5\n$/, "the session goes on");
    s.close();
  }
});

Deno.test("session: a plugin command that returns no result says what it returned", async () => {
  const { s, run } = await shell();
  await run(`plugin load ${PLUGINS}bad_result.ts`);
  assert.equal(
    await run("nothing"),
    "error: plugin bad-result: command 'nothing' returned nothing, not a result" +
      " (use ctx.ok(), ctx.errno() or ctx.fromRet())\n",
  );
  assert.match(await run("five"), /^error: plugin bad-result: command 'five' returned a number,/);
  s.close();
});

Deno.test("session: a command's failure in a script is one line; --json gives its place as fields", async () => {
  const text =
    `plugin load ${PLUGINS}bad_result.ts\nplugin load ${PLUGINS}throws.ts\necho x; five\n`;
  const { s, script } = await shell();
  const r = await script(text);
  assert.equal(r.status, 2);
  const errors = r.out.split("\n").filter((l) => l.startsWith("error:"));
  assert.deepEqual(errors, [
    "error: t.vfs:3:9: plugin bad-result: command 'five' returned a number, not a result" +
    " (use ctx.ok(), ctx.errno() or ctx.fromRet())",
  ]);
  assert.doesNotMatch(r.out, /\^/, "no caret display: the line says it all");
  s.close();
  const cases: [string, number, RegExp][] = [
    ["five", 1, /^plugin bad-result: command 'five' returned a number/],
    ["echo y; boom", 9, /^plugin thrower: command 'boom' threw: kaboom$/],
  ];
  for (const [line, col, error] of cases) {
    const j = await shell({ json: true });
    const out = (await j.script(text.replace("echo x; five", line))).out;
    const obj = out.split("\n").filter((l) => l.includes('"error"')).map((l) => JSON.parse(l))[0];
    assert.match(obj.error, error);
    assert.deepEqual([obj.file, obj.line, obj.col], ["t.vfs", 3, col]);
    j.s.close();
  }
});

Deno.test("session: echo prints any field as its result showed it", async () => {
  const { s, run } = await shell();
  const out = await run(
    "container open",
    "let i = ioas alloc",
    "ioas iova-ranges $i",
    "echo r $last.iova_ranges",
    "mem alloc b 4K",
    "mem write b 0 dead",
    "mem read b 0 2",
    "echo b $last.bytes",
    "let n = $last.bytes",
  );
  s.close();
  assert.match(out, /^r \[0x0-0xffffffffffffffff\]$/m);
  assert.match(out, /^b dead$/m);
  assert.match(out, /\$last\.bytes is a byte string, expected a number/);
});

Deno.test("session: --json reports expect lines as objects, and set -e stops there too", async () => {
  const { s, script } = await shell({ json: true });
  const r = await script(
    "container open\napi-version\nexpect value == 0\nexpect value == 1\napi-version => 0\n",
  );
  const objs = r.out.trim().split("\n").map((l) => JSON.parse(l));
  assert.deepEqual(objs.filter((o) => o.command?.startsWith("expect")), [
    {
      command: "expect value == 0",
      file: "t.vfs",
      line: 3,
      expectation: { expected: "value == 0", held: true },
    },
    {
      command: "expect value == 1",
      file: "t.vfs",
      line: 4,
      expectation: { expected: "value == 1", held: false, actual: "0x0" },
    },
  ]);
  assert.deepEqual([r.passed, r.failed, r.status], [2, 1, 1]);
  // With set -e the failed expectation ends the script, in JSON as in the human form.
  for (const json of [true, false]) {
    const sh = await shell({ json });
    const e = await sh.script("set -e\ncontainer open\napi-version => 1\napi-version => 0\n");
    sh.s.close();
    assert.deepEqual([e.passed, e.failed, e.status], [0, 1, 1], `json: ${json}`);
  }
  s.close();
});

Deno.test("session: include is relative to the including file and detects cycles", () =>
  withTempDir(async (dir) => {
    Deno.mkdirSync(`${dir}/sub`);
    Deno.writeTextFileSync(
      `${dir}/main.vfs`,
      "container open\ninclude sub/part.vfs\napi-version => 0\n",
    );
    Deno.writeTextFileSync(`${dir}/sub/part.vfs`, "let ioas = ioas alloc => 1\n");
    const { s, script } = await shell();
    const r = await script(Deno.readTextFileSync(`${dir}/main.vfs`), `${dir}/main.vfs`);
    assert.equal(r.status, 0, r.out);
    assert.equal(r.passed, 2);
    assert.match(r.out, /sub\/part\.vfs:1> let ioas = ioas alloc => 1/);

    Deno.writeTextFileSync(`${dir}/a.vfs`, "include b.vfs\n");
    Deno.writeTextFileSync(`${dir}/b.vfs`, "include a.vfs\n");
    const c = await s.runFile(`${dir}/a.vfs`);
    assert.equal(c.status, 2);
    // Included files are named as the top one was: here relative to the working directory.
    const rel = relative(Deno.cwd(), dir);
    const r2 = await script(Deno.readTextFileSync(`${dir}/a.vfs`), `${rel}/a.vfs`);
    assert.equal(r2.status, 2);
    assert.match(r2.out, new RegExp(`\\n${rel}/b\\.vfs:1> include a\\.vfs\\n`));
    assert.ok(
      r2.out.includes(`include cycle: ${rel}/a.vfs -> ${rel}/b.vfs -> ${rel}/a.vfs\n`),
      r2.out,
    );
    s.close();
  }));

Deno.test("session: --json prints one object per command", async () => {
  const { s, script } = await shell({ json: true });
  const r = await script(
    "container open\ninfo => ENODEV\nlet a = ioas alloc\nioas iova-ranges $a\n",
  );
  const objs = r.out.trim().split("\n").map((l) => JSON.parse(l));
  assert.deepEqual(objs[1], {
    command: "info => ENODEV",
    file: "t.vfs",
    line: 2,
    ok: false,
    errno: { name: "ENODEV", number: 19 },
    fields: {},
    expectation: { expected: "ENODEV", held: true },
  });
  assert.deepEqual(objs[2].fields, { id: 1 });
  assert.deepEqual(objs[3].fields, {
    num_iovas: 1,
    iova_ranges: [["0x0", "0xffffffffffffffff"]],
    alignment: "0x1",
  });
  assert.deepEqual(objs[4], { file: "t.vfs", passed: 1, failed: 0, status: 0 });
  s.close();
});

Deno.test("session: plugins load, and broken ones are one line naming the plugin", async () => {
  const { s, run } = await shell();
  await run("container open", "let keep = 7");
  assert.match(await run(`plugin load ${PLUGINS}good.ts`), /plugin good loaded: twice, calls/);
  assert.equal(await run("twice 21 => 42"), "ok  value=42\n");
  const dir = Deno.makeTempDirSync();
  Deno.writeTextFileSync(`${dir}/broken.ts`, "this is not ( typescript\n");
  const bad: [string, RegExp][] = [
    [`${dir}/broken.ts`, /^error: plugin load: plugin \S+broken\.ts failed to load: /],
    [`${PLUGINS}throws_on_import.ts`, /plugin \S+throws_on_import\.ts failed to load: .*exploded/],
    [`${PLUGINS}not_a_plugin.ts`, /its default export is not a plugin/],
    [`${PLUGINS}clash.ts`, /plugin clash: command 'map' is already defined by plugin core/],
    [
      `${PLUGINS}bad_schema.ts`,
      /plugin bad-schema: command 'weird': 'when' has a zod type \(date\)/,
    ],
    [
      `${PLUGINS}plain_args.ts`,
      /plugin plain-args: command 'plain': args must be z\.object\(\{ … \}\), not a plain object/,
    ],
    [`${PLUGINS}good.ts`, /plugin good: a plugin with this name is already loaded/],
  ];
  for (const [path, re] of bad) {
    const out = await run(`plugin load ${path}`);
    assert.match(out, re);
    assert.equal(out.trim().split("\n").length, 1, out);
  }
  // A clash registers nothing of that plugin.
  assert.match(await run("fine-one"), /unknown command 'fine-one'/);
  await run(`plugin load ${PLUGINS}throws.ts`);
  assert.match(await run("boom"), /^error: plugin thrower: command 'boom' threw: kaboom\n/);
  assert.match(
    await run("boom-obj"),
    /^error: plugin thrower: command 'boom-obj' threw: an object whose message cannot be read \(reading it threw: inner\)\n/,
  );
  assert.equal(await run("echo $keep"), "7\n");
  assert.equal(s.prompt(), "vfsh sim fd=3> ");
  Deno.removeSync(dir, { recursive: true });
  s.close();
});

Deno.test("session: a recording replays green on the same backend", () =>
  withTempDir(async (dir) => {
    const file = `${dir}/rec.vfs`;
    const { s, run } = await shell();
    await run(`record ${file}`);
    await run(
      "container open",
      "let ioas = ioas alloc",
      "ioas set $ioas; set-iommu TYPE1v2",
      "info",
      "map 0x100000 2M rw => ENOENT", // a wrong expectation is replaced by the result
      "unmap 0x100000 1M",
      "mem alloc buf 4K",
      "mem write buf 0 0badcafe",
      "mem read buf 0 4",
      "ioas iova-ranges $ioas",
      "echo done",
      "vars",
      "record stop",
      "api-version",
    );
    s.close();
    const text = Deno.readTextFileSync(file);
    assert.match(text, /^# recorded by vfsh on sim/);
    assert.match(text, /\ncontainer open => ok\n/);
    assert.match(text, /\nlet ioas = ioas alloc => id=1\n/);
    assert.match(text, /\nmap 0x100000 2M rw => iova=0x100000\n/);
    assert.match(text, /\nunmap 0x100000 1M => ENOENT\n/);
    assert.match(text, /\nmem read buf 0 4 => bytes=0badcafe\n/);
    assert.match(
      text,
      /\ninfo => argsz=72 flags=0x3 pgsizes=0xfffffffffffff000 cap_offset=24 dma_avail=4294967295 iova_ranges=\[0x0-0xffffffffffffffff\]\n/,
    );
    const body = text.split("\n").filter((l) => !l.startsWith("#")).join("\n");
    assert.doesNotMatch(body, /vaddr=|vars|record|api-version/);
    const replay = await shell();
    const r = await replay.s.runFile(file);
    assert.equal(r.status, 0);
    assert.ok(r.passed >= 10, String(r.passed));
    replay.s.close();
  }));

Deno.test("session: a recording elsewhere names included scripts and plugins from where it lies", () =>
  withTempDir(async (dir) => {
    Deno.mkdirSync(`${dir}/rec`);
    Deno.mkdirSync(`${dir}/lib/with space`, { recursive: true });
    Deno.writeTextFileSync(`${dir}/lib/a.vfs`, "include 'with space/b.vfs'\n");
    Deno.writeTextFileSync(`${dir}/lib/with space/b.vfs`, "api-version => 0\n");
    const mod = new URL("../mod.ts", import.meta.url).href;
    Deno.writeTextFileSync(
      `${dir}/lib/plugin.ts`,
      `import { definePlugin } from "${mod}";\nexport default definePlugin({ name: "p", commands: [] });\n`,
    );
    // The script that records runs from lib/, and records into rec/.
    Deno.writeTextFileSync(
      `${dir}/lib/main.vfs`,
      `record ../rec/r.vfs\ncontainer open\ninclude a.vfs\ninclude ${dir}/lib/a.vfs\n` +
        "plugin load plugin.ts\nrecord stop\n",
    );
    const { s, script } = await shell();
    const r = await script(Deno.readTextFileSync(`${dir}/lib/main.vfs`), `${dir}/lib/main.vfs`);
    assert.equal(r.status, 0, r.out);
    s.close();
    const body = Deno.readTextFileSync(`${dir}/rec/r.vfs`).split("\n").filter((l) =>
      l !== "" && !l.startsWith("#")
    );
    assert.deepEqual(body, [
      "container open => ok",
      "include ../lib/a.vfs",
      `include ${dir}/lib/a.vfs`, // absolute: as typed
      "plugin load ../lib/plugin.ts",
    ]);
    const replay = await shell();
    const again = await replay.s.runFile(`${dir}/rec/r.vfs`);
    assert.equal(again.status, 0);
    assert.equal(again.passed, 3);
    replay.s.close();
  }));

Deno.test("session: what was typed before record is commented in its header, continued lines too", () =>
  withTempDir(async (dir) => {
    const { s, run } = await shell();
    await run(
      "container open; \\\n api-version",
      "container close",
      `record ${dir}/r.vfs`,
      "container open",
      "api-version",
      "record stop",
    );
    s.close();
    const text = Deno.readTextFileSync(`${dir}/r.vfs`);
    assert.match(
      text,
      /^# earlier in this session \(not replayed\):\n# {3}container open; \\\n# {4}api-version\n# {3}container close\n/m,
    );
    const replay = await shell();
    const r = await replay.s.runFile(`${dir}/r.vfs`);
    assert.equal(r.status, 0, "the header is all comments");
    assert.equal(r.passed, 2);
    replay.s.close();
  }));

Deno.test("session: completion of commands, options, choices, constants, paths", async () => {
  const { s } = await shell();
  const c = (l: string) => s.complete(l);
  assert.deepEqual(c("io"), [["ioas", "ioctl"], "io"]);
  assert.deepEqual(c("ioas m"), [["map", "map-file"], "m"]);
  assert.deepEqual(c("map 0 4K r"), [["r", "rw"], "r"]);
  assert.deepEqual(c("map 0 4K rw --va"), [["--vaddr"], "--va"]);
  assert.deepEqual(c("check-extension type1"), [["TYPE1", "TYPE1_NESTING", "TYPE1v2"], "type1"]);
  assert.deepEqual(c("option huge-pages 1 o"), [["off", "on"], "o"]);
  assert.deepEqual(c("api-version => ENOE"), [["ENOENT", "ENOEXEC"], "ENOE"]);
  assert.ok(c("unmap 0 4K => unm")[0].includes("unmapped="));
  assert.ok(c("unmap 0 4K => !EINV")[0].includes("!EINVAL"));
  assert.deepEqual(c("set-iommu TYPE1; api-v"), [["api-version"], "api-v"]);
  const dir = new URL("./testdata/plugins/", import.meta.url).pathname;
  assert.ok(c(`plugin load ${dir}go`)[0].includes(`${dir}good.ts`));
  await s.runLine("let base = 1");
  assert.deepEqual(c("map $ba"), [["$base"], "$ba"]);
  assert.ok(s.commandNames().includes("ioas map"));
  s.close();
});

Deno.test('expectations: a quoted principal value is text, as in field="text"', async () => {
  const { s, script } = await shell();
  await s.runLine(`plugin load ${PLUGINS}text_principal.ts`);
  const r = await script(
    [
      'greet bob => "hello bob"',
      'greet bob => !"hello"',
      'greet bob => value="hello bob"',
      "container open",
      // A number written in quotes is text, and a number is no text: both fail.
      'ioas alloc => "1"',
      'ioas alloc => id="2"',
    ].join("\n") + "\n",
  );
  s.close();
  assert.equal(r.passed, 3);
  assert.equal(r.failed, 2);
  assert.match(r.out, /FAIL t\.vfs:5: expected "1", got ok {2}id=1\n/);
});

Deno.test("expect: before any result it says nothing has set $last (echo sets none)", async () => {
  const { s, script } = await shell();
  const r = await script("echo hi\nexpect text == hi\n");
  s.close();
  assert.equal(r.failed, 1);
  assert.match(
    r.out,
    /FAIL t\.vfs:2: expected text == hi, got \(no result yet: nothing has set \$last\)\n/,
  );
});

Deno.test("session: help lists every command and explains one", async () => {
  const { s, run } = await shell();
  const all = await run("help");
  for (const name of s.commandNames().filter((n) => n !== "let" && n !== "expect")) {
    assert.ok(all.includes(`  ${name} `), `help lists ${name}`);
  }
  const one = await run("help ioas map");
  assert.match(
    one,
    /^usage: ioas map ID IOVA\|- SIZE r\|w\|rw\|- \[--vaddr ADDR\] \[--size N\] \[--flags N\]\n/,
  );
  assert.match(one, /iova +the IOVA mapped \(principal value\)/);
  assert.match(await run("help ioas"), /ioas alloc +IOMMU_IOAS_ALLOC/);
  assert.match(await run("help nosuch"), /error: help: unknown command 'nosuch'/);
  // let binds numbers and text; its help says both.
  assert.match(
    await run("help let"),
    /\nlet NAME = "TEXT" {6}bind text: let dev = "0000:00:04\.0"\n/,
  );
  s.close();
});

Deno.test("session: the kernel backend path: sim commands say simulator-only", async () => {
  const sim = createSimKernel();
  const kernelLike = { ...bind(sim), name: "kernel" as const, simulator: undefined };
  let out = "";
  const s: Session = await createSession({ kernel: kernelLike, write: (t) => void (out += t) });
  await s.runLine("sim reset");
  assert.match(
    out,
    /^error: sim reset: 'sim reset' is simulator-only \(this session runs on the kernel backend\)/,
  );
  out = "";
  await s.runLine(
    "container open; let a = ioas alloc; ioas set $a; set-iommu TYPE1; map 0x100000 2M rw",
  );
  await s.runLine("map 0x400000 4K r; unmap 0x100000 1M => unmapped=1M");
  out = "";
  await s.runLine("mappings");
  assert.match(
    out,
    /^ok {2}count=2\n {2}iova +last +vaddr +perm\n {2}0x200000 +0x2fffff +0x\w+ +rw\n {2}0x400000 +0x400fff +0x\w+ +r\n$/,
  );
  s.close();
});

function bind(k: ReturnType<typeof createSimKernel>) {
  return {
    open: k.open.bind(k),
    close: k.close.bind(k),
    ioctl: k.ioctl.bind(k),
    mmap: k.mmap.bind(k),
    munmap: k.munmap.bind(k),
    readMemory: k.readMemory.bind(k),
    writeMemory: k.writeMemory.bind(k),
  };
}

Deno.test("session: a syntax error further on is reported before an unknown command", async () => {
  const { s, script } = await shell();
  const r = await script('container open\nbogus 1 2\nmap 0x1000 4K rw\necho "open\n', "y.vfs");
  assert.equal(r.status, 2);
  assert.match(r.out, /error: y\.vfs:4:6: unterminated string/);
  assert.doesNotMatch(r.out, /bogus/);
  s.close();
});

Deno.test("session: identical lines run as often as written, each with its own line", async () => {
  const { s, script } = await shell();
  const line = "map $a 4K rw --vaddr 0x7f0000000000 => ok";
  const r = await script(
    ["container open", "let ioas = ioas alloc", "ioas set $ioas", "set-iommu TYPE1v2"]
      .concat(["let a = 0x100000", line, "let a = 0x200000", line, line, "unmap $a 8K"])
      .join("\n"),
    "z.vfs",
  );
  assert.equal(r.passed, 2);
  assert.equal(r.failed, 1);
  assert.match(r.out, /6> map \$a 4K rw --vaddr 0x7f0000000000 => ok\nok {2}iova=0x100000\n/);
  assert.match(r.out, /8> map \$a .*\nok {2}iova=0x200000\n/);
  assert.match(r.out, /9> map \$a .*\nEEXIST .*\nFAIL z\.vfs:9: expected ok, got EEXIST/);
  s.close();
});

Deno.test("script errors: a field value that is no number points into the value when the field is one", async () => {
  // `id=…` may be text until the result shows `id` is a number; the error then names the
  // place inside the value that could not be read, not the value's start.
  const { s, script } = await shell();
  const r = await script("container open\nioas alloc => id=1+nope\n");
  s.close();
  assert.equal(r.status, 2);
  assert.match(r.out, /error: t\.vfs:2:20: unknown name 'nope'/);
});

Deno.test("script errors: a malformed statement stops the script before it runs, with one line naming file:line:col", async () => {
  const cases: [string, string][] = [
    ["map 0x1000 4K rw --vaddr 1 --vaddr 2", "t.vfs:2:28: map: option --vaddr given twice"],
    ["unmap --all=1", "t.vfs:2:7: unmap: --all takes no value"],
    ['map 0x1000 "4K" rw', "t.vfs:2:12: map: SIZE must be a number, not a quoted string"],
    ["ioas alloc => (id=1", "t.vfs:2:15: unbalanced '(': expected ')' before the end of the line"],
    ["ioas alloc => id=1)", "t.vfs:2:19: unbalanced ')': no '(' before it"],
    [
      "expect id ~= 1",
      "t.vfs:2:11: unknown operator '~=': expected: expect FIELD OP VALUE (OP is == != < <= > >=)",
    ],
    [
      "ioas alloc => !",
      "t.vfs:2:12: expected a result after '!' (ok, an errno name, a number or field=value)",
    ],
    // Every part of an expectation must hold: parts that never can together are refused.
    [
      "ioas alloc => EINVAL EPERM",
      "t.vfs:2:22: 'EINVAL' and 'EPERM' cannot both hold: a call fails with one errno (an expectation lists what must all hold, not alternatives)",
    ],
    [
      "ioas alloc => !ok EPERM",
      "t.vfs:2:19: 'ok' and 'EPERM' cannot both hold: a call either succeeds or fails (an expectation lists what must all hold, not alternatives)",
    ],
    [
      "ioas alloc => ENOENT id=1",
      "t.vfs:2:22: 'ENOENT' and 'id=1' cannot both hold: a call either succeeds or fails (an expectation lists what must all hold, not alternatives)",
    ],
    [
      "ioas alloc => EINVAL|EPERM",
      "t.vfs:2:15: 'EINVAL|EPERM': an expectation names one errno, not alternatives",
    ],
    // A message with `$'` in it is printed as it is (no replacement pattern).
    ["let v = $", "t.vfs:2:10: expected a variable name after '$'"],
    // A string in arithmetic is named as a string (its quotes were once dropped: "a" → a).
    [
      'let v = 1 + "a"',
      't.vfs:2:13: "a" is a string, expected a number (a string is bound on its own: let v = "a")',
    ],
    ["ioas alloc => id=1 id=2", "t.vfs:2:20: field 'id' given twice in one expectation"],
    ["ioas alloc => 1 2", "t.vfs:2:17: a second value '2' after '1' in one expectation"],
    // Constants are folded when compiled, so this one is found before anything runs too.
    ["let x = 4K/(1-1)", "t.vfs:2:11: division by zero"],
    [
      "mem alloc 9x 4K",
      "t.vfs:2:11: mem alloc: NAME must be a name (a letter or '_', then letters, digits or '_'), got '9x'",
    ],
  ];
  for (const [line, want] of cases) {
    let out = "";
    const s = await createSession({ kernel: createSimKernel(), write: (t) => (out += t) });
    const r = await s.runScript(`container open\n${line}\n`, "t.vfs");
    s.close();
    assert.equal(r.status, 2, line);
    assert.deepEqual(out.split("\n").filter((l) => l.startsWith("error:")), [`error: ${want}`]);
    // Nothing ran: not even the first line's container open.
    assert.equal(out.includes("2> ") || /\bfd=\d/.test(out), false, out);
  }
});

Deno.test("ioctl: a raw buffer grows to the size its first u32 gives; a request must fit 32 bits", async () => {
  const { s, run } = await shell();
  await run("container open");
  // IOMMU_IOAS_ALLOC's struct is 12 bytes: 4 given, 12 handed over, the new id written back.
  assert.equal(
    await run("ioctl IOMMU_IOAS_ALLOC 0c000000"),
    "ok  ret=0 bytes=0c0000000000000001000000\n",
  );
  assert.equal(await run("ioctl VFIO_GET_API_VERSION => 0"), "ok  ret=0\n");
  assert.match(
    await run("ioctl 4294967296"),
    /^error: ioctl: request 4294967296 does not fit 32 bits \(0 … 0xffffffff\)\n$/,
  );
  assert.match(await run("ioctl NOSUCH"), /unknown request 'NOSUCH' \(a name like/);
  s.close();
});

Deno.test("session: at the prompt an error shows the message whole, the line and the caret", async () => {
  const { s, run } = await shell();
  // `$'` in the message once pulled in the text after it, as String.replace's pattern does.
  assert.equal(
    await run("let v = $"),
    "error: expected a variable name after '$'\n  let v = $\n           ^\n",
  );
  s.close();
});

Deno.test("session: after sim reset the shell's scratch memory is mapped afresh (userBytes works)", async () => {
  const { script } = await shell();
  // container setup and allow-iovas pass their arguments through the scratch memory.
  const r = await script(
    "container setup\nsim reset\ncontainer setup\nlet i = ioas alloc\nioas allow-iovas $i 0x1000-0x1fff => ok\n",
  );
  assert.equal(r.status, 0, r.out);
  assert.doesNotMatch(r.out, /scratch memory/);
});

Deno.test("session: sim profile reboots the shell side too: no container, no region variables", async () => {
  const { s, run } = await shell();
  await run("container open; mem alloc b 4K; let keep = 5");
  assert.equal(await run("sim profile amd-vi"), "ok  profile=amd-vi\n");
  assert.equal(s.prompt(), "vfsh sim> ");
  // Without a name: the one in use, and the list with it marked.
  const list = await run("sim profile");
  assert.match(list, /^ok {2}profile=amd-vi\n/);
  assert.match(list, /^ {2}amd-vi {2}\(in use\)$/m);
  assert.match(list, /^ {2}mock$/m);
  assert.equal(await run("vars"), "$keep = 5\n");
  // The same for sim reset; a variable rebound to something else stays.
  await run("mem alloc c 4K; mem alloc d 4K; let d = 7; sim reset");
  assert.equal(await run("vars"), "$d = 7\n$keep = 5\n");
});

Deno.test("session: under set -e the command whose expectation failed is still recorded", () =>
  withTempDir(async (dir) => {
    const file = `${dir}/rec.vfs`;
    const { s, script } = await shell();
    const r = await script(
      `record ${file}\nset -e\ncontainer open\napi-version => 1\necho after\n`,
    );
    assert.equal(r.status, 1);
    s.close();
    const text = Deno.readTextFileSync(file);
    assert.match(text, /\napi-version => value=0\n/);
    assert.doesNotMatch(text, /after/);
  }));

Deno.test("session: small words: a plugin without commands, one command recorded, no region named last", () =>
  withTempDir(async (dir) => {
    const { run } = await shell();
    assert.equal(
      await run(`plugin load ${PLUGINS}no_commands.ts`),
      "plugin no-commands loaded (no commands)\n",
    );
    await run(`record ${dir}/r.vfs`, "container open");
    assert.equal(await run("record stop"), `recorded 1 command to ${dir}/r.vfs\n`);
    assert.match(
      await run("mem alloc last 4K"),
      /mem alloc: 'last' is taken: \$last is always the last result/,
    );
    assert.doesNotMatch(await run("vars"), /\$last/);
  }));

Deno.test("session: set -e at the prompt says it skips the rest of the line, and does", async () => {
  const { run } = await shell();
  const out = await run("set -e", "container open; api-version => 1; echo same-line", "echo next");
  assert.match(out, /set -e: the rest of this line is skipped\n/);
  assert.doesNotMatch(out, /same-line/);
  assert.match(out, /next/);
});
