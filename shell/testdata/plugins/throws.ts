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
    defineCommand({
      name: "boom-obj",
      summary: "Throws an object whose message cannot be read",
      run() {
        throw {
          get message(): string {
            throw new Error("inner");
          },
        };
      },
    }),
  ],
});
