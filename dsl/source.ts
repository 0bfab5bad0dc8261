/**
 * Source locations and the one error type of the language: a {@link ScriptError} names
 * `file:line:col`, shows the line with a caret under the column, and says what was expected.
 *
 * @module
 */

/** A position in a script: 1-based line and column. */
export interface Location {
  /** The script's name as the user gave it (`-` for stdin, `<line>` at the prompt). */
  readonly file: string;
  /** 1-based line number. */
  readonly line: number;
  /** 1-based column. */
  readonly col: number;
  /** The text of the physical line, for the caret display. */
  readonly lineText: string;
}

/**
 * An error in a script or a typed line: a parse error, an unknown command, a bad argument,
 * a missing file, or a run-time error of the script itself (not an errno from the kernel).
 */
export class ScriptError extends Error {
  /** Where the problem is, when it has a place in the source. */
  readonly location?: Location;

  constructor(message: string, location?: Location) {
    super(message);
    this.name = "ScriptError";
    this.location = location;
  }

  /** `file:line:col: message` (just the message when there is no location). */
  headline(): string {
    const l = this.location;
    return l ? `${l.file}:${l.line}:${l.col}: ${this.message}` : this.message;
  }

  /**
   * The headline (or `headline` in its place), then the line and a caret under the column.
   * Made safe for a terminal: a control character (a binary file, an escape sequence) shows
   * as `?`, and a long line as the stretch around the column.
   */
  render(headline: string = this.headline()): string {
    const l = this.location;
    const head = visible(headline);
    if (!l || l.lineText === "") return head;
    const prefix = "  ";
    let text = l.lineText;
    let caretCol = Math.max(0, Math.min(l.col - 1, text.length));
    if (text.length > SHOWN) {
      const from = Math.max(0, Math.min(caretCol - (SHOWN >> 1), text.length - SHOWN));
      const to = from + SHOWN;
      text = (from > 0 ? "…" : "") + text.slice(from, to) + (to < l.lineText.length ? "…" : "");
      caretCol += (from > 0 ? 1 : 0) - from;
    }
    // Tabs keep their width under the caret.
    let pad = "";
    for (let i = 0; i < caretCol; i++) pad += text[i] === "\t" ? "\t" : " ";
    return `${head}\n${prefix}${visible(text)}\n${prefix}${pad}^`;
  }
}

/** Characters of a line shown under an error at most; a longer one is cut around the column. */
const SHOWN = 160;

// C0 controls but tab and newline, DEL and the C1 controls.
// deno-lint-ignore no-control-regex
const CONTROL = /[\x00-\x08\x0b-\x1f\x7f-\x9f]/g;

/** `text` with each control character replaced by `?`, one column for one. */
function visible(text: string): string {
  return text.replace(CONTROL, "?");
}

/** The text of every line of a source, split once so errors can show their line cheaply. */
export class SourceText {
  /** The script's name. */
  readonly file: string;
  /** The whole text. */
  readonly text: string;
  #lineStarts: number[] | undefined;

  constructor(file: string, text: string) {
    this.file = file;
    this.text = text;
  }

  /** The text of 1-based line `line`, without its newline. */
  lineText(line: number): string {
    if (!this.#lineStarts) {
      const starts = [0];
      const t = this.text;
      for (let i = 0; i < t.length; i++) if (t.charCodeAt(i) === 10) starts.push(i + 1);
      this.#lineStarts = starts;
    }
    const starts = this.#lineStarts;
    if (line < 1 || line > starts.length) return "";
    const from = starts[line - 1];
    let to = line < starts.length ? starts[line] - 1 : this.text.length;
    if (to > from && this.text.charCodeAt(to - 1) === 13) to--;
    return this.text.slice(from, to);
  }

  /** A {@link Location} for line/col of this source. */
  at(line: number, col: number): Location {
    return { file: this.file, line, col, lineText: this.lineText(line) };
  }
}
