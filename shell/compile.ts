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
  type ValueContext,
} from "../dsl/expectation.ts";
import { type CompiledInt, compileInt, EvalError, type NameResolver } from "../dsl/expr.ts";
import type { Word } from "../dsl/lexer.ts";
import type { ExpectWords, Stmt } from "../dsl/parser.ts";
import { ScriptError, type SourceText } from "../dsl/source.ts";
import { type Env, isRecord, recordField, typeName, type Value } from "../dsl/values.ts";
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
  if (isRecord(v) && v.principal && typeof v.fields[v.principal] === "bigint") {
    return String(v.fields[v.principal]);
  }
  throw new EvalError(`${what}: a ${typeName(v)} cannot be used as text`, col);
}

function zodCheck(p: ParamSpec, value: unknown, w: Word | undefined, src: SourceText, cmd: string) {
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

/** Compile one word for parameter `p`. */
function compileWord(
  p: ParamSpec,
  w: Word,
  src: SourceText,
  cmd: string,
): CompiledValue {
  const at = src.at(w.line, w.col);
  switch (p.kind) {
    case "int":
    case "auto": {
      if (p.kind === "auto" && w.text === "-" && !w.quoted) return { constant: "-" };
      if (w.quoted) {
        throw new ScriptError(`${cmd}: ${p.label} must be a number, not a quoted string`, at);
      }
      const max = p.bits >= 64 ? U64_MAX : (1n << BigInt(p.bits)) - 1n;
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
          at,
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
          at,
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

/** Bind the argument words of a command and compile them. */
export function compileCall(
  cmd: RegisteredCommand,
  words: Word[],
  src: SourceText,
  endCol: { line: number; col: number },
): CompiledCall {
  const name = cmd.spec.name;
  const positional: Word[] = [];
  const opts: [ParamSpec, CompiledValue][] = [];
  const seenOpts = new Set<string>();
  for (let i = 0; i < words.length; i++) {
    const w = words[i];
    if (!w.quoted && w.text.startsWith("--") && w.text.length > 2) {
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
      if (seenOpts.has(oname)) {
        throw new ScriptError(`${name}: option --${oname} given twice`, src.at(w.line, w.col));
      }
      seenOpts.add(oname);
      if (p.kind === "flag") {
        if (eq > 0) {
          throw new ScriptError(`${name}: --${oname} takes no value`, src.at(w.line, w.col));
        }
        opts.push([p, { constant: true }]);
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
      opts.push([p, compileWord(p, vw, src, name)]);
      continue;
    }
    positional.push(w);
  }
  const args: [ParamSpec, CompiledValue][] = [];
  const params = cmd.params;
  let k = 0;
  for (const p of params) {
    if (p.variadic || (p.kind === "bytes" && p === params[params.length - 1])) {
      const rest = positional.slice(k);
      k = positional.length;
      if (p.kind === "bytes") {
        if (rest.length === 0) continue;
        args.push([p, compileWord(p, concatWords(rest), src, name)]);
      } else {
        const parts = rest.map((w) => compileWord(p, w, src, name));
        if (parts.every((x) => x.run === undefined)) {
          args.push([p, { constant: parts.map((x) => x.constant) }]);
        } else {
          args.push([p, {
            run: (env) => parts.map((x) => x.run ? x.run(env) : x.constant),
          }]);
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
    args.push([p, compileWord(p, w, src, name)]);
  }
  if (k < positional.length) {
    const w = positional[k];
    throw new ScriptError(
      `${name}: unexpected argument '${w.raw}' (usage: ${usageOf(cmd)})`,
      src.at(w.line, w.col),
    );
  }
  const argKeys = args.map(([p]) => p.key);
  const argVals = args.map(([, v]) => v);
  const optKeys = opts.map(([p]) => p.key);
  const optVals = opts.map(([, v]) => v);
  // Defaults of options and arguments come from zod, once.
  const defaults: Record<string, unknown> = {};
  for (const p of cmd.options.values()) {
    if (!seenOpts.has(p.key)) {
      const d = p.fullSchema.safeParse(undefined);
      if (d.success && d.data !== undefined) defaults[p.key] = d.data;
    }
  }
  const argDefaults: Record<string, unknown> = {};
  for (const p of params) {
    if (!argKeys.includes(p.key)) {
      const d = p.fullSchema.safeParse(undefined);
      if (d.success && d.data !== undefined) argDefaults[p.key] = d.data;
      else if (p.variadic) argDefaults[p.key] = [];
    }
  }
  return {
    cmd,
    build(env) {
      const a: Record<string, unknown> = { ...argDefaults };
      for (let i = 0; i < argKeys.length; i++) {
        const v = argVals[i];
        a[argKeys[i]] = v.run ? v.run(env) : v.constant;
      }
      const o: Record<string, unknown> = { ...defaults };
      for (let i = 0; i < optKeys.length; i++) {
        const v = optVals[i];
        o[optKeys[i]] = v.run ? v.run(env) : v.constant;
      }
      return { args: a, options: o };
    },
  };
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
  const r = registry.resolve(names);
  if (!r.ok) {
    const w = words[Math.min(r.at, words.length - 1)];
    const at = r.at >= words.length ? endOf(words) : { line: w.line, col: w.col };
    throw new ScriptError(r.message, src.at(at.line, at.col));
  }
  return compileCall(r.cmd, words.slice(r.consumed), src, endOf(words));
}

function compileExpectWords(ew: ExpectWords | undefined, src: SourceText) {
  return ew ? compileExpectation(ew, valueContext(src)) : undefined;
}

/**
 * Compile one statement. Throws a {@link ScriptError} (with location) for an unknown
 * command, a bad argument or a bad expectation.
 */
export function compileStatement(s: Stmt, registry: Registry, src: SourceText): Compiled {
  switch (s.kind) {
    case "comment":
      return s;
    case "command": {
      const first = s.words[0];
      return {
        kind: "command",
        call: compileCommandWords(s.words, registry, src),
        expect: compileExpectWords(s.expect, src),
        text: s.text,
        line: s.line,
        col: first.col,
      };
    }
    case "let": {
      const first = s.words[0];
      const isCommand = !first.quoted && registry.children([]).includes(first.text);
      if (isCommand) {
        return {
          kind: "command",
          call: compileCommandWords(s.words, registry, src),
          expect: compileExpectWords(s.expect, src),
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
        line: s.line,
        col: s.field.col,
      };
  }
}
