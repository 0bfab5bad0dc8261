/**
 * The compiler: turns a parsed statement into a ready-to-run form, once. Command names are
 * resolved, words bound to arguments and options, literal values converted and validated
 * (with zod) now; values that use variables become small closures. Running a compiled
 * statement does no parsing and no zod validation.
 *
 * @module
 */

import {
  CONSTANT_SETS,
  constantNames,
  lookupConstant,
  PAGE_SIZE,
  shortNames,
  U64_MAX,
} from "../uapi/constants.ts";
import { errnoNames, errnoNumber } from "../uapi/errno.ts";
import { fromHex } from "../uapi/codec.ts";
import {
  type CompiledExpect,
  type CompiledExpectation,
  compileExpect,
  compileExpectation,
  compileRange,
  evalInt,
  type ExpectTarget,
  type ValueContext,
} from "../dsl/expectation.ts";
import { type CompiledInt, compileInt, EvalError, type NameResolver } from "../dsl/expr.ts";
import { literalValue, literalValueAt } from "../dsl/number.ts";
import type { Word } from "../dsl/lexer.ts";
import type { ExpectWords, Stmt } from "../dsl/parser.ts";
import { ScriptError, type SourceText } from "../dsl/source.ts";
import {
  bytesToHex,
  type Env,
  formatRanges,
  isRecord,
  NAME_PATTERN,
  NAME_RULE,
  type Range,
  recordField,
  typeName,
  type Value,
} from "../dsl/values.ts";
import { closest, type ParamSpec, type RegisteredCommand, type Registry } from "./registry.ts";
import { usageOf } from "./help.ts";

/** A value ready at compile time, or a closure over the environment. */
export type CompiledValue =
  | { readonly constant: unknown; readonly run?: undefined }
  | { readonly constant?: undefined; readonly run: (env: Env) => unknown };

/** A command call with its bound arguments. */
export interface CompiledCall {
  readonly cmd: RegisteredCommand;
  /** Build the args and options objects (runs the closures). */
  build(env: Env): { args: Record<string, unknown>; options: Record<string, unknown> };
}

/** A statement ready to run. */
export type Compiled =
  | {
    readonly kind: "command";
    readonly call: CompiledCall;
    readonly expect?: CompiledExpectation;
    /** `let NAME = COMMAND`: the variable bound to the principal value. */
    readonly bind?: string;
    readonly text: string;
    readonly line: number;
    readonly col: number;
  }
  | {
    readonly kind: "let";
    readonly name: string;
    readonly value: CompiledValue;
    readonly text: string;
    readonly line: number;
    readonly col: number;
  }
  | {
    readonly kind: "expect";
    readonly check: CompiledExpect;
    readonly text: string;
    /** What it expects, as reported: the text after `expect`. */
    readonly expected: string;
    readonly line: number;
    readonly col: number;
  }
  | { readonly kind: "comment"; readonly text: string; readonly line: number };

const EXTRA: Record<string, bigint> = { PAGE_SIZE, U64_MAX };

/** Word sets of the shell's own (not uapi constants), usable as an integer's `set`. */
export const SHELL_SETS: Readonly<Record<string, Readonly<Record<string, bigint>>>> = {
  on_off: { on: 1n, off: 0n },
  rlimit_mode: { user: 0n, mm: 1n },
};

const resolverCache = new Map<string, NameResolver>();

/** Resolver for bare names: constants (preferring set `set`), errno names, PAGE_SIZE, U64_MAX. */
export function resolverFor(set?: string): NameResolver {
  const key = set ?? "";
  let r = resolverCache.get(key);
  if (r) return r;
  const preferred = new Map<string, bigint>();
  const cs = CONSTANT_SETS.find((s) => s.name === set);
  for (const [n, v] of Object.entries(SHELL_SETS[key] ?? {})) preferred.set(n.toUpperCase(), v);
  if (cs) {
    for (const [full, v] of Object.entries(cs.values)) {
      for (const n of shortNames(full)) preferred.set(n.toUpperCase(), BigInt(v));
    }
  }
  r = (name: string) => {
    const up = name.toUpperCase();
    const p = preferred.get(up);
    if (p !== undefined) return p;
    const c = lookupConstant(name);
    if (c) return BigInt(c.value);
    const e = errnoNumber(name);
    if (e !== undefined) return BigInt(e);
    return EXTRA[up];
  };
  resolverCache.set(key, r);
  return r;
}

let allNames: string[] | undefined;
/** Every bare name the language knows (for "did you mean" and completion). */
export function knownNames(): string[] {
  allNames ??= [...new Set([...constantNames(), ...errnoNames(), ...Object.keys(EXTRA)])];
  return allNames;
}

