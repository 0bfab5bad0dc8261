import assert from "node:assert/strict";
import { PassThrough } from "node:stream";
import {
  defaultHistoryFile,
  type ReplOptions,
  type ReplSession,
  runRepl,
  useColor,
} from "./repl.ts";
import { colorPrompt, wantColor } from "./_terminal.ts";

const PROMPT = "vfsh sim> ";
const UP = "\x1b[A";
const CTRL_C = "\x03";
const CTRL_D = "\x04";
const CTRL_U = "\x15";

interface Fake {
  session: ReplSession;
  /** Lines given to runLine, in call order. */
  calls: string[];
  /** The origin given with each call, `file:line` or `-` for none. */
  origins: string[];
  /** `start X` / `end X` for each runLine, to see that runs never overlap. */
  events: string[];
  /** Lines given to complete. */
  completions: string[];
  closed: number;
}

/** A session that prints `out:LINE`; `slow` lines take 30 ms, `boom` throws, `quit` exits. */
function fakeSession(out: PassThrough): Fake {
  const fake: Fake = {
    calls: [],
    origins: [],
    events: [],
    completions: [],
    closed: 0,
    session: {
      prompt: () => PROMPT,
      async runLine(line: string, origin?: { file: string; line: number }) {
        fake.events.push(`start ${line}`);
        fake.calls.push(line);
        fake.origins.push(origin ? `${origin.file}:${origin.line}` : "-");
        await delay(line.startsWith("slow") ? 30 : 0);
        if (line === "boom") throw new Error("boom\nwith a second line");
        out.write(`out:${line}\n`);
        fake.events.push(`end ${line}`);
        return { exit: line.trim() === "quit" };
      },
      complete(line: string): [string[], string] {
        fake.completions.push(line);
        const hits = ["container", "check-extension"].filter((n) => n.startsWith(line));
        return [hits.map((n) => n + " "), line];
      },
      close() {
        fake.closed++;
      },
    },
  };
  return fake;
}

interface Harness {
  input: PassThrough;
  fake: Fake;
  done: Promise<void>;
  /** Everything written so far, ANSI sequences removed. */
  text(): string;
  /** Everything written so far, as written. */
  raw(): string;
}

function start(options: Partial<ReplOptions> = {}): Harness {
  const input = new PassThrough();
  const output = new PassThrough();
  let raw = "";
  output.on("data", (chunk: Uint8Array) => raw += new TextDecoder().decode(chunk));
  const fake = fakeSession(output);
  // A PassThrough is no TTY: prompts are asked for, as a person at a terminal sees them.
  const done = runRepl(fake.session, { input, output, color: false, prompts: true, ...options });
  return { input, fake, done, text: () => stripAnsi(raw), raw: () => raw };
}

function stripAnsi(text: string): string {
  // deno-lint-ignore no-control-regex
  return text.replace(/\x1b\[[0-9;]*[A-Za-z]/g, "");
}

function delay(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

async function waitFor(what: string, pred: () => boolean, ms = 3000): Promise<void> {
  const until = Date.now() + ms;
  while (!pred()) {
    if (Date.now() > until) throw new Error(`timed out waiting for ${what}`);
    await delay(5);
  }
}

async function finished(h: Harness, ms = 3000): Promise<void> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error("the REPL did not end")), ms);
  });
  try {
    await Promise.race([h.done, timeout]);
  } finally {
    clearTimeout(timer);
  }
}

