/**
 * Client presets (`--like qemu|dpdk|spdk|rust-vmm`): a result post-processor that says, after
 * each result, what that client would conclude from it, so a user can ask "would this
 * sequence break QEMU on iommufd?". The policies are the error tolerances each client's
 * source applies (shared/reference/clients.md):
 *
 * - QEMU: a failed DMA map is fatal once the guest runs ("DMA mapping failed, unable to
 *   continue"), EBUSY on the legacy map is retried after an unmap; its iommufd backend treats
 *   ENOENT from IOMMU_IOAS_UNMAP as success; other unmap errors are reported and it goes on.
 * - DPDK (type1 container): EEXIST on map is "already mapped, skipping"; an unmap must succeed
 *   and return exactly the requested size, else EIO; failed SET_IOMMU types are skipped.
 * - SPDK: a failed map is logged and ignored ("Cannot set up DMA mapping, error N, ignored").
 * - rust-vmm (vfio-ioctls, and its iommufd path): any map or unmap error is an error, and an
 *   unmap must return exactly the requested size (`InvalidDmaUnmapSize`).
 *
 * @module
 */

import { errnoName } from "../uapi/errno.ts";
import type { FieldValue, ShellState } from "./plugin_core.ts";
import type { FieldSpec } from "./registry.ts";

/** The clients with a preset. */
export const CLIENT_NAMES = ["qemu", "dpdk", "spdk", "rust-vmm"] as const;

/** One of {@link CLIENT_NAMES}. */
export type ClientName = typeof CLIENT_NAMES[number];

/** Whether `name` names a preset. */
export function isClientName(name: string): name is ClientName {
  return (CLIENT_NAMES as readonly string[]).includes(name);
}

/** A command's result as the session hands it to post-processors. */
export interface ResultEvent {
  /** The command's registered name (`unmap`, `ioas unmap`). */
  readonly command: string;
  /** The statement as written. */
  readonly text: string;
  /** The script (`<line>` at the prompt) and line. */
  readonly file: string;
  readonly line: number;
  /** 0 or the errno. */
  readonly errno: number;
  readonly fields: Readonly<Record<string, FieldValue>>;
  /** The command's declared result fields. */
  readonly formats: ReadonlyMap<string, FieldSpec>;
  /** Its arguments and options as parsed. */
  readonly args: Readonly<Record<string, unknown>>;
  readonly options: Readonly<Record<string, unknown>>;
  /** The session's state. */
  readonly state: ShellState;
}

/** Which DMA ioctl a result came from, as far as presets care. */
type DmaOp = "MAP_DMA" | "UNMAP_DMA" | "IOAS_MAP" | "IOAS_UNMAP" | "SET_IOMMU" | "other";

/** The ioctl behind a result (`map`/`unmap` in iommufd mode say so in their `ioctl` field). */
export function dmaOp(e: ResultEvent): DmaOp {
  const via = e.fields.ioctl;
  switch (e.command) {
    case "map":
      return via === "IOMMU_IOAS_MAP" ? "IOAS_MAP" : "MAP_DMA";
    case "unmap":
      return via === "IOMMU_IOAS_UNMAP" ? "IOAS_UNMAP" : "UNMAP_DMA";
    case "ioas map":
      return "IOAS_MAP";
    case "ioas unmap":
      return "IOAS_UNMAP";
    case "set-iommu":
      return "SET_IOMMU";
    default:
      return "other";
  }
}

/** The size an unmap asked for (undefined for "everything"). */
function requestedSize(e: ResultEvent): bigint | undefined {
  if (e.options.all === true) return undefined;
  const s = e.args.size;
  return typeof s === "bigint" ? s : undefined;
}

/** The size an unmap reports. */
function unmappedSize(e: ResultEvent): bigint | undefined {
  const v = e.fields.unmapped;
  return typeof v === "bigint" ? v : undefined;
}

function generic(e: ResultEvent): string {
  return e.errno === 0 ? "ok" : errnoName(e.errno);
}

/** What `client` concludes from one result. */
export function clientVerdict(client: ClientName, e: ResultEvent): string {
  const op = dmaOp(e);
  const err = e.errno === 0 ? "" : errnoName(e.errno);
  switch (client) {
    case "qemu":
      if (op === "MAP_DMA" || op === "IOAS_MAP") {
        if (e.errno === 0) return "ok";
        if (op === "MAP_DMA" && err === "EBUSY") return "unmaps the range and retries once";
        if (op === "IOAS_MAP" && err === "EFAULT") {
          return "fatal: IOMMU_IOAS_MAP failed: Bad address, PCI BAR?";
        }
        return `fatal: ${err}, DMA mapping failed, unable to continue`;
      }
      if (op === "IOAS_UNMAP" && err === "ENOENT") return "ok, ENOENT taken as success";
      if (op === "UNMAP_DMA" || op === "IOAS_UNMAP") {
        return e.errno === 0 ? "ok" : `${err} reported, goes on`;
      }
      return generic(e);
    case "dpdk":
      if (op === "IOAS_MAP" || op === "IOAS_UNMAP") return "n/a, DPDK drives a type1 container";
      if (op === "MAP_DMA") {
        if (err === "EEXIST") return "ok, already mapped, skipping";
        return generic(e);
      }
      if (op === "UNMAP_DMA") {
        if (e.errno !== 0) return err;
        const want = requestedSize(e), got = unmappedSize(e);
        if (want !== undefined && got !== undefined && got !== want) {
          return "EIO, unmap size mismatch";
        }
        return "ok";
      }
      if (op === "SET_IOMMU" && e.errno !== 0) return `${err}, tries the next IOMMU type`;
      return generic(e);
    case "spdk":
      if ((op === "MAP_DMA" || op === "IOAS_MAP") && e.errno !== 0) {
        return `ignored, logs "Cannot set up DMA mapping, error ${-e.errno}"`;
      }
      return generic(e);
    case "rust-vmm":
      if (op === "MAP_DMA" || op === "IOAS_MAP") {
        return e.errno === 0 ? "ok" : `IommuDmaMap error (${err})`;
      }
      if (op === "UNMAP_DMA" || op === "IOAS_UNMAP") {
        if (e.errno !== 0) return `IommuDmaUnmap error (${err})`;
        const want = requestedSize(e), got = unmappedSize(e);
        if (want !== undefined && got !== undefined && got !== want) {
          return "InvalidDmaUnmapSize";
        }
        return "ok";
      }
      return generic(e);
  }
}

const PRESETS = new WeakMap<ShellState, ClientName>();
/** Commands that are the shell's or the simulator's, not something a client does. */
const NOT_CLIENT_ACTIONS = /^(sim |mode$|like$|mappings$|mem |test )/;

/** Choose the session's preset (undefined: none). */
export function setClientPreset(state: ShellState, client: ClientName | undefined): void {
  if (client === undefined) PRESETS.delete(state);
  else PRESETS.set(state, client);
}

/** The session's preset, if any. */
export function clientPresetOf(state: ShellState): ClientName | undefined {
  return PRESETS.get(state);
}

/** The note the session prints after a result under a preset (`[qemu: ok]`), if any. */
export function clientNote(e: ResultEvent): string | undefined {
  const c = PRESETS.get(e.state);
  if (c === undefined || NOT_CLIENT_ACTIONS.test(e.command)) return undefined;
  return `[${c}: ${clientVerdict(c, e)}]`;
}
