/**
 * VFIO groups: `group open/status/set-container/unset-container/device`.
 *
 * @module
 */

import {
  VFIO_GROUP_GET_DEVICE_FD,
  VFIO_GROUP_GET_STATUS,
  VFIO_GROUP_SET_CONTAINER,
  VFIO_GROUP_UNSET_CONTAINER,
} from "../../uapi/ioctl.ts";
import { vfio_group_status } from "../../uapi/structs.ts";
import { type Command, defineCommand, t, z } from "./_api.ts";
import { container, sendStruct, vfioOverrides } from "./_util.ts";

const open = defineCommand({
  name: "group open",
  summary: "Open /dev/vfio/N (or /dev/vfio/noiommu-N); it becomes the current group",
  args: z.object({ group: t.int("group number", { bits: 31, label: "N" }) }),
  options: z.object({
    noiommu: t.flag("a no-IOMMU group: /dev/vfio/noiommu-N (needs CAP_SYS_RAWIO)"),
  }),
  result: z.object({ fd: t.fd() }),
  examples: ["group open 3", "group open 0 --noiommu"],
  run(ctx, { group }, o) {
    const path = o.noiommu ? `/dev/vfio/noiommu-${group}` : `/dev/vfio/${group}`;
    const fd = ctx.kernel.open(path);
    if (fd < 0) {
      const hint = -fd === 2
        ? `hint: no ${path}: is a device of group ${group} bound to vfio-pci?`
        : undefined;
      return { ...ctx.errno(-fd), lines: hint ? [hint] : undefined };
    }
    ctx.state.groups.set(fd, Number(group));
    ctx.state.group = fd;
    return ctx.ok({ fd: BigInt(fd) });
  },
});

const status = defineCommand({
  name: "group status",
  summary: "VFIO_GROUP_GET_STATUS on the current group",
  options: z.object({ argsz: vfioOverrides.argsz }),
  result: z.object({ flags: t.hex("VIABLE (1) | CONTAINER_SET (2)") }),
  principal: "flags",
  examples: ["group status => flags=0x1"],
  run(ctx, _a, o) {
    const r = sendStruct(ctx, ctx.state.group, VFIO_GROUP_GET_STATUS, vfio_group_status, {}, o);
    return r.ret < 0 ? ctx.errno(-r.ret) : ctx.ok({ flags: r.out.flags });
  },
});

const setContainer = defineCommand({
  name: "group set-container",
  summary: "VFIO_GROUP_SET_CONTAINER: attach the current group to the current container",
  run(ctx) {
    const b = new Uint8Array(4);
    new DataView(b.buffer).setInt32(0, container(ctx), true);
    const addr = ctx.userBytes(b);
    return ctx.fromRet(ctx.kernel.ioctl(ctx.state.group, VFIO_GROUP_SET_CONTAINER, addr));
  },
});

const unsetContainer = defineCommand({
  name: "group unset-container",
  summary: "VFIO_GROUP_UNSET_CONTAINER on the current group",
  run(ctx) {
    return ctx.fromRet(ctx.kernel.ioctl(ctx.state.group, VFIO_GROUP_UNSET_CONTAINER, 0n));
  },
});

const device = defineCommand({
  name: "group device",
  summary: "VFIO_GROUP_GET_DEVICE_FD: open device NAME of the current group",
  args: z.object({ name: t.string("the device, e.g. 0000:01:00.0", { label: "NAME" }) }),
  result: z.object({ fd: t.fd("the device fd") }),
  examples: ["group device 0000:00:03.0"],
  run(ctx, { name }) {
    const b = new TextEncoder().encode(name + "\0");
    const addr = ctx.userBytes(b);
    const fd = ctx.kernel.ioctl(ctx.state.group, VFIO_GROUP_GET_DEVICE_FD, addr);
    if (fd < 0) return ctx.errno(-fd);
    ctx.state.devices.add(fd);
    return ctx.ok({ fd: BigInt(fd) });
  },
});

/** The group commands. */
export const groupCommands: Command[] = [open, status, setContainer, unsetContainer, device];
