/**
 * The interactive REPL driven as a person would: the real `vfsh` entry (shell/main.ts with no
 * script) runs in a tmux pseudo-terminal, keys go in with `send-keys`, the screen comes back
 * with `capture-pane`.
 *
 * What this test expects of shell/main.ts (simulator backend, the default):
 * - run with no arguments on a terminal, it calls `runRepl` of shell/repl.ts with
 *   `historyFile: defaultHistoryFile()` (so `$VFSH_HISTORY` is honoured) and exits 0 after
 *   Ctrl-D or `quit`;
 * - its prompt starts with `vfsh` and ends with `> ` (e.g. `vfsh sim fd=3> `);
 * - `cont<Tab>` completes to `container`;
 * - `container open` prints a result line starting with `ok` and showing `fd=N`;
 * - `check-extension TYPE1v2` on the open container prints a result line starting with `ok`.
 *
 * Skipped, with the reason printed, when tmux is missing and cannot be installed (it is
 * installed with apt-get when running as root), when --allow-run is not granted, or while
 * shell/main.ts does not exist. VFSH_REPL_TMUX_ENTRY may name another entry script to drive
 * (a stand-in, to check the test itself).
 */

import assert from "node:assert/strict";

const ROOT = new URL("..", import.meta.url).pathname;
const ENTRY = Deno.env.get("VFSH_REPL_TMUX_ENTRY") ?? "shell/main.ts";
const PROMPT = /^vfsh\b.*>$/; // a screen line holding only a prompt, trailing blanks trimmed
const STARTUP_MS = 60_000; // a cold deno start on a busy 2-core machine
const STEP_MS = 15_000;

async function run(cmd: string, args: string[], env?: Record<string, string>) {
  try {
    const out = await new Deno.Command(cmd, {
      args,
      stdin: "null",
      stdout: "piped",
      stderr: "piped",
      ...(env ? { env, clearEnv: true } : {}),
    }).output();
    const text = (b: Uint8Array) => new TextDecoder().decode(b);
    return { ok: out.success, stdout: text(out.stdout), stderr: text(out.stderr) };
  } catch (err) {
    return { ok: false, stdout: "", stderr: String(err) };
  }
}

/** Why the test cannot run here, or undefined; installs tmux when it is missing and allowed. */
async function whyNotRunnable(): Promise<string | undefined> {
  if ((await Deno.permissions.query({ name: "run" })).state !== "granted") {
    return "needs --allow-run (to start tmux)";
  }
  try {
    await Deno.stat(new URL(ENTRY, `file://${ROOT}`));
  } catch {
    return `${ENTRY} does not exist yet (the interactive entry point this test drives)`;
  }
  if ((await run("tmux", ["-V"])).ok) return undefined;
  const root = (await run("id", ["-u"])).stdout.trim() === "0";
  if (!root || !(await run("apt-get", ["--version"])).ok) {
    return "tmux is not installed (apt-get install tmux), and cannot be installed from here";
  }
  console.error("repl_tmux_test: installing tmux with apt-get");
  const env = { ...Deno.env.toObject(), DEBIAN_FRONTEND: "noninteractive" };
  let install = await run("apt-get", ["install", "-y", "tmux"], env);
  if (!install.ok) {
    await run("apt-get", ["update"], env);
    install = await run("apt-get", ["install", "-y", "tmux"], env);
  }
  if (!install.ok || !(await run("tmux", ["-V"])).ok) {
    return `tmux is missing and apt-get install tmux failed: ${install.stderr.trim()}`;
  }
  return undefined;
}

const skip = await whyNotRunnable();
if (skip !== undefined) console.error(`repl_tmux_test skipped: ${skip}`);

/** One vfsh process in its own tmux server (own socket: no clash with anything else). */
class Pane {
  #socket: string;
  #env: Record<string, string>;

  constructor(dir: string, historyFile: string) {
    this.#socket = `${dir}/tmux.sock`;
    // The tmux server takes this environment and hands it to the pane.
    const env = Deno.env.toObject();
    delete env.TMUX;
    delete env.NO_COLOR; // colour on: the coloured prompt must not upset cursor placement
    this.#env = { ...env, VFSH_HISTORY: historyFile };
  }

