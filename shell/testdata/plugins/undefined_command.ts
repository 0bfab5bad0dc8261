import { type Command, defineCommand, definePlugin } from "../../../mod.ts";

/**
 * A plugin whose commands array holds `undefined`, as it does when a command comes through
 * an import cycle and is not set yet.
 */
export default definePlugin({
  name: "undefined-command",
  commands: [
    defineCommand({ name: "fine", summary: "Succeeds", run: (ctx) => ctx.ok() }),
    undefined as unknown as Command,
  ],
});
