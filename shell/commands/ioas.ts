/**
 * The native iommufd IOAS commands: `ioas alloc/get/set/clear/map/unmap/copy/iova-ranges/
 * allow-iovas`, `destroy`, `option`.
 *
 * @module
 */

import {
  IOMMU_DESTROY,
  IOMMU_IOAS_ALLOC,
  IOMMU_IOAS_ALLOW_IOVAS,
  IOMMU_IOAS_COPY,
  IOMMU_IOAS_IOVA_RANGES,
  IOMMU_IOAS_MAP,
  IOMMU_IOAS_UNMAP,
  IOMMU_OPTION,
  IOMMU_VFIO_IOAS,
} from "../../uapi/ioctl.ts";
import {
  iommu_destroy,
  iommu_ioas_alloc,
  iommu_ioas_allow_iovas,
  iommu_ioas_copy,
  iommu_ioas_iova_ranges,
  iommu_ioas_map,
  iommu_ioas_unmap,
  iommu_option,
  iommu_vfio_ioas,
} from "../../uapi/structs.ts";
import { E } from "../../uapi/errno.ts";
import { U64_MAX } from "../../uapi/constants.ts";
import type { Range } from "../../dsl/values.ts";
import { type Command, type CommandContext, defineCommand, t, z } from "./_api.ts";
import {
  addArea,
  areaKey,
  container,
  freshMemory,
  iommufdOverrides,
  iommufdPerm,
  outField,
  readUser,
  releaseMemory,
  removeAreas,
  sendStruct,
  sendStructShared,
  sizeOverride,
  withScratch,
} from "./_util.ts";

const ioasId = (what = "IOAS id") => t.int(what, { bits: 32, label: "ID" });

const alloc = defineCommand({
  name: "ioas alloc",
  summary: "IOMMU_IOAS_ALLOC: a new, empty IO address space",
  options: z.object(iommufdOverrides),
  result: z.object({ id: t.dec("the new IOAS id") }),
  examples: ["ioas alloc => 1", "let ioas = ioas alloc"],
  run(ctx, _a, o) {
    const r = sendStruct(ctx, container(ctx), IOMMU_IOAS_ALLOC, iommu_ioas_alloc, {}, o);
    return r.ret < 0 ? ctx.errno(-r.ret) : ctx.ok({ id: r.out.out_ioas_id });
  },
});

function vfioIoas(ctx: CommandContext, op: number, id: bigint, o: { size?: bigint }) {
  return sendStruct(ctx, container(ctx), IOMMU_VFIO_IOAS, iommu_vfio_ioas, { op, ioas_id: id }, o);
}

const get = defineCommand({
  name: "ioas get",
  summary: "IOMMU_VFIO_IOAS GET: which IOAS the VFIO compat ioctls use",
  options: z.object(sizeOverride),
  result: z.object({ id: t.dec("the compat IOAS id") }),
  examples: ["ioas get => ENODEV"],
  run(ctx, _a, o) {
    const r = vfioIoas(ctx, 0, 0n, o);
    return r.ret < 0 ? ctx.errno(-r.ret) : ctx.ok({ id: r.out.ioas_id });
  },
});

const set = defineCommand({
  name: "ioas set",
  summary: "IOMMU_VFIO_IOAS SET: the VFIO compat ioctls use IOAS ID from now on",
  args: z.object({ id: ioasId() }),
  options: z.object(sizeOverride),
  examples: ["ioas set $ioas"],
  run(ctx, { id }, o) {
    const r = vfioIoas(ctx, 1, id, o);
    if (r.ret < 0) return ctx.errno(-r.ret);
    ctx.state.compatIoas.set(container(ctx), Number(id));
    return ctx.ok();
  },
});

const clear = defineCommand({
  name: "ioas clear",
  summary: "IOMMU_VFIO_IOAS CLEAR: the VFIO compat ioctls have no IOAS",
  options: z.object(sizeOverride),
  run(ctx, _a, o) {
    const r = vfioIoas(ctx, 2, 0n, o);
    if (r.ret < 0) return ctx.errno(-r.ret);
    ctx.state.compatIoas.delete(container(ctx));
    return ctx.ok();
  },
});

