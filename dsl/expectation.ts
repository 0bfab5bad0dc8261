/**
 * Expectations: what follows `=>` (`ok`, an errno name, a number, `field=value …`, each
 * optionally negated with `!`) and the `expect FIELD OP VALUE` statement, compiled once into
 * checks that run against a result record.
 *
 * @module
 */

import { errnoNumber } from "../uapi/errno.ts";
import type { Word } from "./lexer.ts";
import {
  type CompiledInt,
  compileInt,
  EvalError,
  type NameResolver,
  type NameSuggester,
} from "./expr.ts";
import type { ExpectStmt, ExpectWords } from "./parser.ts";
import { ScriptError, type SourceText } from "./source.ts";
import {
  bytesToHex,
  type Env,
  type FieldValue,
  formatRanges,
  type Range,
  recordField,
  type ResultRecord,
} from "./values.ts";

/** How names in values are resolved and suggested. */
export interface ValueContext {
  readonly src: SourceText;
  readonly resolve: NameResolver;
  readonly suggest?: NameSuggester;
}

/**
 * What an expectation is checked against, when the command is known as it is compiled:
 * its name (for messages) and what its principal value is. A command that declares none
 * has none: its results never carry one.
 */
export interface ExpectTarget {
  readonly command: string;
  readonly principal: "none" | "number" | "text";
}

/** A compiled `=> …` expectation. */
export interface CompiledExpectation {
  /** The expectation as written after `=>`. */
  readonly text: string;
  /** Whether `result` satisfies it. Throws an {@link EvalError} for a bad variable. */
  check(result: ResultRecord, env: Env): boolean;
}

type Check = (r: ResultRecord, env: Env) => boolean;

/** A compiled range `START-END` (both inclusive), each side an integer expression. */
export interface CompiledRange {
  readonly start: CompiledInt;
  readonly end: CompiledInt;
}

/** Evaluate a compiled integer. */
export function evalInt(c: CompiledInt, env: Env): bigint {
  return c.constant !== undefined ? c.constant : c.run(env);
}

/**
 * Compile `START-END` (inclusive; `0x1000-0x1fffff`). The split is at the first `-` outside
 * parentheses that follows a value, so `($a-1)-$b` works.
 */
export function compileRange(
  text: string,
  pos: { line: number; col: number },
  vc: ValueContext,
): CompiledRange {
  let depth = 0;
  let split = -1;
  for (let i = 1; i < text.length; i++) {
    const c = text[i];
    if (c === "(") depth++;
    else if (c === ")") depth--;
    else if (c === "-" && depth === 0) {
      split = i;
      break;
    }
  }
  if (split < 0) {
    throw new ScriptError(
      `bad range '${text}': expected START-END, e.g. 0x1000-0x1fffff (END inclusive)`,
      vc.src.at(pos.line, pos.col),
    );
  }
  const o = { resolve: vc.resolve, suggest: vc.suggest };
  return {
    start: compileInt(text.slice(0, split), { src: vc.src, ...pos }, o),
    end: compileInt(text.slice(split + 1), {
      src: vc.src,
      line: pos.line,
      col: pos.col + split + 1,
    }, o),
  };
}

/** Compile `[a-b,c-d]` (possibly `[]`). */
function compileRangeList(
  text: string,
  pos: { line: number; col: number },
  vc: ValueContext,
): (env: Env) => Range[] {
  if (!text.startsWith("[") || !text.endsWith("]")) {
    throw new ScriptError(
      `bad range list '${text}': expected [START-END,…]`,
      vc.src.at(pos.line, pos.col),
    );
  }
  const inner = text.slice(1, -1);
  const parts: CompiledRange[] = [];
  let off = 1;
  if (inner.trim() !== "") {
    for (const piece of inner.split(",")) {
      parts.push(compileRange(piece.trim(), { line: pos.line, col: pos.col + off }, vc));
      off += piece.length + 1;
    }
  }
  return (env) => parts.map((p) => ({ start: evalInt(p.start, env), end: evalInt(p.end, env) }));
}

function normHex(s: string): string {
  let out = "";
  let t = s.toLowerCase();
  if (t.startsWith("0x")) t = t.slice(2);
  for (const ch of t) if (ch !== " " && ch !== ":" && ch !== "_") out += ch;
  return out;
}

