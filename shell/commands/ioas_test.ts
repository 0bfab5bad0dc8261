/**
 * Native commands that no scenario used: `ioas copy`, `ioas allow-iovas`, `option rlimit-mode`,
 * a failed `ioas map` of fresh memory, and `sim container`. What the shell puts in each struct
 * shows in what the simulator answers (its rules are tested in sim/).
 */

import { deepStrictEqual, strictEqual } from "node:assert";
import { SimKernel } from "../../sim/kernel.ts";
import { outcome, runJson } from "../../tests/_session_json.ts";

async function run(script: string) {
  const { s, results } = await runJson(new SimKernel(), "set +e\n" + script);
  return { s, results: results.slice(1) };
}

Deno.test("ioas copy: DST SRC SRC_IOVA DST_IOVA; `-` lets the kernel choose; ENOENT unmapped, EEXIST taken", async () => {
  const { s, results } = await run(
    "container open\nlet a = ioas alloc\nlet b = ioas alloc\nmem alloc buf 64K\n" +
      "ioas map $a 0x100000 64K rw --vaddr $buf\n" +
      "ioas copy $b $a 0x100000 0x200000 64K rw\n" +
      "ioas copy $b $a 0x100000 - 4K r\n" +
      "ioas copy $b $a 0x900000 0x300000 4K rw\n" +
      "ioas copy $b $a 0x100000 0x200000 4K rw\n" +
      "ioas copy $a $b 0x200000 0x400000 8K rw",
  );
  deepStrictEqual(outcome(results[5]), { iova: "0x200000" });
  strictEqual(results[6].ok, true, JSON.stringify(results[6]));
  strictEqual(outcome(results[7]), "ENOENT");
  strictEqual(outcome(results[8]), "EEXIST");
  // Copied back the other way: the pages travel on, from b's 0x200000 to a's 0x400000.
  deepStrictEqual(outcome(results[9]), { iova: "0x400000" });
  s.close();
});

Deno.test("ioas allow-iovas: an automatic IOVA lands in the ranges; no range clears them; a reserved overlap is EADDRINUSE", async () => {
  const { s, results } = await run(
    "container open\nlet b = ioas alloc\n" +
      "ioas allow-iovas $b 0x400000-0x7fffff\n" +
      "ioas map $b - 4K rw\n" +
      "ioas allow-iovas $b\n" +
      "ioas map $b - 4K rw\n" +
      "test add-reserved $b 0x500000 4K\n" +
      "ioas allow-iovas $b 0x100000-0x1fffff 0x400000-0x7fffff\n" +
      "ioas allow-iovas $b 0x100000-0x1fffff 0x501000-0x7fffff\n" +
      "ioas allow-iovas $b 0x100000-0x1fffff 0x400000-0x4fffff",
  );
  strictEqual(results[2].ok, true, JSON.stringify(results[2]));
  strictEqual(results[3].fields.iova, "0x400000");
  strictEqual(results[4].ok, true);
  strictEqual(results[5].fields.iova, "0x1000");
  strictEqual(outcome(results[7]), "EADDRINUSE");
  // Ranges that end right before the reserved page, or start right after it, are allowed.
  strictEqual(results[8].ok, true, JSON.stringify(results[8]));
  strictEqual(results[9].ok, true, JSON.stringify(results[9]));
  s.close();
});

Deno.test("option rlimit-mode: GET, SET mm on a context without objects, EBUSY with one, EINVAL for 7", async () => {
  const { s, results } = await run(
    "container open\noption rlimit-mode\noption rlimit-mode mm\noption rlimit-mode\n" +
      "option rlimit-mode 7\nlet b = ioas alloc\noption rlimit-mode user",
  );
  deepStrictEqual(results.slice(1, 5).map(outcome), [
    { value: 0 },
    { value: 1 },
    { value: 1 },
    "EINVAL",
  ]);
  strictEqual(outcome(results[6]), "EBUSY");
  s.close();
});

Deno.test("ioas map without --vaddr gives the fresh memory back when the map fails", async () => {
  const { s, results } = await run(
    "container open\nlet b = ioas alloc\nioas map 99 0x100000 4K rw\nioas map $b 0x100000 4K rw",
  );
  strictEqual(outcome(results[2]), "ENOENT");
  strictEqual(results[3].ok, true);
  // Only the successful map's memory is still held.
  deepStrictEqual(s.state.anon.map((m) => m.size), [0x1000n]);
  s.close();
});

Deno.test("sim container: legacy type1 or iommufd serves /dev/vfio/vfio from the next open", async () => {
  const { s, results } = await run(
    "sim container\nsim container legacy\ncontainer open /dev/vfio/vfio\nioas get\n" +
      "sim container iommufd\ncontainer open /dev/vfio/vfio\nioas get",
  );
  deepStrictEqual(outcome(results[0]), { container: "iommufd" });
  deepStrictEqual(outcome(results[1]), { container: "legacy" });
  // The legacy container has no IOMMU_VFIO_IOAS; iommufd's answers that no IOAS is set.
  strictEqual(outcome(results[3]), "EINVAL");
  strictEqual(outcome(results[6]), "ENODEV");
  s.close();
});
