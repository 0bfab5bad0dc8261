/** A plugin (not made with definePlugin) whose name getter throws. */
export default {
  get name(): string {
    throw new Error("name getter");
  },
  commands: [],
};