function suggest(name: string): string[] {
  return closest(name, knownNames());
}

function valueContext(src: SourceText, set?: string): ValueContext {
  return { src, resolve: resolverFor(set), suggest };
}

function isVarWord(w: Word): boolean {
  if (w.quoted || w.text.length < 2 || w.text[0] !== "$") return false;
  for (let i = 1; i < w.text.length; i++) {
    const c = w.text.charCodeAt(i);
    const ok = (c >= 65 && c <= 90) || (c >= 97 && c <= 122) || c === 95 || c === 46 ||
      (c >= 48 && c <= 57);
    if (!ok) return false;
  }
  return true;
}

/** Read a `$name.field…` variable at run time. */
function readVar(env: Env, text: string, col: number): Value {
  const [name, ...path] = text.slice(1).split(".");
  let v: Value | undefined = env.lookup(name);
  if (v === undefined) throw new EvalError(`variable $${name} is not set`, col);
  for (const f of path) {
    const next: Value | undefined = isRecord(v) ? recordField(v, f) : undefined;
    if (next === undefined) throw new EvalError(`$${name} has no field '${f}'`, col);
    v = next;
  }
  return v;
}

function toText(v: Value, col: number, what: string): string {
  if (typeof v === "string") return v;
  if (typeof v === "bigint") return v.toString(10);
  // As results show them: `echo $last.iova_ranges` prints what the result line did.
  if (typeof v === "boolean") return String(v);
  if (v instanceof Uint8Array) return bytesToHex(v);
  if (Array.isArray(v) && v.every((e) => "start" in e)) return formatRanges(v as Range[]);
  if (isRecord(v) && v.principal && typeof v.fields[v.principal] === "bigint") {
    return String(v.fields[v.principal]);
  }
  throw new EvalError(`${what}: a ${typeName(v)} cannot be used as text`, col);
}

/** Whether zod would accept any value of the JS type the compiler produces for `p`. */
const plainSchema = new WeakMap<ParamSpec, boolean>();
function isPlain(p: ParamSpec): boolean {
  let plain = plainSchema.get(p);
  if (plain === undefined) {
    plain = plainOf(p.schema as unknown as ZodLike, p.kind === "int" || p.kind === "auto");
    plainSchema.set(p, plain);
  }
  return plain;
}

interface ZodLike {
  _zod: { def: { type: string; checks?: unknown[]; options?: ZodLike[] } };
}

/** A bare z.bigint() / z.number() / z.string() (or a union holding one) has no check to run. */
function plainOf(s: ZodLike, int: boolean): boolean {
  const d = s._zod.def;
  if (d.checks !== undefined && d.checks.length > 0) return false;
  if (d.type === "union") return (d.options ?? []).some((o) => plainOf(o, int));
  return int ? d.type === "bigint" || d.type === "number" : d.type === "string";
}

function zodCheck(p: ParamSpec, value: unknown, w: Word | undefined, src: SourceText, cmd: string) {
  // A value of the right type for a schema without checks always passes: no zod per line.
  if (isPlain(p)) return;
  const r = p.schema.safeParse(value);
  if (!r.success) {
    const issue = r.error.issues[0];
    throw new ScriptError(
      `${cmd}: bad ${p.label}: ${issue?.message ?? "invalid value"}`,
      w ? src.at(w.line, w.col) : undefined,
    );
  }
}

function intOf(c: CompiledInt, asNumber: boolean): CompiledValue {
  if (c.constant !== undefined) return { constant: asNumber ? Number(c.constant) : c.constant };
  const f = c.run;
  return asNumber ? { run: (env) => Number(f(env)) } : { run: f };
}

/**
 * The largest integer handed over as a JS number (`z.number()`): a larger one would arrive
 * rounded (2^53 + 1 as 2^53), so it is refused instead.
 */
const NUMBER_MAX = BigInt(Number.MAX_SAFE_INTEGER);

const maxByBits = new Map<number, bigint>();
/** The largest value of a `bits`-wide integer; of one handed over as a JS number, if `asNumber`. */
function maxOf(bits: number, asNumber = false): bigint {
  if (asNumber && bits > 53) return NUMBER_MAX;
  if (bits >= 64) return U64_MAX;
  let m = maxByBits.get(bits);
  if (m === undefined) maxByBits.set(bits, m = (1n << BigInt(bits)) - 1n);
  return m;
}

