import { defineCommand, definePlugin } from "../../../mod.ts";
import type { FieldValue } from "../../../mod.ts";

// Fields the shell cannot print or compare: typed away here, as `deno run` (which does not
// check types) would let a plugin return them.
const as = (v: unknown) => v as FieldValue;

export default definePlugin({
  name: "bad-result",
  commands: [
    defineCommand({
      name: "count",
      summary: "A JS number instead of a bigint",
      run: (ctx) => ctx.ok({ value: as(3) }),
    }),
    defineCommand({
      name: "table",
      summary: "A Map, and a row holding an object",
      run: (ctx) => ctx.ok({ m: as(new Map()), rows: as([{ a: 1n, b: {} }]) }),
    }),
    defineCommand({
      name: "nothing",
      summary: "Returns nothing at all",
      run: () => undefined as never,
    }),
    defineCommand({
      name: "five",
      summary: "Returns a number, not a result",
      run: () => 5 as never,
    }),
    defineCommand({
      name: "fine",
      summary: "Every kind of field, and one left unset",
      run: (ctx) =>
        ctx.ok({
          n: 1n,
          s: "x",
          b: true,
          bytes: new Uint8Array([1]),
          r: [{ start: 0n, end: 1n }],
          none: as(undefined),
        }),
    }),
  ],
});
