/**
 * The interactive REPL of vfsh, on node:readline: prompt, persistent history, Tab completion,
 * Ctrl-C / Ctrl-D, and strictly sequential execution of lines, even pasted ones.
 *
 * @example
 * ```ts ignore
 * import { defaultHistoryFile, runRepl, useColor } from "./repl.ts";
 * await runRepl(session, { historyFile: defaultHistoryFile(), color: useColor() });
 * ```
 *
 * @module
 */

import readline from "node:readline";
import process from "node:process";
import { colorPrompt, InputGate, wantColor } from "./_terminal.ts";
import { endsInContinuation } from "../dsl/lexer.ts";
import { exitOnOutputError } from "./stdout.ts";

/**
 * What the REPL needs from a shell session. `Session` of shell/session.ts satisfies it;
 * it is declared here so that the REPL depends on nothing but these four calls.
 */
export interface ReplSession {
  /** The plain prompt text, e.g. `vfsh sim fd=3> `; asked again before every prompt. */
  prompt(): string;
  /**
   * Run one line, printing through the session's own writer; `exit` is true after `quit`.
   * `origin` is where the line came from when nobody sees it typed (lines piped in), so that
   * errors and failed expectations can say `<stdin>:N`.
   */
  runLine(line: string, origin?: LineOrigin): Promise<{ exit: boolean }>;
  /** node:readline completer shape: the candidates and the substring being completed. */
  complete(line: string): [string[], string];
  /** Release the session's resources; called once when the REPL ends. */
  close(): void;
}

/** The input and the 1-based line number where a statement began. */
export interface LineOrigin {
  readonly file: string;
  readonly line: number;
}

/** The name errors give to lines piped in. */
const STDIN_NAME = "<stdin>";

/** Options of {@linkcode runRepl}. */
export interface ReplOptions {
  /** Where history persists, one line per entry, most recent last; none when undefined. */
  historyFile?: string;
  /** Defaults to process.stdin. */
  input?: NodeJS.ReadableStream;
  /** Defaults to process.stdout. */
  output?: NodeJS.WritableStream;
  /** Colour the prompt (see {@linkcode useColor}). */
  color: boolean;
  /** Most entries kept in memory and in the file; default {@linkcode DEFAULT_HISTORY_SIZE}. */
  historySize?: number;
  /**
   * Line editing with keys (Tab, arrows, Ctrl-C) as on a terminal; default: when both input
   * and output are TTYs. Otherwise input is read as plain lines.
   */
  terminal?: boolean;
  /**
   * Show prompts; default: when the input is a TTY. Lines piped in (`vfsh < cmds`) print
   * only their output, as `sh` and `python3` do.
   */
  prompts?: boolean;
}

/** How many history entries are kept when {@linkcode ReplOptions.historySize} is not given. */
export const DEFAULT_HISTORY_SIZE = 1000;

/** Shown instead of the session's prompt if asking it for one throws. */
const FALLBACK_PROMPT = "vfsh> ";

/**
 * Run the REPL until `quit`, Ctrl-D on an empty line, or the end of input, then call
 * `session.close()`. Lines run one at a time in the order typed; while one runs, further input
 * waits. Never rejects for an error of a line: it is printed on one line and the REPL goes on.
 */