const map = defineCommand({
  name: "ioas map",
  summary: "IOMMU_IOAS_MAP: map at a fixed IOVA, or `-` to let the kernel choose",
  args: z.object({
    id: ioasId(),
    iova: t.auto("IO virtual address, or - for the kernel to choose", { label: "IOVA|-" }),
    size: t.size("bytes to map"),
    perm: t.perm(),
  }),
  options: z.object({
    vaddr: t.int("map this user address instead of fresh anonymous memory", { label: "ADDR" })
      .optional(),
    ...iommufdOverrides,
  }),
  result: z.object({ iova: t.hex("the IOVA mapped"), vaddr: t.vaddr("user memory behind it") }),
  examples: ["ioas map $ioas 0x100000 2M rw", "let iova = ioas map $ioas - 4K rw"],
  run(ctx, { id, iova, size, perm }, o) {
    const fixed = iova !== "-";
    const fresh = o.vaddr === undefined;
    const vaddr = o.vaddr ?? freshMemory(ctx, size);
    const flags = (fixed ? 1 : 0) | iommufdPerm(perm);
    const fd = container(ctx);
    const r = sendStructShared(ctx, fd, IOMMU_IOAS_MAP, iommu_ioas_map, {
      flags,
      ioas_id: id,
      user_va: vaddr,
      length: size,
      iova: fixed ? iova : 0n,
    }, o);
    if (r.ret < 0) {
      if (fresh) releaseMemory(ctx, vaddr);
      return ctx.errno(-r.ret);
    }
    const got = outField(r, "iova");
    if (size > 0n) {
      addArea(ctx.state, areaKey(ctx.state, fd, id), {
        iova: got,
        last: got + size - 1n,
        vaddr,
        prot: (perm.includes("r") ? 1 : 0) | (perm.includes("w") ? 2 : 0),
      });
    }
    return ctx.ok({ iova: got, vaddr });
  },
});

const unmap = defineCommand({
  name: "ioas unmap",
  summary: "IOMMU_IOAS_UNMAP of [IOVA, IOVA+SIZE), or everything with --all",
  usage: "ioas unmap ID IOVA SIZE | ioas unmap ID --all  [--size N]",
  args: z.object({
    id: ioasId(),
    iova: t.int("IO virtual address", { label: "IOVA" }).optional(),
    size: t.size("bytes to unmap").optional(),
  }),
  options: z.object({ all: t.flag("iova 0, length U64_MAX: unmap everything"), ...sizeOverride }),
  result: z.object({ unmapped: t.hex("bytes the kernel unmapped") }),
  principal: "unmapped",
  examples: ["ioas unmap $ioas 0x100000 2M => unmapped=0x200000", "ioas unmap $ioas --all"],
  run(ctx, { id, iova, size }, o) {
    if (!o.all && (iova === undefined || size === undefined)) {
      ctx.fail("needs IOVA SIZE, or --all (usage: ioas unmap ID IOVA SIZE | ioas unmap ID --all)");
    }
    const start = o.all ? iova ?? 0n : iova!;
    const length = o.all ? size ?? U64_MAX : size!;
    const fd = container(ctx);
    const r = sendStructShared(ctx, fd, IOMMU_IOAS_UNMAP, iommu_ioas_unmap, {
      ioas_id: id,
      iova: start,
      length,
    }, o);
    if (r.ret < 0) return ctx.errno(-r.ret);
    if (length > 0n) {
      const last = start + length - 1n;
      removeAreas(ctx.state, areaKey(ctx.state, fd, id), start, last > U64_MAX ? U64_MAX : last);
    }
    return ctx.ok({ unmapped: outField(r, "length") });
  },
});

