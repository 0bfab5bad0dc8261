/**
 * Regenerate the golden transcripts: `deno task scenarios:update`. Review the diff before
 * committing: a changed `.out` is a changed behaviour.
 *
 * @module
 */

import { goldenPath, SCENARIO_DIR, transcript, vfsFiles } from "./golden.ts";

let changed = 0;
for (const file of vfsFiles(SCENARIO_DIR)) {
  const { text, report } = await transcript(file);
  const path = goldenPath(file);
  let old: string | undefined;
  try {
    old = Deno.readTextFileSync(path);
  } catch { /* new scenario */ }
  if (old !== text) {
    Deno.writeTextFileSync(path, text);
    changed++;
    console.log(`updated ${path.slice(path.indexOf(SCENARIO_DIR))}`);
  }
  if (report.status !== 0) console.log(`warning: ${file} does not pass (status ${report.status})`);
}
console.log(`${changed} golden transcript(s) updated`);
