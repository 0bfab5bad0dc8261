/**
 * The command registry: plugins register their commands here; statements are resolved to
 * a command by their longest matching name. Each command's zod declaration is analysed once,
 * at registration, into {@link ParamSpec}s that the compiler, `help` and completion share.
 *
 * @module
 */

import type { z } from "zod";
import {
  type ArgKind,
  type Command,
  type FieldFormat,
  kindOf,
  metaOf,
  type Plugin,
  ShellError,
  thrownMessage,
} from "./plugin_core.ts";
import { isLite } from "./schema_lite.ts";

/** A declaration the shell cannot read; its message names the plugin and the command. */
export class DeclarationError extends TypeError {
  constructor(message: string) {
    super(message);
    this.name = "DeclarationError";
  }
}

/** One positional argument or option, as analysed from its zod schema. */
export interface ParamSpec {
  /** Key in the args/options object. */
  readonly key: string;
  readonly kind: ArgKind;
  /** Not required (optional, or has a default). */
  readonly optional: boolean;
  /** Takes the rest of the positional words (a `z.array`). */
  readonly variadic: boolean;
  /** The schema of one value (the array's element for variadic ones). */
  readonly schema: z.ZodType;
  /** The whole schema (for validation of the final value). */
  readonly fullSchema: z.ZodType;
  readonly description?: string;
  /** Integer width. */
  readonly bits: number;
  /** Constant set for completion. */
  readonly set?: string;
  /** Allowed words, for choice/perm. */
  readonly choices?: readonly string[];
  /** `IOVA`, `SIZE`, … */
  readonly label: string;
  /** Whether an integer option should be handed over as a JS number (`z.number()`). */
  readonly asNumber: boolean;
}

/** One result field, as analysed from the `result` schema. */
export interface FieldSpec {
  readonly key: string;
  readonly format: FieldFormat;
  readonly volatile: boolean;
  readonly description?: string;
}

/** A command with its analysis and owning plugin. */
export interface RegisteredCommand {
  readonly spec: Command;
  readonly plugin: string;
  readonly words: readonly string[];
  readonly params: readonly ParamSpec[];
  readonly options: ReadonlyMap<string, ParamSpec>;
  readonly fields: readonly FieldSpec[];
  readonly fieldFormats: ReadonlyMap<string, FieldSpec>;
  readonly principal?: string;
}

interface Node {
  cmd?: RegisteredCommand;
  children: Map<string, Node>;
}

type Def = {
  type: string;
  innerType?: z.ZodType;
  element?: z.ZodType;
  entries?: Record<string, string>;
  options?: z.ZodType[];
  values?: unknown[];
};

function defOf(s: z.ZodType): Def {
  return (s as unknown as { _zod: { def: Def } })._zod.def;
}

function unwrap(s: z.ZodType): { inner: z.ZodType; optional: boolean } {
  let optional = false;
  let cur = s;
  for (;;) {
    const d = defOf(cur);
    if (d.type === "optional" || d.type === "default" || d.type === "nullable") {
      optional = true;
      cur = d.innerType!;
    } else return { inner: cur, optional };
  }
}

/**
 * Analyse one schema of an args/options object. Throws a {@link DeclarationError} for an
 * unsupported one.
 */
export function analyseParam(key: string, schema: z.ZodType, where: string): ParamSpec {
  const { inner, optional } = unwrap(schema);
  let one = inner;
  let variadic = false;
  if (defOf(inner).type === "array") {
    variadic = true;
    one = defOf(inner).element!;
  }
  const meta = metaOf(schema);
  const innerMeta = metaOf(one).vfsh;
  const vm = { ...innerMeta, ...meta.vfsh };
  const type = defOf(unwrap(one).inner).type;
  let kind: ArgKind | undefined = vm.kind;
  let choices: string[] | undefined;
  let asNumber = false;
  if (type === "enum") {
    const entries = defOf(unwrap(one).inner).entries ?? {};
    choices = Object.values(entries).map(String);
    kind ??= "choice";
  }
  if (!kind) {
    switch (type) {
      case "bigint":
        kind = "int";
        break;
      case "number":
        kind = "int";
        asNumber = true;
        break;
      case "string":
        kind = "string";
        break;
      case "boolean":
        kind = "flag";
        break;
      case "literal":
        kind = "choice";
        choices = (defOf(one).values ?? []).map(String);
        break;
      default:
        throw new DeclarationError(
          `${where}: '${key}' has a zod type (${type}) the shell cannot read from words; ` +
            "use z.bigint(), z.number(), z.string(), z.enum(), z.boolean() or a t.* helper",
        );
    }
  }
  if (kind === "perm") choices = ["r", "w", "rw", "-"];
  return {
    key,
    kind,
    optional: optional || variadic,
    variadic,
    schema: one,
    fullSchema: schema,
    description: meta.description ?? metaOf(one).description,
    bits: vm.bits ?? 64,
    set: vm.set,
    choices,
    label: vm.label ?? key.toUpperCase().replaceAll("-", "_"),
    asNumber,
  };
}

