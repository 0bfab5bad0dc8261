/**
 * A session: one shell with its state (current container, groups, memory, variables,
 * `$last`), its command registry and its backend. The REPL drives it line by line through
 * {@link Session.runLine}; `vfsh run` hands it whole scripts through
 * {@link Session.runScript}. Nothing a user types ends a session or loses its state: every
 * problem is reported on one line (with file:line:col in scripts) and the session goes on.
 *
 * @module
 */

import { IoctlRefused, type Kernel } from "../uapi/kernel.ts";
import { errnoName } from "../uapi/errno.ts";
import { EvalError } from "../dsl/expr.ts";
import { parse, type Script, StatementReader, type Stmt } from "../dsl/parser.ts";
import { ScriptError, SourceText } from "../dsl/source.ts";
import { quoteWord } from "../dsl/lexer.ts";
import type { Env, FieldValue, ResultRecord, Row, Value } from "../dsl/values.ts";
import { type Compiled, compileStatement, knownStatements } from "./compile.ts";
import { completeLine } from "./complete.ts";
import {
  ANSI,
  formatResult,
  formatTable,
  formatValue,
  jsonFields,
  type Palette,
  PLAIN,
} from "./format.ts";
import { helpCommand, helpList } from "./help.ts";
import {
  type CommandContext,
  type CommandResult,
  forgetMachine,
  isShellError,
  kindOf,
  type Plugin,
  type ShellControl,
  ShellError,
  type ShellState,
  thrownMessage,
} from "./plugin_core.ts";
import { Recorder } from "./record.ts";
import type { LineOrigin } from "./repl.ts";
import {
  type ClientName,
  clientNote,
  clientPresetOf,
  type ResultEvent,
  setClientPreset,
} from "./clients.ts";
import { type RegisteredCommand, Registry } from "./registry.ts";
import corePlugin from "./commands/mod.ts";
import { dirname, isAbsolute, join, relative, resolve } from "./_path.ts";
import { writeStdoutText } from "./stdout.ts";
import { describeFsError, readScript, readScriptFile } from "./files.ts";

/** Options of {@link createSession}. */
export interface SessionOptions {
  /** The backend every command goes through. */
  kernel: Kernel;
  /** Print one JSON object per command instead of the human form. */
  json?: boolean;
  /** ANSI colour in the human form. */
  color?: boolean;
  /** Where output goes (default: stdout). Called once per line or block of lines. */
  write?: (text: string) => void;
  /**
   * Plugin modules to load at start. A failure is reported and the session still starts,
   * unless `pluginsRequired`: then createSession throws its message (the CLI's `--plugin`).
   */
  plugins?: string[];
  pluginsRequired?: boolean;
  /** Scripts: print only failures, errors and summaries (not every command and result). */
  quiet?: boolean;
  /** Start recording to this file at once (`vfsh --record FILE`). */
  record?: string;
  /** Say after each result what this client would conclude (`vfsh --like qemu`). */
  like?: ClientName;
  /** Called with every command result (`vfsh compare` collects them). */
  onResult?: (e: ResultEvent) => void;
}

/** What running one script gave. */
export interface ScriptReport {
  /** The script's name as given. */
  readonly file: string;
  /** Expectations that held. */
  readonly passed: number;
  /** Expectations that failed. */
  readonly failed: number;
  /** 0 all held, 1 one failed, 2 the script could not run (parse error, unknown command…). */
  readonly status: 0 | 1 | 2;
}

/** One shell. The REPL is written against this interface. */
export interface Session {
  /** Plain-text prompt, e.g. `"vfsh sim fd=3> "` or `"vfsh sim> "`. */
  prompt(): string;
  /**
   * Run one typed line (may hold several `;`-separated commands). Never throws. `origin` names
   * where a line nobody saw typed came from (`<stdin>` and its line number, for lines piped in):
   * errors and FAIL lines then say `<stdin>:N`.
   */
  runLine(
    line: string,
    origin?: LineOrigin,
  ): Promise<{ exit: boolean }>;
  /** The worst outcome so far, as `vfsh run` exits: 0, 1 (an expectation failed), 2 (an error). */
  status(): 0 | 1 | 2;
  /** node:readline completer: candidates and the substring being completed. */
  complete(line: string): [string[], string];
  /** Every command name (multi-word names included) and the shell's keywords. */
  commandNames(): string[];
  /**
   * Stop recording and close every fd and mapping this session opened. With
   * `release: false`, only stop recording and forget them: for a backend dropped right after
   * (a simulator made for this session), where giving each one back is wasted work.
   */
  close(options?: { release?: boolean }): void;
  /**
   * Run a whole script (text) named `file`; includes resolve relative to `file`. Never
   * throws. With `echo: false` only results are printed (as at the prompt), with no header
   * and no summary line (`vfsh -c`).
   */
  runScript(text: string, file: string, options?: { echo?: boolean }): Promise<ScriptReport>;
  /** Read and run a script file (`-` reads stdin). Never throws. */
  runFile(path: string): Promise<ScriptReport>;
  /** Load a plugin module (a failure is reported on one line and returns false). */
  loadPlugin(path: string): Promise<boolean>;
  /** The command registry (for help and tools). */
  readonly registry: Registry;
  /** The session's state. */
  readonly state: ShellState;
  /** The backend. */
  readonly kernel: Kernel;
}