export function runRepl(session: ReplSession, options: ReplOptions): Promise<void> {
  const output = options.output ?? process.stdout;
  // Our own stdout read by a pipe that closed (`vfsh < cmds | head`): end as SIGPIPE would;
  // other write errors end vfsh with one line.
  if (options.output === undefined) {
    process.stdout.on("error", (err: unknown) => exitOnOutputError(err));
  }
  const source = options.input ?? process.stdin;
  const terminal = options.terminal ?? (isTty(source) && isTty(output));
  const size = Math.max(0, options.historySize ?? DEFAULT_HISTORY_SIZE);
  const write = (text: string) => {
    output.write(text);
  };

  const history = new History(options.historyFile, size, (reason) => {
    write(`vfsh: history not saved: ${reason}\n`);
  });
  history.load();

  const gate = new InputGate(source);
  const rl = readline.createInterface({
    // The gate has every member readline uses; it is not a full Readable.
    input: gate as unknown as NodeJS.ReadableStream,
    output,
    terminal,
    completer: (line: string) => complete(session, line),
    history: [...history.entries].reverse(), // readline keeps the most recent first
    historySize: size,
    prompt: "",
    // A CRLF split between two reads is one line end however long the second read takes.
    crlfDelay: Infinity,
  });

  const promptText = () => {
    try {
      return session.prompt();
    } catch {
      return FALLBACK_PROMPT;
    }
  };
  const prompts = options.prompts ?? isTty(source);
  const showPrompt = () => {
    if (!prompts) return;
    const text = promptText();
    rl.setPrompt(options.color ? colorPrompt(text) : text);
    rl.prompt();
  };
  /** Under the prompt's `> `, for the next line of a statement continued with `\`. */
  const showContinuation = () => {
    if (!prompts) return;
    rl.setPrompt(" ".repeat(Math.max(0, promptText().length - 2)) + "> ");
    rl.prompt();
  };

  return new Promise<void>((resolve) => {
    // Statements to run, each with the input line it began on.
    const queue: { text: string; line: number }[] = [];
    let lineNo = 0; // physical lines read so far
    let running = false;
    let inputClosed = false;
    let quitting = false;
    let finished = false;
    let atPrompt = false; // the cursor sits after a prompt: Ctrl-D must end that line
    // Lines of a statement continued with a trailing `\`, as in a script, not yet run.
    let pending: string[] = [];
    let pendingFrom = 0; // the line number of pending[0]

    const finish = () => {
      if (finished) return;
      finished = true;
      rl.close();
      gate.detach();
      if (atPrompt) write("\n");
      try {
        session.close();
      } catch (err) {
        write(`vfsh: error while closing: ${oneLine(err)}\n`);
      }
      resolve();
    };

    const drain = async () => {
      if (running) return;
      running = true;
      while (queue.length > 0 && !quitting) {
        const { text: line, line: from } = queue.shift()!;
        if (line.trim() === "") continue;
        // One history entry a statement: its continuations folded onto one line.
        history.add(line.replace(/\\[ \t\r]*\n/g, " "));
        try {
          // Typed lines are on the screen; piped ones are named by their place in the input.
          const origin = prompts ? undefined : { file: STDIN_NAME, line: from };
          const result = await session.runLine(line, origin);
          if (result?.exit === true) quitting = true;
        } catch (err) {
          write(`vfsh: internal error: ${oneLine(err)}\n`);
        }
      }
      running = false;
      if (quitting || inputClosed) {
        finish();
      } else {
        showPrompt();
        atPrompt = prompts;
        gate.release();
      }
    };

    rl.on("line", (line: string) => {
      lineNo++;
      // A byte-order mark before the first line is no part of it, as `vfsh run` reads a file.
      if (lineNo === 1 && line.charCodeAt(0) === 0xfeff) line = line.slice(1);
      if (pending.length === 0) pendingFrom = lineNo;
      if (endsInContinuation(line)) {
        pending.push(line);
        showContinuation();
        return;
      }
      // Hold the rest of a paste until this line has run and the next prompt is shown.
      gate.hold();
      atPrompt = false;
      const text = pending.length > 0 ? [...pending, line].join("\n") : line;
      queue.push({ text, line: pendingFrom });
      pending = [];
      void drain();
    });

    rl.on("SIGINT", () => {
      // Abandon the line like a shell: leave it visible with ^C, start afresh below it.
      rl.write("", { ctrl: true, name: "e" });
      write("^C");
      abandonLine(rl, write);
      pending = []; // the whole statement, continued lines included
      showPrompt();
    });

    rl.on("close", () => {
      inputClosed = true;
      // A statement still waiting for its next line runs as it would at the end of a file.
      if (pending.length > 0) queue.push({ text: pending.join("\n") + "\n", line: pendingFrom });
      pending = [];
      if (!running) void drain();
    });

    // An unreadable input (e.g. the terminal went away) ends the REPL like end of input.
    rl.on("error", (err: unknown) => {
      if (atPrompt) write("\n");
      atPrompt = false;
      write(`vfsh: input error: ${oneLine(err)}\n`);
      inputClosed = true;
      if (!running) finish();
    });

    showPrompt();
    atPrompt = prompts;
  });
}

/**
 * The history file to use: `$VFSH_HISTORY` if set (set but empty: no history), else
 * `~/.vfsh_history` from `$HOME`. Undefined when neither is available or env access to them
 * is not granted; never asks for a permission.
 */
export function defaultHistoryFile(): string | undefined {
  const explicit = readEnv("VFSH_HISTORY");
  if (explicit !== undefined) return explicit === "" ? undefined : explicit;
  const home = readEnv("HOME");
  if (home === undefined || home === "") return undefined;
  return `${home.replace(/\/+$/, "")}/.vfsh_history`;
}

/**
 * True only if stdout is a terminal and NO_COLOR is absent (NO_COLOR set to anything, even
 * empty, turns colour off). Without env permission for NO_COLOR it falls back on
 * `Deno.noColor`, which Deno reads at startup without a permission (but which misses an empty
 * NO_COLOR).
 */
