/**
 * The container and the VFIO type1 ioctls as iommufd's compatibility layer answers them:
 * `container open/close/use`, `api-version`, `check-extension`, `set-iommu`, `info`, `map`,
 * `unmap`, `dirty-pages`.
 *
 * @module
 */

import { decodeInfoCaps } from "../../uapi/caps.ts";
import {
  VFIO_CHECK_EXTENSION,
  VFIO_GET_API_VERSION,
  VFIO_IOMMU_DIRTY_PAGES,
  VFIO_IOMMU_GET_INFO,
  VFIO_IOMMU_MAP_DMA,
  VFIO_IOMMU_UNMAP_DMA,
  VFIO_SET_IOMMU,
} from "../../uapi/ioctl.ts";
import {
  vfio_iommu_type1_dirty_bitmap,
  vfio_iommu_type1_dma_map,
  vfio_iommu_type1_dma_unmap,
  vfio_iommu_type1_info,
} from "../../uapi/structs.ts";
import type { Range } from "../../dsl/values.ts";
import { type Command, defineCommand, t, z } from "./_api.ts";
import {
  addArea,
  areaKey,
  container,
  freshMemory,
  MAX_BUFFER,
  outField,
  releaseMemory,
  removeAreas,
  sendStruct,
  sendStructShared,
  vfioOverrides,
  vfioPerm,
} from "./_util.ts";
import { nativeIoas } from "../modes.ts";
import { nativeMap, nativeUnmap } from "./setup.ts";

/** What to try when a container's device node cannot be opened (by errno). */
function openHint(path: string, errno: number): string | undefined {
  if (errno === 2) {
    if (path === "/dev/iommu") {
      return "hint: no /dev/iommu: the iommufd module is not loaded (modprobe iommufd), or the kernel is older than 6.2";
    }
    // vfio.ko makes it for type1; iommufd makes it instead under IOMMUFD_VFIO_CONTAINER.
    if (path === "/dev/vfio/vfio") {
      return "hint: no /dev/vfio/vfio: the vfio module is not loaded (modprobe vfio), or iommufd was built without CONFIG_IOMMUFD_VFIO_CONTAINER";
    }
    const group = /^\/dev\/vfio\/(noiommu-)?(\d+)$/.exec(path);
    if (group) {
      const open = `group open ${group[2]}${group[1] ? " --noiommu" : ""}`;
      return `hint: ${path} is a group, not a container: ${open}`;
    }
    return `hint: no ${path}: a container is /dev/iommu or /dev/vfio/vfio`;
  }
  if (errno === 13 || errno === 1) {
    return `hint: no permission to open ${path}: run as root or give your user access to the device node`;
  }
  return undefined;
}

const containerOpen = defineCommand({
  name: "container open",
  summary: "Open a container (default /dev/iommu); it becomes the current one",
  args: z.object({ path: t.path("device node to open").default("/dev/iommu") }),
  result: z.object({ fd: t.fd() }),
  examples: ["container open", "container open /dev/vfio/vfio"],
  run(ctx, { path }) {
    const fd = ctx.kernel.open(path);
    if (fd < 0) {
      const hint = openHint(path, -fd);
      return { ...ctx.errno(-fd), lines: hint ? [hint] : undefined };
    }
    ctx.state.containers.add(fd);
    ctx.state.container = fd;
    return ctx.ok({ fd: BigInt(fd) });
  },
});

const containerClose = defineCommand({
  name: "container close",
  summary: "Close the current container",
  run(ctx) {
    const fd = ctx.state.container;
    const r = ctx.kernel.close(fd);
    if (r < 0) return ctx.errno(-r);
    ctx.state.containers.delete(fd);
    ctx.state.compatIoas.delete(fd);
    for (const k of [...ctx.state.areas.keys()]) {
      if (k.startsWith(`${fd}:`)) ctx.state.areas.delete(k);
    }
    const rest = [...ctx.state.containers];
    ctx.state.container = rest.length ? rest[rest.length - 1] : -1;
    return ctx.ok();
  },
});