/** Counters of one run. */
interface Stats {
  passed: number;
  failed: number;
  errors: number;
}

/** Where a statement being run comes from. */
interface Frame {
  /** The name shown in messages. */
  file: string;
  /** Absolute path when it is a file (for include cycles and relative includes). */
  path?: string;
  src: SourceText;
  /** Print each command before its result (scripts) rather than only results (typed lines). */
  transcript: boolean;
  /** Typed at the prompt (or the top level of a script): recorded. */
  top: boolean;
}

class StopScript extends Error {}

type CompiledCommand = Extract<Compiled, { kind: "command" }>;

const NOT_RECORDED = new Set(["help", "history", "vars", "record", "record stop", "quit"]);

/** Whether column `col` (1-based) is where the text of a line begins, after its indent. */
function startsLine(text: string, col: number): boolean {
  let i = 0;
  while (i < text.length && (text[i] === " " || text[i] === "\t")) i++;
  return col === i + 1;
}

/** Commands whose PATH is looked up beside the script that runs them. */
const PATH_COMMANDS = new Set(["include", "plugin load"]);

const rowsCache = new WeakMap<RegisteredCommand, readonly string[]>();

/** Said after a field the shell cannot print, in a plugin's error. */
const FIELD_KINDS =
  " (a field is a bigint, string, boolean, Uint8Array, or an array of ranges or rows)";

/** The first field of `fields` that is no FieldValue, described; undefined when all are. */
function badField(fields: Readonly<Record<string, unknown>>): string | undefined {
  const scalar = (v: unknown) =>
    typeof v === "bigint" || typeof v === "string" || typeof v === "boolean";
  for (const k in fields) {
    const v = fields[k];
    if (v === undefined || scalar(v) || v instanceof Uint8Array) continue; // unset: not shown
    if (!Array.isArray(v)) return `field '${k}' as ${kindOf(v)}${FIELD_KINDS}`;
    for (const e of v) {
      if (typeof e !== "object" || e === null || Array.isArray(e)) {
        return `field '${k}' with an element that is ${kindOf(e)}${FIELD_KINDS}`;
      }
      for (const col in e) {
        if (!scalar(e[col])) return `field '${k}' with '${col}' as ${kindOf(e[col])}${FIELD_KINDS}`;
      }
    }
  }
  return undefined;
}

/**
 * A command that broke (threw, or returned what is not a result), said with `what` it did:
 * a plugin's is named with its plugin, a core command's is an internal error.
 */
function brokeMessage(cmd: RegisteredCommand, what: string): string {
  const name = cmd.spec.name;
  return cmd.plugin === "core"
    ? `${name}: internal error: ${what}`
    : `plugin ${cmd.plugin}: command '${name}' ${what}`;
}

/** The result fields of `cmd` printed as tables below the result line. */
function rowsFields(cmd: RegisteredCommand): readonly string[] {
  let r = rowsCache.get(cmd);
  if (r === undefined) {
    rowsCache.set(cmd, r = cmd.fields.filter((f) => f.format === "rows").map((f) => f.key));
  }
  return r;
}

/** Create a session with the core commands and any plugins given. */
export async function createSession(options: SessionOptions): Promise<Session> {
  const s = new ShellSession(options);
  s.registry.register(corePlugin);
  if (options.like) setClientPreset(s.state, options.like);
  for (const p of options.plugins ?? []) {
    if (options.pluginsRequired) await s.addPlugin(p);
    else await s.loadPlugin(p);
  }
  if (options.record) {
    try {
      s.startRecording(options.record);
    } catch (e) {
      s.out(`warning: ${(e as Error).message}; not recording`);
    }
  }
  return s;
}

class ShellSession implements Session, Env {
  readonly registry = new Registry();
  readonly kernel: Kernel;
  readonly state: ShellState;
  readonly #json: boolean;
  readonly #quiet: boolean;
  readonly #p: Palette;
  readonly #write: (text: string) => void;
  #errexit = false;
  #last: ResultRecord | undefined;
  #history: string[] = [];
  #recorder: Recorder | undefined;
  #stack: Frame[] = [];
  #exit = false;
  #stats: Stats = { passed: 0, failed: 0, errors: 0 };
  /** Where the line being run by runLine came from, when it was not typed at a prompt. */
  #origin: LineOrigin | undefined;
  /** Memory for `userBytes`, and the simulator's boot it was mapped in (0 on the kernel). */
  #scratch: { addr: bigint; size: bigint; boot: number } | undefined;
  #contexts = new Map<string, CommandContext>();
  #lastPlugin: string | undefined;
  #lastContext: CommandContext | undefined;
  #pluginCommands = new Set<string>();
  readonly #onResult: ((e: ResultEvent) => void) | undefined;
  /** The arguments of the command being run (for result post-processors). */
  #built: { args: Record<string, unknown>; options: Record<string, unknown> } | undefined;

