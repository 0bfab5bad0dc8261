/**
 * `mappings`, the raw `ioctl`, and the kernel selftest operations (`test mock-domain`,
 * `test add-reserved`).
 *
 * @module
 */

import { IOMMU_TEST_CMD, requestByName } from "../../uapi/ioctl.ts";
import { iommu_test_cmd } from "../../uapi/structs.ts";
import { parseInteger } from "../../dsl/number.ts";
import type { Row } from "../../dsl/values.ts";
import { IOMMU_TEST_OPS } from "../../uapi/constants.ts";
import { type Command, defineCommand, t, z } from "./_api.ts";
import { areaKey, container, MAX_BUFFER, permText, sendStruct, sizeOverride } from "./_util.ts";

const mappings = defineCommand({
  name: "mappings",
  summary: "The areas of an IOAS as a table (simulator: exact; kernel: what this shell mapped)",
  args: z.object({
    id: t.int("IOAS id (default: the one the VFIO compat ioctls use)", { bits: 32, label: "ID" })
      .optional(),
  }),
  result: z.object({
    count: t.dec("number of areas"),
    rows: t.rows("iova, last, vaddr, perm, pinned"),
  }),
  principal: "count",
  examples: ["mappings", "mappings $ioas => count=2"],
  run(ctx, { id }) {
    const fd = container(ctx);
    const sim = ctx.kernel.simulator;
    let rows: Row[];
    if (sim) {
      const got = sim.mappings(fd, id === undefined ? undefined : Number(id));
      if (typeof got === "number") return ctx.errno(got < 0 ? -got : got);
      rows = got.map((m) => ({
        iova: m.iova,
        last: m.last,
        vaddr: m.vaddr,
        perm: permText(m.prot),
        pinned: m.pinned,
      }));
    } else {
      const list = ctx.state.areas.get(areaKey(ctx.state, fd, id)) ?? [];
      rows = list.map((a) => ({
        iova: a.iova,
        last: a.last,
        vaddr: a.vaddr,
        perm: permText(a.prot),
      }));
    }
    return ctx.ok({ count: BigInt(rows.length), rows });
  },
});

const ioctl = defineCommand({
  name: "ioctl",
  summary: "A raw ioctl on the current container, with a raw argument buffer",
  description: "REQUEST is a name (VFIO_GET_API_VERSION, IOMMU_IOAS_ALLOC, IOAS_MAP…) or a\n" +
    "number. HEX_BYTES is the argument buffer; if its first u32 (argsz/size) is larger than\n" +
    "the bytes given, the buffer is zero-padded to that size. Without bytes the argument is\n" +
    "--value (default 0), passed by value.",
  args: z.object({
    request: t.string("request name or number", { label: "REQUEST" }),
    bytes: t.bytes("the argument buffer, in hex").optional(),
  }),
  options: z.object({
    value: t.int("a by-value argument (CHECK_EXTENSION, SET_IOMMU)", { label: "N" }).optional(),
    fd: t.int("issue it on this fd instead of the current container", { bits: 31, label: "FD" })
      .optional(),
  }),
  result: z.object({
    ret: t.dec("the ioctl's return value"),
    bytes: t.hexBytes("the buffer after the call"),
  }),
  principal: "ret",
  examples: [
    "ioctl VFIO_GET_API_VERSION => 0",
    "ioctl IOMMU_IOAS_ALLOC 0c000000 00000000 00000000",
    "ioctl 0x3b65 --value 3 => 1",
  ],
  run(ctx, { request, bytes }, o) {
    const num = parseInteger(request);
    if (num !== undefined && num > 0xffffffffn) {
      return ctx.fail(`request ${request} does not fit 32 bits (0 … 0xffffffff)`);
    }
    const req = num !== undefined ? Number(num) : requestByName(request)?.request;
    if (req === undefined) {
      return ctx.fail(`unknown request '${request}' (a name like VFIO_IOMMU_MAP_DMA, or a number)`);
    }
    const fd = o.fd !== undefined ? Number(o.fd) : container(ctx);
    if (!bytes) {
      const r = ctx.kernel.ioctl(fd, req, o.value ?? 0n);
      return ctx.fromRet(r, { ret: BigInt(r) });
    }
    let buf = bytes as Uint8Array;
    if (buf.length >= 4) {
      const size = new DataView(buf.buffer, buf.byteOffset).getUint32(0, true);
      if (size > buf.length) {
        if (size > MAX_BUFFER) {
          ctx.fail(
            `the buffer says it is ${size} bytes; the shell hands the kernel at most ${MAX_BUFFER}`,
          );
        }
        const grown = new Uint8Array(size);
        grown.set(buf);
        buf = grown;
      } else buf = buf.slice();
    } else buf = buf.slice();
    const r = ctx.kernel.ioctl(fd, req, buf);
    return ctx.fromRet(r, { ret: BigInt(r), bytes: buf });
  },
});

