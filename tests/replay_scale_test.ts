import assert from "node:assert/strict";
import { parse } from "../dsl/parser.ts";
import { compileStatement } from "../shell/compile.ts";
import { createSession } from "../shell/session.ts";
import { createSimKernel } from "../sim/mod.ts";

const N = 100_000;

function bigScript(): string {
  const lines = ["container open", "let ioas = ioas alloc", "ioas set $ioas", "set-iommu TYPE1v2"];
  for (let i = 0; lines.length < N; i++) {
    const iova = `0x${(0x100000 + i * 0x1000).toString(16)}`;
    lines.push(`map ${iova} 4K rw --vaddr 0x7f0000000000 => ok`);
    lines.push(`unmap ${iova} 4K => unmapped=4K # line ${i}`);
  }
  return lines.join("\n") + "\n";
}

Deno.test("scale: a 100,000-line script parses and compiles once, fast", async () => {
  const text = bigScript();
  const session = await createSession({ kernel: createSimKernel(), write: () => {} });
  const t0 = performance.now();
  const script = parse(text, "big.vfs");
  for (const st of script.statements) compileStatement(st, session.registry, script.source);
  const compileMs = performance.now() - t0;
  const t1 = performance.now();
  const r = await session.runScript(text, "big.vfs");
  const totalMs = performance.now() - t1;
  session.close();
  assert.equal(r.status, 0);
  assert.equal(r.passed, N - 4);
  // Generous bounds for a shared 2-core machine; typical is well under them.
  assert.ok(compileMs < 8000, `parse+compile took ${compileMs.toFixed(0)} ms`);
  assert.ok(totalMs < 60000, `the run took ${totalMs.toFixed(0)} ms`);
  console.log(`parse+compile ${compileMs.toFixed(0)} ms; whole run ${totalMs.toFixed(0)} ms`);
});

Deno.test("scale: identical lines share one compiled form; a long repetitive script passes", async () => {
  const block = [
    "map $a 4K rw --vaddr $buf => ok",
    "expect iova == $a",
    "unmap $a 4K => unmapped=4K",
  ];
  const lines = ["container open", "let ioas = ioas alloc", "ioas set $ioas", "set-iommu TYPE1v2"];
  lines.push("mem alloc buf 1M");
  for (let i = 0; lines.length < N; i++) {
    lines.push(`let a = 0x${(0x100_0000 + i * 0x1_0000).toString(16)}`, ...block);
  }
  const text = lines.join("\n") + "\n";
  const session = await createSession({ kernel: createSimKernel(), write: () => {} });
  const script = parse(text, "repeat.vfs");
  const calls = new Map<string, unknown>();
  for (const st of script.statements) {
    const c = compileStatement(st, session.registry, script.source);
    assert.equal(c.kind === "comment" ? undefined : c.line, st.line);
    if (c.kind !== "command") continue;
    const first = calls.get(st.text);
    if (first === undefined) calls.set(st.text, c.call);
    else assert.equal(c.call, first, `'${st.text}' compiled twice`);
  }
  const r = await session.runScript(text, "repeat.vfs");
  session.close();
  assert.equal(r.status, 0);
  assert.equal(r.failed, 0);
  assert.ok(r.passed > N / 2, `${r.passed} expectations held`);
});