  constructor(o: SessionOptions) {
    this.kernel = o.kernel;
    this.#onResult = o.onResult;
    this.#json = o.json ?? false;
    this.#quiet = o.quiet ?? false;
    this.#p = o.color ? ANSI : PLAIN;
    this.#write = o.write ?? writeStdoutText;
    this.state = {
      container: -1,
      containers: new Set(),
      compatIoas: new Map(),
      group: -1,
      groups: new Map(),
      devices: new Set(),
      mem: new Map(),
      anon: [],
      vars: new Map(),
      areas: new Map(),
    };
  }

  // ---- Env ----
  lookup(name: string): Value | undefined {
    return name === "last" ? this.#last : this.state.vars.get(name);
  }

  // ---- output ----
  out(line: string): void {
    this.#write(line + "\n");
  }
  json(obj: Record<string, unknown>): void {
    this.#write(JSON.stringify(obj) + "\n");
  }
  /**
   * An error: one line, followed by the source line and a caret for a script error unless
   * `caret` is false. With --json, one object with the error's place as fields.
   */
  error(message: string, e?: ScriptError, caret = true): void {
    this.#stats.errors++;
    if (this.#json) {
      const l = e?.location;
      this.json({
        error: e ? e.message : message,
        ...(l ? { ...this.#place(l.file, l.line), col: l.col } : {}),
      });
      return;
    }
    // At the prompt the line is right there: show the caret, not "<line>:1:5".
    let text = message;
    if (e) {
      const l = e.location;
      const at = l && this.#where(l.file, l.line, l.col);
      const head = at ? `${at}: ${e.message}` : e.message;
      text = caret ? e.render(head) : head;
    }
    const [first, ...rest] = text.split("\n");
    this.out(this.#p.err("error: ") + first);
    for (const r of rest) this.out(r);
  }

  // ---- Session ----
  prompt(): string {
    const c = this.state.container;
    return `vfsh ${this.kernel.name}${c >= 0 ? ` fd=${c}` : ""}> `;
  }

  commandNames(): string[] {
    return [...this.registry.commands().map((c) => c.spec.name), "let", "expect"];
  }

  complete(line: string): [string[], string] {
    try {
      return completeLine(line, {
        registry: this.registry,
        vars: () => [...this.state.vars.keys(), "last"],
        mem: () => [...this.state.mem.keys()],
        lastFields: () => Object.keys(this.#last?.fields ?? {}),
      });
    } catch {
      return [[], ""];
    }
  }

  status(): 0 | 1 | 2 {
    return this.#stats.errors > 0 ? 2 : this.#stats.failed > 0 ? 1 : 0;
  }

  async runLine(
    line: string,
    origin?: LineOrigin,
  ): Promise<{ exit: boolean }> {
    this.#origin = origin;
    const errors = this.#stats.errors;
    const failed = this.#stats.failed;
    const r = await this.#runTypedLine(line);
    // Piped input under set -e is a script: its first failure ends it, as `vfsh run` stops
    // (a failed expectation has said so already; an error stops scripts without set -e).
    if (origin && this.#errexit && !r.exit) {
      if (this.#stats.errors > errors) {
        if (!this.#json) this.out("set -e: stopping at the first error");
        this.#exit = true;
      } else if (this.#stats.failed > failed) this.#exit = true;
    }
    return { exit: this.#exit };
  }

  async #runTypedLine(line: string): Promise<{ exit: boolean }> {
    try {
      if (line.trim() !== "") this.#history.push(line);
      let script: Script;
      try {
        script = parse(line, "<line>");
      } catch (e) {
        if (e instanceof ScriptError) this.error(e.message, e);
        else this.error(String(e));
        return { exit: false };
      }
      const frame: Frame = { file: "<line>", src: script.source, transcript: false, top: true };
      const compiled: Compiled[] = [];
      for (const st of script.statements) {
        if (st.kind === "comment") continue;
        try {
          compiled.push(compileStatement(st, this.registry, script.source));
        } catch (e) {
          this.#reportCompileError(e);
          return { exit: false };
        }
      }
      this.#stack.push(frame);
      try {
        for (const c of compiled) {
          const pending = this.#exec(c, c.line, frame);
          if (pending !== undefined) await pending;
          if (this.#exit) break;
        }
      } catch (e) {
        if (!(e instanceof StopScript)) this.error(`internal error: ${(e as Error).message}`);
      } finally {
        this.#stack.pop();
      }
      return { exit: this.#exit };
    } catch (e) {
      this.error(`internal error: ${(e as Error)?.message ?? e}`);
      return { exit: false };
    }
  }

  async runFile(path: string): Promise<ScriptReport> {
    let text: string;
    try {
      text = await readScript(path);
    } catch (e) {
      this.error(`${path}: ${describeFsError(e, "read", path)}`);
      this.#summary(path, 0, 0, 2);
      return { file: path, passed: 0, failed: 0, status: 2 };
    }
    return this.runScript(text, path);
  }

  async runScript(
    text: string,
    file: string,
    options: { echo?: boolean } = {},
  ): Promise<ScriptReport> {
    const echo = options.echo ?? true;
    const before = { ...this.#stats };
    let status: 0 | 1 | 2 = 0;
    if (echo && !this.#json && !this.#quiet) this.out(this.#p.bold(`== ${file}`));
    try {
      const path = file === "-" || !echo ? undefined : resolve(file);
      await this.#runText(text, file, path, true, echo);
    } catch (e) {
      if (!(e instanceof StopScript)) this.error(`internal error: ${(e as Error).message}`);
    }
    const passed = this.#stats.passed - before.passed;
    const failed = this.#stats.failed - before.failed;
    if (this.#stats.errors > before.errors) status = 2;
    else if (failed > 0) status = 1;
    if (echo) this.#summary(file, passed, failed, status);
    return { file, passed, failed, status };
  }

  #summary(file: string, passed: number, failed: number, status: number): void {
    if (this.#json) {
      this.json({ file, passed, failed, status });
      return;
    }
    const word = status === 0
      ? this.#p.ok("PASS")
      : status === 1
      ? this.#p.err("FAIL")
      : this.#p.err("ERROR");
    const why = status === 2 ? ", could not run to the end" : "";
    this.out(`${word} ${file}: ${passed} passed, ${failed} failed${why}`);
  }

  /** Parse, compile and run a script in this session (used by runScript and include). */
  async #runText(
    text: string,
    file: string,
    path: string | undefined,
    top: boolean,
    echo = true,
  ) {
    // A byte-order mark (as some editors save UTF-8) is not part of the first command.
    if (text.charCodeAt(0) === 0xfeff) text = text.slice(1);
    const source = new SourceText(file, text);
    const frame: Frame = { file, path, src: source, transcript: echo && !this.#quiet, top };
    // Compile everything first, so a typo on line 900 stops the script before line 1 runs.
    // Statements are compiled as they are read, so only their compiled forms are kept; a
    // syntax error anywhere is still reported before a compile error, as if the whole
    // script had been parsed first. After a `plugin load`, unknown commands may come from
    // the plugin: those are compiled when their turn comes. Identical lines share one
    // compiled form, so the line of each is kept apart.
    const program = new Program(text);
    const deferred = new Map<number, Stmt>();
    let pluginLoadSeen = false;
    const reader = new StatementReader(source);
    // A statement written exactly like one compiled before is not parsed again (nor is
    // `let NAME = NUMBER`).
    const knownText = knownStatements(this.registry);
    const known = (src: string, start: number, end: number, col: number, line: number) => {
      const c = knownText(src, start, end, col, line);
      if (c === undefined) return false;
      program.add(c, line);
      if (c.kind === "command" && c.call.cmd.spec.name === "plugin load") pluginLoadSeen = true;
      return true;
    };
    try {
      for (let st = reader.nextInPlace(known); st !== undefined; st = reader.nextInPlace(known)) {
        try {
          const c = compileStatement(st, this.registry, source);
          program.add(c, st.line);
          if (c.kind === "command" && c.call.cmd.spec.name === "plugin load") pluginLoadSeen = true;
        } catch (e) {
          if (pluginLoadSeen && e instanceof ScriptError) {
            deferred.set(program.length, st);
            program.add(undefined, st.line);
            continue;
          }
          while (reader.next() !== undefined) { /* a syntax error further on wins */ }
          throw e;
        }
      }
    } catch (e) {
      this.#reportCompileError(e);
      throw new StopScript();
    }
    this.#stack.push(frame);
    try {
      const compiled = program.forms, lines = program.lines;
      for (let i = 0; i < program.length; i++) {
        let c = compiled[i];
        if (!c) {
          try {
            c = compileStatement(deferred.get(i)!, this.registry, source);
          } catch (e) {
            this.#reportCompileError(e);
            throw new StopScript();
          }
        }
        compiled[i] = undefined; // run once: let it go
        // Commands that finish synchronously run without a turn of the event loop.
        const pending = this.#exec(c, lines[i], frame);
        if (pending !== undefined) await pending;
        if (this.#exit) break;
      }
    } finally {
      this.#stack.pop();
    }
  }

  #reportCompileError(e: unknown): void {
    if (e instanceof ScriptError) this.error(e.message, e);
    else this.error(`internal error: ${(e as Error)?.message ?? e}`);
  }

  /** Where line `line` of `file` is for tools: a piped line's place in its input. */
  #place(file: string, line: number): { file: string; line: number } {
    const o = this.#origin;
    return file === "<line>" && o ? { file: o.file, line: o.line + line - 1 } : { file, line };
  }

  /**
   * `file:line[:col]` as messages name a place (a piped line's place in its input); undefined
   * for a line typed at the prompt, which is in view.
   */
  #where(file: string, line: number, col?: number): string | undefined {
    if (file === "<line>" && !this.#origin) return undefined;
    const p = this.#place(file, line);
    return col === undefined ? `${p.file}:${p.line}` : `${p.file}:${p.line}:${col}`;
  }

  /** A script error at a place: reported, and a script stops (a typed line just ends). */
  #scriptError(frame: Frame, message: string, line: number, col: number): never {
    this.error(message, new ScriptError(message, frame.src.at(line, col)));
    throw new StopScript();
  }

  /**
   * Run one statement (written at `line`: a compiled form may serve several lines); a promise
   * only when its command is asynchronous.
   */
  #exec(c: Compiled, line: number, frame: Frame): void | Promise<void> {
    const p = this.#p;
    switch (c.kind) {
      case "comment":
        if (frame.transcript && !this.#json) this.out(p.dim(c.text));
        return;
      case "let": {
        let v: unknown;
        try {
          v = c.value.run ? c.value.run(this) : c.value.constant;
        } catch (e) {
          this.#evalError(e, frame, line);
        }
        if (frame.transcript && !this.#json) this.#echo(frame, line, c.text);
        this.state.vars.set(c.name, v as Value);
        this.#record(frame, c.text);
        return;
      }
      case "expect": {
        let held: boolean;
        try {
          held = c.check.holds(this.#last, this);
        } catch (e) {
          this.#evalError(e, frame, line);
        }
        if (frame.transcript && !this.#json) this.#echo(frame, line, c.text);
        // The actual value, as text, only for a failure.
        const actual = held ? undefined : c.check.check(this.#last, this).actual;
        const expected = c.expected;
        if (this.#json) {
          // As a command's `=>` is reported: tools find every failed expectation one way.
          this.json({
            command: c.text,
            ...this.#place(frame.file, line),
            expectation: { expected, held, ...(held ? {} : { actual }) },
          });
        }
        if (held) this.#stats.passed++;
        else this.#count(false, frame, line, expected, actual!, c.text, c.col);
        this.#record(frame, c.text);
        return;
      }
      case "command":
        return this.#execCommand(c, line, frame);
    }
  }

  #prefix(frame: Frame, line: number): string {
    return this.#p.dim(frame.top ? `${line}> ` : `${frame.file}:${line}> `);
  }

  /** A transcript's echo of a statement (`12> map …`), made as one string. */
  #echo(frame: Frame, line: number, text: string): void {
    this.#write(this.#prefix(frame, line) + text + "\n");
  }

  #evalError(e: unknown, frame: Frame, line: number): never {
    if (e instanceof EvalError) this.#scriptError(frame, e.message, line, e.col);
    throw e;
  }

  #count(
    held: boolean,
    frame: Frame,
    line: number,
    expected: string,
    actual: string,
    command: string,
    col?: number,
  ): void {
    if (held) {
      this.#stats.passed++;
      return;
    }
    this.#stats.failed++;
    if (!this.#json) {
      // (--json has said it already: the command's object carries the expectation.)
      // A statement after another on its line (`a => 1; b => 2`) is told apart by its column.
      const at = col !== undefined && !startsLine(frame.src.lineText(line), col) ? col : undefined;
      const place = this.#where(frame.file, line, at);
      const where = place ? `${place}: ` : "";
      // Without the echo of the statement, -q names it; a line typed at a prompt is in view.
      const cmd = this.#quiet && (frame.file !== "<line>" || this.#origin) ? ` (${command})` : "";
      this.out(`${this.#p.err("FAIL")} ${where}expected ${expected}, got ${actual}${cmd}`);
    }
    // set -e stops whatever the output's form.
    if (this.#errexit) {
      // At the prompt only the rest of the typed line is skipped; piped input ends (runLine).
      if (!this.#json) {
        this.out(
          frame.file === "<line>" && !this.#origin
            ? "set -e: the rest of this line is skipped"
            : "set -e: stopping at the first failed expectation",
        );
      }
      throw new StopScript();
    }
  }

  #execCommand(c: CompiledCommand, line: number, frame: Frame): void | Promise<void> {
    const cmd = c.call.cmd;
    let built: { args: Record<string, unknown>; options: Record<string, unknown> };
    try {
      built = c.call.build(this);
    } catch (e) {
      this.#evalError(e, frame, line);
    }
    if (frame.transcript && !this.#json) this.#echo(frame, line, c.text);
    this.#built = built;
    let r: CommandResult | Promise<CommandResult>;
    try {
      r = cmd.spec.run(this.#context(cmd), built.args, built.options);
    } catch (e) {
      this.#commandThrew(e, c, line, frame);
    }
    if (r instanceof Promise) {
      return r.then(
        (result) => {
          // Commands it ran meanwhile (an include's) have set their own arguments.
          this.#built = built;
          this.#finishCommand(c, line, frame, result);
        },
        (e) => this.#commandThrew(e, c, line, frame),
      );
    }
    this.#finishCommand(c, line, frame, r);
  }

  /** A command threw: one line naming it, and the script stops. */
  #commandThrew(e: unknown, c: CompiledCommand, line: number, frame: Frame): never {
    this.kernel.takeRefusal?.(); // not the next command's
    if (e instanceof StopScript) throw e;
    const cmd = c.call.cmd;
    // A backend that would not send the ioctl says why: that is the command's error.
    if (!(isShellError(e) || e instanceof ScriptError || e instanceof IoctlRefused)) {
      this.#commandFailed(
        c,
        line,
        frame,
        brokeMessage(cmd, `threw: ${thrownMessage(e)}`),
      );
    }
    const msg = `${cmd.spec.name}: ${(e as Error).message}`;
    if (e instanceof ScriptError && e.location) {
      this.error(msg, new ScriptError(msg, e.location));
      throw new StopScript();
    }
    this.#commandFailed(c, line, frame, msg);
  }

  /** A command failed with `msg`: one line at the command (no caret); the script stops. */
  #commandFailed(c: CompiledCommand, line: number, frame: Frame, msg: string): never {
    this.error(msg, new ScriptError(msg, frame.src.at(line, c.col)), false);
    throw new StopScript();
  }

  #finishCommand(c: CompiledCommand, line: number, frame: Frame, result: CommandResult): void {
    if (!result || typeof result.errno !== "number" || typeof result.fields !== "object") {
      const got = result === undefined || result === null
        ? "nothing"
        : typeof result === "object"
        ? "an object without errno and fields"
        : kindOf(result);
      const what = `returned ${got}, not a result (use ctx.ok(), ctx.errno() or ctx.fromRet())`;
      this.#commandFailed(c, line, frame, brokeMessage(c.call.cmd, what));
    }
    const cmd = c.call.cmd;
    if (cmd.plugin !== "core") {
      // A plugin's fields are typed, but `deno run` does not check types: a field the shell
      // cannot print or compare is the plugin's error, said as such.
      const bad = badField(result.fields);
      if (bad !== undefined) {
        this.#commandFailed(c, line, frame, brokeMessage(cmd, `returned ${bad}`));
      }
    }
    const record: ResultRecord = {
      errno: result.errno,
      fields: result.fields,
      principal: cmd.principal,
    };
    if (!result.silent) this.#last = record;
    // The FFI backend's guard answered a call itself: say so, or the errno reads as the kernel's.
    const refused = this.kernel.takeRefusal?.();
    // Result post-processors: observers and the client preset's note.
    let note: string | undefined;
    if (this.#onResult !== undefined || clientPresetOf(this.state) !== undefined) {
      const ev: ResultEvent = {
        command: cmd.spec.name,
        text: c.text,
        ...this.#place(frame.file, line),
        errno: result.errno,
        fields: result.fields,
        formats: cmd.fieldFormats,
        args: this.#built?.args ?? {},
        options: this.#built?.options ?? {},
        state: this.state,
      };
      this.#onResult?.(ev);
      if (!result.silent) note = clientNote(ev);
    }
    // Print.
    let held: boolean | undefined;
    if (c.expect) {
      try {
        held = c.expect.check(record, this);
      } catch (e) {
        this.#evalError(e, frame, line);
      }
    }
    if (this.#json) {
      this.json({
        command: c.text,
        ...this.#place(frame.file, line),
        ok: result.errno === 0,
        errno: result.errno === 0 ? null : { name: errnoName(result.errno), number: result.errno },
        fields: jsonFields(result.fields, cmd.fieldFormats),
        ...(result.lines && result.silent ? { output: result.lines } : {}),
        ...(c.expect ? { expectation: { expected: c.expect.text, held } } : {}),
        ...(note ? { client: note } : {}),
        ...(refused ? { refused } : {}),
      });
    } else {
      const show = !this.#quiet;
      if (show && !result.silent) {
        const stable = frame.transcript;
        let text = formatResult(result.errno, result.fields, cmd.fieldFormats, this.#p, stable);
        if (refused) text += `  [${refused}]`;
        this.out(note ? `${text}  ${note}` : text);
      }
      if (show || result.silent) {
        if (result.lines != null) { for (const l of result.lines) this.out(l); }
        if (show) {
          // Indexed: a for-of makes an iterator each time until V8 optimises this.
          const keys = rowsFields(cmd);
          for (let i = 0; i < keys.length; i++) {
            const rows = result.fields[keys[i]];
            if (Array.isArray(rows)) { for (const l of formatTable(rows as Row[])) this.out(l); }
          }
        }
      }
    }
    // Recorded before a failed expectation can stop the script (set -e): the command ran.
    if (this.#recorder && frame.top && !NOT_RECORDED.has(cmd.spec.name)) {
      let bare = c.expect ? c.text.slice(0, c.text.lastIndexOf("=>")).trimEnd() : c.text;
      if (PATH_COMMANDS.has(cmd.spec.name)) bare = this.#replayablePath(cmd.spec.name, bare);
      this.#record(frame, result.silent ? bare : `${bare} => ${this.#asExpectation(record, cmd)}`);
    }
    if (c.expect) {
      if (held) this.#stats.passed++;
      else {
        let actual = formatResult(result.errno, result.fields, cmd.fieldFormats);
        if (refused) actual += `  [${refused}]`;
        this.#count(false, frame, line, c.expect.text, actual, c.text, c.col);
      }
    }
    if (c.bind !== undefined) {
      if (result.errno !== 0) {
        this.#scriptError(
          frame,
          `let ${c.bind}: '${cmd.spec.name}' failed with ${
            errnoName(result.errno)
          }, nothing to bind`,
          line,
          c.col,
        );
      }
      const pv = cmd.principal ? result.fields[cmd.principal] : undefined;
      if (pv === undefined) {
        this.#scriptError(
          frame,
          `let ${c.bind}: '${cmd.spec.name}' has no principal value to bind`,
          line,
          c.col,
        );
      }
      this.state.vars.set(c.bind, pv);
    }
  }

  /** The result as an expectation that replays: errno, or the stable fields, or ok. */
  #asExpectation(r: ResultRecord, cmd: RegisteredCommand): string {
    if (r.errno !== 0) return errnoName(r.errno);
    const parts: string[] = [];
    for (const [k, v] of Object.entries(r.fields)) {
      const f = cmd.fieldFormats.get(k);
      if (f?.volatile || f?.format === "rows" || v === undefined) continue;
      if (Array.isArray(v) && v.length > 0 && !("start" in (v[0] as object))) continue;
      parts.push(`${k}=${formatValue(v as FieldValue, f?.format)}`);
    }
    return parts.length ? parts.join(" ") : "ok";
  }

  #record(frame: Frame, text: string): void {
    if (!this.#recorder || !frame.top) return;
    try {
      this.#recorder.write(text);
    } catch (e) {
      this.error(`record: ${(e as Error).message}; recording stopped`);
      this.#recorder = undefined;
    }
  }

  startRecording(path: string): string {
    this.#recorder?.close();
    this.#recorder = undefined;
    // Beside the running script, as include and plugin load look; named from the cwd.
    const r = this.#recorder = new Recorder(
      this.#besideScript(path),
      this.kernel,
      this.#history.slice(0, -1),
      this.#shownBeside(path),
    );
    return r.path;
  }

  // ---- command context ----
  #context(cmd: RegisteredCommand): CommandContext {
    // Most commands in a row come from one plugin.
    if (cmd.plugin === this.#lastPlugin) return this.#lastContext!;
    let ctx = this.#contexts.get(cmd.plugin);
    if (ctx) {
      this.#lastPlugin = cmd.plugin;
      this.#lastContext = ctx;
      return ctx;
    }
    // deno-lint-ignore no-this-alias
    const self = this;
    const clean = (f?: Record<string, FieldValue | undefined>): Record<string, FieldValue> => {
      if (!f) return {};
      // Most results have no unset field: then the command's own object will do.
      let unset = false;
      for (const k in f) {
        if (f[k] === undefined) {
          unset = true;
          break;
        }
      }
      if (!unset && Object.getPrototypeOf(f) === Object.prototype) {
        return f as Record<string, FieldValue>;
      }
      const out: Record<string, FieldValue> = {};
      for (const k in f) if (f[k] !== undefined) out[k] = f[k] as FieldValue;
      return out;
    };
    const shell: ShellControl = {
      include: (path) => self.#include(path),
      loadPlugin: async (path) => {
        const p = await self.addPlugin(path);
        return { name: p.name, commands: p.commands.map((c) => c.name) };
      },
      setErrexit: (on) => {
        self.#errexit = on;
      },
      help: (name) => self.#help(name),
      history: () => [...self.#history],
      startRecording: (path) => self.startRecording(path),
      stopRecording: () => {
        const r = self.#recorder;
        self.#recorder = undefined;
        return r?.close();
      },
      quit: () => {
        self.#exit = true;
      },
      get file() {
        return self.#stack[self.#stack.length - 1]?.file ?? "<line>";
      },
    };
    ctx = {
      kernel: this.kernel,
      state: this.state,
      shell,
      plugin: cmd.plugin,
      ok: (fields) => ({ errno: 0, fields: clean(fields) }),
      errno: (n, fields) => ({ errno: n, fields: clean(fields) }),
      fromRet: (ret, fields) => {
        const r = Number(ret);
        if (r < 0) return { errno: -r, fields: {} };
        return { errno: 0, fields: clean(typeof fields === "function" ? fields() : fields) };
      },
      fail: (message) => {
        throw new ShellError(message);
      },
      userBytes: (bytes) => self.#userBytes(bytes),
    };
    this.#contexts.set(cmd.plugin, ctx);
    return ctx;
  }

  /** The scratch memory, unless a reboot of the simulator took it (then it is forgotten). */
  #liveScratch(): { addr: bigint; size: bigint } | undefined {
    const s = this.#scratch;
    if (s !== undefined && s.boot !== (this.kernel.simulator?.boots ?? 0)) {
      this.#scratch = undefined;
    }
    return this.#scratch;
  }

  #userBytes(bytes: Uint8Array): bigint {
    const need = BigInt(Math.max(4096, Math.ceil(bytes.length / 4096) * 4096));
    const old = this.#liveScratch();
    if (!old || old.size < need) {
      if (old) this.kernel.munmap(old.addr, old.size);
      const addr = this.kernel.mmap(need);
      if (addr < 0n) {
        throw new ShellError(`cannot allocate scratch memory: ${errnoName(Number(-addr))}`);
      }
      this.#scratch = { addr, size: need, boot: this.kernel.simulator?.boots ?? 0 };
    }
    const r = this.kernel.writeMemory(this.#scratch!.addr, bytes);
    if (r < 0) throw new ShellError(`cannot write scratch memory: ${errnoName(-r)}`);
    return this.#scratch!.addr;
  }

  #help(name?: string): string[] {
    if (!name) return helpList(this.registry);
    const words = name.trim().split(/\s+/);
    const cmd = this.registry.get(words.join(" "));
    if (cmd) return helpCommand(cmd);
    if (words[0] === "let" || words[0] === "expect") {
      return [
        "let NAME = COMMAND …   run COMMAND, bind its principal value to $NAME (a failure stops a script)",
        "let NAME = EXPR        bind a number: let base = 0x100000 + 2M",
        'let NAME = "TEXT"      bind text: let dev = "0000:00:04.0"',
        "expect FIELD OP VALUE  check a field of $last: expect unmapped == 2M (OP: == != < <= > >=)",
      ];
    }
    const subs = this.registry.children(words);
    if (subs.length) {
      const out = [`'${words.join(" ")}' sub-commands:`];
      for (const sub of subs) {
        const c = this.registry.get([...words, sub].join(" "));
        out.push(`  ${[...words, sub].join(" ").padEnd(24)}  ${c?.spec.summary ?? "…"}`);
      }
      return out;
    }
    const r = this.registry.resolve(words);
    throw new ShellError(r.ok ? `no help for '${name}'` : r.message);
  }

  /**
   * `include`/`plugin load` as a recording must hold it: a relative PATH names the same file
   * from the recording's directory, where a replay looks for it (the typed text otherwise).
   */
  #replayablePath(name: string, typed: string): string {
    const path = this.#built?.args.path;
    if (typeof path !== "string" || isAbsolute(path) || !this.#recorder) return typed;
    const fromRecording = relative(this.#recorder.dir, this.#besideScript(path)) || ".";
    return fromRecording === path ? typed : `${name} ${quoteWord(fromRecording)}`;
  }

  /**
   * `path` beside the running script, named as the top script was (relative to the working
   * directory, or absolute), so that every place a message names opens from where vfsh started.
   */
  #shownBeside(path: string): string {
    const frame = this.#stack[this.#stack.length - 1];
    return frame?.path && !isAbsolute(path) ? join(dirname(frame.file), path) : path;
  }

  /** `path` as the running script means it: beside that script, or at the prompt in the cwd. */
  #besideScript(path: string): string {
    if (isAbsolute(path)) return path;
    const frame = this.#stack[this.#stack.length - 1];
    return join(frame?.path ? dirname(frame.path) : Deno.cwd(), path);
  }

