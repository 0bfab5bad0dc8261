/**
 * The plugin API: every command, the built-in ones included, is declared with
 * {@link defineCommand} and grouped by {@link definePlugin}. Arguments, options and result
 * fields are zod schemas; parsing, validation errors, `help`, tab completion and the JSON
 * form of results all derive from that one declaration.
 *
 * ```ts
 * import { defineCommand, definePlugin, t, z } from "../mod.ts";
 *
 * export default definePlugin({
 *   name: "hello",
 *   commands: [
 *     defineCommand({
 *       name: "hello",
 *       summary: "Ask the kernel for the VFIO API version, politely",
 *       args: z.object({ times: t.int("how many times", { bits: 8 }).default(1n) }),
 *       result: z.object({ value: t.dec("the answer") }),
 *       run(ctx, { times }) {
 *         let ret = 0;
 *         for (let i = 0n; i < times; i++) ret = ctx.kernel.ioctl(ctx.state.container, 0x3b64, 0n);
 *         return ctx.fromRet(ret, { value: BigInt(ret) });
 *       },
 *     }),
 *   ],
 * });
 * ```
 *
 * @module
 */

import { z } from "zod";
import { makeHelpers, type SchemaHelpers } from "./plugin_core.ts";

export { z };
export {
  type ArgKind,
  type Command,
  type CommandContext,
  type CommandResult,
  type CommandSpec,
  defineCommand,
  definePlugin,
  type FieldFormat,
  type FieldValue,
  makeHelpers,
  type MemRegion,
  metaOf,
  type Plugin,
  type Range,
  type SchemaHelpers,
  type ShellArea,
  type ShellControl,
  ShellError,
  type ShellState,
  type Value,
  type VfshMeta,
  type ZodBuilders,
} from "./plugin_core.ts";

/**
 * Schema helpers for arguments, options and result fields. Plain zod works too
 * (`z.bigint()` reads an integer, `z.string()` a word, `z.enum([...])` a choice,
 * `z.boolean()` a flag option, `z.array(x)` the remaining words); these add the metadata
 * that makes help, completion and printing better.
 */
export const t: SchemaHelpers = makeHelpers(z);
