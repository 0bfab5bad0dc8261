/**
 * Generates docs/compat-audit.md, the audit of legacy VFIO type1 against iommufd's VFIO
 * compatibility layer, from the scenarios in tests/audit/*.vfs: each scenario is run with
 * `vfsh compare` in the five IOMMU modes at several kernel releases, and every command whose
 * result differs becomes a row, with the scenario line that shows it, the modes/kernels where
 * each result holds, who it bites, and the command that reproduces it.
 *
 * ```
 * deno task audit            # rewrite docs/compat-audit.md
 * deno task audit --check    # exit 1 when docs/compat-audit.md is out of date
 * ```
 *
 * A scenario describes itself in its leading comments:
 *
 * ```
 * # audit: Title
 * # rows: 33, 34             (rows of shared/reference/type1-vs-compat.md it covers)
 * # bites: who it bites      (clients, from shared/reference/clients.md)
 * # headline: one finding    (optional: listed among the headline findings)
 * # profile: amd-vi          (optional, default intel-vtd: the rig's platform)
 * # kernels: 6.12,6.18       (optional, default 6.2,6.6,6.12,6.18)
 * ```
 *
 * and each command that shows a row says so in a trailing comment (`unmap 0x100000 1M  # row
 * 33`); every row a scenario claims must be shown by one of its commands.
 *
 * @module
 */

import {
  type CompareFileReport,
  compareRuns,
  compareScript,
  groupResults,
} from "../shell/compare.ts";
import { describeRuns } from "../shell/compare.ts";
import { MODE_NAMES, MODES } from "../shell/modes.ts";

/** The repository root. */
const ROOT = new URL("../", import.meta.url);
/** Where the scenarios are, relative to the root. */
export const AUDIT_DIR = "tests/audit";
/** The generated document, relative to the root. */
export const AUDIT_DOC = "docs/compat-audit.md";

const DEFAULT_KERNELS = ["6.2", "6.6", "6.12", "6.18"];
const DEFAULT_PROFILE = "intel-vtd";

/**
 * The 49 rows of shared/reference/type1-vs-compat.md, by number, in our own words, and for
 * the rows no scenario can show in the simulator, why.
 */
export const REFERENCE_ROWS: readonly {
  row: number;
  aspect: string;
  /** Why the simulator cannot show it. */
  unmodelled?: string;
  /** Why the scenario shows no difference although the reference lists one. */
  note?: string;
}[] = [
  { row: 1, aspect: "Which node is the container" },
  { row: 2, aspect: "GET_API_VERSION" },
  { row: 3, aspect: "CHECK_EXTENSION before any group / SET_IOMMU" },
  { row: 4, aspect: "CHECK_EXTENSION after setup (UPDATE_VADDR, DMA_CC)" },
  { row: 5, aspect: "SET_IOMMU preconditions" },
  { row: 6, aspect: "MAP/UNMAP/GET_INFO before SET_IOMMU" },
  { row: 7, aspect: "GROUP_GET_DEVICE_FD before SET_IOMMU" },
  { row: 8, aspect: "When the IOMMU domain appears" },
  { row: 9, aspect: "Maps before a domain exists" },
  { row: 10, aspect: "SET_CONTAINER effect" },
  { row: 11, aspect: "UNSET_CONTAINER with device fds open" },
  { row: 12, aspect: "The last group leaves" },
  { row: 13, aspect: "Several groups" },
  { row: 14, aspect: "Unknown container ioctl" },
  { row: 15, aspect: "MAP_DMA accepted flags" },
  { row: 16, aspect: "MAP_DMA with neither READ nor WRITE" },
  { row: 17, aspect: "VADDR update" },
  { row: 18, aspect: "MAP_DMA alignment" },
  { row: 19, aspect: "MAP_DMA size 0" },
  { row: 20, aspect: "MAP_DMA range that wraps" },
  { row: 21, aspect: "MAP_DMA overlap" },
  { row: 22, aspect: "MAP_DMA outside the valid IOVA" },
  { row: 23, aspect: "Mapping count limit" },
  {
    row: 24,
    aspect: "Locked-memory accounting",
    note: "one process shows it through mlock(), which counts in the per-process counter only " +
      "(29_memlock_mlock.vfs); with nothing mlocked both run out at the same point " +
      "(12_memlock.vfs)",
  },
  { row: 25, aspect: "MMIO / VM_PFNMAP user memory (P2P)" },
  { row: 26, aspect: "Huge IOPTEs" },
  { row: 27, aspect: "UNMAP_DMA accepted flags" },
  { row: 28, aspect: "UNMAP_DMA ALL with iova/size" },
  { row: 29, aspect: "UNMAP_DMA alignment" },
  {
    row: 30,
    aspect: "UNMAP_DMA size 0",
    note: "both EINVAL; compat's write-back of size 0 cannot be told from the 0 passed in",
  },
  { row: 31, aspect: "UNMAP_DMA range that wraps" },
  { row: 32, aspect: "UNMAP_DMA of a range with no mapping" },
  { row: 33, aspect: "TYPE1 (v1) partial unmap" },
  { row: 34, aspect: "TYPE1v2 unmap bisecting a mapping" },
  { row: 35, aspect: "Write-back of UNMAP_DMA on error" },
  { row: 36, aspect: "TYPE1 vs TYPE1v2 once mappings exist" },
  { row: 37, aspect: "GET_INFO capabilities and order" },
  { row: 38, aspect: "DMA_AVAIL" },
  { row: 39, aspect: "MIGRATION capability" },
  { row: 40, aspect: "Capability padding" },
  { row: 41, aspect: "GET_INFO with argsz too small for the caps" },
  { row: 42, aspect: "GET_INFO with argsz big enough" },
  { row: 43, aspect: "GET_INFO fixed-struct bytes written" },
  { row: 44, aspect: "iova_pgsizes" },
  { row: 45, aspect: "Source of the IOVA ranges" },
  { row: 46, aspect: "VFIO_IOMMU_DIRTY_PAGES" },
  { row: 47, aspect: "Extra control plane on the container fd" },
  { row: 48, aspect: "No-IOMMU" },
  { row: 49, aspect: "Object handles (ids)" },
];