  async #include(path: string): Promise<void> {
    const frame = this.#stack[this.#stack.length - 1];
    const abs = resolve(this.#besideScript(path));
    const shown = this.#shownBeside(path);
    const files = this.#stack.filter((f) => f.path);
    if (files.some((f) => f.path === abs)) {
      const names = [...files.map((f) => f.file), shown];
      throw new ShellError(`include cycle: ${names.join(" -> ")}`);
    }
    let text: string;
    try {
      text = readScriptFile(abs);
    } catch (e) {
      throw new ShellError(`cannot include ${path}: ${describeFsError(e, "read")}`);
    }
    await this.#runText(text, shown, abs, false, frame?.transcript ?? true);
  }

  async loadPlugin(path: string): Promise<boolean> {
    try {
      await this.addPlugin(path);
      return true;
    } catch (e) {
      this.error((e as Error).message);
      return false;
    }
  }

  /** Load a plugin module (relative to the running script); a failure throws, saying why. */
  async addPlugin(path: string): Promise<Plugin> {
    const file = this.#besideScript(path);
    // Loaded only when a plugin is (it needs node:url for the module URL).
    const { loadPluginFile } = await import("./plugin_loader.ts");
    const plugin = await loadPluginFile(file, path);
    this.registry.register(plugin);
    for (const c of plugin.commands) this.#pluginCommands.add(c.name);
    return plugin;
  }