const copy = defineCommand({
  name: "ioas copy",
  summary: "IOMMU_IOAS_COPY: map the pages behind SRC's SRC_IOVA into DST at DST_IOVA (or -)",
  args: z.object({
    dst: ioasId("destination IOAS id"),
    src: ioasId("source IOAS id"),
    src_iova: t.int("IOVA in the source", { label: "SRC_IOVA" }),
    dst_iova: t.auto("IOVA in the destination, or - for the kernel to choose", {
      label: "DST_IOVA",
    }),
    size: t.size("bytes to copy"),
    perm: t.perm(),
  }),
  options: z.object(iommufdOverrides),
  result: z.object({ iova: t.hex("the destination IOVA") }),
  examples: ["ioas copy $b $a 0x100000 0x100000 2M rw"],
  run(ctx, a, o) {
    const fixed = a.dst_iova !== "-";
    const r = sendStruct(ctx, container(ctx), IOMMU_IOAS_COPY, iommu_ioas_copy, {
      flags: (fixed ? 1 : 0) | iommufdPerm(a.perm),
      dst_ioas_id: a.dst,
      src_ioas_id: a.src,
      length: a.size,
      dst_iova: a.dst_iova === "-" ? 0n : a.dst_iova,
      src_iova: a.src_iova,
    }, o);
    return r.ret < 0 ? ctx.errno(-r.ret) : ctx.ok({ iova: r.out.dst_iova });
  },
});

const iovaRanges = defineCommand({
  name: "ioas iova-ranges",
  summary: "IOMMU_IOAS_IOVA_RANGES: the usable IOVA ranges and the required alignment",
  description: "Does what QEMU and libvfn do: a first call with num_iovas=0, which answers\n" +
    "EMSGSIZE with the number of ranges; then a second call with an array that large in user\n" +
    "memory.",
  args: z.object({ id: ioasId() }),
  options: z.object(sizeOverride),
  result: z.object({
    num_iovas: t.dec("number of ranges"),
    iova_ranges: t.ranges("usable IOVA ranges (inclusive)"),
    alignment: t.hex("out_iova_alignment: required IOVA and length alignment"),
  }),
  principal: "num_iovas",
  examples: ["ioas iova-ranges $ioas => iova_ranges=[0x0-0xffffffffffffffff] alignment=0x1"],
  run(ctx, { id }, o) {
    const fd = container(ctx);
    const first = sendStruct(ctx, fd, IOMMU_IOAS_IOVA_RANGES, iommu_ioas_iova_ranges, {
      ioas_id: id,
      num_iovas: 0,
      allowed_iovas: 0n,
    }, o);
    if (first.ret >= 0) {
      return ctx.ok({
        num_iovas: first.out.num_iovas,
        iova_ranges: [],
        alignment: first.out.out_iova_alignment,
      });
    }
    if (-first.ret !== E.EMSGSIZE) return ctx.errno(-first.ret);
    // EMSGSIZE: the struct was written back with the count; read it from the buffer.
    const n = new DataView(first.buf.buffer).getUint32(8, true);
    const bytes = BigInt(Math.max(1, n) * 16);
    return withScratch(ctx, bytes, `${n} ranges`, (addr) => {
      const second = sendStruct(ctx, fd, IOMMU_IOAS_IOVA_RANGES, iommu_ioas_iova_ranges, {
        ioas_id: id,
        num_iovas: n,
        allowed_iovas: addr,
      }, o);
      if (second.ret < 0) return ctx.errno(-second.ret);
      const got = Number(second.out.num_iovas);
      const raw = readUser(ctx, addr, Math.min(got, n) * 16);
      const view = new DataView(raw.buffer);
      const ranges: Range[] = [];
      for (let i = 0; i < Math.min(got, n); i++) {
        ranges.push({
          start: view.getBigUint64(i * 16, true),
          end: view.getBigUint64(i * 16 + 8, true),
        });
      }
      return ctx.ok({
        num_iovas: BigInt(got),
        iova_ranges: ranges,
        alignment: second.out.out_iova_alignment,
      });
    });
  },
});