export function useColor(): boolean {
  let terminal = false;
  try {
    terminal = Deno.stdout.isTerminal();
  } catch {
    return false;
  }
  if (envGranted("NO_COLOR")) {
    try {
      return wantColor(terminal, Deno.env.get("NO_COLOR"));
    } catch {
      // fall through to Deno.noColor
    }
  }
  return wantColor(terminal, Deno.noColor ? "" : undefined);
}

/** In-memory history mirrored to a file, oldest entry first. */
class History {
  /** Entries, oldest first, without consecutive repeats, at most `size`. */
  readonly entries: string[] = [];
  #path: string | undefined;
  #size: number;
  #warn: (reason: string) => void;
  #saving = false;
  /** Lines the file holds when it is exactly `entries` serialised; -1 when it must be rewritten. */
  #fileLines = -1;

  constructor(path: string | undefined, size: number, warn: (reason: string) => void) {
    this.#path = path;
    this.#size = size;
    this.#warn = warn;
  }

  /** Read the file; says once why history cannot be saved, if it cannot. */
  load(): void {
    const path = this.#path;
    if (path === undefined || this.#size === 0) return;
    // Query first: touching an ungranted path would make Deno prompt in the middle of the REPL.
    if (!pathGranted("read", path)) {
      this.#warn(`read access to ${path} not granted (--allow-read)`);
      return;
    }
    let text = "";
    try {
      text = Deno.readTextFileSync(path);
    } catch (err) {
      if (!(err instanceof Deno.errors.NotFound)) {
        this.#warn(oneLine(err));
        return;
      }
    }
    for (const raw of text.split("\n")) {
      const line = raw.endsWith("\r") ? raw.slice(0, -1) : raw;
      if (line.trim() !== "" && this.entries.at(-1) !== line) this.entries.push(line);
    }
    this.#trim();
    this.#fileLines = text === serialise(this.entries) ? this.entries.length : -1;
    if (!pathGranted("write", path)) {
      this.#warn(`write access to ${path} not granted (--allow-write)`);
      return;
    }
    this.#saving = true;
  }

  /** Record a line typed by the user (blank lines and repeats of the last entry are not). */
  add(line: string): void {
    if (this.#size === 0 || line.trim() === "" || this.entries.at(-1) === line) return;
    this.entries.push(line);
    this.#trim();
    if (!this.#saving) return;
    const path = this.#path!;
    try {
      if (this.#fileLines < 0 || this.#fileLines + 1 > this.#size) {
        // Rewrite only when the cap is reached (or the file was untidy); else append, which
        // keeps lines from another vfsh running at the same time.
        Deno.writeTextFileSync(path, serialise(this.entries), { mode: 0o600 });
        this.#fileLines = this.entries.length;
      } else {
        Deno.writeTextFileSync(path, line + "\n", { append: true, mode: 0o600 });
        this.#fileLines++;
      }
    } catch (err) {
      this.#saving = false;
      this.#warn(oneLine(err));
    }
  }

  #trim(): void {
    if (this.entries.length > this.#size) this.entries.splice(0, this.entries.length - this.#size);
  }
}

function serialise(entries: string[]): string {
  return entries.length === 0 ? "" : entries.join("\n") + "\n";
}

function complete(session: ReplSession, line: string): [string[], string] {
  try {
    const [candidates, word] = session.complete(line);
    return [candidates, word];
  } catch {
    // A completion bug must not print into the line being edited.
    return [[], line];
  }
}

/**
 * Drop the line being edited and move to a fresh row. readline's own `clearLine` does exactly
 * that (and resets its row bookkeeping) but is not in its type declarations.
 */
function abandonLine(rl: readline.Interface, write: (text: string) => void): void {
  const legacy = rl as unknown as { clearLine?: () => void };
  if (typeof legacy.clearLine === "function") {
    legacy.clearLine();
  } else {
    rl.write("", { ctrl: true, name: "u" });
    write("\r\n");
  }
}

function isTty(stream: NodeJS.ReadableStream | NodeJS.WritableStream): boolean {
  return (stream as { isTTY?: boolean }).isTTY === true;
}

function envGranted(variable: string): boolean {
  try {
    return Deno.permissions.querySync({ name: "env", variable }).state === "granted";
  } catch {
    return false;
  }
}

function readEnv(variable: string): string | undefined {
  if (!envGranted(variable)) return undefined;
  try {
    return Deno.env.get(variable);
  } catch {
    return undefined;
  }
}

function pathGranted(name: "read" | "write", path: string): boolean {
  try {
    return Deno.permissions.querySync({ name, path }).state === "granted";
  } catch {
    return false;
  }
}

function oneLine(err: unknown): string {
  const text = err instanceof Error ? err.message : String(err);
  return text.replace(/\s*\n\s*/g, " ").trim();
}
