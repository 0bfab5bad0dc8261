/**
 * Terminal helpers for the REPL: colour decisions, prompt colouring, and the input gate that
 * lets node:readline see one line at a time.
 *
 * @module
 */

import { EventEmitter } from "node:events";
import { Buffer } from "node:buffer";
import { StringDecoder } from "node:string_decoder";

const CYAN = "\x1b[36m";
const BOLD = "\x1b[1m";
const RESET = "\x1b[0m";

/**
 * Whether to colour output: only on a terminal, and never when NO_COLOR is present in the
 * environment, whatever its value (an empty NO_COLOR still turns colour off).
 */
export function wantColor(isTerminal: boolean, noColor: string | undefined): boolean {
  return isTerminal && noColor === undefined;
}

/**
 * Colour a prompt such as `vfsh sim fd=3> `: the program name bold, the backend name cyan.
 * Only SGR sequences are added; node:readline strips them when it measures the prompt, so
 * cursor movement stays right. A prompt of another shape is returned unchanged.
 */
export function colorPrompt(prompt: string): string {
  const m = /^(\S+)( +)([A-Za-z][\w.-]*)/.exec(prompt);
  if (m === null) return prompt;
  const [whole, name, gap, backend] = m;
  return `${BOLD}${name}${RESET}${gap}${CYAN}${backend}${RESET}${prompt.slice(whole.length)}`;
}

/** The parts of a TTY input stream that node:readline uses besides events. */
interface TtyLike {
  isTTY?: boolean;
  isRaw?: boolean;
  setRawMode?(mode: boolean): unknown;
}

/**
 * Sits between the real input and node:readline, passing text through up to the end of a
 * line and holding the rest while the REPL is busy with that line.
 *
 * Why: readline handles a pasted chunk in one synchronous loop, so pausing the input does not
 * stop it from emitting the following lines or echoing them under the output of the first.
 * Here the chunk is cut at line ends and each piece is emitted only while the gate is open;
 * the REPL closes it (`hold`) as soon as a line arrives and opens it (`release`) once the line
 * has run and the next prompt is shown. Every piece is emitted synchronously, so a `hold`
 * made inside a `line` handler takes effect before the next piece. A line end that produces
 * no `line` event leaves the gate open: it can never get stuck closed.
 *
 * It is an EventEmitter with the stream methods readline calls (`on`, `removeListener`,
 * `pause`, `resume`, `setRawMode`, `isRaw`, `isTTY`), not a full Readable.
 */
export class InputGate extends EventEmitter {
  #source: NodeJS.ReadableStream & TtyLike;
  #decoder = new StringDecoder("utf8");
  #held = "";
  #holding = false;
  // Paused until readline resumes it: nothing is emitted before readline listens.
  #paused = true;
  #sourceEnded = false;
  #ended = false;
  #detached = false;
  #scheduled = false;
  #onData = (chunk: string | Uint8Array) => {
    this.#held += typeof chunk === "string" ? chunk : this.#decoder.write(Buffer.from(chunk));
    this.#flush();
  };
  #onEnd = () => {
    this.#held += this.#decoder.end();
    this.#sourceEnded = true;
    this.#flush();
  };
  #onError = (err: unknown) => this.emit("error", err);

  /** Wrap `source`; data starts flowing once readline resumes the gate. */
  constructor(source: NodeJS.ReadableStream) {
    super();
    this.#source = source as NodeJS.ReadableStream & TtyLike;
    this.#source.on("data", this.#onData);
    this.#source.on("end", this.#onEnd);
    this.#source.on("error", this.#onError);
  }

  /** True when the wrapped input is a terminal (readline checks this). */
  get isTTY(): boolean {
    return this.#source.isTTY === true;
  }

  /** The raw mode of the wrapped input. */
  get isRaw(): boolean {
    return this.#source.isRaw === true;
  }

  /** Forwarded to the wrapped input when it is a TTY. */
  setRawMode(mode: boolean): this {
    if (typeof this.#source.setRawMode === "function") this.#source.setRawMode(mode);
    return this;
  }

  /** Stop passing input on (readline pauses while completing and when closing). */
  pause(): this {
    this.#paused = true;
    this.#source.pause();
    return this;
  }

  /** Pass input on again. */
  resume(): this {
    if (this.#detached) return this;
    this.#paused = false;
    this.#source.resume();
    this.#schedule();
    return this;
  }

  /** Hold everything after the line end just passed on, until `release`. */
  hold(): void {
    this.#holding = true;
  }

  /** Let the next line through (asynchronously, so no handler runs inside the caller). */
  release(): void {
    this.#holding = false;
    this.#schedule();
  }

  /** Stop listening to the wrapped input and pause it, so that the process can exit. */
  detach(): void {
    if (this.#detached) return;
    this.#detached = true;
    this.#source.removeListener("data", this.#onData);
    this.#source.removeListener("end", this.#onEnd);
    this.#source.removeListener("error", this.#onError);
    this.#source.pause();
  }

  #schedule(): void {
    if (this.#scheduled) return;
    this.#scheduled = true;
    queueMicrotask(() => {
      this.#scheduled = false;
      this.#flush();
    });
  }

  #flush(): void {
    while (!this.#holding && !this.#paused && !this.#detached && this.#held !== "") {
      const cut = lineCut(this.#held);
      const piece = this.#held.slice(0, cut);
      this.#held = this.#held.slice(cut);
      this.emit("data", Buffer.from(piece));
    }
    if (this.#sourceEnded && this.#held === "" && !this.#ended && !this.#detached) {
      this.#ended = true;
      this.emit("end");
    }
  }
}

/** Length of the first piece of `text` that ends a line (`\r\n` kept whole), or all of it. */
function lineCut(text: string): number {
  const m = /\r\n|\r|\n/.exec(text);
  return m === null ? text.length : m.index + m[0].length;
}
