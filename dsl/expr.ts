/**
 * Integer expressions inside one word: literals in every base and size, symbolic constants,
 * errno names, variables (`$buf`, `$last.iova`), `+ - * /` (and `|` for flags) with
 * parentheses: `$buf+0x1000`, `(2M*3)`, `READ|WRITE`.
 *
 * An expression is compiled once into a {@link CompiledInt}: a constant when it has no
 * variable (folded, checked at compile time) or a closure that reads the environment.
 *
 * @module
 */

import { literalValue, scanInteger, U64_MAX } from "./number.ts";
import { ScriptError, type SourceText } from "./source.ts";
import { type Env, isRecord, recordField, typeName, type Value } from "./values.ts";

/** A compiled integer: a constant, or a function of the environment. */
export type CompiledInt =
  | { readonly constant: bigint; readonly run?: undefined }
  | { readonly constant?: undefined; readonly run: (env: Env) => bigint };

/** Resolves a bare name (a constant or errno name) to its value, or undefined. */
export type NameResolver = (name: string) => bigint | undefined;

/** Suggests names close to an unknown one, for "did you mean". */
export type NameSuggester = (name: string) => string[];

/** Where a word sits in its source, so errors point at the right column. */
export interface WordPos {
  readonly src: SourceText;
  readonly line: number;
  readonly col: number;
}

type Node =
  | { k: "num"; v: bigint; at: number }
  | { k: "var"; name: string; path: string[]; at: number }
  | { k: "neg"; e: Node; at: number }
  | { k: "bin"; op: string; l: Node; r: Node; at: number };

/** An error raised at run time by compiled code; the runner adds the location. */
export class EvalError extends Error {
  /** Column (1-based, in the source line) the error points at. */
  readonly col: number;
  constructor(message: string, col: number) {
    super(message);
    this.name = "EvalError";
    this.col = col;
  }
}

function isIdentStart(c: number): boolean {
  return (c >= 65 && c <= 90) || (c >= 97 && c <= 122) || c === 95;
}
function isIdentChar(c: number): boolean {
  return isIdentStart(c) || (c >= 48 && c <= 57);
}

/**
 * How deep `(` and unary `-` may nest, and how many binary operators one value may hold.
 * Far past anything written by hand; they keep parsing and compiling (both recursive) off
 * the end of the stack, so a generated or corrupted line gets an error, not a crash.
 */
const MAX_NESTING = 64;
const MAX_OPERATORS = 1000;

class Parser {
  i = 0;
  /** Open `(` and `-` around the current position. */
  nesting = 0;
  operators = 0;
  constructor(
    readonly text: string,
    readonly pos: WordPos,
    readonly resolve: NameResolver,
    readonly suggest?: NameSuggester,
  ) {}

  err(message: string, at: number): never {
    throw new ScriptError(message, this.pos.src.at(this.pos.line, this.pos.col + at));
  }
  /** Count a binary operator at `at`. */
  operator(at: number): void {
    if (++this.operators > MAX_OPERATORS) {
      this.err(`value too long: more than ${MAX_OPERATORS} operators`, at);
    }
  }
  /** Enter a `(` or a `-` at `at`; {@link nesting} goes down again when it is parsed. */
  nest(at: number): void {
    if (++this.nesting > MAX_NESTING) {
      this.err(`value nested too deeply: more than ${MAX_NESTING} levels of '(' and '-'`, at);
    }
  }
  skip(): void {
    while (this.i < this.text.length) {
      const c = this.text.charCodeAt(this.i);
      if (c !== 32 && c !== 9) break;
      this.i++;
    }
  }
  peek(): string {
    this.skip();
    return this.text[this.i] ?? "";
  }
  parseAll(): Node {
    const e = this.or();
    this.skip();
    if (this.i < this.text.length) {
      const ch = this.text[this.i];
      this.err(
        ch === ")"
          ? "unbalanced ')'"
          : `unexpected '${ch}': expected an operator (+ - * / |) or the end of the value`,
        this.i,
      );
    }
    return e;
  }
  or(): Node {
    let l = this.sum();
    while (this.peek() === "|") {
      const at = this.i++;
      this.operator(at);
      l = { k: "bin", op: "|", l, r: this.sum(), at };
    }
    return l;
  }
  sum(): Node {
    let l = this.term();
    for (;;) {
      const p = this.peek();
      if (p !== "+" && p !== "-") return l;
      const at = this.i++;
      this.operator(at);
      l = { k: "bin", op: p, l, r: this.term(), at };
    }
  }
  term(): Node {
    let l = this.unary();
    for (;;) {
      const p = this.peek();
      if (p !== "*" && p !== "/") return l;
      const at = this.i++;
      this.operator(at);
      l = { k: "bin", op: p, l, r: this.unary(), at };
    }
  }
  unary(): Node {
    if (this.peek() === "-") {
      const at = this.i++;
      this.nest(at);
      const e = this.unary();
      this.nesting--;
      return { k: "neg", e, at };
    }
    return this.primary();
  }
  primary(): Node {
    this.skip();
    const t = this.text;
    const at = this.i;
    if (at >= t.length) this.err("expected a number, a name or a $variable", at);
    const c = t.charCodeAt(at);
    if (c >= 48 && c <= 57) {
      const r = scanInteger(t, at);
      if (!r.ok) this.err(r.message, r.at);
      this.i = r.end;
      return { k: "num", v: r.value, at };
    }
    if (c === 40) {
      this.nest(this.i++);
      const e = this.or();
      if (this.peek() !== ")") this.err("expected ')'", this.i);
      this.i++;
      this.nesting--;
      return e;
    }
    if (c === 36) {
      this.i++;
      const name = this.ident();
      if (name === "") this.err("expected a variable name after '$'", this.i);
      const path: string[] = [];
      while (t[this.i] === ".") {
        this.i++;
        const f = this.ident();
        if (f === "") this.err("expected a field name after '.'", this.i);
        path.push(f);
      }
      return { k: "var", name, path, at };
    }
    if (isIdentStart(c)) {
      const name = this.ident();
      const v = this.resolve(name);
      if (v === undefined) {
        const s = this.suggest?.(name) ?? [];
        this.err(
          `unknown name '${name}': expected a number, a $variable or a constant` +
            (s.length ? ` (did you mean ${s.join(", ")}?)` : ""),
          at,
        );
      }
      return { k: "num", v, at };
    }
    this.err(`unexpected '${t[at]}': expected a number, a name or a $variable`, at);
  }
  ident(): string {
    const start = this.i;
    while (this.i < this.text.length && isIdentChar(this.text.charCodeAt(this.i))) this.i++;
    return this.text.slice(start, this.i);
  }
}