/** Compile one word for parameter `p`. */
function compileWord(
  p: ParamSpec,
  w: Word,
  src: SourceText,
  cmd: string,
): CompiledValue {
  const at = () => src.at(w.line, w.col);
  switch (p.kind) {
    case "int":
    case "auto": {
      if (p.kind === "auto" && w.text === "-" && !w.quoted) return { constant: "-" };
      if (w.quoted) {
        throw new ScriptError(`${cmd}: ${p.label} must be a number, not a quoted string`, at());
      }
      const max = maxOf(p.bits, p.asNumber);
      const lit = literalValue(w.text);
      if (lit !== undefined && lit <= max) {
        const constant = p.asNumber ? Number(lit) : lit;
        zodCheck(p, constant, w, src, cmd);
        return { constant };
      }
      const c = compileInt(w.text, { src, line: w.line, col: w.col }, {
        resolve: resolverFor(p.set),
        suggest,
        max,
      });
      const v = intOf(c, p.asNumber);
      if (v.constant !== undefined) zodCheck(p, v.constant, w, src, cmd);
      return v;
    }
    case "perm":
    case "choice": {
      const choices = p.choices ?? [];
      if (isVarWord(w)) {
        const col = w.col;
        return {
          run: (env) => {
            const s = toText(readVar(env, w.text, col), col, p.label);
            if (!choices.includes(s)) {
              throw new EvalError(
                `${p.label} must be one of ${choices.join(", ")}, got '${s}'`,
                col,
              );
            }
            return s;
          },
        };
      }
      const found = choices.find((c) => c === w.text) ??
        choices.find((c) => c.toLowerCase() === w.text.toLowerCase());
      if (found === undefined) {
        const s = closest(w.text, choices);
        throw new ScriptError(
          `${cmd}: ${p.label} must be one of ${choices.join(", ")}, got '${w.text}'` +
            (s.length && w.text.length >= 2 ? ` (did you mean ${s[0]}?)` : ""),
          at(),
        );
      }
      return { constant: found };
    }
    case "string":
    case "path":
    case "name": {
      if (isVarWord(w) && p.kind !== "name") {
        const col = w.col;
        return { run: (env) => toText(readVar(env, w.text, col), col, p.label) };
      }
      const text = p.kind === "name" && w.text.startsWith("$") ? w.text.slice(1) : w.text;
      if (p.kind === "name" && !NAME_PATTERN.test(text)) {
        // Said in words: the schema's own message is its regular expression.
        throw new ScriptError(
          `${cmd}: ${p.label} must be a name (${NAME_RULE}), got '${w.text}'`,
          at(),
        );
      }
      zodCheck(p, text, w, src, cmd);
      return { constant: text };
    }
    case "bytes": {
      if (isVarWord(w)) {
        const col = w.col;
        return {
          run: (env) => {
            const v = readVar(env, w.text, col);
            if (v instanceof Uint8Array) return v;
            const b = typeof v === "string" ? fromHex(v) : undefined;
            if (!b) throw new EvalError(`${p.label}: expected hex bytes`, col);
            return b;
          },
        };
      }
      const b = fromHex(w.text);
      if (!b) {
        throw new ScriptError(
          `${cmd}: ${p.label} must be hex bytes (e.g. 0c000000 or de:ad:be:ef), got '${w.text}'`,
          at(),
        );
      }
      return { constant: b };
    }
    case "range": {
      const r = compileRange(w.text, { line: w.line, col: w.col }, valueContext(src, p.set));
      if (r.start.constant !== undefined && r.end.constant !== undefined) {
        return { constant: { start: r.start.constant, end: r.end.constant } };
      }
      return { run: (env) => ({ start: evalInt(r.start, env), end: evalInt(r.end, env) }) };
    }
    case "flag":
      return { constant: true };
  }
}

function concatWords(words: Word[]): Word {
  const first = words[0];
  return {
    ...first,
    text: words.map((w) => w.text).join(""),
    raw: words.map((w) => w.raw).join(" "),
  };
}

/** Whether `w` is an option (`--name` or `--name=value`). */
function isOptionWord(w: Word): boolean {
  const t = w.text;
  return !w.quoted && t.length > 2 && t.charCodeAt(0) === 45 && t.charCodeAt(1) === 45;
}