/** A matcher for one field value written in an expectation. */
function compileFieldValue(
  w: Word,
  text: string,
  col: number,
  vc: ValueContext,
): (actual: FieldValue, env: Env) => boolean {
  if (w.quoted) return (a) => typeof a === "string" ? a === text : false;
  if (text.startsWith("[")) {
    const list = compileRangeList(text, { line: w.line, col }, vc);
    return (a, env) => {
      if (!Array.isArray(a)) return false;
      const e = list(env);
      if (e.length !== a.length) return false;
      for (let i = 0; i < e.length; i++) {
        const x = a[i] as Range;
        if (x.start !== e[i].start || x.end !== e[i].end) return false;
      }
      return true;
    };
  }
  let num: CompiledInt | undefined;
  let numError: ScriptError | undefined;
  try {
    num = compileInt(text, { src: vc.src, line: w.line, col }, {
      resolve: vc.resolve,
      suggest: vc.suggest,
      min: -(1n << 63n),
    });
  } catch (e) {
    // Not a number: it may still be text or bytes. If the field turns out to be a number,
    // the reason is reported then.
    if (!(e instanceof ScriptError)) throw e;
    numError = e;
  }
  const lower = text.toLowerCase();
  // `field=$name` on a text field compares with the variable's text (`let dev = "…"`).
  const textVar = /^\$([A-Za-z_][A-Za-z0-9_]*)$/.exec(text)?.[1];
  return (a, env) => {
    if (typeof a === "string" && textVar !== undefined) {
      const v = env.lookup(textVar);
      if (v === undefined) throw new EvalError(`variable $${textVar} is not set`, col);
      return typeof v === "string" && a === v;
    }
    if (typeof a === "bigint") {
      if (!num) {
        throw new EvalError(
          numError?.message ?? "expected a number",
          numError?.location?.col ?? col,
        );
      }
      return a === evalInt(num, env);
    }
    if (typeof a === "boolean") {
      if (lower === "true" || lower === "on" || lower === "yes") return a;
      if (lower === "false" || lower === "off" || lower === "no") return !a;
      return num ? a === (evalInt(num, env) !== 0n) : false;
    }
    if (a instanceof Uint8Array) return bytesToHex(a) === normHex(text);
    if (typeof a === "string") return a === text;
    if (Array.isArray(a)) return false;
    return false;
  };
}

/** Where `field=` ends in a word (`name="a b"` too), or -1. */
function fieldSplit(w: Word): number {
  const raw = w.raw.indexOf("=");
  if (raw <= 0) return -1;
  const q1 = w.raw.indexOf('"'), q2 = w.raw.indexOf("'");
  const q = Math.min(q1 < 0 ? Infinity : q1, q2 < 0 ? Infinity : q2);
  return raw > q ? -1 : raw;
}

/** The principal value of a successful result; undefined for a failure or a command without one. */
function principalOf(r: ResultRecord): FieldValue | undefined {
  return r.errno === 0 && r.principal !== undefined ? r.fields[r.principal] : undefined;
}

/**
 * The check of a bare value against the principal value. Quoted, or against a principal
 * declared as text, it compares as `field=value` does (text with text: `"1"` is no number,
 * and `TYPE1v2` is the word, not the constant); else it is a number, checked now.
 */
function principalCheck(w: Word, vc: ValueContext, text: boolean): Check {
  if (w.quoted || text) {
    const m = compileFieldValue(w, w.text, w.col, vc);
    return (r, env) => {
      const a = principalOf(r);
      return a !== undefined && m(a, env);
    };
  }
  const num = compileInt(w.text, { src: vc.src, line: w.line, col: w.col }, {
    resolve: vc.resolve,
    suggest: vc.suggest,
  });
  return (r, env) => {
    const a = principalOf(r);
    if (typeof a === "bigint") return a === evalInt(num, env);
    if (typeof a === "boolean") return a === (evalInt(num, env) !== 0n);
    return false;
  };
}

/**
 * The atoms of one expectation seen so far, to refuse what can never all hold (a success
 * with an errno, two different errnos) and what is said twice (a field, the principal value).
 */
