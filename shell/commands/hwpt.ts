/**
 * The hw pagetable commands: `hwpt alloc` (IOMMU_HWPT_ALLOC), `hwpt dirty-tracking`
 * (IOMMU_HWPT_SET_DIRTY_TRACKING), `hwpt dirty-bitmap` (IOMMU_HWPT_GET_DIRTY_BITMAP),
 * `hwpt invalidate` (IOMMU_HWPT_INVALIDATE), and the selftest's `test replace`
 * (IOMMU_TEST_OP_MOCK_DOMAIN_REPLACE), which moves a mock device to another IOAS or hwpt.
 *
 * The flags and data are the user's to choose, as in C: nothing is added behind their back
 * (a `--fault-id` does not set IOMMU_HWPT_FAULT_ID_VALID), so every refusal can be reached.
 *
 * @module
 */

import {
  IOMMU_HWPT_ALLOC,
  IOMMU_HWPT_GET_DIRTY_BITMAP,
  IOMMU_HWPT_INVALIDATE,
  IOMMU_HWPT_SET_DIRTY_TRACKING,
  IOMMU_TEST_CMD,
} from "../../uapi/ioctl.ts";
import {
  iommu_hwpt_alloc,
  iommu_hwpt_get_dirty_bitmap,
  iommu_hwpt_invalidate,
  iommu_hwpt_set_dirty_tracking,
  iommu_test_cmd,
} from "../../uapi/structs.ts";
import { decode } from "../../uapi/codec.ts";
import { IOMMU_HWPT_INVALIDATE_DATA_TYPES, IOMMU_TEST_OPS } from "../../uapi/constants.ts";
import { type Command, type CommandContext, defineCommand, t, z } from "./_api.ts";
import {
  container,
  iommufdOverrides,
  MAX_BUFFER,
  readUser,
  sendStruct,
  setBits,
  sizeOverride,
  withScratch,
} from "./_util.ts";

const objectId = (what: string, label = "ID") => t.int(what, { bits: 32, label });
const u32 = (what: string) => t.int(what, { bits: 32, label: "N" });

/** User memory holding `bytes` (0, the NULL pointer, when there are none). */
function userData(ctx: CommandContext, bytes: Uint8Array | undefined): bigint {
  return bytes === undefined || bytes.length === 0 ? 0n : ctx.userBytes(bytes);
}

const alloc = defineCommand({
  name: "hwpt alloc",
  summary: "IOMMU_HWPT_ALLOC: a hw pagetable for device DEV on IOAS PT (or nested on hwpt PT)",
  description:
    "On an IOAS it allocates a paging hwpt; on a nest-parent hwpt or a vIOMMU, with --data,\n" +
    "a nested one. The flags are sent as given: --fault-id needs HWPT_FAULT_ID_VALID too.\n" +
    "The selftest's mock device takes HWPT_DATA_SELFTEST with a 4-byte iotlb value.",
  args: z.object({
    dev: objectId("iommufd device id (idev of test mock-domain, or a bound device)", "DEV"),
    pt: objectId("IOAS, nest-parent hwpt or vIOMMU id", "PT"),
  }),
  options: z.object({
    flags: t.constant(
      "iommu_hwpt_alloc_flags",
      "HWPT_ALLOC_NEST_PARENT, HWPT_ALLOC_DIRTY_TRACKING…; | combines",
      { bits: 32, label: "FLAGS" },
    ).default(0n),
    "data-type": t.constant("iommu_hwpt_data_type", "HWPT_DATA_NONE, HWPT_DATA_SELFTEST…", {
      bits: 32,
      label: "TYPE",
    }).default(0n),
    data: t.bytes("driver data for a nested hwpt, in hex (data_len is its length)").optional(),
    "fault-id": objectId("fault queue id (with HWPT_FAULT_ID_VALID)").default(0n),
    size: iommufdOverrides.size,
  }),
  result: z.object({ id: t.dec("the new hw pagetable id") }),
  examples: [
    "test mock-domain $ioas",
    "let idev = $last.idev",
    "hwpt alloc $idev $ioas => id=5",
    "let parent = hwpt alloc $idev $ioas --flags HWPT_ALLOC_NEST_PARENT",
    "hwpt alloc $idev $parent --data-type HWPT_DATA_SELFTEST --data 00000000",
  ],
  run(ctx, { dev, pt }, o) {
    const data = o.data;
    const r = sendStruct(ctx, container(ctx), IOMMU_HWPT_ALLOC, iommu_hwpt_alloc, {
      flags: o.flags,
      dev_id: dev,
      pt_id: pt,
      data_type: o["data-type"],
      data_len: BigInt(data?.length ?? 0),
      data_uptr: userData(ctx, data),
      fault_id: o["fault-id"],
    }, { size: o.size });
    return r.ret < 0 ? ctx.errno(-r.ret) : ctx.ok({ id: r.out.out_hwpt_id });
  },
});

