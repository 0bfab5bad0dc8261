/**
 * Line-by-line comparison of two transcripts (the kernel's and the simulator's), with a
 * side-by-side rendering for humans.
 *
 * Only trailing whitespace is ignored: at the end of each line, and blank lines at the end
 * of the transcript (so a missing final newline does not count). Lines are compared by
 * position, not aligned: one extra line shows every later line as different, which is what
 * a transcript comparison wants to flag anyway.
 *
 * @module
 */

/** One line number where the transcripts differ. */
export interface LineDifference {
  /** 1-based line number. */
  line: number;
  /** The left transcript's line (trailing whitespace removed), or `undefined` past its end. */
  left: string | undefined;
  /** The right transcript's line (trailing whitespace removed), or `undefined` past its end. */
  right: string | undefined;
}

/** The result of {@linkcode compareTranscripts}. */
export interface TranscriptComparison {
  /** Whether the transcripts are the same (ignoring trailing whitespace). */
  equal: boolean;
  /** Every differing line, in order. */
  differences: LineDifference[];
  /** `left | right` with line numbers around each difference; "" when equal. */
  sideBySide: string;
}

/** Options for {@linkcode compareTranscripts}. */
export interface CompareOptions {
  /** Equal lines shown before and after each difference (default 3). */
  context?: number;
  /** Width of the left column (default: its longest shown line, at most 60). */
  width?: number;
}

/** Split a transcript into lines without trailing whitespace or trailing blank lines. */
export function transcriptLines(text: string): string[] {
  const lines = text.split("\n").map((l) => l.trimEnd());
  while (lines.length > 0 && lines[lines.length - 1] === "") lines.pop();
  return lines;
}

/**
 * Compare transcripts `a` (left) and `b` (right) line by line; `labels` head the two
 * columns of the side-by-side rendering.
 */
export function compareTranscripts(
  a: string,
  b: string,
  labels: [string, string],
  options: CompareOptions = {},
): TranscriptComparison {
  const left = transcriptLines(a);
  const right = transcriptLines(b);
  const differences: LineDifference[] = [];
  for (let i = 0; i < Math.max(left.length, right.length); i++) {
    if (left[i] !== right[i]) differences.push({ line: i + 1, left: left[i], right: right[i] });
  }
  const equal = differences.length === 0;
  const sideBySide = equal ? "" : render(left, right, differences, labels, options);
  return { equal, differences, sideBySide };
}

/** Ranges of 0-based line indexes to show: each difference with its context, merged. */
function shownRanges(differences: LineDifference[], context: number, total: number) {
  const ranges: [number, number][] = [];
  for (const d of differences) {
    const from = Math.max(0, d.line - 1 - context);
    const to = Math.min(total - 1, d.line - 1 + context);
    const last = ranges[ranges.length - 1];
    if (last && from <= last[1] + 1) last[1] = Math.max(last[1], to);
    else ranges.push([from, to]);
  }
  return ranges;
}

/** The side-by-side text: a header, then `  12 ! left | right` rows with `...` between runs. */
function render(
  left: string[],
  right: string[],
  differences: LineDifference[],
  labels: [string, string],
  options: CompareOptions,
): string {
  const total = Math.max(left.length, right.length);
  const ranges = shownRanges(differences, options.context ?? 3, total);
  const differing = new Set(differences.map((d) => d.line - 1));
  const shown = ranges.flatMap(([from, to]) => left.slice(from, to + 1));
  const width = options.width ??
    Math.min(60, Math.max(labels[0].length, ...shown.map((l) => l.length)));
  const num = String(total).length;
  const row = (n: string, mark: string, l: string, r: string) =>
    `${n.padStart(num)} ${mark} ${l.padEnd(width)} | ${r}`.trimEnd();
  const out = [
    row("", " ", labels[0], labels[1]),
    row("", " ", "-".repeat(width), "-".repeat(width)),
  ];
  ranges.forEach(([from, to], k) => {
    if (k > 0 || from > 0) out.push(row("", " ", "...", "..."));
    for (let i = from; i <= to; i++) {
      const mark = differing.has(i) ? "!" : " ";
      out.push(row(String(i + 1), mark, left[i] ?? "<end>", right[i] ?? "<end>"));
    }
  });
  if (ranges[ranges.length - 1][1] < total - 1) out.push(row("", " ", "...", "..."));
  return out.join("\n");
}
