/**
 * Recording: every command typed from `record FILE` on is written to FILE with the result
 * it got as its `=>` expectation, so an exploration becomes a regression scenario.
 *
 * @module
 */

import type { Kernel } from "../uapi/kernel.ts";
import { ShellError } from "./plugin_core.ts";
import { describeFsError } from "./files.ts";
import { writeAllSync } from "./stdout.ts";
import { dirname, resolve } from "./_path.ts";

const encoder = new TextEncoder();

/** An open recording. */
export class Recorder {
  readonly path: string;
  /** The recording's directory: where its relative paths are looked up when it replays. */
  readonly dir: string;
  #file: Deno.FsFile | undefined;
  #count = 0;

  /**
   * Create (truncate) `file` and write its header; messages name it `path` (default: `file`).
   * Throws a one-line ShellError when it cannot.
   */
  constructor(file: string, kernel: Kernel, earlier: readonly string[] = [], path = file) {
    this.path = path;
    this.dir = dirname(resolve(file));
    const sim = kernel.simulator;
    const backend = sim ? `sim (kernel ${sim.kernelVersion()})` : kernel.name;
    const head = [`# recorded by vfsh on ${backend}`];
    if (earlier.length) {
      head.push("# earlier in this session (not replayed):");
      // A statement continued with `\` is several lines: each is commented.
      for (const l of earlier) for (const part of l.split("\n")) head.push(`#   ${part}`);
    }
    try {
      this.#file = Deno.openSync(file, { write: true, create: true, truncate: true });
      this.#put(head.join("\n") + "\n");
    } catch (e) {
      this.close();
      throw new ShellError(`cannot record to ${path}: ${describeFsError(e, "write", file)}`);
    }
  }

  #put(text: string): void {
    writeAllSync(this.#file!, encoder.encode(text));
  }

  /** Append one line. When that fails, closes the file and throws a one-line ShellError. */
  write(line: string): void {
    if (!this.#file) return;
    try {
      this.#put(line + "\n");
    } catch (e) {
      this.close();
      throw new ShellError(
        `cannot write to ${this.path}: ${describeFsError(e, "write", this.path)}`,
      );
    }
    this.#count++;
  }

  /** Close the file; returns what was written. */
  close(): { path: string; commands: number } {
    this.#file?.close();
    this.#file = undefined;
    return { path: this.path, commands: this.#count };
  }
}
