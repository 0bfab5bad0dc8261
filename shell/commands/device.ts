/**
 * VFIO device fds: `device region-info` (VFIO_DEVICE_GET_REGION_INFO), and the helper that
 * `mem mmap-region` uses to find a region before mapping it.
 *
 * @module
 */

import { VFIO_DEVICE_GET_REGION_INFO } from "../../uapi/ioctl.ts";
import { vfio_region_info } from "../../uapi/structs.ts";
import { type Command, type CommandContext, defineCommand, t, z } from "./_api.ts";
import { sendStruct, type Sent, vfioOverrides } from "./_util.ts";

/** VFIO_REGION_INFO_FLAG_MMAP: the region can be mmapped through the device fd. */
export const REGION_FLAG_MMAP = 4n;

/** The device fd to use: `--device FD`, else the one this shell opened last. */
export function deviceFd(ctx: CommandContext, fd?: bigint): number {
  if (fd !== undefined) return Number(fd);
  const fds = [...ctx.state.devices];
  if (fds.length === 0) {
    ctx.fail("no device fd: open one with group device NAME (or container setup), or --device FD");
  }
  return fds[fds.length - 1];
}

/** VFIO_DEVICE_GET_REGION_INFO of region `index` on device `fd`. */
export function regionInfo(
  ctx: CommandContext,
  fd: number,
  index: bigint,
  o: { argsz?: bigint } = {},
): Sent {
  return sendStruct(ctx, fd, VFIO_DEVICE_GET_REGION_INFO, vfio_region_info, {
    index: Number(index),
  }, o);
}

const deviceOption = {
  device: t.int("the device fd (default: the last one this shell opened)", {
    bits: 31,
    label: "FD",
  }).optional(),
};

const info = defineCommand({
  name: "device region-info",
  summary: "VFIO_DEVICE_GET_REGION_INFO: size, file offset and flags of region INDEX",
  description: "vfio-pci's regions: 0-5 the BARs, 6 the ROM, 7 config space, 8 VGA. A region's\n" +
    "file offset is INDEX << 40; flags READ 1, WRITE 2, MMAP 4 (mem mmap-region can map it),\n" +
    "CAPS 8. A BAR the device lacks has size 0 and no flags.",
  args: z.object({ index: t.int("the region index", { bits: 32, label: "INDEX" }) }),
  options: z.object({ ...deviceOption, argsz: vfioOverrides.argsz }),
  result: z.object({
    flags: t.hex("READ 1 | WRITE 2 | MMAP 4 | CAPS 8"),
    size: t.hex("bytes"),
    offset: t.hex("where it starts in the device fd"),
    cap_offset: t.dec("first capability, 0 for none"),
  }),
  principal: "size",
  examples: ["device region-info 0 => flags=0x7", "device region-info 8 => EINVAL"],
  run(ctx, { index }, o) {
    const r = regionInfo(ctx, deviceFd(ctx, o.device), index, { argsz: o.argsz });
    if (r.ret < 0) return ctx.errno(-r.ret);
    return ctx.ok({
      flags: r.out.flags,
      size: r.out.size,
      offset: r.out.offset,
      cap_offset: r.out.cap_offset,
    });
  },
});

/** The device commands. */
export const deviceCommands: Command[] = [info];