/** Read variable `name` (and a field path) as an integer, for compiled closures. */
export function readIntVar(env: Env, name: string, path: readonly string[], col: number): bigint {
  let v: Value | undefined = env.lookup(name);
  if (typeof v === "bigint" && path.length === 0) return v;
  if (v === undefined) throw new EvalError(`variable $${name} is not set`, col);
  let shown = "$" + name;
  for (const f of path) {
    if (!isRecord(v)) throw new EvalError(`${shown} is a ${typeName(v)}, it has no fields`, col);
    const next = recordField(v, f);
    if (next === undefined) {
      const names = Object.keys(v.fields);
      throw new EvalError(
        `${shown} has no field '${f}'` +
          (names.length ? ` (fields: ${names.join(", ")}, errno, ok)` : " (fields: errno, ok)"),
        col,
      );
    }
    v = next;
    shown += "." + f;
  }
  if (typeof v === "bigint") return v;
  if (typeof v === "boolean") return v ? 1n : 0n;
  if (isRecord(v) && v.principal !== undefined) {
    const p = v.fields[v.principal];
    if (typeof p === "bigint") return p;
  }
  throw new EvalError(`${shown} is a ${typeName(v)}, expected a number`, col);
}

function compileNode(n: Node, base: number): CompiledInt {
  switch (n.k) {
    case "num":
      return { constant: n.v };
    case "var": {
      const { name, path } = n;
      const col = base + n.at;
      return { run: (env) => readIntVar(env, name, path, col) };
    }
    case "neg": {
      const e = compileNode(n.e, base);
      if (e.constant !== undefined) return { constant: -e.constant };
      const f = e.run;
      return { run: (env) => -f(env) };
    }
    case "bin": {
      const l = compileNode(n.l, base);
      const r = compileNode(n.r, base);
      const col = base + n.at;
      const op = n.op;
      const apply = (a: bigint, b: bigint): bigint => {
        switch (op) {
          case "+":
            return a + b;
          case "-":
            return a - b;
          case "*":
            return a * b;
          case "/":
            if (b === 0n) throw new EvalError("division by zero", col);
            return a / b;
          default:
            return a | b;
        }
      };
      if (l.constant !== undefined && r.constant !== undefined) {
        return { constant: apply(l.constant, r.constant) };
      }
      const lf = l.run ?? (() => l.constant as bigint);
      const rf = r.run ?? (() => r.constant as bigint);
      return { run: (env) => apply(lf(env), rf(env)) };
    }
  }
}

/** Options of {@link compileInt}. */
export interface CompileIntOptions {
  /** Resolves bare names (constants, errno names). */
  resolve: NameResolver;
  /** Suggests close names for an unknown one. */
  suggest?: NameSuggester;
  /** Smallest accepted result (default 0). */
  min?: bigint;
  /** Largest accepted result (default 2^64 − 1). */
  max?: bigint;
}

/**
 * Compile `text` (one word at `pos`) into an integer. Constant expressions are folded and
 * range-checked now (a ScriptError with column); expressions with variables are checked
 * each time they run (an {@link EvalError} with column).
 */
export function compileInt(text: string, pos: WordPos, options: CompileIntOptions): CompiledInt {
  const min = options.min ?? 0n;
  const max = options.max ?? U64_MAX;
  // The common case, a word that is one literal (`0x100000`, `4K`), needs no parser.
  const lit = literalValue(text);
  if (lit !== undefined && lit >= min && lit <= max) return { constant: lit };
  const p = new Parser(text, pos, options.resolve, options.suggest);
  const node = p.parseAll();
  let c: CompiledInt;
  try {
    c = compileNode(node, pos.col);
  } catch (e) {
    // Folding constants evaluates them now (`1/0`): their errors are the script's, found early.
    if (e instanceof EvalError) throw new ScriptError(e.message, pos.src.at(pos.line, e.col));
    throw e;
  }
  const describe = () =>
    max === U64_MAX && min === 0n
      ? "does not fit 64 bits (0 … 0xffffffffffffffff)"
      : `is out of range (${min} … 0x${max.toString(16)})`;
  if (c.constant !== undefined) {
    if (c.constant < min || c.constant > max) {
      throw new ScriptError(
        `value ${c.constant < 0n ? c.constant : "0x" + c.constant.toString(16)} ${describe()}`,
        pos.src.at(pos.line, pos.col),
      );
    }
    return c;
  }
  const f = c.run;
  const col = pos.col;
  return {
    run: (env) => {
      const v = f(env);
      if (v < min || v > max) {
        throw new EvalError(`value ${v < 0n ? v : "0x" + v.toString(16)} ${describe()}`, col);
      }
      return v;
    },
  };
}