async function withTempDir(fn: (dir: string) => Promise<void>): Promise<void> {
  const dir = await Deno.makeTempDir({ prefix: "vfsh_repl_test_" });
  try {
    await fn(dir);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
}

function count(text: string, needle: string): number {
  return text.split(needle).length - 1;
}

Deno.test("lines pasted at once run one at a time, in order, each after its prompt", async () => {
  const h = start();
  h.input.write("slow 1\nfast 2\n\nslow 3\nfast 4\n");
  await waitFor("four lines", () => h.fake.events.length === 8);
  assert.deepEqual(h.fake.calls, ["slow 1", "fast 2", "slow 3", "fast 4"]);
  assert.deepEqual(h.fake.events, [
    "start slow 1",
    "end slow 1",
    "start fast 2",
    "end fast 2",
    "start slow 3",
    "end slow 3",
    "start fast 4",
    "end fast 4",
  ]);
  // The blank line is not run but still gets its prompt, like any shell.
  await waitFor("last prompt", () => h.text().endsWith("out:fast 4\n" + PROMPT));
  assert.equal(
    h.text(),
    [PROMPT, "out:slow 1\n", PROMPT, "out:fast 2\n", PROMPT, PROMPT, "out:slow 3\n", PROMPT]
      .join("") + "out:fast 4\n" + PROMPT,
  );
  h.input.end();
  await finished(h);
});

Deno.test("lines piped in (no TTY, prompts not asked for) print only their output", async () => {
  const h = start({ prompts: undefined });
  h.input.write("fast 1\nslow \\\n 2\n");
  h.input.end();
  await finished(h);
  assert.deepEqual(h.fake.calls, ["fast 1", "slow \\\n 2"]);
  assert.equal(h.text(), "out:fast 1\nout:slow \\\n 2\n");
});

Deno.test("lines piped in are named <stdin> and the input line each statement began on", async () => {
  const h = start({ prompts: undefined });
  // Blank lines and continued lines count: statements begin on lines 1, 3, 6 and 7.
  h.input.write("fast 1\n\nslow \\\n 2 \\\n 3\nfast 4\nfast \\\n");
  h.input.end();
  await finished(h);
  assert.deepEqual(h.fake.calls, ["fast 1", "slow \\\n 2 \\\n 3", "fast 4", "fast \\\n"]);
  assert.deepEqual(h.fake.origins, ["<stdin>:1", "<stdin>:3", "<stdin>:6", "<stdin>:7"]);
});

Deno.test("a byte-order mark before the first line is dropped, as vfsh run drops it", async () => {
  const h = start({ prompts: undefined });
  h.input.write("\ufefffast 1\n\ufefffast 2\n");
  h.input.end();
  await finished(h);
  assert.deepEqual(h.fake.calls, ["fast 1", "\ufefffast 2"]);
});

Deno.test("a CRLF split between reads long apart is still one line end", async () => {
  const h = start({ prompts: undefined });
  h.input.write("fast 1\r");
  await delay(150); // past readline's default crlfDelay of 100 ms
  h.input.write("\nfast 2\n");
  h.input.end();
  await finished(h);
  assert.deepEqual(h.fake.calls, ["fast 1", "fast 2"]);
  assert.deepEqual(h.fake.origins, ["<stdin>:1", "<stdin>:2"]);
});

Deno.test("lines typed at a prompt carry no origin: the user sees them", async () => {
  const h = start();
  h.input.write("fast 1\n");
  h.input.end();
  await finished(h);
  assert.deepEqual(h.fake.origins, ["-"]);
});

for (const terminal of [false, true]) {
  Deno.test(`CRLF line ends, even split between chunks, give one line each (terminal: ${terminal})`, async () => {
    const h = start({ terminal });
    h.input.write("slow a\r");
    await waitFor("a to start", () => h.fake.calls.length === 1);
    h.input.write("\nb\r\n");
    await waitFor("b", () => h.fake.events.length === 4);
    await delay(20);
    h.input.end();
    await finished(h);
    assert.deepEqual(h.fake.calls, ["slow a", "b"]);
  });
}

Deno.test("terminal: keys typed while a line runs wait for the next prompt", async () => {
  const h = start({ terminal: true });
  h.input.write("slow a\r");
  await waitFor("a to start", () => h.fake.calls.length === 1);
  h.input.write("typed ahead" + CTRL_C + "b\r");
  await waitFor("b", () => h.fake.events.length === 4);
  const text = h.text();
  assert.ok(text.indexOf("out:slow a") < text.indexOf("typed ahead^C"), JSON.stringify(text));
  assert.deepEqual(h.fake.calls, ["slow a", "b"]);
  h.input.end();
  await finished(h);
});

Deno.test("quit ends the REPL, drops what was queued after it, and closes the session", async () => {
  const h = start();
  h.input.write("slow a\nquit\nnever\n");
  await finished(h);
  assert.deepEqual(h.fake.calls, ["slow a", "quit"]);
  assert.equal(h.fake.closed, 1);
  assert.ok(h.text().endsWith("out:quit\n"), "no newline or prompt after quit");
});

Deno.test("end of input (Ctrl-D on a pipe) finishes the queue, then closes", async () => {
  const h = start();
  h.input.end("slow a\nlast line without newline");
  await finished(h);
  assert.deepEqual(h.fake.calls, ["slow a", "last line without newline"]);
  assert.equal(h.fake.closed, 1);
  assert.equal(h.text(), `${PROMPT}out:slow a\n${PROMPT}out:last line without newline\n`);
});

const CONT = " ".repeat(PROMPT.length - 2) + "> ";

Deno.test("a line ending in \\ waits under a '> ' prompt and runs with the next as one statement", async () => {
  await withTempDir(async (dir) => {
    const file = `${dir}/history`;
    const h = start({ historyFile: file });
    // As in a script: the `\\` of a comment or a string continues nothing.
    h.input.write('map 0x1000 \\\n  4K \\  \n  rw\necho "\\" # \\\nquit\n');
    await finished(h);
    assert.deepEqual(h.fake.calls, ["map 0x1000 \\\n  4K \\  \n  rw", 'echo "\\" # \\', "quit"]);
    assert.equal(
      h.text(),
      `${PROMPT}${CONT}${CONT}out:map 0x1000 \\\n  4K \\  \n  rw\n${PROMPT}out:echo "\\" # \\\n${PROMPT}out:quit\n`,
    );
    // One history line for the statement.
    assert.equal(
      await Deno.readTextFile(file),
      'map 0x1000    4K    rw\necho "\\" # \\\nquit\n',
    );
  });
});

Deno.test("end of input after a continued line runs the statement, as at the end of a file", async () => {
  const h = start();
  h.input.end("api-version \\\n");
  await finished(h);
  assert.deepEqual(h.fake.calls, ["api-version \\\n"]);
});

Deno.test("terminal: Ctrl-C drops a continued statement's earlier lines too", async () => {
  const h = start({ terminal: true });
  h.input.write("map 0x1000 \\\r");
  await waitFor("continuation prompt", () => h.text().endsWith(CONT));
  h.input.write("4K");
  h.input.write(CTRL_C);
  await waitFor("fresh prompt", () => h.text().endsWith(PROMPT));
  h.input.write("next\r");
  h.input.write("quit\r");
  await finished(h);
  assert.deepEqual(h.fake.calls, ["next", "quit"]);
});

Deno.test("end of input at a prompt ends the prompt's line", async () => {
  const h = start();
  h.input.write("a\n");
  await waitFor("prompt", () => h.text().endsWith("out:a\n" + PROMPT));
  h.input.end();
  await finished(h);
  assert.equal(h.text(), `${PROMPT}out:a\n${PROMPT}\n`);
});

Deno.test("terminal: Ctrl-D exits only on an empty line", async () => {
  const h = start({ terminal: true });
  h.input.write("ab");
  await waitFor("echo", () => h.text().includes("ab"));
  h.input.write(CTRL_D); // deletes right of the cursor (nothing): no exit
  await delay(20);
  assert.equal(h.fake.closed, 0);
  h.input.write(CTRL_U);
  h.input.write(CTRL_D);
  await finished(h);
  assert.deepEqual(h.fake.calls, []);
  assert.equal(h.fake.closed, 1);
  assert.ok(h.raw().endsWith("\n"));
});

Deno.test("terminal: Ctrl-C abandons the line, shows ^C and a fresh prompt, keeps going", async () => {
  const h = start({ terminal: true });
  h.input.write("half typed");
  await waitFor("echo", () => h.text().includes("half typed"));
  h.input.write(CTRL_C);
  await waitFor("^C", () => h.text().includes("half typed^C"));
  await waitFor("fresh prompt", () => h.text().endsWith(PROMPT));
  h.input.write("next\r");
  await waitFor("next", () => h.fake.calls.length === 1);
  assert.deepEqual(h.fake.calls, ["next"]);
  h.input.write("quit\r");
  await finished(h);
  assert.deepEqual(h.fake.calls, ["next", "quit"]);
});

Deno.test("terminal: Tab asks the session and inserts the completion", async () => {
  const h = start({ terminal: true });
  h.input.write("cont");
  await waitFor("echo", () => h.text().includes("cont"));
  h.input.write("\t");
  await waitFor("completion", () => h.text().includes("container "));
  assert.deepEqual(h.fake.completions, ["cont"]);
  h.input.write("open\r");
  await waitFor("run", () => h.fake.calls.length === 1);
  assert.deepEqual(h.fake.calls, ["container open"]);
  h.input.end();
  await finished(h);
});

Deno.test("terminal: a completer that throws completes nothing", async () => {
  const h = start({ terminal: true });
  h.fake.session.complete = () => {
    throw new Error("completion bug");
  };
  h.input.write("co");
  await waitFor("echo", () => h.text().includes("co"));
  h.input.write("\t");
  await delay(20);
  h.input.write("\r");
  await waitFor("run", () => h.fake.calls.length === 1);
  assert.deepEqual(h.fake.calls, ["co"]);
  assert.ok(!h.text().includes("completion bug"));
  h.input.end();
  await finished(h);
});

Deno.test("terminal: a pasted line is echoed only after the previous one has printed", async () => {
  const h = start({ terminal: true });
  h.input.write("slow a\rb\r");
  await waitFor("both", () => h.fake.events.length === 4);
  await waitFor(
    "last prompt",
    () => h.text().endsWith("out:b\r\n" + PROMPT) || h.text().endsWith("out:b\n" + PROMPT),
  );
  const text = h.text();
  assert.ok(text.indexOf("out:slow a") < text.indexOf(PROMPT + "b"), JSON.stringify(text));
  h.input.end();
  await finished(h);
});

Deno.test("an error thrown by runLine is printed on one line and the REPL goes on", async () => {
  const h = start();
  h.input.write("boom\nafter\n");
  await waitFor("after", () => h.fake.calls.length === 2 && h.text().includes("out:after"));
  assert.ok(h.text().includes("vfsh: internal error: boom with a second line\n"));
  h.input.end();
  await finished(h);
});

Deno.test("an input error ends the REPL with one line", async () => {
  const h = start();
  h.input.write("a\n");
  await waitFor("a", () => h.text().endsWith("out:a\n" + PROMPT));
  h.input.emit("error", new Error("EIO"));
  await finished(h);
  assert.ok(h.text().includes("vfsh: input error: EIO\n"), h.text());
  assert.equal(h.fake.closed, 1);
});

Deno.test("history: loaded from the file, recalled with Up, de-duplicated, appended", async () => {
  await withTempDir(async (dir) => {
    const file = `${dir}/history`;
    await Deno.writeTextFile(file, "old 1\nold 2\nold 2\n\n");
    const h = start({ terminal: true, historyFile: file });
    h.input.write(UP);
    await waitFor("recall", () => h.text().endsWith(PROMPT + "old 2"));
    h.input.write(UP);
    // The repeated "old 2" was folded into one entry.
    await waitFor("recall 2", () => h.text().endsWith(PROMPT + "old 1"));
    h.input.write("\r");
    await waitFor("run", () => h.fake.calls.length === 1);
    h.input.write("new\r");
    h.input.write("new\r");
    h.input.write("   \r");
    h.input.write("quit\r");
    await finished(h);
    assert.deepEqual(h.fake.calls, ["old 1", "new", "new", "quit"]);
    assert.equal(await Deno.readTextFile(file), "old 1\nold 2\nold 1\nnew\nquit\n");
  });
});

Deno.test("history: typed lines of one session are recalled by the next", async () => {
  await withTempDir(async (dir) => {
    const file = `${dir}/history`;
    const first = start({ historyFile: file });
    first.input.end("container open\ncheck-extension TYPE1v2\n");
    await finished(first);
    const second = start({ terminal: true, historyFile: file });
    second.input.write(UP);
    await waitFor("recall", () => second.text().endsWith(PROMPT + "check-extension TYPE1v2"));
    second.input.write(UP + "\r");
    await waitFor("run", () => second.fake.calls.length === 1);
    assert.deepEqual(second.fake.calls, ["container open"]);
    second.input.end();
    await finished(second);
  });
});

Deno.test("history: capped at historySize, in memory and in the file", async () => {
  await withTempDir(async (dir) => {
    const file = `${dir}/history`;
    await Deno.writeTextFile(file, "a\nb\nc\nd\n");
    const h = start({ historyFile: file, historySize: 3 });
    h.input.write("e\n");
    await waitFor("e", () => h.fake.calls.length === 1);
    assert.equal(await Deno.readTextFile(file), "c\nd\ne\n");
    h.input.end("f\ng\n");
    await finished(h);
    assert.equal(await Deno.readTextFile(file), "e\nf\ng\n");
  });
});

Deno.test("history: a file that cannot be written gives one warning and the REPL goes on", async () => {
  await withTempDir(async (dir) => {
    await Deno.writeTextFile(`${dir}/plain`, "");
    const h = start({ historyFile: `${dir}/plain/history` }); // parent is not a directory
    h.input.end("one\ntwo\nthree\n");
    await finished(h);
    assert.deepEqual(h.fake.calls, ["one", "two", "three"]);
    assert.equal(count(h.text(), "vfsh: history not saved: "), 1, h.text());
    assert.match(h.text(), /^vfsh: history not saved: [^\n]+\n/m);
  });
});

Deno.test("history: a file that cannot be read gives one warning at start", async () => {
  await withTempDir(async (dir) => {
    const h = start({ historyFile: dir }); // a directory
    h.input.end("one\n");
    await finished(h);
    assert.ok(h.text().startsWith("vfsh: history not saved: "), h.text());
    assert.equal(count(h.text(), "history not saved"), 1);
    assert.deepEqual(h.fake.calls, ["one"]);
  });
});

Deno.test("prompt: coloured only when asked, the backend in cyan", async () => {
  assert.equal(
    colorPrompt("vfsh sim fd=3> "),
    "\x1b[1mvfsh\x1b[0m \x1b[36msim\x1b[0m fd=3> ",
  );
  assert.equal(colorPrompt("> "), "> ");
  const plain = start();
  const colored = start({ color: true });
  await waitFor("prompts", () => plain.raw() !== "" && colored.raw() !== "");
  assert.equal(plain.raw(), PROMPT);
  assert.ok(colored.raw().includes("\x1b[36msim\x1b[0m"));
  plain.input.end();
  colored.input.end();
  await finished(plain);
  await finished(colored);
});

Deno.test("NO_COLOR: any value, even empty, turns colour off", () => {
  assert.equal(wantColor(true, undefined), true);
  assert.equal(wantColor(true, ""), false);
  assert.equal(wantColor(true, "1"), false);
  assert.equal(wantColor(false, undefined), false);
  const saved = Deno.env.get("NO_COLOR");
  try {
    Deno.env.set("NO_COLOR", "");
    assert.equal(useColor(), false);
    Deno.env.delete("NO_COLOR");
    // Under `deno test` stdout is a pipe or a terminal: colour exactly when it is a terminal.
    assert.equal(useColor(), Deno.stdout.isTerminal());
  } finally {
    if (saved === undefined) Deno.env.delete("NO_COLOR");
    else Deno.env.set("NO_COLOR", saved);
  }
});

Deno.test("defaultHistoryFile: $VFSH_HISTORY, else ~/.vfsh_history", () => {
  const saved = { v: Deno.env.get("VFSH_HISTORY"), h: Deno.env.get("HOME") };
  const restore = (k: string, v: string | undefined) =>
    v === undefined ? Deno.env.delete(k) : Deno.env.set(k, v);
  try {
    Deno.env.set("VFSH_HISTORY", "/tmp/some/history");
    assert.equal(defaultHistoryFile(), "/tmp/some/history");
    Deno.env.set("VFSH_HISTORY", "");
    assert.equal(defaultHistoryFile(), undefined);
    Deno.env.delete("VFSH_HISTORY");
    Deno.env.set("HOME", "/home/someone/");
    assert.equal(defaultHistoryFile(), "/home/someone/.vfsh_history");
    Deno.env.delete("HOME");
    assert.equal(defaultHistoryFile(), undefined);
  } finally {
    restore("VFSH_HISTORY", saved.v);
    restore("HOME", saved.h);
  }
});

const canRun = (await Deno.permissions.query({ name: "run" })).state === "granted";

/** Run `code` in a fresh Deno with the given flags; returns its stdout. */
async function denoWith(flags: string[], code: string): Promise<string> {
  const dir = await Deno.makeTempDir({ prefix: "vfsh_repl_perm_" });
  try {
    const script = `${dir}/probe.ts`;
    await Deno.writeTextFile(script, code);
    const out = await new Deno.Command(Deno.execPath(), {
      args: ["run", "--no-prompt", "--no-config", ...flags, script],
      stdin: "null",
      stdout: "piped",
      stderr: "piped",
      env: { NO_COLOR: "1" },
    }).output();
    const stdout = new TextDecoder().decode(out.stdout);
    assert.equal(out.code, 0, stdout + new TextDecoder().decode(out.stderr));
    return stdout;
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
}

const REPL_URL = new URL("./repl.ts", import.meta.url).href;

Deno.test({
  name: "without env permission: no history file, no colour, no prompt for permission",
  ignore: !canRun,
  async fn() {
    const out = await denoWith(
      [`--allow-read=${new URL(".", import.meta.url).pathname}`],
      `import { defaultHistoryFile, useColor } from "${REPL_URL}";
       console.log(JSON.stringify([defaultHistoryFile() ?? null, useColor()]));`,
    );
    assert.deepEqual(JSON.parse(out), [null, false]);
  },
});

Deno.test({
  name: "without --allow-write: one 'history not saved' line, history still recalled",
  ignore: !canRun,
  async fn() {
    await withTempDir(async (dir) => {
      const file = `${dir}/history`;
      await Deno.writeTextFile(file, "remembered\n");
      const out = await denoWith(
        ["--allow-read"],
        `import { PassThrough } from "node:stream";
         import { runRepl } from "${REPL_URL}";
         const input = new PassThrough(), output = new PassThrough();
         let text = "";
         output.on("data", (c) => text += c);
         const ran = [];
         const session = {
           prompt: () => "> ",
           runLine: (l) => (ran.push(l), Promise.resolve({ exit: false })),
           complete: (l) => [[], l],
           close() {},
         };
         const done = runRepl(session, { input, output, color: false, terminal: true,
           historyFile: ${JSON.stringify(file)} });
         input.write("\\x1b[A\\r");
         input.write("two\\r");
         input.write("\\x04");
         await done;
         console.log(JSON.stringify({ text, ran }));`,
      );
      const { text, ran } = JSON.parse(out);
      assert.deepEqual(ran, ["remembered", "two"]);
      assert.equal(count(text, "vfsh: history not saved: "), 1, text);
      assert.match(text, /history not saved: write access to \S+ not granted/);
      assert.equal(await Deno.readTextFile(file), "remembered\n");
    });
  },
});
