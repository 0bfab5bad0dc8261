import { deepStrictEqual, notStrictEqual, ok, strictEqual } from "node:assert";
import { type Flavor, randomScenario, WALK_SHAPE, writeRandomWalks } from "./random_scenario.ts";
import { runScript } from "../../mod.ts";
import { MODE_NAMES, type ModeName } from "../../shell/modes.ts";
import { isUntranslatable, translateMachine } from "./machine.ts";

const walk = (seed: number, flavor: Flavor) =>
  randomScenario({ seed, flavor, ...WALK_SHAPE[flavor] });

Deno.test("random walks: one seed gives one text; another seed another", () => {
  strictEqual(walk(7, "iommufd"), walk(7, "iommufd"));
  strictEqual(walk(7, "compat"), walk(7, "compat"));
  notStrictEqual(walk(7, "iommufd"), walk(8, "iommufd"));
  ok(walk(7, "iommufd").includes("--seed 7 --flavor iommufd --blocks 8 --ops 60"));
});

Deno.test("random walks: every --vaddr range lies inside the one buffer", () => {
  const buf = /^mem alloc buf (0x[0-9a-f]+)$/m;
  let maps = 0;
  for (let seed = 1; seed <= 40; seed++) {
    for (const flavor of ["iommufd", "compat", "hwpt", "memlock"] as const) {
      const text = walk(seed, flavor);
      const size = BigInt(buf.exec(text)![1]);
      for (
        const m of text.matchAll(
          /^(?:ioas )?map .*? (0x[0-9a-f]+) \S+ --vaddr \$buf(?:\+(0x[0-9a-f]+))?/gm,
        )
      ) {
        const [len, off] = [BigInt(m[1]), BigInt(m[2] ?? 0)];
        ok(off + len <= size, `seed ${seed}: ${m[0]}`);
        maps++;
      }
    }
  }
  ok(maps > 1000, `only ${maps} maps`);
});

/** The transcript of `text` in the simulator, with how it ended. */
async function simulate(text: string): Promise<{ status: number; out: string }> {
  let out = "";
  const r = await runScript("walk.vfs", {
    text,
    profile: "intel-vtd",
    release: "6.12.117",
    write: (t) => out += t,
  });
  return { status: r.status, out };
}

/** {@link simulate} in IOMMU mode `mode`, behind the container that mode opens. */
function simulateIn(mode: ModeName, text: string) {
  const container = mode.startsWith("vfio_") ? "legacy" : "iommufd";
  return simulate(`sim container ${container}\nmode ${mode}\n${text}`);
}

Deno.test("random walks: the simulator runs them to the end, in every IOMMU mode", async () => {
  for (let seed = 1; seed <= 40; seed++) {
    for (const flavor of ["iommufd", "hwpt"] as const) {
      const r = await simulate(walk(seed, flavor));
      strictEqual(r.status, 0, `seed ${seed} ${flavor}: ${r.out.slice(-500)}`);
      ok(!/^error:/m.test(r.out), r.out);
    }
  }
  for (let seed = 1; seed <= 4; seed++) {
    for (const mode of MODE_NAMES) {
      const c = await simulateIn(mode, walk(seed, "compat"));
      strictEqual(c.status, 0, `${mode}: ${c.out.slice(-500)}`);
      ok(!/^error:/m.test(c.out), c.out);
      ok(/container setup\nok {2}group=/.test(c.out), `${mode}: ${c.out.slice(0, 800)}`);
    }
  }
});