/** Bind the argument words of a command and compile them. */
export function compileCall(
  cmd: RegisteredCommand,
  words: Word[],
  src: SourceText,
  endCol: { line: number; col: number },
): CompiledCall {
  const name = cmd.spec.name;
  let positional = words;
  let optKeys: string[] | undefined;
  let optVals: CompiledValue[] | undefined;
  for (let i = 0; i < words.length; i++) {
    if (isOptionWord(words[i])) {
      positional = [];
      optKeys = [];
      optVals = [];
      break;
    }
  }
  if (optKeys !== undefined && optVals !== undefined) {
    for (let i = 0; i < words.length; i++) {
      const w = words[i];
      if (!isOptionWord(w)) {
        positional.push(w);
        continue;
      }
      const eq = w.text.indexOf("=");
      const oname = eq > 0 ? w.text.slice(2, eq) : w.text.slice(2);
      const p = cmd.options.get(oname);
      if (!p) {
        const known = [...cmd.options.keys()];
        const s = closest(oname, known);
        throw new ScriptError(
          `${name}: unknown option --${oname}` +
            (s.length
              ? ` (did you mean --${s[0]}?)`
              : known.length
              ? ` (options: ${known.map((k) => "--" + k).join(" ")})`
              : " (it takes no options)"),
          src.at(w.line, w.col),
        );
      }
      if (optKeys.includes(p.key)) {
        throw new ScriptError(`${name}: option --${oname} given twice`, src.at(w.line, w.col));
      }
      optKeys.push(p.key);
      if (p.kind === "flag") {
        if (eq > 0) {
          throw new ScriptError(`${name}: --${oname} takes no value`, src.at(w.line, w.col));
        }
        optVals.push({ constant: true });
        continue;
      }
      let vw: Word;
      if (eq > 0) {
        vw = { ...w, text: w.text.slice(eq + 1), raw: w.raw.slice(eq + 1), col: w.col + eq + 1 };
      } else {
        const next = words[i + 1];
        if (!next) {
          throw new ScriptError(
            `${name}: --${oname} needs a value (${p.label})`,
            src.at(w.line, w.col + w.raw.length),
          );
        }
        vw = next;
        i++;
      }
      optVals.push(compileWord(p, vw, src, name));
    }
  }
  const argVals: CompiledValue[] = [];
  let mask = 0; // which params got a value
  const params = cmd.params;
  let k = 0;
  for (let j = 0; j < params.length; j++) {
    const p = params[j];
    if (p.variadic || (p.kind === "bytes" && j === params.length - 1)) {
      const rest = positional.slice(k);
      k = positional.length;
      if (p.kind === "bytes") {
        if (rest.length === 0) continue;
        mask |= 1 << j;
        argVals.push(compileWord(p, concatWords(rest), src, name));
      } else {
        const parts = rest.map((w) => compileWord(p, w, src, name));
        mask |= 1 << j;
        if (parts.every((x) => x.run === undefined)) {
          argVals.push({ constant: parts.map((x) => x.constant) });
        } else {
          argVals.push({ run: (env) => parts.map((x) => x.run ? x.run(env) : x.constant) });
        }
      }
      continue;
    }
    const w = positional[k];
    if (!w) {
      if (p.optional) continue;
      throw new ScriptError(
        `${name}: missing ${p.label} (usage: ${usageOf(cmd)})`,
        src.at(endCol.line, endCol.col),
      );
    }
    k++;
    mask |= 1 << j;
    argVals.push(compileWord(p, w, src, name));
  }
  if (k < positional.length) {
    const w = positional[k];
    throw new ScriptError(
      `${name}: unexpected argument '${w.raw}' (usage: ${usageOf(cmd)})`,
      src.at(w.line, w.col),
    );
  }
  return new Call(cmd, shapeOf(cmd, mask), argVals, optKeys ?? NONE, optVals ?? NO_VALUES);
}

const NONE: readonly string[] = [];
const NO_VALUES: readonly CompiledValue[] = [];

/**
 * Which arguments a call gives, shared by every call of a command that gives the same ones:
 * their keys in order, and the defaults of the others.
 */
interface ArgShape {
  readonly keys: readonly string[];
  readonly defaults: readonly (readonly [string, unknown])[];
}

const shapes = new WeakMap<RegisteredCommand, Map<number, ArgShape>>();

function shapeOf(cmd: RegisteredCommand, mask: number): ArgShape {
  let byMask = shapes.get(cmd);
  if (!byMask) shapes.set(cmd, byMask = new Map());
  let shape = byMask.get(mask);
  if (!shape) {
    const keys = cmd.params.filter((_, j) => (mask & (1 << j)) !== 0).map((p) => p.key);
    const { argDefaults } = defaultsOf(cmd);
    const defaults = Object.entries(argDefaults).filter(([k]) => !keys.includes(k));
    shape = { keys, defaults };
    byMask.set(mask, shape);
  }
  return shape;
}

/**
 * A bound call. Constant values are kept as they are and closures apart, so that a long
 * script's compiled calls stay small (a script keeps every one until it has run).
 */
