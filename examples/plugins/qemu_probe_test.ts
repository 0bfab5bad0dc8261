import assert from "node:assert/strict";
import { createSimKernel } from "../../sim/mod.ts";
import { createSession } from "../../mod.ts";

const PLUGIN = new URL("./qemu_probe.ts", import.meta.url).pathname;

async function probe(setup: string[], release?: string) {
  let out = "";
  const s = await createSession({
    kernel: createSimKernel(release ? { release } : {}),
    plugins: [PLUGIN],
    write: (t) => void (out += t),
  });
  for (const l of setup) await s.runLine(l);
  out = "";
  await s.runLine("qemu-probe");
  s.close();
  return out;
}

Deno.test("qemu-probe: no IOAS yet, QEMU cannot set the IOMMU type", async () => {
  const out = await probe(["container open"]);
  assert.match(out, /^ENODEV \(No such device\)\n/);
  assert.match(out, /VFIO_CHECK_EXTENSION\(TYPE1v2\) = 1\n/);
  assert.doesNotMatch(out, /CHECK_EXTENSION\(TYPE1\) /); // the first hit wins
  assert.match(
    out,
    /VFIO_SET_IOMMU\(TYPE1v2\) = ENODEV\n {2}QEMU gives up: failed to set the IOMMU type\n$/,
  );
});

Deno.test("qemu-probe: the argsz dance takes two calls and the caps give QEMU its limits", async () => {
  const out = await probe(["container open", "let a = ioas alloc", "ioas set $a"]);
  assert.match(
    out,
    /^ok {2}iommu_type=TYPE1v2 pgsizes=0xfffffffffffff000 dma_max_mappings=4294967295 /,
  );
  assert.match(out, /info_calls=2\n/);
  assert.match(
    out,
    /GET_INFO\(argsz=24\) = 0, argsz=72\n {2}VFIO_IOMMU_GET_INFO\(argsz=72\) = 0, argsz=72\n/,
  );
  assert.match(
    out,
    /cap DMA_AVAIL: 4294967295 mappings\n {2}cap IOVA_RANGE: \[0x0-0xffffffffffffffff\]\n/,
  );
});

Deno.test("qemu-probe: a mock domain narrows page sizes and the aperture", async () => {
  const out = await probe([
    "container open",
    "let a = ioas alloc",
    "ioas set $a",
    "test mock-domain $a",
  ]);
  assert.match(out, /pgsizes=0x1000 .*iova_ranges=\[0x1000000-0x7fffffff\]/);
  assert.match(out, /QEMU concludes: VFIO_TYPE1v2_IOMMU, page sizes 0x1000/);
});

Deno.test("qemu-probe: before 6.6 the chain is 68 bytes and still walks", async () => {
  const out = await probe(["container open", "let a = ioas alloc", "ioas set $a"], "6.2");
  assert.match(out, /argsz=24\) = 0, argsz=68\n/);
  assert.match(out, /cap IOVA_RANGE: \[0x0-0xffffffffffffffff\]/);
});

Deno.test("qemu-probe: declared once, help and completion know it", async () => {
  let out = "";
  const s = await createSession({
    kernel: createSimKernel(),
    plugins: [PLUGIN],
    write: (t) => void (out += t),
  });
  await s.runLine("help qemu-probe");
  assert.match(out, /^usage: qemu-probe \[--no-set-iommu\]\n/);
  assert.match(out, /\(plugin qemu-probe\)\n$/);
  assert.deepEqual(s.complete("qemu"), [["qemu-probe"], "qemu"]);
  s.close();
});