const allowIovas = defineCommand({
  name: "ioas allow-iovas",
  summary: "IOMMU_IOAS_ALLOW_IOVAS: restrict the IOAS to these ranges (none: clear the list)",
  args: z.object({ id: ioasId(), ranges: z.array(t.range("START-END, inclusive end")) }),
  options: z.object(sizeOverride),
  examples: ["ioas allow-iovas $ioas 0x100000-0x1fffff 0x400000-0x7fffff"],
  run(ctx, { id, ranges }, o) {
    const list = ranges as Range[];
    let addr = 0n;
    if (list.length) {
      const bytes = new Uint8Array(list.length * 16);
      const view = new DataView(bytes.buffer);
      list.forEach((r, i) => {
        view.setBigUint64(i * 16, r.start, true);
        view.setBigUint64(i * 16 + 8, r.end, true);
      });
      addr = ctx.userBytes(bytes);
    }
    const r = sendStruct(ctx, container(ctx), IOMMU_IOAS_ALLOW_IOVAS, iommu_ioas_allow_iovas, {
      ioas_id: id,
      num_iovas: list.length,
      allowed_iovas: addr,
    }, o);
    return r.ret < 0 ? ctx.errno(-r.ret) : ctx.ok();
  },
});

const destroy = defineCommand({
  name: "destroy",
  summary: "IOMMU_DESTROY: destroy any iommufd object (IOAS, hw pagetable, mock device…)",
  args: z.object({ id: t.int("object id", { bits: 32, label: "ID" }) }),
  options: z.object(sizeOverride),
  examples: ["destroy $ioas", "destroy 99 => ENOENT"],
  run(ctx, { id }, o) {
    const fd = container(ctx);
    const r = sendStruct(ctx, fd, IOMMU_DESTROY, iommu_destroy, { id }, o);
    if (r.ret < 0) return ctx.errno(-r.ret);
    ctx.state.areas.delete(areaKey(ctx.state, fd, id));
    if (ctx.state.compatIoas.get(fd) === Number(id)) ctx.state.compatIoas.delete(fd);
    return ctx.ok();
  },
});

function option(
  ctx: CommandContext,
  optionId: number,
  objectId: bigint,
  value: bigint | undefined,
  o: { size?: bigint },
) {
  const r = sendStruct(ctx, container(ctx), IOMMU_OPTION, iommu_option, {
    option_id: optionId,
    op: value === undefined ? 1 : 0,
    object_id: objectId,
    val64: value ?? 0n,
  }, o);
  return r.ret < 0 ? ctx.errno(-r.ret) : ctx.ok({ value: r.out.val64 });
}

const hugePages = defineCommand({
  name: "option huge-pages",
  summary: "IOMMU_OPTION HUGE_PAGES on an IOAS: GET without a value, SET with on, off or N",
  args: z.object({
    id: ioasId(),
    value: t.int("on (1), off (0) or a number; leave out to GET", {
      set: "on_off",
      label: "on|off|N",
    }).optional(),
  }),
  options: z.object(sizeOverride),
  result: z.object({ value: t.dec("1: huge pages allowed, 0: PAGE_SIZE only") }),
  examples: ["option huge-pages $ioas => 1", "option huge-pages $ioas off"],
  run(ctx, { id, value }, o) {
    return option(ctx, 1, id, value, o);
  },
});

const rlimitMode = defineCommand({
  name: "option rlimit-mode",
  summary: "IOMMU_OPTION RLIMIT_MODE: GET without a value, SET with user, mm or N",
  args: z.object({
    value: t.int("user (0), mm (1) or a number; leave out to GET", {
      set: "rlimit_mode",
      label: "user|mm|N",
    }).optional(),
  }),
  options: z.object(sizeOverride),
  result: z.object({ value: t.dec("0: per user, 1: per mm") }),
  examples: ["option rlimit-mode => 0"],
  run(ctx, { value }, o) {
    return option(ctx, 0, 0n, value, o);
  },
});

/** The native iommufd commands. */
export const ioasCommands: Command[] = [
  alloc,
  get,
  set,
  clear,
  map,
  unmap,
  copy,
  iovaRanges,
  allowIovas,
  destroy,
  hugePages,
  rlimitMode,
];