class Atoms {
  #errno?: { word: Word; n: number };
  #success?: Word;
  #ok?: Word;
  #principal?: Word;
  readonly #fields = new Set<string>();

  constructor(readonly vc: ValueContext, readonly target?: ExpectTarget) {}

  /** `ok` itself: said twice, it is a slip (as a second value is). */
  ok(w: Word): void {
    if (this.#ok) this.#fail(w, `a second '${w.text}' in one expectation`);
    this.success(w);
    this.#ok = w;
  }

  success(w: Word): void {
    if (this.#errno) this.#never(w, this.#errno.word, "a call either succeeds or fails");
    this.#success ??= w;
  }

  errno(w: Word, n: number): void {
    if (this.#success) this.#never(w, this.#success, "a call either succeeds or fails");
    const before = this.#errno;
    if (before && before.n !== n) this.#never(w, before.word, "a call fails with one errno");
    if (before) {
      const was = before.word.text;
      // The same errno again, or under another name of it (EAGAIN, EWOULDBLOCK).
      this.#fail(
        w,
        was === w.text
          ? `a second '${w.text}' in one expectation`
          : `a second errno '${w.text}' after '${was}' (the same errno) in one expectation`,
      );
    }
    this.#errno = { word: w, n };
  }

  field(w: Word, name: string): void {
    this.success(w);
    if (this.#fields.has(name)) this.#fail(w, `field '${name}' given twice in one expectation`);
    this.#fields.add(name);
  }

  principal(w: Word): void {
    const t = this.target;
    if (t?.principal === "none") {
      this.#fail(
        w,
        `'${t.command}' has no principal value to compare with '${w.text}': use FIELD=VALUE, ok or an errno name`,
      );
    }
    this.success(w);
    if (this.#principal) {
      this.#fail(
        w,
        `a second value '${w.text}' after '${this.#principal.text}' in one expectation`,
      );
    }
    this.#principal = w;
  }

  #never(w: Word, before: Word, why: string): never {
    this.#fail(
      w,
      `'${before.text}' and '${w.text}' cannot both hold: ${why} (an expectation lists what must all hold, not alternatives)`,
    );
  }

  #fail(w: Word, message: string): never {
    throw new ScriptError(message, this.vc.src.at(w.line, w.col));
  }
}

/**
 * Compile the words after `=>`. Every atom must hold: `ok`, an errno name, a value (the
 * principal value), `field=value`. A leading `!` negates the whole expectation.
 *
 * How a bare word is read, in this order: `ok` is success and a word written as an errno
 * name (`E` and capitals: `EINVAL`) is that errno, whatever the command; `field=value` is a
 * field. Any other word is the principal value, which `target` (the command, when known)
 * decides how to compare: a number for most commands; as text, the way `field=WORD` compares
 * a text field, when the principal value is declared as text (`qemu-probe => TYPE1v2`).
 * Quoted, a value is always text: `=> "EINVAL"` and `=> "ok"` compare a text principal with
 * those words. A command without a principal value has no value to compare: a bare value
 * there is refused.
 */
