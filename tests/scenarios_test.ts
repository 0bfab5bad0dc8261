import assert from "node:assert/strict";
import { goldenPath, SCENARIO_DIR, transcript, vfsFiles } from "./golden.ts";

for (const file of vfsFiles(SCENARIO_DIR)) {
  Deno.test(`scenario ${file} matches its golden transcript`, async () => {
    const { text, report } = await transcript(file);
    let golden: string;
    try {
      golden = Deno.readTextFileSync(goldenPath(file));
    } catch {
      throw new Error(`${file} has no golden transcript: run deno task scenarios:update`);
    }
    assert.equal(
      text,
      golden,
      `${file}: transcript changed (deno task scenarios:update if on purpose)`,
    );
    assert.equal(report.status, 0, `${file}: an expectation failed`);
    assert.ok(report.passed > 0, `${file}: checks nothing`);
  });
}

for (const file of vfsFiles("examples")) {
  Deno.test(`example ${file} runs green`, async () => {
    const { text, report } = await transcript(file);
    assert.equal(report.status, 0, text);
    assert.equal(report.failed, 0);
  });
}

Deno.test("scenarios use no simulator-only command (they replay on a real kernel)", () => {
  for (const file of vfsFiles(SCENARIO_DIR)) {
    const text = Deno.readTextFileSync(new URL(`../${file}`, import.meta.url));
    for (const [i, line] of text.split("\n").entries()) {
      assert.ok(!/^\s*sim\s/.test(line), `${file}:${i + 1} uses a sim command`);
    }
  }
});
