import { defineCommand, definePlugin } from "../../../mod.ts";

export default definePlugin({
  name: "thrower",
  commands: [
    defineCommand({
      name: "boom",
      summary: "Throws",
      run() {
        throw new Error("kaboom");
      },
    }),
  ],
});
