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
  const t = src.text;
  const n = t.length;
  const items: LexItem[] = [];
  let i = 0;
  let line = 1;
  let lineStart = 0;
  let words: Word[] = [];
  let lineHasWord = false; // any word (or separator) on the current physical line

  const col = (at: number) => at - lineStart + 1;
  const flush = () => {
    if (words.length > 0) {
      let text = words[0].raw;
      for (let k = 1; k < words.length; k++) text += " " + words[k].raw;
      items.push({ kind: "statement", words, line: words[0].line, text });
      words = [];
    }
  };

  while (i < n) {
    const c = t.charCodeAt(i);
    if (c === SPACE || c === TAB || c === CR) {
      i++;
      continue;
    }
    if (c === NL) {
      flush();
      i++;
      line++;
      lineStart = i;
      lineHasWord = false;
      continue;
    }
    if (c === SEMI) {
      flush();
      lineHasWord = true;
      i++;
      continue;
    }
    if (c === HASH) {
      const start = i;
      while (i < n && t.charCodeAt(i) !== NL) i++;
      let end = i;
      if (end > start && t.charCodeAt(end - 1) === CR) end--;
      if (!lineHasWord && words.length === 0) {
        items.push({ kind: "comment", text: t.slice(start, end), line });
      }
      continue;
    }
    if (c === BSLASH && isContinuation(t, i)) {
      // `\` then optional blanks then a newline: join the next line.
      i++;
      while (i < n && t.charCodeAt(i) !== NL) i++;
      i++;
      line++;
      lineStart = i;
      continue;
    }
    // A word.
    lineHasWord = true;
    const wordLine = line;
    const wordCol = col(i);
    const start = i;
    let text = "";
    let quoted = false;
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
        if (depth === 0) depthCol = col(i);
        depth++;
      } else if (d === RPAREN) {
        if (depth === 0) {
          throw new ScriptError("unbalanced ')': no '(' before it", src.at(line, col(i)));
        }
        depth--;
      } else if (d === DQUOTE || d === SQUOTE) {
        text += t.slice(seg, i);
        quoted = true;
        i = quotedString(src, t, i, line, col(i), (part) => {
          text += part;
        });
        seg = i;
        continue;
      }
      i++;
    }
    text += t.slice(seg, i);
    if (depth > 0) {
      throw new ScriptError(
        "unbalanced '(': expected ')' before the end of the line",
        src.at(line, depthCol),
      );
    }
    words.push({ text, raw: t.slice(start, i), quoted, line: wordLine, col: wordCol });
  }
  flush();
  return items;
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

function isContinuation(t: string, i: number): boolean {
  let j = i + 1;
  while (j < t.length) {
    const c = t.charCodeAt(j);
    if (c === NL) return true;
    if (c !== SPACE && c !== TAB && c !== CR) return false;
    j++;
  }
  return false;
}
