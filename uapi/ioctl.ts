/**
 * ioctl request numbers, described once: each request's number, the kind of fd it is meant
 * for, how its argument is passed, and its struct. Everything else (names for completion,
 * reverse lookup, the iommufd dispatch table) derives from {@link REQUESTS}.
 *
 * @module
 */

import * as S from "./structs.ts";
import type { StructDesc } from "./structs.ts";

/** `_IOC(dir, type, nr, size)` as in asm-generic/ioctl.h. */
export function _IOC(dir: number, type: number, nr: number, size: number): number {
  return ((dir << 30) | (size << 16) | (type << 8) | nr) >>> 0;
}

/** `_IO(type, nr)`: every VFIO and iommufd request uses it (dir 0, size 0). */
export function _IO(type: number, nr: number): number {
  return _IOC(0, type, nr, 0);
}

/** `_IOC_NR(cmd)`: the low 8 bits. */
export function _IOC_NR(cmd: number): number {
  return cmd & 0xff;
}

/** `VFIO_TYPE` and `IOMMUFD_TYPE`: the character `;`. */
export const VFIO_TYPE = 0x3b;
export const IOMMUFD_TYPE = VFIO_TYPE;
/** First VFIO ioctl nr. */
export const VFIO_BASE = 100;
/** First iommufd ioctl nr. */
export const IOMMUFD_CMD_BASE = 0x80;

/** Which kind of file a request is meant for. Numbers collide across kinds (abi.md §1.1). */
export type FdKind = "container" | "group" | "device" | "iommufd";

/** How the third ioctl argument is passed. */
export type ArgKind = "none" | "value" | "struct" | "s32ptr" | "string";

/** One ioctl request. */
export interface RequestDesc {
  readonly name: string;
  readonly nr: number;
  readonly request: number;
  readonly fd: FdKind;
  readonly arg: ArgKind;
  /** The struct pointed to, for `arg: "struct"`. */
  readonly struct?: StructDesc;
  /** First mainline release with the request, as `"6.2"`. */
  readonly since?: string;
}

function vfio(
  name: string,
  offset: number,
  fd: FdKind,
  arg: ArgKind,
  struct?: StructDesc,
): RequestDesc {
  const nr = VFIO_BASE + offset;
  return Object.freeze({ name, nr, request: _IO(VFIO_TYPE, nr), fd, arg, struct });
}

function iommufd(name: string, offset: number, since: string, struct?: StructDesc): RequestDesc {
  const nr = IOMMUFD_CMD_BASE + offset;
  return Object.freeze({
    name,
    nr,
    request: _IO(IOMMUFD_TYPE, nr),
    fd: "iommufd" as const,
    arg: "struct" as const,
    struct,
    since,
  });
}