class Call implements CompiledCall {
  readonly cmd: RegisteredCommand;
  readonly #shape: ArgShape;
  readonly #vals: readonly unknown[];
  /** Closures by position, when any value depends on the environment. */
  readonly #runs: readonly (((env: Env) => unknown) | undefined)[] | undefined;
  readonly #optKeys: readonly string[];
  readonly #optVals: readonly CompiledValue[];
  /** The args and options objects as far as they are the same on every run (see #plan). */
  #plan: BuildPlan | undefined;

  constructor(
    cmd: RegisteredCommand,
    shape: ArgShape,
    argVals: readonly CompiledValue[],
    optKeys: readonly string[],
    optVals: readonly CompiledValue[],
  ) {
    this.cmd = cmd;
    this.#shape = shape;
    this.#vals = argVals.map((v) => v.constant);
    this.#runs = argVals.some((v) => v.run) ? argVals.map((v) => v.run) : undefined;
    this.#optKeys = optKeys.length ? optKeys.slice() : NONE;
    this.#optVals = optVals.length ? optVals.slice() : NO_VALUES;
  }

  build(env: Env): { args: Record<string, unknown>; options: Record<string, unknown> } {
    const plan = this.#plan ??= this.#makePlan();
    // Copies of the templates (keys in their final order), then what differs per run.
    const a: Record<string, unknown> = { ...plan.args };
    for (let i = 0; i < plan.argFills.length; i++) {
      const f = plan.argFills[i];
      a[f.key] = f.run ? f.run(env) : fresh(f.value);
    }
    const o: Record<string, unknown> = { ...plan.options };
    for (let i = 0; i < plan.optFills.length; i++) {
      const f = plan.optFills[i];
      o[f.key] = f.run ? f.run(env) : fresh(f.value);
    }
    return { args: a, options: o };
  }

  /**
   * Args: the defaults of the arguments not given, then the given ones, in declaration
   * order. Options: the defaults of the options not given, in declaration order, then the
   * given ones, in the order given. A value that is a primitive constant goes in the
   * template; a closure or an object (handed over as a fresh copy each time) is a fill.
   */
  #makePlan(): BuildPlan {
    const args: Record<string, unknown> = {};
    const argFills: Fill[] = [];
    const { keys, defaults } = this.#shape;
    for (const [k, v] of defaults) put(args, argFills, k, undefined, v);
    for (let i = 0; i < keys.length; i++) {
      put(args, argFills, keys[i], this.#runs?.[i], this.#vals[i]);
    }
    const options: Record<string, unknown> = {};
    const optFills: Fill[] = [];
    const optKeys = this.#optKeys;
    for (const [k, v] of defaultsOf(this.cmd).optDefaults) {
      if (!optKeys.includes(k)) put(options, optFills, k, undefined, v);
    }
    for (let i = 0; i < optKeys.length; i++) {
      const v = this.#optVals[i];
      put(options, optFills, optKeys[i], v.run, v.constant);
    }
    return { args, argFills, options, optFills };
  }
}

/** A value of a built object that is worked out on each run. */
interface Fill {
  readonly key: string;
  readonly run: ((env: Env) => unknown) | undefined;
  readonly value: unknown;
}

/** How a {@link Call} builds its args and options objects. */
interface BuildPlan {
  readonly args: Readonly<Record<string, unknown>>;
  readonly argFills: readonly Fill[];
  readonly options: Readonly<Record<string, unknown>>;
  readonly optFills: readonly Fill[];
}

function put(
  template: Record<string, unknown>,
  fills: Fill[],
  key: string,
  run: ((env: Env) => unknown) | undefined,
  value: unknown,
): void {
  const constant = run === undefined && (typeof value !== "object" || value === null);
  template[key] = constant ? value : undefined;
  if (!constant) fills.push({ key, run, value });
}

/**
 * A compiled constant as a command may keep or change it: a compiled statement can run
 * many times (identical lines share it), so lists, bytes and ranges are handed over as
 * copies.
 */
function fresh(v: unknown): unknown {
  if (typeof v !== "object" || v === null) return v;
  if (v instanceof Uint8Array) return v.slice();
  if (Array.isArray(v)) return v.map(fresh);
  return Object.getPrototypeOf(v) === Object.prototype ? { ...v } : v;
}

/** Defaults of a command's arguments and options (from zod, once per command). */
interface Defaults {
  readonly argDefaults: Readonly<Record<string, unknown>>;
  /** In declaration order. */
  readonly optDefaults: readonly (readonly [string, unknown])[];
}

const defaultsCache = new WeakMap<RegisteredCommand, Defaults>();

