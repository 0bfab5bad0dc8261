/**
 * Machine controls of an audit file, translated for the real kernel. A `sim` line at the top
 * of a scenario does not call the kernel: it describes the machine the scenario runs on (a
 * module parameter, the process's RLIMIT_MEMLOCK, whether it holds CAP_IPC_LOCK). In the guest
 * the lane builds the same machine with shell tools instead, and runs a copy of the file whose
 * `sim` lines are blank, so the line numbers of everything else stay the same.
 *
 * Only controls with an exact real-kernel counterpart are translated; a file using any other
 * (`sim device add`, `sim kernel`, …) or a `sim` line after the first real command stays
 * simulator-only, and the lane says which line stopped it.
 *
 * @module
 */

import { parseInteger } from "../../dsl/number.ts";

/** vfio_iommu_type1's module parameter; present when type1 is built in (the legacy kernel). */
const DMA_ENTRY_LIMIT = "/sys/module/vfio_iommu_type1/parameters/dma_entry_limit";
/** The parameter's default (U16_MAX), restored after the run so later runs see a fresh boot. */
const DMA_ENTRY_LIMIT_DEFAULT = 65535;
/** RLIM_INFINITY, as `sim rlimit memlock` spells "unlimited". */
const U64_MAX = (1n << 64n) - 1n;
/**
 * What `sim privileged off` takes away: the capabilities the simulator grants root (locked
 * memory not charged, RLIMIT_MODE settable, SET_IOMMU(NOIOMMU)). Dropping them from the
 * bounding set before exec leaves a root process without them, with uid 0 and its files.
 */
const UNPRIVILEGED = "setpriv --bounding-set=-ipc_lock,-sys_resource,-sys_rawio --";

/** How the guest builds the machine an audit file's `sim` lines describe. */
export interface GuestMachine {
  /** 1-based numbers of the `sim` lines; the guest's copy has them blank. */
  lines: number[];
  /** Root shell lines run before the file (`if` guarded where the knob may be absent). */
  before: string[];
  /** Root shell lines run after it, putting the machine back as booted. */
  after: string[];
  /** Words put in front of the Deno command (`prlimit …`, `setpriv …`). */
  wrap: string[];
  /** The machine in a few words, for the lane's PASS/FAIL line. */
  summary: string[];
  /** The file's text as the guest runs it. */
  guestText: string;
}

/** Why a file cannot be translated: the line and what is wrong with it. */
export interface Untranslatable {
  line: number;
  why: string;
}

/** The words of a script line without its comment, or [] for a blank or comment line. */
function words(line: string): string[] {
  const hash = line.indexOf("#");
  return (hash < 0 ? line : line.slice(0, hash)).trim().split(/\s+/).filter((w) => w !== "");
}

/**
 * Translate the leading `sim` lines of `text`. Undefined when the file has no `sim` line
 * (it runs as it is); {@link Untranslatable} when one cannot be built in the guest.
 */
export function translateMachine(text: string): GuestMachine | Untranslatable | undefined {
  const lines = text.split("\n");
  const m: GuestMachine = {
    lines: [],
    before: [],
    after: [],
    wrap: [],
    summary: [],
    guestText: "",
  };
  let prlimit: bigint | undefined;
  let unprivileged = false;
  let seenCommand = false;
  for (const [i, line] of lines.entries()) {
    const w = words(line);
    if (w.length === 0) continue;
    const n = i + 1;
    if (w[0] !== "sim") {
      seenCommand = true;
      continue;
    }
    if (seenCommand) {
      return { line: n, why: `\`${w.join(" ")}\` changes the machine after the first command` };
    }
    const control = w.slice(1).join(" ");
    if (w[1] === "dma-entry-limit" && w.length === 3 && parseInteger(w[2]) !== undefined) {
      const set = (v: string) =>
        `if [ -e ${DMA_ENTRY_LIMIT} ]; then echo ${v} > ${DMA_ENTRY_LIMIT}; fi`;
      m.before.push(set(String(parseInteger(w[2]))));
      m.summary.push(`dma_entry_limit=${parseInteger(w[2])}`);
      m.after.push(set(String(DMA_ENTRY_LIMIT_DEFAULT)));
    } else if (control === "privileged off") {
      unprivileged = true;
    } else if (control === "privileged on") {
      // As booted: the guest runs the shell as root.
    } else if (w[1] === "rlimit" && w[2] === "memlock" && w.length === 4) {
      const bytes = parseInteger(w[3]);
      if (bytes === undefined) return { line: n, why: `\`${w.join(" ")}\`: not a byte count` };
      prlimit = bytes;
    } else {
      return { line: n, why: `\`sim ${control}\` has no counterpart on a real kernel` };
    }
    m.lines.push(n);
  }
  if (m.lines.length === 0) return undefined;
  if (prlimit !== undefined) {
    const v = prlimit === U64_MAX ? "unlimited" : String(prlimit);
    m.wrap.push(`prlimit --memlock=${v}:${v} --`);
    m.summary.push(`RLIMIT_MEMLOCK=${v}`);
  }
  if (unprivileged) {
    m.wrap.push(UNPRIVILEGED);
    m.summary.push("without CAP_IPC_LOCK/SYS_RESOURCE/SYS_RAWIO");
  }
  m.guestText = lines.map((l, i) => m.lines.includes(i + 1) ? "" : l).join("\n");
  return m;
}

/** Is `t` an {@link Untranslatable}? */
export function isUntranslatable(t: GuestMachine | Untranslatable): t is Untranslatable {
  return "why" in t;
}

/**
 * `part` (one file's transcript from the simulator) without the echo and result lines of the
 * commands on `lines`: the guest, whose copy has those lines blank, prints nothing for them.
 */
export function dropLines(part: string, lines: number[]): string {
  const out: string[] = [];
  let dropping = false;
  for (const line of part.split("\n")) {
    const echo = /^(\d+)> /.exec(line);
    if (echo || /^(# |(PASS|FAIL|ERROR) )/.test(line)) dropping = false;
    if (echo && lines.includes(Number(echo[1]))) dropping = true;
    if (!dropping) out.push(line);
  }
  return out.join("\n");
}
