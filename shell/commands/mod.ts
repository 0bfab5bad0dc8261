/**
 * The core commands: a plugin like any other, written with the public plugin API (through
 * ./_api.ts, whose `t` and `z` declare arguments without loading zod at start-up).
 *
 * @module
 */

import { definePlugin } from "./_api.ts";
import { deviceCommands } from "./device.ts";
import { fileCommands } from "./file.ts";
import { hwInfoCommands } from "./hw_info.ts";
import { hwptCommands } from "./hwpt.ts";
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
    ...fileCommands,
    ...memCommands,
    ...groupCommands,
    ...deviceCommands,
    ...hwInfoCommands,
    ...hwptCommands,
    ...miscCommands,
    ...simCommands,
    ...setupCommands,
    ...shellCommands,
  ],
});