/** The fields of a declaration, which must be a `z.object` (a plain object has no schema). */
function shapeOf(
  o: z.ZodObject | undefined,
  what: "args" | "options" | "result",
  where: string,
): Record<string, z.ZodType> {
  if (o === undefined) return {};
  const shape = (o as { shape?: unknown } | null)?.shape;
  const def = (o as unknown as { _zod?: { def?: Def } } | null)?._zod?.def;
  if (def?.type !== "object" || typeof shape !== "object" || shape === null) {
    const got = typeof o !== "object" || o === null
      ? typeof o
      : def
      ? `a z.${def.type}()`
      : "a plain object";
    throw new DeclarationError(`${where}: ${what} must be z.object({ … }), not ${got}`);
  }
  return shape as Record<string, z.ZodType>;
}

const NAME_WORD = /^[a-z][a-z0-9-]*$/;
/** Words that are syntax, not commands. */
export const RESERVED = new Set(["let", "expect"]);

/** The words of a command's name; throws a DeclarationError for a name the shell cannot use. */
function nameWords(spec: Command, where: string): string[] {
  const words = spec.name.split(" ");
  if (words.length > 3) throw new DeclarationError(`${where}: a name has at most three words`);
  for (const w of words) {
    if (!NAME_WORD.test(w)) {
      throw new DeclarationError(`${where}: '${w}' is not a valid command word (a-z, 0-9, -)`);
    }
  }
  if (RESERVED.has(words[0])) throw new DeclarationError(`${where}: '${words[0]}' is reserved`);
  return words;
}

/** What the shell reads from a command's args, options and result declarations. */
type Analysis = Pick<
  RegisteredCommand,
  "params" | "options" | "fields" | "fieldFormats" | "principal"
>;

function analyseDeclarations(spec: Command, where: string): Analysis {
  const params: ParamSpec[] = [];
  let sawOptional = false;
  const argShape = shapeOf(spec.args, "args", where);
  const keys = Object.keys(argShape);
  keys.forEach((key, i) => {
    const p = analyseParam(key, argShape[key], where);
    if (p.kind === "flag") {
      throw new DeclarationError(`${where}: positional '${key}' cannot be a flag`);
    }
    if (p.variadic && i !== keys.length - 1) {
      throw new DeclarationError(`${where}: only the last argument may take the rest of the words`);
    }
    if (!p.optional && sawOptional) {
      throw new DeclarationError(`${where}: required argument '${key}' after an optional one`);
    }
    sawOptional ||= p.optional;
    params.push(p);
  });
  const options = new Map<string, ParamSpec>();
  const optShape = shapeOf(spec.options, "options", where);
  for (const key of Object.keys(optShape)) {
    if (!NAME_WORD.test(key)) {
      throw new DeclarationError(`${where}: option '${key}' is not a valid name`);
    }
    const p = analyseParam(key, optShape[key], where);
    options.set(key, { ...p, optional: true });
  }
  const fields: FieldSpec[] = [];
  const resShape = shapeOf(spec.result, "result", where);
  for (const key of Object.keys(resShape)) {
    const m = metaOf(resShape[key]);
    const { inner } = unwrap(resShape[key]);
    const ty = defOf(inner).type;
    const format: FieldFormat = m.vfsh.format ??
      (ty === "string" ? "text" : ty === "boolean" ? "bool" : ty === "array" ? "ranges" : "hex");
    fields.push({ key, format, volatile: m.vfsh.volatile ?? false, description: m.description });
  }
  const fieldFormats = new Map(fields.map((f) => [f.key, f]));
  let principal = spec.principal;
  if (principal === undefined) {
    for (const k of ["value", "fd", "id", "iova"]) {
      if (fieldFormats.has(k)) {
        principal = k;
        break;
      }
    }
  }
  return { params, options, fields, fieldFormats, principal };
}

/** Analyse a command declaration. Throws a {@link DeclarationError} naming the problem. */
export function analyseCommand(spec: Command, plugin: string): RegisteredCommand {
  const where = `plugin ${plugin}: command '${spec.name}'`;
  const words = nameWords(spec, where);
  return { spec, plugin, words, ...analyseDeclarations(spec, where) };
}

