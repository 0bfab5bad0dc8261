import { defineCommand, definePlugin, t, z } from "../../../mod.ts";

let calls = 0;
export default definePlugin({
  name: "good",
  commands: [
    defineCommand({
      name: "twice",
      summary: "Double a number",
      args: z.object({ n: t.int("a number") }),
      result: z.object({ value: t.dec("2n") }),
      run(ctx, { n }) {
        calls++;
        return ctx.ok({ value: n * 2n });
      },
    }),
    defineCommand({
      name: "calls",
      summary: "How often twice ran",
      result: z.object({ value: t.dec("count") }),
      run(ctx) {
        return ctx.ok({ value: BigInt(calls) });
      },
    }),
  ],
});