/** A scenario's self-description. */
export interface ScenarioMeta {
  file: string;
  title: string;
  /** The rows it covers (its header's and its commands'), ascending. */
  rows: number[];
  /** The lines that show each row. */
  rowLines: Map<number, number[]>;
  bites: string;
  headline?: string;
  profile: string;
  kernels: string[];
}

/** Read the leading `# key: value` comments of a scenario. */
export function scenarioMeta(file: string, text: string): ScenarioMeta {
  const meta: Record<string, string> = {};
  const rowLines = new Map<number, number[]>();
  text.split("\n").forEach((line, i) => {
    const m = /^#\s*(audit|rows|bites|headline|profile|kernels):\s*(.*)$/.exec(line);
    if (m) meta[m[1]] = m[2].trim();
    const tag = /^[^#].*#\s*rows?\s+([\d,\s]+)$/.exec(line);
    if (tag) {
      for (const r of tag[1].split(",").map((x) => Number(x.trim()))) {
        const l = rowLines.get(r) ?? [];
        l.push(i + 1);
        rowLines.set(r, l);
      }
    }
  });
  if (!meta.audit) throw new Error(`${file}: no '# audit: TITLE' line`);
  if (!meta.rows) throw new Error(`${file}: no '# rows: N, …' line`);
  if (!meta.bites) throw new Error(`${file}: no '# bites: …' line`);
  const claimed = meta.rows.split(",").map((s) => Number(s.trim()));
  for (const r of claimed) {
    if (!rowLines.has(r)) throw new Error(`${file}: row ${r} is claimed but no command shows it`);
  }
  return {
    file,
    title: meta.audit,
    rows: [...new Set([...claimed, ...rowLines.keys()])].sort((a, b) => a - b),
    rowLines,
    bites: meta.bites,
    headline: meta.headline,
    profile: meta.profile ?? DEFAULT_PROFILE,
    kernels: meta.kernels ? meta.kernels.split(",").map((s) => s.trim()) : DEFAULT_KERNELS,
  };
}

/** The command line that reproduces a scenario's rows. */
export function reproduceCommand(m: ScenarioMeta): string {
  return `vfsh compare ${m.file} --profile ${m.profile} --kernels ${m.kernels.join(",")}`;
}

/** The scenario files, sorted. */
export function scenarioFiles(): string[] {
  const out: string[] = [];
  for (const e of Deno.readDirSync(new URL(`${AUDIT_DIR}/`, ROOT))) {
    if (e.isFile && e.name.endsWith(".vfs")) out.push(`${AUDIT_DIR}/${e.name}`);
  }
  return out.sort();
}

function cell(s: string): string {
  return s.replaceAll("|", "\\|").replaceAll("`", "'");
}

/** Run every scenario and write the document's text. */
export async function generateAudit(): Promise<string> {
  const scenarios: { meta: ScenarioMeta; report: CompareFileReport }[] = [];
  for (const file of scenarioFiles()) {
    const text = Deno.readTextFileSync(new URL(file, ROOT));
    const meta = scenarioMeta(file, text);
    const report = await compareScript(text, file, {
      modes: MODE_NAMES,
      kernels: meta.kernels,
      profile: meta.profile,
    });
    if (report.failed) {
      throw new Error(`${file} could not run: ${report.errors.map((e) => e.message).join("; ")}`);
    }
    scenarios.push({ meta, report });
  }
  const out: string[] = [];
  const push = (...l: string[]) => out.push(...l);
  push(
    "# Compatibility audit: legacy VFIO type1 vs iommufd",
    "",
    "<!-- Generated by `deno task audit` from tests/audit/*.vfs. Do not edit: edit the",
    "     scenarios (or scripts/audit.ts) and regenerate. -->",
    "",
    "Every difference below is a command whose result is not the same in all the runs of its",
    "scenario: each scenario runs in the simulator once per IOMMU mode (the five of the kernel's",
    "VFIO selftests) and kernel release, and `vfsh compare` keeps only the commands that differ.",
    "The command under each scenario's title reproduces its rows exactly (`vfsh` is",
    "`deno task vfsh`).",
    "",
    "| mode | container | IOMMU type |",
    "|---|---|---|",
    ...MODE_NAMES.map((n) => {
      const m = MODES[n];
      const api = m.api === "legacy"
        ? "legacy container + vfio_iommu_type1"
        : m.api === "compat"
        ? "iommufd, VFIO compat ioctls"
        : "iommufd, IOAS ioctls (map/unmap as IOAS_MAP/UNMAP)";
      const type = m.type === undefined ? "—" : m.type === 1n ? "TYPE1 (v1)" : "TYPE1v2";
      return `| ${n} | ${m.node}: ${api} | ${type} |`;
    }),
    "",
    "A result is listed with the runs where it holds: a mode alone means at every release",
    "compared, `@6.2,6.6` the releases where it holds. Each scenario starts with",
    "`container setup`, which sets the container up the mode's way (group attach and SET_IOMMU,",
    "or IOAS_ALLOC + IOMMU_VFIO_IOAS), on the rig's platform (`intel-vtd`) unless it says",
    "otherwise.",
    "",
  );
  const headlines = scenarios.filter((s) => s.meta.headline);
  push("## Headline findings", "");
  for (const s of headlines) {
    push(`- ${s.meta.headline} ([${s.meta.file}](#${anchor(s.meta)}))`);
  }
  push("");
  // Coverage of the reference's rows.
  push(
    "## Coverage of type1-vs-compat.md",
    "",
    "| row | aspect | scenario | commands showing it that differ |",
    "|---|---|---|---|",
  );
  for (const r of REFERENCE_ROWS) {
    const covering = scenarios.filter((s) => s.meta.rows.includes(r.row));
    const where = covering.map((s) => `[${basename(s.meta.file)}](#${anchor(s.meta)})`).join(
      ", ",
    );
    const lines: string[] = [];
    let differing = 0;
    for (const s of covering) {
      for (const line of s.meta.rowLines.get(r.row) ?? []) {
        const differs = s.report.diffs.some((d) => d.file === s.meta.file && d.line === line);
        if (differs) differing++;
        lines.push(
          `${basename(s.meta.file).replace(/\.vfs$/, "")}:${line}${differs ? "" : " (same)"}`,
        );
      }
    }
    const seen = r.unmodelled
      ? `not reproducible: ${r.unmodelled}` + (lines.length ? ` (${lines.join(", ")})` : "")
      : covering.length === 0
      ? "no scenario"
      : `${differing} of ${lines.length}: ${lines.join(", ")}` + (r.note ? `; ${r.note}` : "");
    push(`| ${r.row} | ${r.aspect} | ${where || "—"} | ${seen} |`);
  }
  push("");
  // The scenarios.
  push("## Differences by scenario", "");
  for (const { meta, report } of scenarios) {
    const runs = compareRuns({ modes: MODE_NAMES, kernels: meta.kernels });
    push(
      `### ${basename(meta.file)}: ${meta.title}`,
      "",
      `Rows ${
        meta.rows.join(", ")
      } · [${meta.file}](../${meta.file}) · profile ${meta.profile} · ` +
        `kernels ${meta.kernels.join(", ")}`,
      "",
      "```",
      reproduceCommand(meta),
      "```",
      "",
      `Who it bites: ${meta.bites}`,
      "",
    );
    if (report.diffs.length === 0) {
      push(`No difference: all ${report.commands} commands give the same result in every run.`, "");
      continue;
    }
    push("| where | command | result | holds in |", "|---|---|---|---|");
    for (const d of report.diffs) {
      const groups = groupResults(d, runs);
      groups.forEach((g, i) => {
        const where = i === 0 ? `${basename(d.file)}:${d.line}` : "";
        const cmd = i === 0 ? `\`${cell(d.command)}\`` : "";
        push(`| ${where} | ${cmd} | \`${cell(g.result)}\` | ${describeRuns(g.runs, runs)} |`);
      });
    }
    push("");
  }
  push(
    "## Model notes",
    "",
    "- The legacy model follows drivers/vfio/container.c, group.c and vfio_iommu_type1.c; its",
    "  errno paths are tested rule by rule (sim/vfio_type1_test.ts, sim/vfio_container_test.ts)",
    "  and it reproduces the rig's legacy 6.12.117 recordings line by line",
    "  (tests/audit/legacy_rig_probe_test.ts).",
    "- Before 6.18 the type1 lookups wrap at 2^64; the model reproduces the deterministic",
    "  consequences (a mapping ending at 2^64 - 1 is never found as the first match, a request",
    "  ending there finds nothing). The kernel's red-black tree walk may also miss a lower",
    "  mapping on its way past that one, which depends on the tree's shape and is not modelled.",
    "- Emulated (mdev) groups are not modelled: UPDATE_VADDR is 1 whenever the legacy",
    "  container has its type1 IOMMU set.",
    "- Device memory is a VFIO device's BAR mmapped through its fd (`mem mmap-region`): a",
    "  VM_PFNMAP mapping that legacy type1 looks up (follow_fault_pfn) and iommufd cannot pin",
    "  (check_vma_flags). vfsh never reads or writes such a mapping itself.",
    "- No-IOMMU (`sim noiommu on`, `sim device add NAME --noiommu`) is CONFIG_VFIO_NOIOMMU plus",
    "  vfio's enable_unsafe_noiommu_mode; `sim privileged off` drops CAP_SYS_RAWIO with the",
    "  other capabilities. On 6.2 the option needs CONFIG_VFIO_CONTAINER, which the simulator",
    "  does not tie it to; `sim noiommu built` is the option without the parameter.",
    "- SET_IOMMU(TYPE1_NESTING) before 6.13 is modelled as accepted only by an IOMMU that can",
    "  nest (arm-smmu-v3); CHECK_EXTENSION(TYPE1_NESTING) is 1 up to 6.12 (the rig) and 0 after",
    "  35890f85573c.",
    "",
  );
  return out.join("\n");
}

function basename(f: string): string {
  return f.slice(f.lastIndexOf("/") + 1);
}

/** The GitHub-style anchor of a scenario's heading. */
function anchor(m: ScenarioMeta): string {
  return `${basename(m.file)}: ${m.title}`
    .toLowerCase()
    .replace(/[^a-z0-9 _-]/g, "")
    .replace(/ /g, "-");
}

if (import.meta.main) {
  const check = Deno.args.includes("--check");
  const text = await generateAudit();
  const path = new URL(AUDIT_DOC, ROOT);
  if (check) {
    let old = "";
    try {
      old = Deno.readTextFileSync(path);
    } catch { /* missing */ }
    if (old !== text) {
      console.error(`${AUDIT_DOC} is out of date: run deno task audit`);
      Deno.exit(1);
    }
    console.log(`${AUDIT_DOC} is up to date`);
  } else {
    Deno.mkdirSync(new URL("docs/", ROOT), { recursive: true });
    Deno.writeTextFileSync(path, text);
    console.log(`wrote ${AUDIT_DOC}`);
  }
}