  async tmux(...args: string[]): Promise<string> {
    const out = await run("tmux", ["-S", this.#socket, ...args], this.#env);
    if (!out.ok) throw new Error(`tmux ${args.join(" ")}: ${out.stderr.trim()}`);
    return out.stdout;
  }

  async start(): Promise<void> {
    const deno = `'${Deno.execPath().replaceAll("'", `'\\''`)}'`;
    const command = `${deno} run --allow-read --allow-write --allow-env ${ENTRY}; ` +
      `echo "[vfsh exited $?]"`;
    await this.tmux(
      ..."new-session -d -x 120 -y 30 -s vfsh -c".split(" "),
      ROOT,
      command,
      ";",
      ..."set-option -t vfsh remain-on-exit on".split(" "),
    );
  }

  /** Type keys: literal text, or tmux key names when `keys` is true (Tab, Enter, C-c, Up). */
  async send(text: string, keys = false): Promise<void> {
    await this.tmux("send-keys", "-t", "vfsh", ...(keys ? [text] : ["-l", text]));
  }

  /** The visible screen, one string per row, trailing blanks trimmed. */
  async screen(): Promise<string[]> {
    return (await this.tmux("capture-pane", "-p", "-t", "vfsh")).split("\n").map((l) =>
      l.trimEnd()
    );
  }

  /** The row the cursor is on: the line being edited. */
  async cursorLine(): Promise<string> {
    const y = Number(await this.tmux("display-message", "-p", "-t", "vfsh", "#{cursor_y}"));
    return (await this.screen())[y] ?? "";
  }

  /** Poll the screen until `pred` holds; on timeout, fail showing the screen. */
  async waitFor(
    what: string,
    pred: (rows: string[], cursorLine: string) => boolean,
    ms = STEP_MS,
  ): Promise<string[]> {
    const until = Date.now() + ms;
    for (;;) {
      const rows = await this.screen();
      if (pred(rows, await this.cursorLine())) return rows;
      if (Date.now() > until) {
        throw new Error(`timed out waiting for ${what}; screen:\n${rows.join("\n")}`);
      }
      await new Promise((r) => setTimeout(r, 100));
    }
  }

  async kill(): Promise<void> {
    await run("tmux", ["-S", this.#socket, "kill-server"], this.#env);
  }
}

/** Index of the first row after `from` that satisfies `pred`, or -1. */
function rowAfter(rows: string[], from: number, pred: (row: string) => boolean): number {
  for (let i = from + 1; i < rows.length; i++) if (pred(rows[i])) return i;
  return -1;
}

Deno.test({
  name: "REPL in a terminal: Tab, a command, Ctrl-C, Ctrl-D, history across two sessions",
  ignore: skip !== undefined,
  async fn() {
    const dir = await Deno.makeTempDir({ prefix: "vfsh_tmux_" });
    const historyFile = `${dir}/history`;
    try {
      // --- first session ---
      const first = new Pane(dir, historyFile);
      try {
        await first.start();
        await first.waitFor("the first prompt", (_, cur) => PROMPT.test(cur), STARTUP_MS);

        // Tab completes a command prefix.
        await first.send("cont");
        await first.waitFor("cont typed", (_, cur) => cur.endsWith("> cont"));
        await first.send("Tab", true);
        await first.waitFor("cont<Tab> → container", (_, cur) => /> container$/.test(cur));

        // Running a command shows its result. (Two spaces if the completion added one: fine.)
        await first.send(" open");
        await first.send("Enter", true);
        await first.waitFor("the result of container open", (rows) => {
          const cmd = rows.findIndex((r) => /> container\s+open$/.test(r));
          return cmd >= 0 && rowAfter(rows, cmd, (r) => /^ok\b.*\bfd=\d+/.test(r)) > cmd;
        });
        await first.waitFor("a prompt after it", (_, cur) => PROMPT.test(cur));

        // Ctrl-C abandons a half-typed line; the REPL stays alive with its state.
        await first.send("api-vers");
        await first.waitFor("api-vers typed", (_, cur) => cur.endsWith("> api-vers"));
        await first.send("C-c", true);
        await first.waitFor(
          "^C and a fresh prompt",
          (rows, cur) => rows.some((r) => r.endsWith("> api-vers^C")) && PROMPT.test(cur),
        );
        await first.send("check-extension TYPE1v2");
        await first.send("Enter", true);
        const rows = await first.waitFor("the result of check-extension", (rows) => {
          const cmd = rows.findIndex((r) => r.endsWith("> check-extension TYPE1v2"));
          return cmd >= 0 && rowAfter(rows, cmd, (r) => r !== "" && !PROMPT.test(r)) > cmd;
        });
        const cmdRow = rows.findIndex((r) => r.endsWith("> check-extension TYPE1v2"));
        const ctrlCRow = rows.findIndex((r) => r.endsWith("> api-vers^C"));
        assert.equal(cmdRow, ctrlCRow + 1, "the line after ^C is a fresh prompt");
        const result = rows[rowAfter(rows, cmdRow, (r) => r !== "")];
        assert.match(result, /^ok\b/, "the container opened before Ctrl-C is still current");
        assert.ok(
          !rows.some((r) => /api-vers/.test(r) && !r.endsWith("^C")),
          "the abandoned line was not run",
        );

        // Ctrl-D on an empty line exits cleanly.
        await first.waitFor("a prompt", (_, cur) => PROMPT.test(cur));
        await first.send("C-d", true);
        await first.waitFor("vfsh to exit 0", (rows) => rows.includes("[vfsh exited 0]"));
      } finally {
        await first.kill();
      }

      const saved = (await Deno.readTextFile(historyFile)).split("\n");
      assert.ok(saved.some((l) => /^container\s+open$/.test(l)), saved.join("\n"));
      assert.ok(saved.includes("check-extension TYPE1v2"), saved.join("\n"));
      assert.ok(!saved.some((l) => l.includes("api-vers")), "abandoned lines are not history");

      // --- second session: Up recalls what the first one typed ---
      const second = new Pane(dir, historyFile);
      try {
        await second.start();
        await second.waitFor("the first prompt", (_, cur) => PROMPT.test(cur), STARTUP_MS);
        await second.send("Up", true);
        await second.waitFor(
          "Up → the last line of the first session",
          (_, cur) => cur.endsWith("> check-extension TYPE1v2"),
        );
        await second.send("Up", true);
        await second.waitFor(
          "Up again → the line before it",
          (_, cur) => /> container\s+open$/.test(cur),
        );
        await second.send("Enter", true);
        await second.waitFor("the recalled command to run", (rows) => {
          const cmd = rows.findIndex((r) => /> container\s+open$/.test(r));
          return cmd >= 0 && rowAfter(rows, cmd, (r) => /^ok\b.*\bfd=\d+/.test(r)) > cmd;
        });
        await second.waitFor("a prompt", (_, cur) => PROMPT.test(cur));
        await second.send("quit");
        await second.send("Enter", true);
        await second.waitFor("vfsh to exit 0", (rows) => rows.includes("[vfsh exited 0]"));
      } finally {
        await second.kill();
      }
    } finally {
      await Deno.remove(dir, { recursive: true });
    }
  },
});