const { IOMMU_TEST_OP_MOCK_DOMAIN, IOMMU_TEST_OP_MOCK_DOMAIN_FLAGS } = IOMMU_TEST_OPS.values;

const mockDomain = defineCommand({
  name: "test mock-domain",
  summary: "IOMMU_TEST_OP_MOCK_DOMAIN: bind a mock device and attach it to IOAS or hwpt ID",
  description: "Needs CONFIG_IOMMUFD_TEST on a real kernel (the simulator always has it).\n" +
    "The mock domain has 2 KiB IO pages and the aperture [0x1000000, 0x7fffffff].",
  args: z.object({ id: t.int("IOAS or hw pagetable id", { bits: 32, label: "ID" }) }),
  options: z.object({
    "dev-flags": t.constant(
      "mock_flags_device",
      "IOMMU_TEST_OP_MOCK_DOMAIN_FLAGS with these: MOCK_FLAGS_DEVICE_NO_DIRTY, …_HUGE_IOVA",
      { bits: 32, label: "FLAGS" },
    ).optional(),
    ...sizeOverride,
  }),
  result: z.object({
    stdev: t.dec("the selftest device object (destroy it to detach)"),
    hwpt: t.dec("the hw pagetable"),
    idev: t.dec("the iommufd device"),
  }),
  principal: "stdev",
  examples: [
    "test mock-domain $ioas => stdev=2 hwpt=4 idev=3",
    "let dev = test mock-domain $ioas",
    "test mock-domain $ioas --dev-flags MOCK_FLAGS_DEVICE_NO_DIRTY",
  ],
  run(ctx, { id }, o) {
    const flags = o["dev-flags"];
    const r = sendStruct(
      ctx,
      container(ctx),
      IOMMU_TEST_CMD,
      iommu_test_cmd,
      flags === undefined
        ? { op: IOMMU_TEST_OP_MOCK_DOMAIN, id }
        : { op: IOMMU_TEST_OP_MOCK_DOMAIN_FLAGS, id, "mock_domain_flags.dev_flags": flags },
      o,
    );
    if (r.ret < 0) return ctx.errno(-r.ret);
    return ctx.ok({
      stdev: r.out["mock_domain.out_stdev_id"],
      hwpt: r.out["mock_domain.out_hwpt_id"],
      idev: r.out["mock_domain.out_idev_id"],
    });
  },
});

const addReserved = defineCommand({
  name: "test add-reserved",
  summary: "IOMMU_TEST_OP_ADD_RESERVED: reserve [START, START+LENGTH) in IOAS ID",
  args: z.object({
    id: t.int("IOAS id", { bits: 32, label: "ID" }),
    start: t.int("first IOVA", { label: "START" }),
    length: t.size("bytes"),
  }),
  options: z.object(sizeOverride),
  examples: ["test add-reserved $ioas 0x80000000 1M"],
  run(ctx, { id, start, length }, o) {
    const r = sendStruct(ctx, container(ctx), IOMMU_TEST_CMD, iommu_test_cmd, {
      op: 1,
      id,
      "add_reserved.start": start,
      "add_reserved.length": length,
    }, o);
    return r.ret < 0 ? ctx.errno(-r.ret) : ctx.ok();
  },
});

/** `mappings`, `ioctl` and the selftest commands. */
export const miscCommands: Command[] = [mappings, ioctl, mockDomain, addReserved];
