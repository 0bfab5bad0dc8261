/**
 * The lexer: splits a script (or one typed line) into statements of words, in one pass over
 * the characters, with no regular expressions.
 *
 * - whitespace separates words; `;` and a newline end a statement;
 * - `#` outside quotes starts a comment that runs to the end of the line;
 * - a trailing `\` joins the next line;
 * - `"…"` (with `\"`, `\\`, `\n`, `\t`, `\xNN` escapes) and `'…'` (literal) quote a word;
 * - inside parentheses whitespace does not split, so `($a + 0x1000)` is one word.
 *
 * What a word means (number, constant, path, range…) is decided later by the command that
 * receives it, so the lexer knows nothing about values.
 *
 * @module
 */

import { ScriptError, type SourceText } from "./source.ts";

/** One word of a statement. */
export interface Word {
  /** The word with quotes removed and escapes resolved. */
  readonly text: string;
  /** The word as written (quotes included), for echoing a statement back. */
  readonly raw: string;
  /** Whether any part of it was quoted (a quoted word is never a number or `=>`). */
  readonly quoted: boolean;
  /** 1-based line of its first character. */
  readonly line: number;
  /** 1-based column of its first character. */
  readonly col: number;
}

/** One statement: the words between two separators. */
export interface Statement {
  readonly kind: "statement";
  readonly words: Word[];
  /** Line of the first word. */
  readonly line: number;
  /** The statement as written, words joined by one space (continuations folded). */
  readonly text: string;
  /** Column of the first word. */
  readonly col: number;
  /**
   * Whether `text` is exactly the source from `line:col` on (one line, one space between
   * words): then the text and column determine every word, and its compiled form can be
   * shared with every other such statement.
   */
  readonly verbatim: boolean;
}

/** A line that holds only a comment (kept so a transcript can show it). */
export interface CommentLine {
  readonly kind: "comment";
  /** The comment with its `#`. */
  readonly text: string;
  readonly line: number;
}

/** What {@link lex} produces, in source order. */
export type LexItem = Statement | CommentLine;

const SPACE = 32, TAB = 9, NL = 10, CR = 13, HASH = 35, SEMI = 59, BSLASH = 92;
const DQUOTE = 34, SQUOTE = 39, LPAREN = 40, RPAREN = 41;

function hexDigit(c: number): number {
  if (c >= 48 && c <= 57) return c - 48;
  if (c >= 97 && c <= 102) return c - 87;
  if (c >= 65 && c <= 70) return c - 55;
  return -1;
}

/**
 * Split `src` into statements and comment lines. Throws a {@link ScriptError} (with
 * file:line:col) for an unterminated quote, a bad escape or unbalanced parentheses.
 */
export function lex(src: SourceText): LexItem[] {
  const items: LexItem[] = [];
  const lexer = new Lexer(src);
  for (let item = lexer.next(); item !== undefined; item = lexer.next()) items.push(item);
  return items;
}

/**
 * Says whether a statement is already known by its text, column and line (see
 * {@link Lexer.next}): a known statement is passed over without building its words.
 */
export type KnownStatement = (text: string, col: number, line: number) => boolean;

/**
 * {@link KnownStatement} for a statement not cut out of the source yet: its text is
 * `source.slice(start, end)`. A caller that mostly meets statements it knows can look them
 * up in place (no string is made for each).
 *
 * It is also asked about whole lines before their words are found (see
 * {@link Lexer.next}): a line that starts at column 1, is no comment and does not end in a
 * blank, `\r` or `\`, which may not be one verbatim statement. It must answer true only for
 * a line that is exactly such a statement: one it was asked about before (and so knows), or
 * one of a form that cannot be anything else (`let NAME = 0x1000`).
 */
export type KnownSpan = (
  source: string,
  start: number,
  end: number,
  col: number,
  line: number,
) => boolean;

/**
 * The lexer as a cursor: {@link Lexer.next} returns one statement or comment line at a time,
 * so a long script can be compiled as it is read, without holding every word of it. Words
 * are found as offsets first and become {@link Word} objects only when a statement is
 * returned.
 */