/** Every request vfsh knows, VFIO first, in nr order. */
export const REQUESTS: readonly RequestDesc[] = Object.freeze([
  vfio("VFIO_GET_API_VERSION", 0, "container", "none"),
  vfio("VFIO_CHECK_EXTENSION", 1, "container", "value"),
  vfio("VFIO_SET_IOMMU", 2, "container", "value"),
  vfio("VFIO_GROUP_GET_STATUS", 3, "group", "struct", S.vfio_group_status),
  vfio("VFIO_GROUP_SET_CONTAINER", 4, "group", "s32ptr"),
  vfio("VFIO_GROUP_UNSET_CONTAINER", 5, "group", "none"),
  vfio("VFIO_GROUP_GET_DEVICE_FD", 6, "group", "string"),
  vfio("VFIO_DEVICE_GET_INFO", 7, "device", "struct"),
  vfio("VFIO_DEVICE_GET_REGION_INFO", 8, "device", "struct", S.vfio_region_info),
  vfio("VFIO_DEVICE_GET_IRQ_INFO", 9, "device", "struct"),
  vfio("VFIO_DEVICE_SET_IRQS", 10, "device", "struct"),
  vfio("VFIO_DEVICE_RESET", 11, "device", "none"),
  vfio("VFIO_IOMMU_GET_INFO", 12, "container", "struct", S.vfio_iommu_type1_info),
  vfio("VFIO_IOMMU_MAP_DMA", 13, "container", "struct", S.vfio_iommu_type1_dma_map),
  vfio("VFIO_IOMMU_UNMAP_DMA", 14, "container", "struct", S.vfio_iommu_type1_dma_unmap),
  vfio("VFIO_IOMMU_ENABLE", 15, "container", "none"),
  vfio("VFIO_IOMMU_DISABLE", 16, "container", "none"),
  vfio("VFIO_IOMMU_DIRTY_PAGES", 17, "container", "struct", S.vfio_iommu_type1_dirty_bitmap),
  iommufd("IOMMU_DESTROY", 0x00, "6.2", S.iommu_destroy),
  iommufd("IOMMU_IOAS_ALLOC", 0x01, "6.2", S.iommu_ioas_alloc),
  iommufd("IOMMU_IOAS_ALLOW_IOVAS", 0x02, "6.2", S.iommu_ioas_allow_iovas),
  iommufd("IOMMU_IOAS_COPY", 0x03, "6.2", S.iommu_ioas_copy),
  iommufd("IOMMU_IOAS_IOVA_RANGES", 0x04, "6.2", S.iommu_ioas_iova_ranges),
  iommufd("IOMMU_IOAS_MAP", 0x05, "6.2", S.iommu_ioas_map),
  iommufd("IOMMU_IOAS_UNMAP", 0x06, "6.2", S.iommu_ioas_unmap),
  iommufd("IOMMU_OPTION", 0x07, "6.2", S.iommu_option),
  iommufd("IOMMU_VFIO_IOAS", 0x08, "6.2", S.iommu_vfio_ioas),
  iommufd("IOMMU_HWPT_ALLOC", 0x09, "6.6", S.iommu_hwpt_alloc),
  iommufd("IOMMU_GET_HW_INFO", 0x0a, "6.6", S.iommu_hw_info),
  iommufd(
    "IOMMU_HWPT_SET_DIRTY_TRACKING",
    0x0b,
    "6.7",
    S.iommu_hwpt_set_dirty_tracking,
  ),
  iommufd("IOMMU_HWPT_GET_DIRTY_BITMAP", 0x0c, "6.7", S.iommu_hwpt_get_dirty_bitmap),
  iommufd("IOMMU_HWPT_INVALIDATE", 0x0d, "6.8", S.iommu_hwpt_invalidate),
  iommufd("IOMMU_FAULT_QUEUE_ALLOC", 0x0e, "6.11", S.iommu_fault_alloc),
  iommufd("IOMMU_IOAS_MAP_FILE", 0x0f, "6.13", S.iommu_ioas_map_file),
  iommufd("IOMMU_VIOMMU_ALLOC", 0x10, "6.13", S.iommu_viommu_alloc),
  iommufd("IOMMU_VDEVICE_ALLOC", 0x11, "6.13", S.iommu_vdevice_alloc),
  // Merged for 6.14 (after MAP_FILE and vIOMMU in 6.13); HW queues came with 6.17.
  iommufd("IOMMU_IOAS_CHANGE_PROCESS", 0x12, "6.14", S.iommu_ioas_change_process),
  iommufd("IOMMU_VEVENTQ_ALLOC", 0x13, "6.15", S.iommu_veventq_alloc),
  iommufd("IOMMU_HW_QUEUE_ALLOC", 0x14, "6.17", S.iommu_hw_queue_alloc),
  iommufd("IOMMU_TEST_CMD", 0x20, "6.2", S.iommu_test_cmd),
]);

const byName = new Map(REQUESTS.map((r) => [r.name, r]));

/** The request described as `name` (exact C name), or undefined. */
export function requestByName(name: string): RequestDesc | undefined {
  return byName.get(name) ?? byName.get(name.toUpperCase()) ??
    byName.get(`VFIO_${name.toUpperCase()}`) ?? byName.get(`IOMMU_${name.toUpperCase()}`);
}

/**
 * Every request whose number is `request` (several VFIO numbers are shared between fd
 * kinds, e.g. 0x3B70 is VFIO_IOMMU_GET_INFO on a container and
 * VFIO_DEVICE_GET_PCI_HOT_RESET_INFO on a device).
 */