/**
 * A command whose declarations are analysed when first asked for: the core commands, whose
 * declarations (shell/schema_lite.ts) cannot fail to be read (schema_lite_test.ts reads them
 * all), so that starting the shell does not analyse ~100 commands to run two.
 */
class LazyCommand implements RegisteredCommand {
  readonly spec: Command;
  readonly plugin: string;
  readonly words: readonly string[];
  #a: Analysis | undefined;

  constructor(spec: Command, plugin: string, words: readonly string[]) {
    this.spec = spec;
    this.plugin = plugin;
    this.words = words;
  }

  #analysis(): Analysis {
    return this.#a ??= analyseDeclarations(
      this.spec,
      `plugin ${this.plugin}: command '${this.spec.name}'`,
    );
  }
  get params(): readonly ParamSpec[] {
    return this.#analysis().params;
  }
  get options(): ReadonlyMap<string, ParamSpec> {
    return this.#analysis().options;
  }
  get fields(): readonly FieldSpec[] {
    return this.#analysis().fields;
  }
  get fieldFormats(): ReadonlyMap<string, FieldSpec> {
    return this.#analysis().fieldFormats;
  }
  get principal(): string | undefined {
    return this.#analysis().principal;
  }
}

/** Whether every declaration of `spec` is one of shell/schema_lite.ts (or absent). */
function declaredLite(spec: Command): boolean {
  return (spec.args === undefined || isLite(spec.args)) &&
    (spec.options === undefined || isLite(spec.options)) &&
    (spec.result === undefined || isLite(spec.result));
}

/**
 * The registered form of `spec`: analysed now (a declaration with zod schemas, which may not
 * be readable: the error names it), or when first used (see {@link LazyCommand}).
 */
function registered(spec: Command, plugin: string): RegisteredCommand {
  if (!declaredLite(spec)) return analyseCommand(spec, plugin);
  const where = `plugin ${plugin}: command '${spec.name}'`;
  return new LazyCommand(spec, plugin, nameWords(spec, where));
}

/**
 * What registering command `i` of `plugin` threw, as one line naming them: the shell's own
 * reasons as they are, anything else (a throwing getter, an object that is no command) as
 * what it is.
 */
function unreadable(e: unknown, plugin: string, spec: unknown, i: number): ShellError {
  if (e instanceof DeclarationError) return new ShellError(e.message);
  if (typeof spec !== "object" || spec === null) {
    return new ShellError(`plugin ${plugin}: commands[${i}] is not a command (${kindOf(spec)})`);
  }
  let which = `commands[${i}]`;
  try {
    const name = (spec as { name?: unknown }).name;
    if (typeof name === "string") which = `command '${name}'`;
  } catch { /* its name is what threw: say where it is instead */ }
  return new ShellError(`plugin ${plugin}: ${which} cannot be read: ${thrownMessage(e)}`);
}

/** Edit distance, for "did you mean". */
export function distance(a: string, b: string): number {
  const m = a.length, n = b.length;
  let prev = new Array<number>(n + 1);
  for (let j = 0; j <= n; j++) prev[j] = j;
  for (let i = 1; i <= m; i++) {
    const cur = [i];
    for (let j = 1; j <= n; j++) {
      cur[j] = Math.min(
        prev[j] + 1,
        cur[j - 1] + 1,
        prev[j - 1] + (a[i - 1] === b[j - 1] ? 0 : 1),
      );
    }
    prev = cur;
  }
  return prev[n];
}

/** Up to three of `names` closest to `word` (within a distance that scales with length). */
export function closest(word: string, names: Iterable<string>): string[] {
  const w = word.toLowerCase();
  const limit = Math.max(1, Math.min(3, Math.floor(w.length / 3)));
  const scored: [number, string][] = [];
  for (const n of names) {
    const d = distance(w, n.toLowerCase());
    const prefix = n.toLowerCase().startsWith(w) && w.length >= 2;
    if (d <= limit || prefix) scored.push([prefix ? Math.min(d, 1) : d, n]);
  }
  scored.sort((a, b) => a[0] - b[0] || a[1].localeCompare(b[1]));
  return [...new Set(scored.map((s) => s[1]))].slice(0, 3);
}

/** Result of {@link Registry.resolve}. */
export type Resolution =
  | { ok: true; cmd: RegisteredCommand; consumed: number }
  | { ok: false; at: number; message: string };

/** Every registered command, by name and by plugin. */
export class Registry {
  readonly #root: Node = { children: new Map() };
  readonly #byName = new Map<string, RegisteredCommand>();
  readonly #plugins = new Map<string, Plugin>();
  #generation = 0;