function defaultsOf(cmd: RegisteredCommand): Defaults {
  let d = defaultsCache.get(cmd);
  if (d) return d;
  const optDefaults: [string, unknown][] = [];
  for (const p of cmd.options.values()) {
    const r = p.fullSchema.safeParse(undefined);
    if (r.success && r.data !== undefined) optDefaults.push([p.key, r.data]);
  }
  const argDefaults: Record<string, unknown> = {};
  for (const p of cmd.params) {
    const r = p.fullSchema.safeParse(undefined);
    if (r.success && r.data !== undefined) argDefaults[p.key] = r.data;
    else if (p.variadic) argDefaults[p.key] = [];
  }
  d = { argDefaults, optDefaults };
  defaultsCache.set(cmd, d);
  return d;
}

function endOf(words: Word[]): { line: number; col: number } {
  const last = words[words.length - 1];
  return { line: last.line, col: last.col + last.raw.length };
}

/** Compile the words of a command (resolution, binding). */
function compileCommandWords(
  words: Word[],
  registry: Registry,
  src: SourceText,
): CompiledCall {
  const names: string[] = [];
  for (const w of words) {
    if (w.quoted || names.length >= 3) break;
    names.push(w.text);
  }
  const cmd = registry.find(names);
  if (cmd === undefined) {
    const r = registry.resolve(names);
    if (r.ok) throw new Error(`registry: '${names.join(" ")}' resolves but was not found`);
    const w = words[Math.min(r.at, words.length - 1)];
    const at = r.at >= words.length ? endOf(words) : { line: w.line, col: w.col };
    throw new ScriptError(r.message, src.at(at.line, at.col));
  }
  return compileCall(cmd, words.slice(cmd.words.length), src, endOf(words));
}

/** Characters hashed at each end of a text (see TextCache's hash). */
const HASH_EDGE = 16;

/**
 * Compiled forms by text and column: a direct-mapped table (each text has one slot, by
 * hash), so that a lookup costs a hash and one comparison, hit or miss. It starts small (a
 * typed line or a short script needs a few slots) and grows as it fills, up to
 * {@link TextCache.MAX_SLOTS}. An entry that was found again keeps its slot against as many
 * newcomers as it had hits, so texts that repeat are not pushed out by texts that do not.
 */
class TextCache<T> {
  static readonly MAX_SLOTS = 8192; // a power of two
  #slots: (TextEntry<T> | undefined)[] = new Array(64).fill(undefined);
  #mask = 63;
  #used = 0;

  static #hash(text: string, col: number): number {
    return TextCache.#hashSpan(text, 0, text.length, col);
  }

  /**
   * A hash of `source.slice(start, end)` and `col`. A long text is hashed by its length and
   * its first and last {@link HASH_EDGE} characters only: lines of a script differ at their
   * start (the command) or their end (the values, the expectation), and a lookup compares
   * the whole text anyway.
   */
  static #hashSpan(source: string, start: number, end: number, col: number): number {
    let h = col | 0;
    if (end - start > 2 * HASH_EDGE) {
      for (let i = start; i < start + HASH_EDGE; i++) {
        h = (Math.imul(h, 31) + source.charCodeAt(i)) | 0;
      }
      h = (Math.imul(h, 31) + end - start) | 0;
      start = end - HASH_EDGE;
    }
    for (let i = start; i < end; i++) h = (Math.imul(h, 31) + source.charCodeAt(i)) | 0;
    return h ^ (h >>> 13);
  }

  get(text: string, col: number): T | undefined {
    const e = this.#slots[TextCache.#hash(text, col) & this.#mask];
    if (e === undefined || e.col !== col || e.text !== text) return undefined;
    e.hits++;
    return e.value;
  }

  /** {@link get} of `source.slice(start, end)`, without making that string. */
  getSpan(source: string, start: number, end: number, col: number): T | undefined {
    const e = this.#slots[TextCache.#hashSpan(source, start, end, col) & this.#mask];
    if (
      e === undefined || e.col !== col || e.text.length !== end - start ||
      !source.startsWith(e.text, start)
    ) {
      return undefined;
    }
    e.hits++;
    return e.value;
  }

  set(text: string, col: number, value: T): void {
    const hash = TextCache.#hash(text, col);
    const slot = hash & this.#mask;
    const e = this.#slots[slot];
    if (e !== undefined && e.hits > 0) {
      e.hits--;
      return;
    }
    if (e === undefined) this.#used++;
    this.#slots[slot] = { text, col, hash, value, hits: 0 };
    if (this.#used * 2 > this.#slots.length && this.#slots.length < TextCache.MAX_SLOTS) {
      this.#grow();
    }
  }

  /** Four times the slots; of two entries that meet in one, the one found more often stays. */
  #grow(): void {
    const old = this.#slots;
    const size = Math.min(old.length * 4, TextCache.MAX_SLOTS);
    const slots: (TextEntry<T> | undefined)[] = new Array(size).fill(undefined);
    const mask = size - 1;
    let used = 0;
    for (const e of old) {
      if (e === undefined) continue;
      const slot = e.hash & mask;
      const there = slots[slot];
      if (there === undefined) used++;
      else if (there.hits >= e.hits) continue;
      slots[slot] = e;
    }
    this.#slots = slots;
    this.#mask = mask;
    this.#used = used;
  }
}