const containerUse = defineCommand({
  name: "container use",
  summary: "Make another open container the current one",
  args: z.object({ fd: t.int("an fd from container open", { bits: 31, label: "FD" }) }),
  run(ctx, { fd }) {
    const n = Number(fd);
    if (!ctx.state.containers.has(n)) {
      const open = [...ctx.state.containers];
      ctx.fail(
        `fd ${n} is not an open container` +
          (open.length ? ` (open: ${open.join(", ")})` : " (none is open: container open)"),
      );
    }
    ctx.state.container = n;
    return ctx.ok();
  },
});

const apiVersion = defineCommand({
  name: "api-version",
  summary: "VFIO_GET_API_VERSION on the current container",
  result: z.object({ value: t.dec("the API version (VFIO_API_VERSION is 0)") }),
  examples: ["api-version => 0"],
  run(ctx) {
    const r = ctx.kernel.ioctl(container(ctx), VFIO_GET_API_VERSION, 0n);
    return ctx.fromRet(r, { value: BigInt(r) });
  },
});

const checkExtension = defineCommand({
  name: "check-extension",
  summary: "VFIO_CHECK_EXTENSION: does the container support EXT?",
  args: z.object({
    ext: t.constant("vfio_extension", "TYPE1, TYPE1v2, DMA_CC_IOMMU, UNMAP_ALL… or a number", {
      label: "EXT",
    }),
  }),
  result: z.object({ value: t.dec("1 supported, 0 not") }),
  examples: ["check-extension TYPE1v2 => 1", "check-extension DMA_CC_IOMMU => ENODEV"],
  run(ctx, { ext }) {
    const r = ctx.kernel.ioctl(container(ctx), VFIO_CHECK_EXTENSION, ext);
    return ctx.fromRet(r, { value: BigInt(r) });
  },
});

const setIommu = defineCommand({
  name: "set-iommu",
  summary: "VFIO_SET_IOMMU: choose the IOMMU model (TYPE1 or TYPE1v2)",
  args: z.object({
    type: t.constant("vfio_extension", "TYPE1, TYPE1v2 or a number", { label: "TYPE" }),
  }),
  examples: ["set-iommu TYPE1v2"],
  run(ctx, { type }) {
    return ctx.fromRet(ctx.kernel.ioctl(container(ctx), VFIO_SET_IOMMU, type));
  },
});

