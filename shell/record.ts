/**
 * Recording: every command typed from `record FILE` on is written to FILE with the result
 * it got as its `=>` expectation, so an exploration becomes a regression scenario.
 *
 * @module
 */

import type { Kernel } from "../uapi/kernel.ts";
import { ShellError } from "./plugin_core.ts";

const encoder = new TextEncoder();

/** An open recording. */
export class Recorder {
  readonly path: string;
  #file: Deno.FsFile | undefined;
  #count = 0;

  /** Create (truncate) `path` and write its header. Throws a one-line ShellError when it cannot. */
  constructor(path: string, kernel: Kernel, earlier: readonly string[] = []) {
    this.path = path;
    try {
      this.#file = Deno.openSync(path, { write: true, create: true, truncate: true });
    } catch (e) {
      const why = e instanceof Deno.errors.PermissionDenied || e instanceof Deno.errors.NotCapable
        ? "write permission denied (run with --allow-write)"
        : e instanceof Deno.errors.NotFound
        ? "no such directory"
        : (e as Error).message;
      throw new ShellError(`cannot record to ${path}: ${why}`);
    }
    const sim = kernel.simulator;
    const backend = sim ? `sim (kernel ${sim.kernelVersion()})` : kernel.name;
    const head = [`# recorded by vfsh on ${backend}`];
    if (earlier.length) {
      head.push("# earlier in this session (not replayed):");
      for (const l of earlier) head.push(`#   ${l}`);
    }
    this.#put(head.join("\n") + "\n");
  }

  #put(text: string): void {
    const bytes = encoder.encode(text);
    let off = 0;
    while (off < bytes.length) off += this.#file!.writeSync(bytes.subarray(off));
  }

  /** Append one line. */
  write(line: string): void {
    if (!this.#file) return;
    this.#put(line + "\n");
    this.#count++;
  }

  /** Close the file; returns what was written. */
  close(): { path: string; commands: number } {
    this.#file?.close();
    this.#file = undefined;
    return { path: this.path, commands: this.#count };
  }
}
