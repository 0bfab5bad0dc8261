import { defineCommand, definePlugin, z } from "../../../mod.ts";

export default definePlugin({
  name: "bad-schema",
  commands: [
    defineCommand({
      name: "weird",
      summary: "An argument the shell cannot read",
      args: z.object({ when: z.date() }),
      run: (ctx) => ctx.ok(),
    }),
  ],
});