interface TextEntry<T> {
  readonly text: string;
  readonly col: number;
  readonly hash: number;
  readonly value: T;
  hits: number;
}

/**
 * Compiled expectations by what the command's principal value is, then by text (each with
 * the column of its first word). A compiled expectation is pure (it keeps no source, only
 * columns for run-time errors), and scripts repeat the same few (`=> ok`, `=> ENOENT`,
 * `=> unmapped=4K`), so each is compiled once.
 */
const expectCaches: Record<ExpectTarget["principal"], TextCache<CompiledExpectation>> = {
  none: new TextCache(),
  number: new TextCache(),
  text: new TextCache(),
};

/** What an expectation on `cmd` compares a bare value with (see compileExpectation). */
function expectTarget(cmd: RegisteredCommand): ExpectTarget {
  const p = cmd.principal;
  const principal = p === undefined
    ? "none"
    : cmd.fieldFormats.get(p)?.format === "text"
    ? "text"
    : "number";
  return { command: cmd.spec.name, principal };
}

function compileExpectWords(
  ew: ExpectWords | undefined,
  src: SourceText,
  cmd: RegisteredCommand,
): CompiledExpectation | undefined {
  if (!ew) return undefined;
  const target = expectTarget(cmd);
  const expectCache = expectCaches[target.principal];
  // Cache only single-spaced expectations on one line, where the text and the first
  // column fix every word's column.
  const words = ew.words;
  let cacheable = words.length > 0;
  for (let k = 1; cacheable && k < words.length; k++) {
    const a = words[k - 1], b = words[k];
    if (b.line !== a.line || b.col !== a.col + a.raw.length + 1) cacheable = false;
  }
  if (cacheable) {
    const hit = expectCache.get(ew.text, words[0].col);
    if (hit !== undefined) return hit;
  }
  const compiled = compileExpectation(ew, valueContext(src), target);
  if (cacheable) expectCache.set(ew.text, words[0].col, compiled);
  return compiled;
}

/** Compiled statements, per registry (and emptied when the registry changes). */
const statementCaches = new WeakMap<Registry, { generation: number; cache: TextCache<Compiled> }>();

function statementCache(registry: Registry): TextCache<Compiled> {
  let c = statementCaches.get(registry);
  if (c === undefined || c.generation !== registry.generation) {
    c = { generation: registry.generation, cache: new TextCache() };
    statementCaches.set(registry, c);
  }
  return c.cache;
}

/**
 * What a verbatim statement (see `Statement.verbatim` in dsl/lexer.ts) with this text and
 * column compiled to before, or undefined when it is not known. The compiled form is
 * shared: its `line` is the line it was first compiled for.
 *
 * A compiled statement depends only on its text, its column and the registry (never on its
 * line), so statements written the same way share one compiled form: scripts repeat the
 * same lines, and each is compiled once.
 */
export function compiledBefore(
  registry: Registry,
  text: string,
  col: number,
): Compiled | undefined {
  return statementCache(registry).get(text, col);
}

/**
 * What {@link knownStatements} gives: the compiled form of a verbatim statement without
 * quotes (`source.slice(start, end)`) that needs no parsing, or undefined when it must be
 * parsed.
 */
export type KnownCompiled = (
  source: string,
  start: number,
  end: number,
  col: number,
  line: number,
) => Compiled | undefined;

/**
 * For a script being read against `registry` (which must not change meanwhile): the
 * compiled form of a verbatim statement without quotes that needs no parsing. That is one
 * compiled before with the same text and column (see {@link compiledBefore}), or
 * `let NAME = LITERAL` (a number or a size), whose compiled form is its constant: scripts
 * that set a variable line after line make each such line unique, and parsing them one by
 * one would cost more than the rest of their compile. The forms are the ones
 * {@link compileStatement} gives for the same statements.
 */
export function knownStatements(registry: Registry): KnownCompiled {
  const cache = statementCache(registry);
  return (source, start, end, col, line) =>
    cache.getSpan(source, start, end, col) ?? letLiteral(source, start, end, col, line);
}

