/**
 * File-backed memory for IOMMU_IOAS_MAP_FILE: `memfd` creates a memfd of a given size and
 * `ioas map-file` maps a range of a file into an IOAS.
 *
 * @module
 */

import { IOMMU_IOAS_MAP_FILE } from "../../uapi/ioctl.ts";
import { iommu_ioas_map_file } from "../../uapi/structs.ts";
import { type Command, defineCommand, t, z } from "./_api.ts";
import { container, iommufdOverrides, iommufdPerm, sendStruct } from "./_util.ts";

const memfd = defineCommand({
  name: "memfd",
  summary: "memfd_create(2) + ftruncate(2): a shmem file of SIZE bytes, for ioas map-file",
  args: z.object({
    name: t.string("the memfd's name (as /proc shows it)", { label: "NAME" }),
    size: t.size("bytes"),
  }),
  result: z.object({ fd: t.fd("the memfd") }),
  principal: "fd",
  examples: ["memfd guest 2M", "let mfd = memfd guest 64K"],
  run(ctx, { name, size }) {
    if (!ctx.kernel.memfdCreate) return ctx.fail("this backend cannot create a memfd");
    const r = ctx.kernel.memfdCreate(name, size);
    return r < 0 ? ctx.errno(-r) : ctx.ok({ fd: BigInt(r) });
  },
});

const mapFile = defineCommand({
  name: "ioas map-file",
  summary: "IOMMU_IOAS_MAP_FILE: map SIZE bytes of file FD at a fixed IOVA, or `-`",
  args: z.object({
    id: t.int("IOAS id", { bits: 32, label: "ID" }),
    fd: t.int("the file (a memfd)", { bits: 32, label: "FD" }),
    iova: t.auto("IO virtual address, or - for the kernel to choose", { label: "IOVA|-" }),
    size: t.size("bytes to map"),
    perm: t.perm(),
  }),
  options: z.object({
    start: t.int("byte offset in the file (default 0)", { label: "OFFSET" }).optional(),
    ...iommufdOverrides,
  }),
  result: z.object({ iova: t.hex("the IOVA mapped") }),
  examples: [
    "ioas map-file $ioas $mfd 0x1000000 2M rw",
    "ioas map-file $ioas $mfd - 4K r --start 8K",
  ],
  run(ctx, { id, fd, iova, size, perm }, o) {
    const fixed = iova !== "-";
    const r = sendStruct(ctx, container(ctx), IOMMU_IOAS_MAP_FILE, iommu_ioas_map_file, {
      flags: (fixed ? 1 : 0) | iommufdPerm(perm),
      ioas_id: id,
      fd,
      start: o.start ?? 0n,
      length: size,
      iova: fixed ? iova : 0n,
    }, o);
    return r.ret < 0 ? ctx.errno(-r.ret) : ctx.ok({ iova: r.out.iova });
  },
});

/** `memfd` and `ioas map-file`. */
export const fileCommands: Command[] = [memfd, mapFile];