export function compileExpectation(
  ew: ExpectWords,
  vc: ValueContext,
  target?: ExpectTarget,
): CompiledExpectation {
  const words = [...ew.words];
  let negate = false;
  // A `!` outside quotes negates, also before a quoted value (`!"text"`); `"!x"` is text.
  if (words.length > 0 && words[0].raw.startsWith("!")) {
    negate = true;
    const w = words[0];
    if (w.text === "!") words.shift();
    else words[0] = { ...w, text: w.text.slice(1), raw: w.raw.slice(1), col: w.col + 1 };
  }
  if (words.length === 0) {
    throw new ScriptError(
      "expected a result after '!' (ok, an errno name, a number or field=value)",
      vc.src.at(ew.arrow.line, ew.arrow.col),
    );
  }
  const checks: Check[] = [];
  // Every atom must hold at once, so some pairs never can: a line that can only fail (or,
  // negated, only pass) is a mistake, reported before anything runs.
  const seen = new Atoms(vc, target);
  for (const w of words) {
    const t = w.text;
    if (!w.quoted && t.toLowerCase() === "ok") {
      seen.ok(w);
      checks.push((r) => r.errno === 0);
      continue;
    }
    const eq = fieldSplit(w);
    if (eq > 0) {
      const field = t.slice(0, eq);
      seen.field(w, field);
      const valueQuoted = w.quoted && w.raw.indexOf("=") === eq;
      const vw = { ...w, quoted: valueQuoted };
      const m = compileFieldValue(vw, t.slice(eq + 1), w.col + eq + 1, vc);
      checks.push((r, env) => {
        if (r.errno !== 0) return false;
        const a = recordField(r, field);
        return a !== undefined && m(a, env);
      });
      continue;
    }
    if (!w.quoted && t.length > 1 && t[0] === "E" && t.toUpperCase() === t) {
      const n = errnoNumber(t);
      if (n === undefined) {
        // `EINVAL|EPERM` reads like a choice: say there is none.
        const choice = t.includes("|") && t.split("|").every((e) => errnoNumber(e) !== undefined);
        throw new ScriptError(
          choice
            ? `'${t}': an expectation names one errno, not alternatives`
            : `unknown errno name '${t}' (expected e.g. ENOENT, EINVAL)`,
          vc.src.at(w.line, w.col),
        );
      }
      seen.errno(w, n);
      checks.push((r) => r.errno === n);
      continue;
    }
    seen.principal(w);
    checks.push(principalCheck(w, vc, target?.principal === "text"));
  }
  return {
    text: ew.text,
    check(r, env) {
      // An indexed loop: this runs once per command, often before V8 has optimised it, and
      // a for-of pays for the iterator then.
      let held = true;
      for (let i = 0; i < checks.length; i++) {
        if (!checks[i](r, env)) {
          held = false;
          break;
        }
      }
      return negate ? !held : held;
    },
  };
}

/** A compiled `expect FIELD OP VALUE`. */
export interface CompiledExpect {
  readonly text: string;
  /** Check `$last`: whether it holds, and the actual value as text. */
  check(last: ResultRecord | undefined, env: Env): { held: boolean; actual: string };
  /** Whether it holds for `$last` (what {@link check} says, without the text). */
  holds(last: ResultRecord | undefined, env: Env): boolean;
}

function show(v: FieldValue | undefined): string {
  if (v === undefined) return "(no such field)";
  if (typeof v === "bigint") return v < 0n ? v.toString() : "0x" + v.toString(16);
  if (typeof v === "boolean" || typeof v === "string") return String(v);
  if (v instanceof Uint8Array) return bytesToHex(v);
  if (v.length > 0 && "start" in v[0]) return formatRanges(v as Range[]);
  return `(${v.length} rows)`;
}

/** Compile an `expect` statement. */
export function compileExpect(s: ExpectStmt, vc: ValueContext): CompiledExpect {
  let field = s.field.text;
  if (field.startsWith("$last.")) field = field.slice(6);
  const vw = s.value;
  const text = vw.map((w) => w.text).join(" ");
  const first = vw[0];
  let eqCheck: ((a: FieldValue, env: Env) => boolean) | undefined;
  let num: CompiledInt | undefined;
  if (s.op === "==" || s.op === "!=") {
    eqCheck = compileFieldValue({ ...first, text }, text, first.col, vc);
  } else {
    num = compileInt(text, { src: vc.src, line: first.line, col: first.col }, {
      resolve: vc.resolve,
      suggest: vc.suggest,
      min: -(1n << 63n),
    });
  }
  const op = s.op;
  const holds = (last: ResultRecord | undefined, env: Env): boolean => {
    if (!last) return false;
    const a = recordField(last, field);
    if (a === undefined) return false;
    if (eqCheck) {
      const eq = eqCheck(a, env);
      return op === "==" ? eq : !eq;
    }
    if (typeof a !== "bigint") return false;
    const b = evalInt(num!, env);
    return op === "<" ? a < b : op === "<=" ? a <= b : op === ">" ? a > b : a >= b;
  };
  return {
    text: s.text,
    holds,
    check(last, env) {
      // Shell commands (echo, help, vars…) leave $last alone: one may have run.
      if (!last) return { held: false, actual: "(no result yet: nothing has set $last)" };
      return { held: holds(last, env), actual: show(recordField(last, field)) };
    },
  };
}

export { EvalError };
