import { defineCommand, definePlugin } from "../../../mod.ts";

export default definePlugin({
  name: "clash",
  commands: [
    defineCommand({ name: "fine-one", summary: "ok", run: (ctx) => ctx.ok() }),
    defineCommand({ name: "map", summary: "clashes with core", run: (ctx) => ctx.ok() }),
  ],
});
