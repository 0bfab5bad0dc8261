/**
 * Rows of the benchmark table, how a row meets its target, and the two renderings of the
 * table (aligned text for the terminal, Markdown for BENCHMARKS.md). Pure: no I/O.
 *
 * @module
 */

import { formatNumber, formatRatio } from "./stats.ts";

/** A target: the row's `value` (or its `ratio`) compared against `limit`. */
export interface Target {
  /** Which number of the row is checked. */
  on: "value" | "ratio";
  /** `>=`: at least the limit; `<=`: at most. */
  op: ">=" | "<=";
  /** The bound. */
  limit: number;
  /** How the target reads in the table, e.g. `"≥ 1,000,000 ops/s"`. */
  text: string;
}

/** PASS/MISS for rows with a target, INFO for plain figures, SKIP when not measured. */
export type Status = "PASS" | "MISS" | "INFO" | "SKIP";

/** One line of the table. */
export interface Row {
  /** Measurement the row belongs to (`--only` name). */
  measurement: string;
  /** What is measured, e.g. `"compat map+unmap @10^6 areas"`. */
  figure: string;
  /** The figure (a median), or null when it could not be measured. */
  value: number | null;
  /** Unit of `value`, e.g. `"ops/s"`, `"ns/op"`, `"B/area"`. */
  unit: string;
  /** Ratio to the row's baseline, where it has one. */
  ratio?: number;
  /** What the ratio compares, e.g. `"vs 10^3 areas"`. */
  ratioOf?: string;
  /** The target, when the issue sets one. */
  target?: Target;
  /** Filled by {@linkcode evaluate}. */
  status: Status;
  /** Why a row is SKIP or MISS without a number, or extra context. */
  note?: string;
}

/** A row before evaluation. */
export type RowInput = Omit<Row, "status"> & { status?: Status };

/** Whether `row` meets its target: PASS/MISS, INFO without one, SKIP when not measured. */
export function evaluate(row: RowInput): Row {
  if (row.status === "SKIP" || row.status === "MISS") return { ...row, status: row.status };
  if (!row.target) return { ...row, status: row.value === null ? "SKIP" : "INFO" };
  const x = row.target.on === "value" ? row.value : row.ratio;
  if (x === null || x === undefined || !Number.isFinite(x)) return { ...row, status: "MISS" };
  const ok = row.target.op === ">=" ? x >= row.target.limit : x <= row.target.limit;
  return { ...row, status: ok ? "PASS" : "MISS" };
}

/** A row that was not measured, with the reason shown in place of the value. */
export function skipped(measurement: string, figure: string, reason: string): Row {
  return { measurement, figure, value: null, unit: "", status: "SKIP", note: reason };
}

/** The value cell: the number and unit, or `skipped: <reason>`. */
export function valueCell(row: Row): string {
  if (row.value === null) {
    return row.status === "SKIP" ? `skipped: ${row.note ?? "not measured"}` : "—";
  }
  return `${formatNumber(row.value)} ${row.unit}`.trim();
}

/** The ratio cell: `1.23× vs 10^3 areas`, or empty. */
export function ratioCell(row: Row): string {
  if (row.ratio === undefined) return "";
  return row.ratioOf ? `${formatRatio(row.ratio)} ${row.ratioOf}` : formatRatio(row.ratio);
}

/** The status cell: MISS rows with a reason carry it. */
export function statusCell(row: Row): string {
  return row.status === "MISS" && row.value === null && row.note
    ? `MISS (${row.note})`
    : row.status;
}

const HEADER = ["figure", "value", "target", "ratio", "status", "note"];

/** The note cell: empty when the note is already the value or status cell's reason. */
function noteCell(row: Row): string {
  return row.value === null ? "" : row.note ?? "";
}

function cells(row: Row): string[] {
  return [
    row.figure,
    valueCell(row),
    row.target?.text ?? "",
    ratioCell(row),
    statusCell(row),
    noteCell(row),
  ];
}

/** The table as aligned plain text (one header, one rule, one line per row). */
export function formatTable(rows: readonly Row[]): string {
  const body = rows.map(cells);
  const widths = HEADER.map((h, i) => Math.max(h.length, ...body.map((r) => [...r[i]].length)));
  const line = (r: string[]) =>
    r.map((c, i) => c + " ".repeat(widths[i] - [...c].length)).join("  ").trimEnd();
  return [line(HEADER), widths.map((w) => "-".repeat(w)).join("  "), ...body.map(line)].join(
    "\n",
  );
}

/** The table as Markdown (pipes in cells escaped). */
export function formatMarkdown(rows: readonly Row[]): string {
  const esc = (c: string) => c.replaceAll("|", "\\|");
  const line = (r: string[]) => `| ${r.map(esc).join(" | ")} |`;
  return [line(HEADER), line(HEADER.map(() => "---")), ...rows.map((r) => line(cells(r)))].join(
    "\n",
  );
}

/** Counts of each status, for the closing line. */
export function tally(rows: readonly Row[]): Record<Status, number> {
  const t: Record<Status, number> = { PASS: 0, MISS: 0, INFO: 0, SKIP: 0 };
  for (const r of rows) t[r.status]++;
  return t;
}

/** Settings every measurement gets. */
export interface BenchOptions {
  /** Smaller sizes and fewer rounds, for smoke testing. */
  quick: boolean;
  /** Alternating rounds, instead of each measurement's default (`--rounds N`). */
  rounds?: number;
  /** A scratch folder for generated files (removed after the run). */
  tmpDir: string;
  /** Progress lines (to stderr). */
  log: (message: string) => void;
}

/** What one measurement hands back: its table rows and its raw samples. */
export interface MeasurementResult {
  rows: RowInput[];
  /** Raw samples and settings, kept in results.json for whoever wants to look closer. */
  details: Record<string, unknown>;
}

/** One measurement of the benchmark (`--only NAME` selects by `name`). */
export interface Measurement {
  /** Short name for `--only` and `--profile`. */
  name: string;
  /** One line on what it measures. */
  title: string;
  /** Run it. Throws only for a harness bug; a target it cannot reach is a MISS row. */
  run(options: BenchOptions): Promise<MeasurementResult>;
}
