/**
 * `memfd` and `ioas map-file`: what the commands put in struct iommu_ioas_map_file (the
 * simulator's answers to it are tested in sim/ioas_file_test.ts) and how they report.
 */

import { deepStrictEqual, ok, strictEqual } from "node:assert";
import { SimKernel } from "../../sim/kernel.ts";
import type { Kernel } from "../../uapi/kernel.ts";
import { createSession } from "../session.ts";
import { runJson } from "../../tests/_session_json.ts";
import { kernelLike } from "../../tests/_sim_helpers.ts";

async function run(script: string, kernel: Kernel = new SimKernel()) {
  const { s, results, text } = await runJson(kernel, script);
  s.close();
  return { results, text };
}

const SETUP = "container open\nlet ioas = ioas alloc\nlet mfd = memfd guest 64K\n";

Deno.test("memfd + ioas map-file: a fixed IOVA is mapped and comes back; `-` lets the kernel choose", async () => {
  const { results } = await run(
    SETUP + "ioas map-file $ioas $mfd 0x1000000 16K rw\nioas map-file $ioas $mfd - 4K r",
  );
  strictEqual(results[2].ok, true, JSON.stringify(results[2]));
  strictEqual(typeof results[2].fields.fd, "number");
  deepStrictEqual(results[3].fields, { iova: "0x1000000" });
  strictEqual(results[4].ok, true, JSON.stringify(results[4]));
  ok(/^0x[0-9a-f]+$/.test(String(results[4].fields.iova)), JSON.stringify(results[4]));
  strictEqual(results[4].fields.iova === "0x1000000", false);
});

Deno.test("ioas map-file --start reaches the kernel: past the memfd's end is EINVAL once a domain pins it", async () => {
  const { results } = await run(
    "container open\nlet ioas = ioas alloc\ntest mock-domain $ioas\nlet mfd = memfd guest 64K\n" +
      "ioas map-file $ioas $mfd 0x1000000 4K rw --start 60K\n" +
      "ioas map-file $ioas $mfd 0x2000000 4K rw --start 64K",
  );
  strictEqual(results[4].ok, true, JSON.stringify(results[4]));
  strictEqual(results[5].errno?.name, "EINVAL", JSON.stringify(results[5]));
});

Deno.test("ioas map-file: --flags and --size replace what the shell computes; a closed fd is EBADF", async () => {
  const { results } = await run(
    SETUP +
      "ioas map-file $ioas $mfd 0x1000000 4K rw --flags 0x80\n" +
      "ioas map-file $ioas $mfd 0x1000000 4K rw --size 8\n" +
      "ioas map-file $ioas 99 0x1000000 4K rw\n" +
      "ioas map-file $ioas $mfd 0x1000000 4K rw",
  );
  strictEqual(results[3].errno?.name, "EOPNOTSUPP");
  strictEqual(results[4].errno?.name, "EINVAL");
  strictEqual(results[5].errno?.name, "EBADF");
  // None of the failures left a mapping behind.
  strictEqual(results[6].ok, true, JSON.stringify(results[6]));
});

Deno.test("ioas map-file on 6.12 is ENOTTY: IOMMU_IOAS_MAP_FILE came in 6.13", async () => {
  const { results } = await run("sim kernel 6.12\n" + SETUP + "ioas map-file $ioas $mfd 0 4K rw");
  strictEqual(results[4].errno?.name, "ENOTTY", JSON.stringify(results[4]));
});

Deno.test("memfd: a backend without memfd_create says so in one line", async () => {
  const noMemfd = kernelLike(new SimKernel());
  let text = "";
  const s = await createSession({ kernel: noMemfd, write: (t) => (text += t) });
  await s.runLine("memfd guest 4K");
  s.close();
  const errors = text.split("\n").filter((l) => l.startsWith("error:"));
  deepStrictEqual(errors, ["error: memfd: this backend cannot create a memfd"]);
});
