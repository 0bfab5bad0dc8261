/**
 * `hw-info`: IOMMU_GET_HW_INFO, what the IOMMU behind a bound device reports: its data type,
 * its driver's data (for VT-d: flags, CAP_REG, ECAP_REG), the capabilities iommufd adds and,
 * from 6.13 (6.12.117 by backport), the PASID width.
 *
 * @module
 */

import { IOMMU_GET_HW_INFO } from "../../uapi/ioctl.ts";
import { iommu_hw_info } from "../../uapi/structs.ts";
import { type Command, defineCommand, t, z } from "./_api.ts";
import { container, iommufdOverrides, readUser, sendStruct, withScratch } from "./_util.ts";

/** Room for any driver's data (VT-d 24 bytes, SMMUv3 16, the mock 8). */
const DATA_MAX = 64n;

const hwInfo = defineCommand({
  name: "hw-info",
  summary: "IOMMU_GET_HW_INFO: the IOMMU behind device ID, and the data its driver reports",
  description:
    "Passes a buffer of --data-len bytes (default 64) for the driver's data and shows\n" +
    "the bytes the kernel filled: data_len comes back as the size of the driver's struct.",
  args: z.object({ id: t.int("iommufd device id (the bound device's object id)") }),
  options: z.object({
    "data-len": t.int("bytes of the data buffer to offer").default(DATA_MAX),
    ...iommufdOverrides,
  }),
  result: z.object({
    data_type: t.hex("out_data_type: IOMMU_HW_INFO_TYPE_*"),
    data_len: t.dec("bytes of driver data written"),
    capabilities: t.hex("out_capabilities: IOMMU_HW_CAP_*"),
    max_pasid_log2: t.dec("out_max_pasid_log2"),
    data: t.hexBytes("the driver's data"),
  }),
  principal: "data_type",
  examples: ["hw-info 2", "hw-info 2 --data-len 0 => data_len=24"],
  run(ctx, { id }, o) {
    const fd = container(ctx);
    const len = o["data-len"];
    return withScratch(ctx, len, "the data", (addr) => {
      const r = sendStruct(ctx, fd, IOMMU_GET_HW_INFO, iommu_hw_info, {
        dev_id: id,
        data_len: len,
        data_uptr: addr,
      }, o);
      if (r.ret < 0) return ctx.errno(-r.ret);
      const n = r.out.data_len < len ? r.out.data_len : len;
      return ctx.ok({
        data_type: r.out.out_data_type,
        data_len: r.out.data_len,
        capabilities: r.out.out_capabilities,
        max_pasid_log2: r.out.out_max_pasid_log2,
        data: n > 0n ? readUser(ctx, addr, Number(n)) : new Uint8Array(0),
      });
    });
  },
});

/** The hw-info command, for the core plugin. */
export const hwInfoCommands: Command[] = [hwInfo];
