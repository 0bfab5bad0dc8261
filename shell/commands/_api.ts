/**
 * The plugin API as the core commands use it: the same {@link defineCommand} and
 * {@link definePlugin} as any plugin, with `z` and `t` building declarations that read like
 * zod's without loading zod (shell/schema_lite.ts), so that starting the shell does not pay
 * for zod. A command file may import `t` and `z` from ../plugin_api.ts (real zod) instead:
 * it works the same, the shell only starts slower.
 *
 * @module
 */

import { makeHelpers, type SchemaHelpers } from "../plugin_core.ts";
import { z } from "../schema_lite.ts";

export {
  type Command,
  type CommandContext,
  type CommandResult,
  defineCommand,
  definePlugin,
  type FieldValue,
  forgetMachine,
  type ShellArea,
  type ShellState,
} from "../plugin_core.ts";
export { z };

/** The schema helpers of the public API (`t`), building zod-free declarations. */
export const t: SchemaHelpers = makeHelpers(z);