Deno.test("random walks: the lane's files, four flavors per seed, or the flavors asked for", async () => {
  const dir = await Deno.makeTempDir();
  try {
    const files = await writeRandomWalks(dir, 5, 2);
    deepStrictEqual(files.map((f) => f.name), [
      "random_walk_5",
      "random_compat_5",
      "random_hwpt_5",
      "random_memlock_5",
      "random_walk_6",
      "random_compat_6",
      "random_hwpt_6",
      "random_memlock_6",
    ]);
    for (const f of files) strictEqual(Deno.readTextFileSync(f.file), walk(f.seed, f.flavor));
    const only = await writeRandomWalks(dir, 9, 2, ["hwpt"]);
    deepStrictEqual(only.map((f) => f.name), ["random_hwpt_9", "random_hwpt_10"]);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("random walks: hwpt walks get past the refusals: every hwpt command succeeds somewhere", async () => {
  const succeeded = new Map<string, number>();
  for (let seed = 1; seed <= 10; seed++) {
    const { out } = await simulate(walk(seed, "hwpt"));
    for (const m of out.matchAll(/^\d+> ((?:hwpt|test) [a-z-]+).*\nok/gm)) {
      succeeded.set(m[1], (succeeded.get(m[1]) ?? 0) + 1);
    }
  }
  for (
    const c of [
      "hwpt alloc",
      "hwpt invalidate",
      "hwpt dirty-tracking",
      "hwpt dirty-bitmap",
      "test replace",
      "test mock-domain",
    ]
  ) {
    ok((succeeded.get(c) ?? 0) >= 10, `${c}: ${succeeded.get(c) ?? 0} successes`);
  }
});

Deno.test("random walks: memlock walks map only memory still allocated, within its size", () => {
  let regionMaps = 0;
  for (let seed = 1; seed <= 40; seed++) {
    const live = new Map<string, bigint>();
    for (const line of walk(seed, "memlock").split("\n")) {
      const alloc = /^mem alloc (\w+) (0x[0-9a-f]+)$/.exec(line);
      if (alloc) live.set(alloc[1], BigInt(alloc[2]));
      const free = /^mem free (\w+)$/.exec(line);
      if (free) ok(live.delete(free[1]), `seed ${seed}: ${line}`);
      const map = /^map \S+ (0x[0-9a-f]+) \S+ --vaddr \$(m\d)\b/.exec(line);
      if (map) {
        const size = live.get(map[2]);
        ok(size !== undefined && BigInt(map[1]) <= size, `seed ${seed}: ${line}`);
        regionMaps++;
      }
    }
  }
  ok(regionMaps > 100, `only ${regionMaps} maps of mlock regions`);
});

Deno.test("random walks: a memlock walk's machine is one the lane can build in the guest", () => {
  for (let seed = 1; seed <= 10; seed++) {
    const m = translateMachine(walk(seed, "memlock"));
    ok(m !== undefined && !isUntranslatable(m), `seed ${seed}`);
    deepStrictEqual(m.lines, [4, 5]);
    ok(m.wrap.some((w) => w.startsWith("prlimit --memlock=")), m.wrap.join(" "));
    ok(m.wrap.some((w) => w.startsWith("setpriv ")), m.wrap.join(" "));
  }
});

Deno.test("random walks: memlock walks reach the limit and get past it, in every IOMMU mode", async () => {
  for (const mode of MODE_NAMES) {
    const seen = new Map<string, number>();
    for (let seed = 1; seed <= 6; seed++) {
      const r = await simulateIn(mode, walk(seed, "memlock"));
      strictEqual(r.status, 0, `${mode} seed ${seed}: ${r.out.slice(-500)}`);
      ok(!/^error:/m.test(r.out), r.out);
      for (const m of r.out.matchAll(/^\d+> (map|unmap|mem mlock|mem free)\b.*\n(\S+)/gm)) {
        seen.set(`${m[1]} ${m[2]}`, (seen.get(`${m[1]} ${m[2]}`) ?? 0) + 1);
      }
    }
    for (const k of ["map ok", "map ENOMEM", "unmap ok", "mem mlock ok", "mem mlock ENOMEM"]) {
      ok((seen.get(k) ?? 0) >= 5, `${mode}: ${k} ${seen.get(k) ?? 0} times`);
    }
  }
});