const dirtyTracking = defineCommand({
  name: "hwpt dirty-tracking",
  summary: "IOMMU_HWPT_SET_DIRTY_TRACKING: start (on) or stop (off) dirty tracking of hwpt ID",
  description: "The hwpt must have been allocated with HWPT_ALLOC_DIRTY_TRACKING.",
  args: z.object({
    id: objectId("paging hwpt id"),
    state: t.choice(["on", "off"], "on: IOMMU_HWPT_DIRTY_TRACKING_ENABLE").default("on"),
  }),
  options: z.object(iommufdOverrides),
  examples: ["hwpt dirty-tracking $hwpt on", "hwpt dirty-tracking $hwpt off"],
  run(ctx, { id, state }, o) {
    const r = sendStruct(
      ctx,
      container(ctx),
      IOMMU_HWPT_SET_DIRTY_TRACKING,
      iommu_hwpt_set_dirty_tracking,
      { flags: state === "on" ? 1 : 0, hwpt_id: id },
      o,
    );
    return r.ret < 0 ? ctx.errno(-r.ret) : ctx.ok();
  },
});

const dirtyBitmap = defineCommand({
  name: "hwpt dirty-bitmap",
  summary: "IOMMU_HWPT_GET_DIRTY_BITMAP of [IOVA, IOVA+LENGTH) in hwpt ID, one bit a page",
  description: "Reads (and, unless --no-clear, clears) the dirty bits of the IO page table.\n" +
    "The bitmap the shell offers has one bit per --page-size bytes (default 4K).",
  args: z.object({
    id: objectId("paging hwpt id"),
    iova: t.int("first IOVA", { label: "IOVA" }),
    length: t.size("bytes to report"),
  }),
  options: z.object({
    "page-size": t.int("bytes per bit of the bitmap", { label: "N" }).default(0x1000n),
    "no-clear": t.flag("IOMMU_HWPT_GET_DIRTY_BITMAP_NO_CLEAR: leave the dirty bits set"),
    ...iommufdOverrides,
  }),
  result: z.object({
    dirty: t.dec("pages reported dirty"),
    bitmap: t.hexBytes("the bitmap (up to 64 bytes)"),
  }),
  principal: "dirty",
  examples: ["hwpt dirty-bitmap $hwpt 0x1000000 64K => dirty=0"],
  run(ctx, { id, iova, length }, o) {
    const pageSize = o["page-size"];
    const bits = pageSize > 0n ? (length + pageSize - 1n) / pageSize : 0n;
    const bytes = ((bits + 63n) / 64n) * 8n;
    if (bytes > BigInt(MAX_BUFFER)) {
      ctx.fail(`a ${bytes}-byte bitmap is larger than the shell will allocate`);
    }
    return withScratch(ctx, bytes, "the bitmap", (addr) => {
      const r = sendStruct(
        ctx,
        container(ctx),
        IOMMU_HWPT_GET_DIRTY_BITMAP,
        iommu_hwpt_get_dirty_bitmap,
        {
          hwpt_id: id,
          flags: o["no-clear"] ? 1 : 0,
          iova,
          length,
          page_size: pageSize,
          data: addr,
        },
        o,
      );
      if (r.ret < 0) return ctx.errno(-r.ret);
      const out = bytes > 0n ? readUser(ctx, addr, Number(bytes)) : new Uint8Array(0);
      return ctx.ok({ dirty: setBits(out), bitmap: out.length <= 64 ? out : undefined });
    });
  },
});

const { IOMMU_HWPT_INVALIDATE_DATA_VTD_S1, IOMMU_HWPT_INVALIDATE_DATA_SELFTEST } =
  IOMMU_HWPT_INVALIDATE_DATA_TYPES.values;
