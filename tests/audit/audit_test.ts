/**
 * docs/compat-audit.md: up to date with its scenarios, covering every row of the reference,
 * and every row reproducible by the command printed next to it.
 */

import { deepStrictEqual, ok, strictEqual } from "node:assert";
import {
  AUDIT_DOC,
  generateAudit,
  REFERENCE_ROWS,
  reproduceCommand,
  scenarioFiles,
  scenarioMeta,
} from "../../scripts/audit.ts";
import { main } from "../../shell/main.ts";

const ROOT = new URL("../../", import.meta.url);
const docText = () => Deno.readTextFileSync(new URL(AUDIT_DOC, ROOT));

Deno.test("audit: docs/compat-audit.md is up to date (deno task audit regenerates it)", async () => {
  const fresh = await generateAudit();
  strictEqual(fresh, docText(), `${AUDIT_DOC} is out of date: run deno task audit`);
});

Deno.test("audit: all 49 reference rows are covered by a scenario or said to be unmodelled", () => {
  deepStrictEqual(REFERENCE_ROWS.map((r) => r.row), Array.from({ length: 49 }, (_, i) => i + 1));
  const covered = new Set<number>();
  for (const f of scenarioFiles()) {
    for (const r of scenarioMeta(f, Deno.readTextFileSync(new URL(f, ROOT))).rows) covered.add(r);
  }
  for (const r of REFERENCE_ROWS) {
    ok(covered.has(r.row) || r.unmodelled, `row ${r.row} has no scenario`);
  }
  const doc = docText();
  for (const r of REFERENCE_ROWS) ok(doc.includes(`\n| ${r.row} | ${r.aspect} |`), `row ${r.row}`);
});

Deno.test("audit: a scenario must show each row it claims on one of its commands", () => {
  let msg = "";
  try {
    scenarioMeta("x.vfs", "# audit: t\n# rows: 3\n# bites: b\ncontainer setup\n");
  } catch (e) {
    msg = (e as Error).message;
  }
  strictEqual(msg, "x.vfs: row 3 is claimed but no command shows it");
  const m = scenarioMeta("y.vfs", "# audit: t\n# rows: 3\n# bites: b\napi-version  # rows 3, 2\n");
  deepStrictEqual(m.rows, [2, 3]);
  deepStrictEqual(m.rowLines.get(2), [4]);
});

/** The `file:line` of every row the document lists under a scenario. */
function docLines(doc: string, file: string): string[] {
  const base = file.slice(file.lastIndexOf("/") + 1);
  const section = doc.split(/\n### /).find((s) => s.startsWith(`${base}:`)) ?? "";
  return [...section.matchAll(new RegExp(`\\n\\| (${base.replace(".", "\\.")}:\\d+) \\|`, "g"))]
    .map((m) => m[1]);
}

async function cliJson(args: string[]): Promise<{ status: number; json: Record<string, unknown> }> {
  const parts: Uint8Array[] = [];
  const write = Deno.stdout.writeSync;
  Deno.stdout.writeSync = (b: Uint8Array) => {
    parts.push(b.slice());
    return b.length;
  };
  try {
    const status = await main([...args, "--json"]);
    const text = parts.map((p) => new TextDecoder().decode(p)).join("");
    return { status, json: JSON.parse(text) };
  } finally {
    Deno.stdout.writeSync = write;
  }
}

Deno.test("audit: every scenario's rows are exactly what the command next to them prints", async () => {
  const doc = docText();
  for (const f of scenarioFiles()) {
    const meta = scenarioMeta(f, Deno.readTextFileSync(new URL(f, ROOT)));
    const cmd = reproduceCommand(meta);
    ok(doc.includes("```\n" + cmd + "\n```"), `${f}: the document shows its command`);
    const args = cmd.split(" ").slice(1);
    const cwd = Deno.cwd();
    Deno.chdir(ROOT);
    let r;
    try {
      r = await cliJson(args);
    } finally {
      Deno.chdir(cwd);
    }
    strictEqual(r.status, 0, cmd);
    const files = r.json.files as { differences: { file: string; line: number }[] }[];
    const printed = files[0].differences.map((d) =>
      `${d.file.slice(d.file.lastIndexOf("/") + 1)}:${d.line}`
    );
    deepStrictEqual(printed, docLines(doc, f), cmd);
  }
});