const info = defineCommand({
  name: "info",
  summary: "VFIO_IOMMU_GET_INFO with room for every capability; decodes the capability chain",
  description: "Without --argsz the shell does what QEMU does: it calls with sizeof(struct)\n" +
    "(24), and if the kernel asks for a larger argsz, calls again with that size.\n" +
    "With --argsz N it calls once with exactly N (the buffer holds at least N bytes).\n" +
    "--caps prints the capability chain as the kernel laid it out.",
  options: z.object({
    ...vfioOverrides,
    caps: t.flag("print each capability of the chain on its own line"),
  }),
  result: z.object({
    argsz: t.dec("the argsz the kernel wrote back (the size it needs)"),
    flags: t.hex("PGSIZES (1) | CAPS (2)"),
    pgsizes: t.hex("supported IOMMU page sizes (iova_pgsizes)"),
    cap_offset: t.dec("offset of the first capability, 0 when none was returned"),
    dma_avail: t.dec("DMA_AVAIL capability: mappings still available"),
    iova_ranges: t.ranges("IOVA_RANGE capability: usable IOVA ranges (inclusive)"),
    migration_pgsizes: t.hex("MIGRATION capability: dirty-page sizes"),
    max_dirty_bitmap_size: t.hex("MIGRATION capability: largest dirty bitmap"),
    cap_error: t.text("why the capability walk stopped early"),
  }),
  principal: "pgsizes",
  examples: [
    "info => pgsizes=0xfffffffffffff000 dma_avail=4294967295",
    "info --argsz 24 => argsz=72 cap_offset=0",
    "info --argsz 15 => EINVAL",
  ],
  run(ctx, _args, o) {
    const fd = container(ctx);
    let sent;
    if (o.argsz !== undefined) {
      sent = sendStruct(ctx, fd, VFIO_IOMMU_GET_INFO, vfio_iommu_type1_info, {}, o);
    } else {
      sent = sendStruct(ctx, fd, VFIO_IOMMU_GET_INFO, vfio_iommu_type1_info, {}, o);
      const want = sent.out.argsz;
      if (sent.ret >= 0 && want !== undefined && want > BigInt(vfio_iommu_type1_info.size)) {
        if (want > BigInt(MAX_BUFFER)) ctx.fail(`the kernel asks for argsz ${want}: too large`);
        sent = sendStruct(ctx, fd, VFIO_IOMMU_GET_INFO, vfio_iommu_type1_info, {}, {
          ...o,
          argsz: want,
        });
      }
    }
    if (sent.ret < 0) return ctx.errno(-sent.ret);
    const chain = decodeInfoCaps(sent.buf);
    let dmaAvail: bigint | undefined;
    let ranges: Range[] | undefined;
    let migPg: bigint | undefined;
    let migMax: bigint | undefined;
    const lines: string[] = [];
    for (const cap of chain.caps) {
      if (cap.kind === "dma_avail") dmaAvail = cap.fields.avail;
      if (cap.kind === "iova_range") ranges = cap.ranges;
      if (cap.kind === "migration") {
        migPg = cap.fields.pgsize_bitmap;
        migMax = cap.fields.max_dirty_bitmap_size;
      }
      if (o.caps) {
        const body = cap.kind === "iova_range"
          ? `IOVA_RANGE nr_iovas=${cap.fields.nr_iovas}` +
            (cap.ranges ?? []).map((r) => ` [0x${r.start.toString(16)}-0x${r.end.toString(16)}]`)
              .join("")
          : cap.kind === "dma_avail"
          ? `DMA_AVAIL avail=${cap.fields.avail}`
          : cap.kind === "migration"
          ? `MIGRATION pgsize_bitmap=0x${cap.fields.pgsize_bitmap?.toString(16)} ` +
            `max_dirty_bitmap_size=0x${cap.fields.max_dirty_bitmap_size?.toString(16)}`
          : "unknown";
        lines.push(
          `  cap@${cap.offset}: id=${cap.id} version=${cap.version} next=${cap.next} ${body}`,
        );
      }
    }
    if (o.caps && chain.caps.length === 0) lines.push("  (no capabilities returned)");
    return {
      ...ctx.ok({
        argsz: sent.out.argsz,
        flags: sent.out.flags,
        pgsizes: sent.out.iova_pgsizes,
        cap_offset: sent.out.cap_offset,
        dma_avail: dmaAvail,
        iova_ranges: ranges,
        migration_pgsizes: migPg,
        max_dirty_bitmap_size: migMax,
        cap_error: chain.error,
      }),
      lines,
    };
  },
});

const map = defineCommand({
  name: "map",
  summary: "VFIO_IOMMU_MAP_DMA: map SIZE bytes at IOVA (fresh memory unless --vaddr)",
  args: z.object({
    iova: t.int("IO virtual address", { label: "IOVA" }),
    size: t.size("bytes to map"),
    perm: t.perm(),
  }),
  options: z.object({
    vaddr: t.int("map this user address instead of fresh anonymous memory", { label: "ADDR" })
      .optional(),
    ...vfioOverrides,
  }),
  result: z.object({
    iova: t.hex("the IOVA mapped"),
    vaddr: t.vaddr("user memory behind it"),
    ioctl: t.text("IOMMU_IOAS_MAP when the iommufd mode ran it as one", { volatile: true }),
  }),
  examples: ["map 0x100000 2M rw", "map 0x100000 2M rw => EEXIST", "map 0 4K r --vaddr $buf"],
  run(ctx, { iova, size, perm }, o) {
    // In iommufd mode (container setup), a plain map is IOMMU_IOAS_MAP on the mode's IOAS.
    if (o.flags === undefined && o.argsz === undefined) {
      const ioas = nativeIoas(ctx.state, container(ctx));
      if (ioas !== undefined) return nativeMap(ctx, ioas, { iova, size, perm, vaddr: o.vaddr });
    }
    const fresh = o.vaddr === undefined;
    const vaddr = o.vaddr ?? freshMemory(ctx, size);
    const flags = vfioPerm(perm);
    const fd = container(ctx);
    const r = sendStructShared(ctx, fd, VFIO_IOMMU_MAP_DMA, vfio_iommu_type1_dma_map, {
      flags,
      vaddr,
      iova,
      size,
    }, o);
    if (r.ret < 0) {
      if (fresh) releaseMemory(ctx, vaddr);
      return ctx.errno(-r.ret);
    }
    if (size > 0n) {
      addArea(ctx.state, areaKey(ctx.state, fd), {
        iova,
        last: iova + size - 1n,
        vaddr,
        prot: flags,
      });
    }
    return ctx.ok({ iova, vaddr });
  },
});