  close(options?: { release?: boolean }): void {
    try {
      this.#recorder?.close();
    } catch { /* already reported */ }
    this.#recorder = undefined;
    if (options?.release ?? true) {
      const k = this.kernel;
      for (const fd of this.state.devices) k.close(fd);
      for (const fd of this.state.groups.keys()) k.close(fd);
      for (const fd of this.state.containers) k.close(fd);
      for (const m of this.state.mem.values()) k.munmap(m.addr, m.size);
      // Newest first: what a `map` without --vaddr allocated, in reverse order.
      const anon = this.state.anon;
      for (let i = anon.length - 1; i >= 0; i--) k.munmap(anon[i].addr, anon[i].size);
      const scratch = this.#liveScratch();
      if (scratch) k.munmap(scratch.addr, scratch.size);
    }
    forgetMachine(this.state);
    this.#scratch = undefined;
  }
}

/**
 * A script's compiled statements in order, each with the line it was written at (one compiled
 * form may serve many lines). Sized from the script's line count at once: grown one push at a
 * time, a long script's arrays are copied again and again while young.
 */
class Program {
  forms: (Compiled | undefined)[];
  lines: Int32Array;
  length = 0;

  constructor(text: string) {
    // One statement a line, mostly: the lines are a good first guess.
    let n = 1;
    for (let i = text.indexOf("\n"); i >= 0; i = text.indexOf("\n", i + 1)) n++;
    this.forms = new Array(n);
    this.lines = new Int32Array(n);
  }

  add(c: Compiled | undefined, line: number): void {
    const i = this.length++;
    if (i === this.lines.length) {
      const grown = new Int32Array(i * 2);
      grown.set(this.lines);
      this.lines = grown;
    }
    this.forms[i] = c;
    this.lines[i] = line;
  }
}
