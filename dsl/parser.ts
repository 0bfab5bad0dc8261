/**
 * The parser: turns the lexer's statements into the language's statement forms.
 *
 * ```
 * COMMAND WORD…            [=> EXPECTATION…]
 * let NAME = COMMAND WORD… [=> EXPECTATION…]
 * let NAME = EXPR
 * expect FIELD OP VALUE          (OP: == != < <= > >=)
 * ```
 *
 * Which words name a command, and what each argument means, is decided by the shell's
 * command registry when the statement is compiled; the parser only finds the structure.
 *
 * @module
 */

import { type KnownSpan, type KnownStatement, Lexer, type LexItem, type Word } from "./lexer.ts";
import { ScriptError, SourceText } from "./source.ts";
import { NAME_PATTERN, NAME_RULE } from "./values.ts";

/** A command with its argument words and an optional expectation. */
export interface CommandStmt {
  readonly kind: "command";
  /** Command name and argument words. */
  readonly words: Word[];
  /** Words after `=>`, if the statement has an expectation. */
  readonly expect?: ExpectWords;
  /** The statement as written. */
  readonly text: string;
  readonly line: number;
  /** Column of the statement's first word. */
  readonly col: number;
  /** The statement's text is verbatim source (see `Statement.verbatim` in lexer.ts). */
  readonly verbatim: boolean;
}

/** `let NAME = …`: a command whose principal value is bound, or an expression. */
export interface LetStmt {
  readonly kind: "let";
  readonly name: Word;
  /** Words after `=` (before any `=>`). */
  readonly words: Word[];
  readonly expect?: ExpectWords;
  readonly text: string;
  readonly line: number;
  /** Column of the statement's first word. */
  readonly col: number;
  /** The statement's text is verbatim source (see `Statement.verbatim` in lexer.ts). */
  readonly verbatim: boolean;
}

/** `expect FIELD OP VALUE` against `$last`. */
export interface ExpectStmt {
  readonly kind: "expect";
  readonly field: Word;
  readonly op: "==" | "!=" | "<" | "<=" | ">" | ">=";
  readonly opWord: Word;
  readonly value: Word[];
  readonly text: string;
  readonly line: number;
  /** Column of the statement's first word. */
  readonly col: number;
  /** The statement's text is verbatim source (see `Statement.verbatim` in lexer.ts). */
  readonly verbatim: boolean;
}

/** A whole-line comment, kept for transcripts. */
export interface CommentStmt {
  readonly kind: "comment";
  readonly text: string;
  readonly line: number;
}

/** The words of an expectation: everything after `=>`. */
export interface ExpectWords {
  /** The `=>` word itself (for its column). */
  readonly arrow: Word;
  readonly words: Word[];
  /** The expectation as written, after `=>`. */
  readonly text: string;
}

/** One parsed statement. */
export type Stmt = CommandStmt | LetStmt | ExpectStmt | CommentStmt;

/** A parsed script: its source (for error display) and statements in order. */
export interface Script {
  readonly source: SourceText;
  readonly statements: Stmt[];
}

const OPS = new Set(["==", "!=", "<", "<=", ">", ">="]);

/** A word made from part of another (for `=>0`, `let a=1`): same line, shifted column. */
function sub(w: Word, from: number, text: string): Word {
  return { text, raw: text, quoted: false, line: w.line, col: w.col + from };
}

/** Split the statement's words at the first unquoted `=>` (which may be glued: `=>0`). */
function splitArrow(words: Word[]): [Word[], ExpectWords | undefined] {
  for (let k = 0; k < words.length; k++) {
    const w = words[k];
    if (w.quoted || !w.text.startsWith("=>")) continue;
    const arrow = sub(w, 0, "=>");
    const rest = words.slice(k + 1);
    if (w.text.length > 2) rest.unshift(sub(w, 2, w.text.slice(2)));
    const text = rest.map((r) => r.raw).join(" ");
    return [words.slice(0, k), { arrow, words: rest, text }];
  }
  return [words, undefined];
}

/**
 * Parse `text` as a script named `file`. Throws a {@link ScriptError} (file:line:col, the
 * line, a caret, what was expected) for the first syntax error.
 */
export function parse(text: string, file: string): Script {
  const source = new SourceText(file, text);
  const statements: Stmt[] = [];
  const reader = new StatementReader(source);
  for (let st = reader.next(); st !== undefined; st = reader.next()) statements.push(st);
  return { source, statements };
}

/**
 * The parser as a cursor over a source: {@link StatementReader.next} returns one statement
 * at a time (so a long script can be compiled as it is read), and throws a
 * {@link ScriptError} for a syntax error, as {@link parse} does.
 */