const unmap = defineCommand({
  name: "unmap",
  summary: "VFIO_IOMMU_UNMAP_DMA of [IOVA, IOVA+SIZE), or everything with --all",
  usage: "unmap IOVA SIZE | unmap --all  [--argsz N] [--flags N]",
  args: z.object({
    iova: t.int("IO virtual address", { label: "IOVA" }).optional(),
    size: t.size("bytes to unmap").optional(),
  }),
  options: z.object({
    all: t.flag("VFIO_DMA_UNMAP_FLAG_ALL with iova 0 and size 0 (pass IOVA SIZE to try others)"),
    writeback: t.flag("also show the struct's size field after the call, on error too"),
    ...vfioOverrides,
  }),
  result: z.object({
    unmapped: t.hex("bytes the kernel unmapped"),
    written_size: t.hex("--writeback: the size field after the call (as passed if not written)"),
    ioctl: t.text("IOMMU_IOAS_UNMAP when the iommufd mode ran it as one", { volatile: true }),
  }),
  principal: "unmapped",
  examples: [
    "unmap 0x100000 2M => unmapped=0x200000",
    "unmap --all",
    "unmap 0x100000 1M => ENOENT",
  ],
  run(ctx, { iova, size }, o) {
    if (!o.all && (iova === undefined || size === undefined)) {
      ctx.fail("needs IOVA SIZE, or --all (usage: unmap IOVA SIZE | unmap --all)");
    }
    const fd = container(ctx);
    // In iommufd mode (container setup), a plain unmap is IOMMU_IOAS_UNMAP on the mode's IOAS.
    if (o.flags === undefined && o.argsz === undefined) {
      const ioas = nativeIoas(ctx.state, fd);
      if (ioas !== undefined) {
        return nativeUnmap(ctx, ioas, { iova, size, all: o.all, writeback: o.writeback });
      }
    }
    const r = sendStructShared(ctx, fd, VFIO_IOMMU_UNMAP_DMA, vfio_iommu_type1_dma_unmap, {
      flags: o.all ? 2 : 0,
      iova: iova ?? 0n,
      size: size ?? 0n,
    }, o);
    const written = o.writeback ? new DataView(r.buf.buffer).getBigUint64(16, true) : undefined;
    if (r.ret < 0) return ctx.errno(-r.ret, { written_size: written });
    const key = areaKey(ctx.state, fd);
    if (o.all) ctx.state.areas.delete(key);
    else if (size! > 0n) removeAreas(ctx.state, key, iova!, iova! + size! - 1n);
    return ctx.ok({ unmapped: outField(r, "size"), written_size: written });
  },
});

const dirtyPages = defineCommand({
  name: "dirty-pages",
  summary: "VFIO_IOMMU_DIRTY_PAGES start/stop (iommufd's compat layer answers ENOTTY)",
  args: z.object({ op: t.choice(["start", "stop"], "what to ask").default("start") }),
  options: z.object(vfioOverrides),
  examples: ["dirty-pages => ENOTTY"],
  run(ctx, { op }, o) {
    const r = sendStruct(
      ctx,
      container(ctx),
      VFIO_IOMMU_DIRTY_PAGES,
      vfio_iommu_type1_dirty_bitmap,
      { flags: op === "start" ? 1 : 2 },
      o,
    );
    return r.ret < 0 ? ctx.errno(-r.ret) : ctx.ok();
  },
});

/** The container and VFIO type1 commands. */
export const vfioCommands: Command[] = [
  containerOpen,
  containerClose,
  containerUse,
  apiVersion,
  checkExtension,
  setIommu,
  info,
  map,
  unmap,
  dirtyPages,
];
