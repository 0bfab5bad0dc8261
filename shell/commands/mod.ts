/**
 * The core commands: a plugin like any other, written with the public plugin API.
 *
 * @module
 */

import { definePlugin } from "../plugin_api.ts";
import { groupCommands } from "./group.ts";
import { ioasCommands } from "./ioas.ts";
import { memCommands } from "./mem.ts";
import { miscCommands } from "./misc.ts";
import { shellCommands } from "./shell.ts";
import { simCommands } from "./sim.ts";
import { setupCommands } from "./setup.ts";
import { vfioCommands } from "./vfio.ts";

/** The built-in plugin, `core`. */
export default definePlugin({
  name: "core",
  description: "the container ioctls, iommufd, memory, groups, the simulator and the shell",
  commands: [
    ...vfioCommands,
    ...ioasCommands,
    ...memCommands,
    ...groupCommands,
    ...miscCommands,
    ...simCommands,
    ...setupCommands,
    ...shellCommands,
  ],
});