export class StatementReader {
  /** The source being read. */
  readonly source: SourceText;
  readonly #lexer: Lexer;

  constructor(source: SourceText) {
    this.source = source;
    this.#lexer = new Lexer(source);
  }

  /**
   * The next statement, or undefined at the end of the source. Statements for which
   * `known` answers true are passed over (see {@link Lexer.next}): a statement written
   * exactly the same way parses the same way, so this is for callers that already hold
   * what such a statement gives.
   */
  next(known?: KnownStatement): Stmt | undefined {
    return this.#parsed(this.#lexer.next(known));
  }

  /** {@link next}, with `known` asked about statements as spans of the source. */
  nextInPlace(known: KnownSpan): Stmt | undefined {
    return this.#parsed(this.#lexer.next(known, true));
  }

  #parsed(item: LexItem | undefined): Stmt | undefined {
    if (item === undefined) return undefined;
    try {
      return parseItem(item, this.source);
    } catch (e) {
      // As when the whole source is lexed first: a lexer error further on wins.
      while (this.#lexer.next() !== undefined) { /* to the end */ }
      throw e;
    }
  }
}

function parseItem(item: LexItem, source: SourceText): Stmt {
  if (item.kind === "comment") return { kind: "comment", text: item.text, line: item.line };
  const at = (w: Word) => source.at(w.line, w.col);
  const first = item.words[0];
  if (!first.quoted && first.text === "let") {
    let words = item.words.slice(1);
    if (words.length === 0) {
      throw new ScriptError("expected a name after 'let' (let NAME = …)", at(first));
    }
    // Accept `let a = x`, `let a=x`, `let a =x`, `let a= x`.
    const nw = words[0];
    const eq = nw.text.indexOf("=");
    let name = nw;
    if (eq >= 0) {
      name = sub(nw, 0, nw.text.slice(0, eq));
      const rest = nw.text.slice(eq + 1);
      words = [sub(nw, eq, "="), ...(rest ? [sub(nw, eq + 1, rest)] : []), ...words.slice(1)];
    } else {
      words = words.slice(1);
    }
    if (!NAME_PATTERN.test(name.text)) {
      throw new ScriptError(
        `bad variable name '${name.text}': ${NAME_RULE}`,
        at(name),
      );
    }
    if (name.text === "last") {
      throw new ScriptError("$last is set by every command; choose another name", at(name));
    }
    const eqw = words[0];
    if (!eqw || eqw.quoted || !eqw.text.startsWith("=") || eqw.text.startsWith("=>")) {
      throw new ScriptError(
        `expected '=' after 'let ${name.text}'`,
        eqw ? at(eqw) : source.at(name.line, name.col + name.text.length),
      );
    }
    const rhs = words.slice(1);
    if (eqw.text.length > 1) rhs.unshift(sub(eqw, 1, eqw.text.slice(1)));
    const [cmd, expect] = splitArrow(rhs);
    if (cmd.length === 0) {
      throw new ScriptError(
        `expected a command or a value after 'let ${name.text} ='`,
        source.at(eqw.line, eqw.col + 1),
      );
    }
    return {
      kind: "let",
      name,
      words: cmd,
      expect,
      text: item.text,
      line: item.line,
      col: item.col,
      verbatim: item.verbatim,
    };
  }
  if (!first.quoted && first.text === "expect") {
    const [field, opWord, ...value] = item.words.slice(1);
    const usage = "expected: expect FIELD OP VALUE (OP is == != < <= > >=)";
    if (!field) throw new ScriptError(usage, source.at(first.line, first.col + 6));
    if (!opWord || !OPS.has(opWord.text)) {
      throw new ScriptError(
        opWord ? `unknown operator '${opWord.text}': ${usage}` : usage,
        opWord ? at(opWord) : source.at(field.line, field.col + field.raw.length),
      );
    }
    if (value.length === 0) {
      throw new ScriptError(usage, source.at(opWord.line, opWord.col + opWord.raw.length));
    }
    return {
      kind: "expect",
      field,
      op: opWord.text as ExpectStmt["op"],
      opWord,
      value,
      text: item.text,
      line: item.line,
      col: item.col,
      verbatim: item.verbatim,
    };
  }
  const [cmd, expect] = splitArrow(item.words);
  if (cmd.length === 0) {
    throw new ScriptError("expected a command before '=>'", at(item.words[0]));
  }
  if (expect && expect.words.length === 0) {
    throw new ScriptError(
      "expected a result after '=>' (ok, an errno name, a number or field=value)",
      source.at(expect.arrow.line, expect.arrow.col + 2),
    );
  }
  return {
    kind: "command",
    words: cmd,
    expect,
    text: item.text,
    line: item.line,
    col: item.col,
    verbatim: item.verbatim,
  };
}
