import { definePlugin } from "../../../mod.ts";

/** A plugin that declares no commands (yet): loading it says so in words. */
export default definePlugin({ name: "no-commands", commands: [] });
