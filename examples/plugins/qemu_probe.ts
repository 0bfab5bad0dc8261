/**
 * `qemu-probe`: the container probe QEMU performs at start-up (hw/vfio/container-legacy.c,
 * `vfio_legacy_setup` and friends), replayed on the current container, with what QEMU
 * would conclude from each answer:
 *
 * 1. VFIO_GET_API_VERSION must be VFIO_API_VERSION (0);
 * 2. VFIO_CHECK_EXTENSION in QEMU's order TYPE1v2, TYPE1, SPAPR_TCE_v2, SPAPR_TCE: the first
 *    non-zero answer picks the IOMMU model, none is "No available IOMMU models";
 * 3. VFIO_SET_IOMMU with it (after VFIO_GROUP_SET_CONTAINER; skip with --no-set-iommu);
 * 4. VFIO_IOMMU_GET_INFO with the argsz-grow dance: call with sizeof, and again with the
 *    argsz the kernel asked for;
 * 5. the capability walk: PGSIZES (else the host page size), DMA_AVAIL (else 65535),
 *    IOVA_RANGE, MIGRATION.
 *
 * Load it with `plugin load examples/plugins/qemu_probe.ts` or `vfsh --plugin …`.
 *
 * @module
 */

import { defineCommand, definePlugin, t, z } from "../../mod.ts";
import { decodeInfoCaps, encode, errnoName, vfio_iommu_type1_info } from "../../uapi/mod.ts";
import {
  VFIO_CHECK_EXTENSION,
  VFIO_GET_API_VERSION,
  VFIO_IOMMU_GET_INFO,
  VFIO_SET_IOMMU,
} from "../../uapi/ioctl.ts";

/** QEMU's probe order (vfio_get_iommu_type). */
export const QEMU_IOMMU_ORDER = [
  ["TYPE1v2", 3],
  ["TYPE1", 1],
  ["SPAPR_TCE_v2", 7],
  ["SPAPR_TCE", 2],
] as const;

/** QEMU's default when DMA_AVAIL is missing (vfio_get_info_dma_avail). */
export const QEMU_DEFAULT_DMA_MAPPINGS = 65535n;
const HOST_PAGE_SIZE = 4096n;

const hex = (v: bigint) => "0x" + v.toString(16);

const qemuProbe = defineCommand({
  name: "qemu-probe",
  summary: "Probe the current container as QEMU does at start-up and say what it concludes",
  options: z.object({
    "no-set-iommu": t.flag("skip VFIO_SET_IOMMU (as if another group already set it)"),
  }),
  result: z.object({
    iommu_type: t.text("the IOMMU model QEMU picks"),
    pgsizes: t.hex("page sizes QEMU will use"),
    dma_max_mappings: t.dec("DMA mappings QEMU believes it may make"),
    iova_ranges: t.ranges("usable IOVA ranges"),
    info_calls: t.dec("how many GET_INFO calls the argsz dance took"),
  }),
  principal: "iommu_type",
  examples: ["qemu-probe", "qemu-probe => iommu_type=TYPE1v2"],
  run(ctx, _args, opts) {
    const fd = ctx.state.container;
    const k = ctx.kernel;
    const lines: string[] = [];
    const say = (s: string) => lines.push(`  ${s}`);
    const refuse = (errno: number, why: string) => {
      say(`QEMU gives up: ${why}`);
      return { ...ctx.errno(errno), lines };
    };

    const version = k.ioctl(fd, VFIO_GET_API_VERSION, 0n);
    say(`VFIO_GET_API_VERSION = ${version < 0 ? errnoName(-version) : version}`);
    if (version < 0) return refuse(-version, "cannot read the API version");
    if (version !== 0) return refuse(22, `API version ${version}, QEMU supports 0`);

    let chosen: (typeof QEMU_IOMMU_ORDER)[number] | undefined;
    for (const entry of QEMU_IOMMU_ORDER) {
      const r = k.ioctl(fd, VFIO_CHECK_EXTENSION, BigInt(entry[1]));
      say(`VFIO_CHECK_EXTENSION(${entry[0]}) = ${r < 0 ? errnoName(-r) : r}`);
      if (r > 0) {
        chosen = entry;
        break;
      }
    }
    if (!chosen) return refuse(22, "No available IOMMU models");

    if (!opts["no-set-iommu"]) {
      const r = k.ioctl(fd, VFIO_SET_IOMMU, BigInt(chosen[1]));
      say(`VFIO_SET_IOMMU(${chosen[0]}) = ${r < 0 ? errnoName(-r) : r}`);
      if (r < 0) return refuse(-r, "failed to set the IOMMU type");
    }

    // The argsz-grow dance (vfio_get_iommu_info).
    let argsz = vfio_iommu_type1_info.size;
    let buf: Uint8Array;
    let calls = 0;
    for (;;) {
      buf = encode(vfio_iommu_type1_info, { argsz });
      const r = k.ioctl(fd, VFIO_IOMMU_GET_INFO, buf);
      calls++;
      if (r < 0) {
        say(`VFIO_IOMMU_GET_INFO(argsz=${argsz}) = ${errnoName(-r)}`);
        return refuse(-r, "VFIO_IOMMU_GET_INFO failed, the container cannot be used");
      }
      const want = new DataView(buf.buffer).getUint32(0, true);
      say(`VFIO_IOMMU_GET_INFO(argsz=${argsz}) = 0, argsz=${want}`);
      if (want <= argsz || calls >= 4) break;
      argsz = want;
    }
    const view = new DataView(buf.buffer);
    const flags = view.getUint32(4, true);
    let pgsizes = view.getBigUint64(8, true);
    if (!(flags & 1)) {
      pgsizes = HOST_PAGE_SIZE;
      say(`no PGSIZES flag: QEMU uses the host page size ${hex(pgsizes)}`);
    }
    let dma = QEMU_DEFAULT_DMA_MAPPINGS;
    let sawAvail = false;
    let ranges: { start: bigint; end: bigint }[] | undefined;
    const chain = decodeInfoCaps(buf);
    for (const cap of chain.caps) {
      if (cap.kind === "dma_avail") {
        dma = cap.fields.avail;
        sawAvail = true;
        say(`cap DMA_AVAIL: ${dma} mappings`);
      } else if (cap.kind === "iova_range") {
        ranges = cap.ranges;
        say(
          `cap IOVA_RANGE: ${
            (ranges ?? []).map((r) => `[${hex(r.start)}-${hex(r.end)}]`).join(" ")
          }`,
        );
      } else if (cap.kind === "migration") {
        say(`cap MIGRATION: dirty page sizes ${hex(cap.fields.pgsize_bitmap)}`);
      } else say(`cap id ${cap.id}: QEMU ignores it`);
    }
    if (chain.error) say(`capability chain: ${chain.error}`);
    if (!sawAvail) say(`no DMA_AVAIL: QEMU assumes ${dma} mappings`);
    if (!ranges) say("no IOVA_RANGE: QEMU assumes the whole 64-bit space");
    say(
      `QEMU concludes: VFIO_${chosen[0]}_IOMMU, page sizes ${hex(pgsizes)}, ` +
        `up to ${dma} DMA mappings`,
    );
    return {
      ...ctx.ok({
        iommu_type: chosen[0],
        pgsizes,
        dma_max_mappings: dma,
        iova_ranges: ranges,
        info_calls: BigInt(calls),
      }),
      lines,
    };
  },
});

/** The plugin: one command, `qemu-probe`. */
export default definePlugin({
  name: "qemu-probe",
  version: "0.1.0",
  description: "QEMU's container probe at start-up",
  commands: [qemuProbe],
});