/**
 * `let NAME = LITERAL` (`source.slice(start, end)`), written with single spaces, as compiled;
 * else undefined. Read in place: nothing is made for a line that is not one.
 */
function letLiteral(
  source: string,
  start: number,
  end: number,
  col: number,
  line: number,
): Compiled | undefined {
  if (!source.startsWith("let ", start)) return undefined;
  // The name runs to the next space, then ` = `, then the literal to the end (a literal has
  // no space, nor any other character the lexer would treat apart).
  const from = start + 4;
  let sp = from;
  while (sp < end && source.charCodeAt(sp) !== 32) sp++;
  if (sp + 3 > end || source.charCodeAt(sp + 1) !== 61 || source.charCodeAt(sp + 2) !== 32) {
    return undefined;
  }
  const value = literalValueAt(source, sp + 3, end);
  if (value === undefined) return undefined;
  // A name the parser accepts: letters, digits and '_', not a digit first, not `last`.
  if (sp === from || (sp - from === 4 && source.startsWith("last", from))) return undefined;
  for (let i = from; i < sp; i++) {
    const c = source.charCodeAt(i);
    const letter = (c >= 65 && c <= 90) || (c >= 97 && c <= 122) || c === 95;
    if (!letter && !(i > from && c >= 48 && c <= 57)) return undefined;
  }
  return {
    kind: "let",
    name: source.slice(from, sp),
    value: { constant: value },
    text: source.slice(start, end),
    line,
    col: col + sp + 3 - start,
  };
}

/**
 * Compile one statement. Throws a {@link ScriptError} (with location) for an unknown
 * command, a bad argument or a bad expectation. Verbatim statements are compiled once per
 * text and column (see {@link compiledBefore}).
 */
export function compileStatement(s: Stmt, registry: Registry, src: SourceText): Compiled {
  if (s.kind === "comment" || !s.verbatim) return compileFresh(s, registry, src);
  const cache = statementCache(registry);
  const hit = cache.get(s.text, s.col);
  if (hit !== undefined) return hit.line === s.line ? hit : { ...hit, line: s.line };
  const compiled = compileFresh(s, registry, src);
  cache.set(s.text, s.col, compiled);
  return compiled;
}

function compileFresh(s: Stmt, registry: Registry, src: SourceText): Compiled {
  switch (s.kind) {
    case "comment":
      return s;
    case "command": {
      const first = s.words[0];
      const call = compileCommandWords(s.words, registry, src);
      return {
        kind: "command",
        call,
        expect: compileExpectWords(s.expect, src, call.cmd),
        text: s.text,
        line: s.line,
        col: first.col,
      };
    }
    case "let": {
      const first = s.words[0];
      const isCommand = !first.quoted && registry.isCommandWord(first.text);
      if (isCommand) {
        const call = compileCommandWords(s.words, registry, src);
        return {
          kind: "command",
          call,
          expect: compileExpectWords(s.expect, src, call.cmd),
          bind: s.name.text,
          text: s.text,
          line: s.line,
          col: s.name.col,
        };
      }
      if (s.expect) {
        throw new ScriptError(
          "an expectation needs a command: 'let NAME = EXPR' has no result to check",
          src.at(s.expect.arrow.line, s.expect.arrow.col),
        );
      }
      let value: CompiledValue;
      if (s.words.length === 1 && first.quoted) {
        value = { constant: first.text };
      } else {
        // Quotes would be lost in the rebuilt text, and "a" read as the name a.
        const str = s.words.find((w) => w.quoted);
        if (str !== undefined) {
          throw new ScriptError(
            `${str.raw} is a string, expected a number (a string is bound on its own: let ${s.name.text} = ${str.raw})`,
            src.at(str.line, str.col),
          );
        }
        // Rebuild the expression with its original spacing so columns stay right.
        let text = "";
        for (const w of s.words) {
          if (w.line !== first.line) {
            text += " ";
          } else {
            while (first.col + text.length < w.col) text += " ";
          }
          text += w.text;
        }
        const c = compileInt(text, { src, line: first.line, col: first.col }, {
          resolve: resolverFor(),
          suggest: (n) => {
            const cmds = closest(n, registry.children([]));
            return cmds.length ? cmds : suggest(n);
          },
        });
        value = c.constant !== undefined ? { constant: c.constant } : { run: c.run };
      }
      return { kind: "let", name: s.name.text, value, text: s.text, line: s.line, col: first.col };
    }
    case "expect":
      return {
        kind: "expect",
        check: compileExpect(s, valueContext(src)),
        text: s.text,
        expected: s.text.replace(/^expect\s+/, ""),
        line: s.line,
        col: s.col,
      };
  }
}
