/**
 * Decoding of the VFIO_IOMMU_GET_INFO capability chain. The chain comes from the kernel (or
 * from a user exploring truncation), so the decoder trusts nothing: every header and body is
 * bounds-checked, `next` offsets must stay inside the buffer and past the fixed struct, and
 * a cycle ends the walk. It never throws; a problem is reported in `error` beside whatever
 * was decoded before it.
 *
 * @module
 */

import { decode, readField } from "./codec.ts";
import { VFIO_IOMMU_TYPE1_INFO_CAPS } from "./constants.ts";
import {
  vfio_info_cap_header,
  vfio_iommu_type1_info,
  vfio_iommu_type1_info_cap_iova_range,
  vfio_iommu_type1_info_cap_migration,
  vfio_iommu_type1_info_dma_avail,
  vfio_iova_range,
} from "./structs.ts";
import type { StructDesc } from "./structs.ts";

/** An inclusive IOVA range. */
export interface IovaRange {
  start: bigint;
  end: bigint;
}

/** One decoded capability. */
export interface InfoCap {
  /** Offset of the header from the start of the info buffer. */
  offset: number;
  id: number;
  version: number;
  next: number;
  /** `"iova_range"`, `"migration"`, `"dma_avail"`, or `"unknown"` for an id we do not know. */
  kind: "iova_range" | "migration" | "dma_avail" | "unknown";
  /** The capability's own fields (header included), decoded from its description. */
  fields: Record<string, bigint>;
  /** For IOVA_RANGE: the ranges. */
  ranges?: IovaRange[];
}

/** Result of {@link decodeInfoCaps}. */
export interface CapChain {
  caps: InfoCap[];
  /** Why the walk stopped early, if it did. */
  error?: string;
}

const CAP_IDS = VFIO_IOMMU_TYPE1_INFO_CAPS.values;
const BODY: Record<number, [InfoCap["kind"], StructDesc]> = {
  [CAP_IDS.VFIO_IOMMU_TYPE1_INFO_CAP_IOVA_RANGE]: [
    "iova_range",
    vfio_iommu_type1_info_cap_iova_range,
  ],
  [CAP_IDS.VFIO_IOMMU_TYPE1_INFO_CAP_MIGRATION]: [
    "migration",
    vfio_iommu_type1_info_cap_migration,
  ],
  [CAP_IDS.VFIO_IOMMU_TYPE1_INFO_DMA_AVAIL]: ["dma_avail", vfio_iommu_type1_info_dma_avail],
};

/**
 * Walk the capability chain of a `vfio_iommu_type1_info` buffer as the kernel filled it.
 * Starts at `cap_offset` (no caps when it is 0 or the buffer is too short to hold it).
 */
export function decodeInfoCaps(buf: Uint8Array): CapChain {
  const caps: InfoCap[] = [];
  const info = decode(vfio_iommu_type1_info, buf);
  const first = Number(info.cap_offset ?? 0n);
  if (first === 0) return { caps };
  const view = new DataView(buf.buffer, buf.byteOffset, buf.byteLength);
  const seen = new Set<number>();
  let offset = first;
  while (offset !== 0) {
    if (offset < vfio_iommu_type1_info.size) {
      return { caps, error: `capability offset ${offset} points into the fixed info struct` };
    }
    if (offset + vfio_info_cap_header.size > buf.byteLength) {
      return {
        caps,
        error: `capability at ${offset} lies outside the ${buf.byteLength}-byte buffer`,
      };
    }
    if (seen.has(offset)) return { caps, error: `capability chain loops back to offset ${offset}` };
    seen.add(offset);
    const at = new DataView(buf.buffer, buf.byteOffset + offset, buf.byteLength - offset);
    const id = Number(readField(at, vfio_info_cap_header.fields[0]));
    const version = Number(readField(at, vfio_info_cap_header.fields[1]));
    const next = Number(readField(at, vfio_info_cap_header.fields[2]));
    const [kind, desc] = BODY[id] ?? ["unknown", vfio_info_cap_header];
    if (offset + desc.size > buf.byteLength) {
      return {
        caps,
        error: `capability ${id} at ${offset} is truncated: needs ${desc.size} bytes, ` +
          `${buf.byteLength - offset} left`,
      };
    }
    const fields = decode(desc, buf.subarray(offset, offset + desc.size));
    const cap: InfoCap = { offset, id, version, next, kind, fields };
    if (kind === "iova_range") {
      const n = Number(fields.nr_iovas);
      const need = desc.size + n * vfio_iova_range.size;
      if (offset + need > buf.byteLength) {
        caps.push(cap);
        return {
          caps,
          error: `IOVA_RANGE at ${offset} claims ${n} ranges (${need} bytes), ` +
            `${buf.byteLength - offset} left`,
        };
      }
      cap.ranges = [];
      for (let i = 0; i < n; i++) {
        const base = offset + desc.size + i * vfio_iova_range.size;
        cap.ranges.push({
          start: view.getBigUint64(base, true),
          end: view.getBigUint64(base + 8, true),
        });
      }
    }
    caps.push(cap);
    offset = next;
  }
  return { caps };
}
