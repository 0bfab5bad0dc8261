import { defineCommand, definePlugin, t, type z } from "../../../mod.ts";

// Arguments written as a plain object instead of z.object({ … }): a type error that
// `deno run` does not check, which the shell must refuse rather than read as no arguments.
const plain = { size: t.size("how much") } as unknown as z.ZodObject;

export default definePlugin({
  name: "plain-args",
  commands: [
    defineCommand({
      name: "plain",
      summary: "Arguments not declared with z.object",
      args: plain,
      run: (ctx) => ctx.ok(),
    }),
  ],
});