export function requestsByNumber(request: number): RequestDesc[] {
  return REQUESTS.filter((r) => r.request === request >>> 0);
}

/** The request number of `name`; throws for an unknown name (a programming error). */
function req(name: string): number {
  const r = byName.get(name);
  if (!r) throw new Error(`unknown request ${name}`);
  return r.request;
}

// Named request numbers, for code that issues a fixed request.
export const VFIO_GET_API_VERSION = req("VFIO_GET_API_VERSION");
export const VFIO_CHECK_EXTENSION = req("VFIO_CHECK_EXTENSION");
export const VFIO_SET_IOMMU = req("VFIO_SET_IOMMU");
export const VFIO_GROUP_GET_STATUS = req("VFIO_GROUP_GET_STATUS");
export const VFIO_GROUP_SET_CONTAINER = req("VFIO_GROUP_SET_CONTAINER");
export const VFIO_GROUP_UNSET_CONTAINER = req("VFIO_GROUP_UNSET_CONTAINER");
export const VFIO_GROUP_GET_DEVICE_FD = req("VFIO_GROUP_GET_DEVICE_FD");
export const VFIO_DEVICE_GET_REGION_INFO = req("VFIO_DEVICE_GET_REGION_INFO");
export const VFIO_IOMMU_GET_INFO = req("VFIO_IOMMU_GET_INFO");
export const VFIO_IOMMU_MAP_DMA = req("VFIO_IOMMU_MAP_DMA");
export const VFIO_IOMMU_UNMAP_DMA = req("VFIO_IOMMU_UNMAP_DMA");
export const VFIO_IOMMU_ENABLE = req("VFIO_IOMMU_ENABLE");
export const VFIO_IOMMU_DISABLE = req("VFIO_IOMMU_DISABLE");
export const VFIO_IOMMU_DIRTY_PAGES = req("VFIO_IOMMU_DIRTY_PAGES");
export const IOMMU_DESTROY = req("IOMMU_DESTROY");
export const IOMMU_IOAS_ALLOC = req("IOMMU_IOAS_ALLOC");
export const IOMMU_IOAS_ALLOW_IOVAS = req("IOMMU_IOAS_ALLOW_IOVAS");
export const IOMMU_IOAS_COPY = req("IOMMU_IOAS_COPY");
export const IOMMU_IOAS_IOVA_RANGES = req("IOMMU_IOAS_IOVA_RANGES");
export const IOMMU_IOAS_MAP = req("IOMMU_IOAS_MAP");
export const IOMMU_IOAS_UNMAP = req("IOMMU_IOAS_UNMAP");
export const IOMMU_OPTION = req("IOMMU_OPTION");
export const IOMMU_VFIO_IOAS = req("IOMMU_VFIO_IOAS");
export const IOMMU_HWPT_ALLOC = req("IOMMU_HWPT_ALLOC");
export const IOMMU_GET_HW_INFO = req("IOMMU_GET_HW_INFO");
export const IOMMU_HWPT_SET_DIRTY_TRACKING = req("IOMMU_HWPT_SET_DIRTY_TRACKING");
export const IOMMU_HWPT_GET_DIRTY_BITMAP = req("IOMMU_HWPT_GET_DIRTY_BITMAP");
export const IOMMU_HWPT_INVALIDATE = req("IOMMU_HWPT_INVALIDATE");
export const IOMMU_FAULT_QUEUE_ALLOC = req("IOMMU_FAULT_QUEUE_ALLOC");
export const IOMMU_IOAS_MAP_FILE = req("IOMMU_IOAS_MAP_FILE");
export const IOMMU_VIOMMU_ALLOC = req("IOMMU_VIOMMU_ALLOC");
export const IOMMU_VDEVICE_ALLOC = req("IOMMU_VDEVICE_ALLOC");
export const IOMMU_IOAS_CHANGE_PROCESS = req("IOMMU_IOAS_CHANGE_PROCESS");
export const IOMMU_VEVENTQ_ALLOC = req("IOMMU_VEVENTQ_ALLOC");
export const IOMMU_HW_QUEUE_ALLOC = req("IOMMU_HW_QUEUE_ALLOC");
export const IOMMU_TEST_CMD = req("IOMMU_TEST_CMD");
