import { defineCommand, definePlugin, t, z } from "../../../mod.ts";

/** A command whose principal value is text, for `=> "text"` expectations. */
export default definePlugin({
  name: "text-principal",
  commands: [
    defineCommand({
      name: "greet",
      summary: "Say hello to NAME",
      args: z.object({ name: t.string("who") }),
      result: z.object({ value: t.text("the greeting") }),
      run(ctx, { name }) {
        return ctx.ok({ value: `hello ${name}` });
      },
    }),
  ],
});