  /** Counts registrations: what a statement compiles to may change when it changes. */
  get generation(): number {
    return this.#generation;
  }

  /** Plugins in load order. */
  plugins(): Plugin[] {
    return [...this.#plugins.values()];
  }

  /** Every command, in registration order. */
  commands(): RegisteredCommand[] {
    return [...this.#byName.values()];
  }

  /** The command named exactly `name` (words separated by one space). */
  get(name: string): RegisteredCommand | undefined {
    return this.#byName.get(name);
  }

  /**
   * Register every command of `plugin`, or none: a clash with a loaded command or plugin,
   * or a declaration the shell cannot read, throws a {@link ShellError} naming the plugin.
   */
  register(plugin: Plugin): RegisteredCommand[] {
    if (this.#plugins.has(plugin.name)) {
      throw new ShellError(`plugin ${plugin.name}: a plugin with this name is already loaded`);
    }
    const added: RegisteredCommand[] = [];
    const names = new Set<string>();
    for (let i = 0; i < plugin.commands.length; i++) {
      const spec = plugin.commands[i];
      let rc: RegisteredCommand;
      try {
        rc = registered(spec, plugin.name);
      } catch (e) {
        throw unreadable(e, plugin.name, spec, i);
      }
      const owner = this.#byName.get(rc.spec.name);
      if (owner) {
        throw new ShellError(
          `plugin ${plugin.name}: command '${rc.spec.name}' is already defined by plugin ${owner.plugin}`,
        );
      }
      if (names.has(rc.spec.name)) {
        throw new ShellError(`plugin ${plugin.name}: command '${rc.spec.name}' is declared twice`);
      }
      names.add(rc.spec.name);
      added.push(rc);
    }
    this.#plugins.set(plugin.name, plugin);
    this.#generation++;
    for (const rc of added) {
      this.#byName.set(rc.spec.name, rc);
      let node = this.#root;
      for (const w of rc.words) {
        let next = node.children.get(w);
        if (!next) {
          next = { children: new Map() };
          node.children.set(w, next);
        }
        node = next;
      }
      node.cmd = rc;
    }
    return added;
  }

  /** The command named by the first words of `words` (longest match), or undefined. */
  find(words: readonly string[]): RegisteredCommand | undefined {
    let node = this.#root;
    let best: RegisteredCommand | undefined;
    for (let i = 0; i < words.length && i < 3; i++) {
      const next = node.children.get(words[i]);
      if (!next) break;
      node = next;
      if (node.cmd) best = node.cmd;
    }
    return best;
  }

  /**
   * Find the command named by the first words of `words` (longest match). On failure, says
   * what was expected at which word, with "did you mean".
   */
  resolve(words: readonly string[]): Resolution {
    let node = this.#root;
    let best: { cmd: RegisteredCommand; consumed: number } | undefined;
    let i = 0;
    for (; i < words.length && i < 3; i++) {
      const next = node.children.get(words[i]);
      if (!next) break;
      node = next;
      if (node.cmd) best = { cmd: node.cmd, consumed: i + 1 };
    }
    // The longest name that matched; the words after it are its arguments.
    if (best) return { ok: true, ...best };
    if (i === 0) {
      const s = closest(words[0] ?? "", this.#root.children.keys());
      return {
        ok: false,
        at: 0,
        message: `unknown command '${words[0]}'` +
          (s.length ? ` (did you mean ${s.join(", ")}?)` : "; type 'help' for the list"),
      };
    }
    const prefix = words.slice(0, i).join(" ");
    const subs = [...node.children.keys()];
    if (i >= words.length) {
      return { ok: false, at: i, message: `'${prefix}' needs a sub-command: ${subs.join(", ")}` };
    }
    const s = closest(words[i], subs);
    return {
      ok: false,
      at: i,
      message: `unknown sub-command '${prefix} ${words[i]}'` +
        (s.length
          ? ` (did you mean ${s.map((x) => `${prefix} ${x}`).join(", ")}?)`
          : ` (expected one of: ${subs.join(", ")})`),
    };
  }

  /** Whether `word` is the first word of a command name. */
  isCommandWord(word: string): boolean {
    return this.#root.children.has(word);
  }

  /** Names of the sub-commands that follow `prefix` words (for completion and help). */
  children(prefix: readonly string[]): string[] {
    let node: Node | undefined = this.#root;
    for (const w of prefix) {
      node = node?.children.get(w);
      if (!node) return [];
    }
    return [...node.children.keys()];
  }
}