export class Lexer {
  readonly #src: SourceText;
  readonly #t: string;
  #i = 0;
  #line = 1;
  #lineStart = 0;
  /** Any word (or separator) on the current physical line. */
  #lineHasWord = false;
  // The words of the statement being read: offsets, line, line start, unquoted text (only
  // for words with quotes). Reused from statement to statement.
  readonly #starts: number[] = [];
  readonly #ends: number[] = [];
  readonly #lines: number[] = [];
  readonly #lineStarts: number[] = [];
  readonly #texts: (string | undefined)[] = [];
  /** The comment line #scan found. */
  #comment: CommentLine | undefined;

  constructor(src: SourceText) {
    this.#src = src;
    this.#t = src.text;
  }

  /**
   * The next statement or whole-line comment, or undefined at the end. A verbatim statement
   * (see {@link Statement.verbatim}) without quotes for which `known` answers true is passed
   * over: the lexer goes on to the one after it. With `inPlace`, `known` is a
   * {@link KnownSpan} and gets the statement as a span of the source (and a line as a whole
   * first, see there).
   */
  next(known?: KnownStatement | KnownSpan, inPlace = false): LexItem | undefined {
    for (;;) {
      if (inPlace && known !== undefined && this.#knownLine(known as KnownSpan)) continue;
      const n = this.#scan();
      if (n < 0) return this.#comment;
      if (n === 0) return undefined;
      const starts = this.#starts, ends = this.#ends, t = this.#t;
      const first = starts[0], last = ends[n - 1];
      // Verbatim: one line, one space between words.
      let verbatim = this.#lines[0] === this.#lines[n - 1];
      let quotes = this.#texts[0] !== undefined;
      for (let k = 1; k < n; k++) {
        if (starts[k] !== ends[k - 1] + 1 || t.charCodeAt(ends[k - 1]) !== SPACE) verbatim = false;
        if (this.#texts[k] !== undefined) quotes = true;
      }
      const line = this.#lines[0];
      const col = first - this.#lineStarts[0] + 1;
      if (verbatim) {
        if (!quotes && known !== undefined) {
          if (inPlace) {
            if ((known as KnownSpan)(t, first, last, col, line)) continue;
          } else if ((known as KnownStatement)(t.slice(first, last), col, line)) continue;
        }
        const text = t.slice(first, last);
        return { kind: "statement", words: this.#words(n), line, text, col, verbatim };
      }
      const words = this.#words(n);
      let text = words[0].raw;
      for (let k = 1; k < n; k++) text += " " + words[k].raw;
      return { kind: "statement", words, line, text, col, verbatim };
    }
  }

  /**
   * Whether the line ahead is a known statement as a whole, and then pass over it. Most lines
   * of a long script are statements seen before: asking about the line at once spares
   * finding its words first. Words are found as usual for any other line.
   */
  #knownLine(known: KnownSpan): boolean {
    const t = this.#t;
    let i = this.#i;
    if (t.charCodeAt(i) === NL) {
      // The newline that ended the previous statement, taken as #scan would take it.
      this.#i = ++i;
      this.#line++;
      this.#lineStart = i;
      this.#lineHasWord = false;
    }
    if (i !== this.#lineStart || i >= t.length) return false;
    let end = t.indexOf("\n", i);
    if (end < 0) end = t.length;
    if (end === i) return false;
    // Column 1, and no blank or `\` at the end: then a line that is a statement's text
    // exactly is lexed as that statement (a `\` at its end would join the next line). A
    // comment line is no statement: it is not asked about.
    const first = t.charCodeAt(i), last = t.charCodeAt(end - 1);
    if (first === SPACE || first === TAB || first === HASH) return false;
    if (last === SPACE || last === TAB || last === CR || last === BSLASH) return false;
    if (!known(t, i, end, 1, this.#line)) return false;
    this.#i = end;
    this.#lineHasWord = true;
    return true;
  }

  #words(n: number): Word[] {
    const t = this.#t;
    const words = new Array<Word>(n);
    for (let k = 0; k < n; k++) {
      const start = this.#starts[k];
      const raw = t.slice(start, this.#ends[k]);
      const text = this.#texts[k];
      words[k] = {
        text: text ?? raw,
        raw,
        quoted: text !== undefined,
        line: this.#lines[k],
        col: start - this.#lineStarts[k] + 1,
      };
    }
    return words;
  }

  /**
   * Find the next item: the number of words of the next statement (0 at the end), or -1
   * for a whole-line comment (then in #comment).
   */
  #scan(): number {
    const src = this.#src;
    const t = this.#t;
    const n = t.length;
    let i = this.#i;
    let count = 0;
    while (i < n) {
      const c = t.charCodeAt(i);
      if (c === SPACE || c === TAB || c === CR) {
        i++;
        continue;
      }
      if (c === NL) {
        if (count > 0) break;
        i++;
        this.#line++;
        this.#lineStart = i;
        this.#lineHasWord = false;
        continue;
      }
      if (c === SEMI) {
        this.#lineHasWord = true;
        i++;
        if (count > 0) break;
        continue;
      }
      if (c === HASH) {
        const start = i;
        while (i < n && t.charCodeAt(i) !== NL) i++;
        if (!this.#lineHasWord && count === 0) {
          let end = i;
          if (end > start && t.charCodeAt(end - 1) === CR) end--;
          this.#i = i;
          this.#comment = { kind: "comment", text: t.slice(start, end), line: this.#line };
          return -1;
        }
        continue;
      }
      if (c === BSLASH && isContinuation(t, i)) {
        // `\` then optional blanks then a newline: join the next line.
        i++;
        while (i < n && t.charCodeAt(i) !== NL) i++;
        i++;
        this.#line++;
        this.#lineStart = i;
        continue;
      }
      // A word.
      this.#lineHasWord = true;
      const line = this.#line;
      const lineStart = this.#lineStart;
      const start = i;
      let text: string | undefined; // set once a quote is seen
      let depth = 0;
      let depthCol = 0;
      let seg = i; // start of the unquoted run not yet added to `text`
      while (i < n) {
        const d = t.charCodeAt(i);
        if (d === NL || d === CR) {
          if (depth > 0) {
            throw new ScriptError(
              "unbalanced '(': expected ')' before the end of the line",
              src.at(line, depthCol),
            );
          }
          break;
        }
        if (depth === 0 && (d === SPACE || d === TAB || d === SEMI || d === HASH)) break;
        if (d === BSLASH && isContinuation(t, i)) break;
        if (d === LPAREN) {
          if (depth === 0) depthCol = i - lineStart + 1;
          depth++;
        } else if (d === RPAREN) {
          if (depth === 0) {
            throw new ScriptError(
              "unbalanced ')': no '(' before it",
              src.at(line, i - lineStart + 1),
            );
          }
          depth--;
        } else if (d === DQUOTE || d === SQUOTE) {
          let acc = (text ?? "") + t.slice(seg, i);
          i = quotedString(src, t, i, line, i - lineStart + 1, (part) => {
            acc += part;
          });
          text = acc;
          seg = i;
          continue;
        }
        i++;
      }
      if (depth > 0) {
        throw new ScriptError(
          "unbalanced '(': expected ')' before the end of the line",
          src.at(line, depthCol),
        );
      }
      this.#starts[count] = start;
      this.#ends[count] = i;
      this.#lines[count] = line;
      this.#lineStarts[count] = lineStart;
      this.#texts[count] = text === undefined ? undefined : text + t.slice(seg, i);
      count++;
    }
    this.#i = i;
    return count;
  }
}

/** Read the quoted string starting at `i` (its quote); returns the index after it. */
function quotedString(
  src: SourceText,
  t: string,
  i: number,
  line: number,
  qCol: number,
  add: (part: string) => void,
): number {
  const n = t.length;
  const d = t.charCodeAt(i);
  const lineStartCol = i - qCol + 1;
  const colOf = (at: number) => at - lineStartCol + 1;
  i++;
  let seg = i;
  while (i < n) {
    const e = t.charCodeAt(i);
    if (e === d) {
      add(t.slice(seg, i));
      return i + 1;
    }
    if (e === NL) break;
    if (e === BSLASH && d === DQUOTE && i + 1 < n) {
      add(t.slice(seg, i));
      const f = t[i + 1];
      if (f === "n") add("\n");
      else if (f === "t") add("\t");
      else if (f === "\\" || f === '"' || f === "'" || f === "$") add(f);
      else if (f === "x") {
        const h1 = hexDigit(t.charCodeAt(i + 2));
        const h2 = hexDigit(t.charCodeAt(i + 3));
        if (h1 < 0 || h2 < 0) {
          throw new ScriptError(
            "bad escape: expected two hex digits after \\x",
            src.at(line, colOf(i)),
          );
        }
        add(String.fromCharCode(h1 * 16 + h2));
        i += 2;
      } else {
        throw new ScriptError(
          `bad escape '\\${f}': expected one of \\n \\t \\\\ \\" \\xNN`,
          src.at(line, colOf(i)),
        );
      }
      i += 2;
      seg = i;
      continue;
    }
    i++;
  }
  throw new ScriptError(
    `unterminated string: expected a closing ${d === DQUOTE ? '"' : "'"}`,
    src.at(line, qCol),
  );
}

/**
 * Whether the physical line `line` ends in a continuation: a `\` outside quotes and
 * comments with only blanks after it, which joins the next line to it (as in a script). The
 * REPL asks this to wait for the rest of a statement typed over several lines.
 */
export function endsInContinuation(line: string): boolean {
  let last = -1; // index of the last `\` that could continue the line
  for (let i = 0; i < line.length; i++) {
    const c = line.charCodeAt(i);
    if (c === HASH) return false; // a comment runs to the end of the line
    if (c === DQUOTE || c === SQUOTE) {
      // Skip the string; an unterminated one is the lexer's error to report.
      for (i++; i < line.length && line.charCodeAt(i) !== c; i++) {
        if (c === DQUOTE && line.charCodeAt(i) === BSLASH) i++;
      }
      last = -1;
      continue;
    }
    if (c === BSLASH) last = i;
    else if (c !== SPACE && c !== TAB && c !== CR) last = -1;
  }
  return last >= 0;
}

/**
 * Whether the `\` at `i` continues its line: only blanks follow it before the newline, or
 * before the end of the text (a file whose last line ends in `\` without a newline, as
 * {@link endsInContinuation} sees a typed line).
 */
function isContinuation(t: string, i: number): boolean {
  for (let j = i + 1; j < t.length; j++) {
    const c = t.charCodeAt(j);
    if (c === NL) return true;
    if (c !== SPACE && c !== TAB && c !== CR) return false;
  }
  return true;
}

/** Characters a word may hold unquoted and still mean itself (no `$`, `#`, `;`, quote or space). */
const PLAIN_WORD = /^[A-Za-z0-9._/+@%,:-]+$/;

/**
 * `text` written as one word that the lexer reads back as exactly `text`: bare when it can be,
 * else in single quotes, else (it holds a `'` or a control character) in double quotes with
 * escapes.
 */
export function quoteWord(text: string): string {
  if (PLAIN_WORD.test(text)) return text;
  // deno-lint-ignore no-control-regex
  if (!/['\x00-\x1f\x7f]/.test(text)) return `'${text}'`;
  let out = '"';
  for (const ch of text) {
    const c = ch.charCodeAt(0);
    if (ch === '"' || ch === "\\" || ch === "$") out += "\\" + ch;
    else if (ch === "\n") out += "\\n";
    else if (ch === "\t") out += "\\t";
    else if (c < 0x20 || c === 0x7f) out += "\\x" + c.toString(16).padStart(2, "0");
    else out += ch;
  }
  return out + '"';
}