/** The size of one request of each invalidation data type the shell knows. */
const ENTRY_LEN: ReadonlyMap<number, number> = new Map([
  [IOMMU_HWPT_INVALIDATE_DATA_VTD_S1, 24], // struct iommu_hwpt_vtd_s1_invalidate
  [IOMMU_HWPT_INVALIDATE_DATA_TYPES.values.IOMMU_VIOMMU_INVALIDATE_DATA_ARM_SMMUV3, 16],
  [IOMMU_HWPT_INVALIDATE_DATA_SELFTEST, 8], // struct iommu_hwpt_invalidate_selftest
]);

const invalidate = defineCommand({
  name: "hwpt invalidate",
  summary:
    "IOMMU_HWPT_INVALIDATE: send ENTRIES (invalidation requests) to nested hwpt or vIOMMU ID",
  description:
    "ENTRIES are the requests back to back, in hex; entry_len defaults to the size of one\n" +
    "request of --data-type (VTD_S1 24, ARM_SMMUV3 16, SELFTEST 8; other types: all of\n" +
    "ENTRIES) and entry_num to the number of whole requests given. `done` is entry_num\n" +
    "after the call: the kernel writes back how many it handled, on failure too.",
  args: z.object({
    id: objectId("nested hwpt or vIOMMU id"),
    entries: t.bytes("the requests, in hex").optional(),
  }),
  options: z.object({
    "data-type": t.constant(
      "iommu_hwpt_invalidate_data_type",
      "HWPT_INVALIDATE_DATA_SELFTEST, HWPT_INVALIDATE_DATA_VTD_S1 (0)…",
      { bits: 32, label: "TYPE" },
    ).default(0n),
    "entry-len": u32("bytes per request (default: by --data-type)").optional(),
    "entry-num": u32("requests to send (default: as many as ENTRIES holds)").optional(),
    ...sizeOverride,
  }),
  result: z.object({ done: t.dec("requests handled (entry_num written back)") }),
  principal: "done",
  examples: [
    "hwpt invalidate $nested 01000000 00000000 --data-type HWPT_INVALIDATE_DATA_SELFTEST => done=1",
  ],
  run(ctx, { id, entries }, o) {
    const type = o["data-type"];
    const given = BigInt(entries?.length ?? 0);
    // A type the shell does not know: all the bytes given are one request.
    const entryLen = o["entry-len"] ?? BigInt(ENTRY_LEN.get(Number(type)) ?? given);
    const entryNum = o["entry-num"] ?? (entryLen > 0n ? given / entryLen : 0n);
    const r = sendStruct(ctx, container(ctx), IOMMU_HWPT_INVALIDATE, iommu_hwpt_invalidate, {
      hwpt_id: id,
      data_uptr: userData(ctx, entries),
      data_type: type,
      entry_len: entryLen,
      entry_num: entryNum,
    }, o);
    // The kernel writes entry_num back on failure too: how many requests it handled.
    const done = decode(iommu_hwpt_invalidate, r.buf).entry_num;
    return r.ret < 0 ? ctx.errno(-r.ret, { done }) : ctx.ok({ done });
  },
});

const replace = defineCommand({
  name: "test replace",
  summary: "IOMMU_TEST_OP_MOCK_DOMAIN_REPLACE: move mock device STDEV to IOAS or hwpt PT",
  description: "STDEV is the selftest device object of test mock-domain (its `stdev`).\n" +
    "`hwpt` is the hw pagetable the device is attached to afterwards.",
  args: z.object({
    stdev: objectId("selftest device object id", "STDEV"),
    pt: objectId("IOAS or hw pagetable id", "PT"),
  }),
  options: z.object(sizeOverride),
  result: z.object({ hwpt: t.dec("the hw pagetable now attached") }),
  examples: ["let dev = test mock-domain $ioas", "test replace $dev $parent => hwpt=6"],
  run(ctx, { stdev, pt }, o) {
    const r = sendStruct(ctx, container(ctx), IOMMU_TEST_CMD, iommu_test_cmd, {
      op: IOMMU_TEST_OPS.values.IOMMU_TEST_OP_MOCK_DOMAIN_REPLACE,
      id: stdev,
      "mock_domain_replace.pt_id": pt,
    }, o);
    return r.ret < 0 ? ctx.errno(-r.ret) : ctx.ok({ hwpt: r.out["mock_domain_replace.pt_id"] });
  },
});

/** The hw pagetable commands and `test replace`, for the core plugin. */
export const hwptCommands: Command[] = [alloc, dirtyTracking, dirtyBitmap, invalidate, replace];
