import { deepStrictEqual, strictEqual } from "node:assert";
import { z } from "zod";
import corePlugin from "./commands/mod.ts";
import { t as liteT, z as liteZ } from "./commands/_api.ts";
import { t as zodT } from "./plugin_api.ts";
import { analyseCommand, type ParamSpec } from "./registry.ts";
import { isLite, toZod } from "./schema_lite.ts";
import type { Command } from "./plugin_core.ts";

/** The command with its declarations made real zod schemas. */
function withZod(spec: Command): Command {
  return {
    ...spec,
    args: spec.args && toZod(spec.args, z),
    options: spec.options && toZod(spec.options, z),
    result: spec.result && toZod(spec.result, z),
  } as Command;
}

/** A ParamSpec without its schemas (which differ by construction). */
function plain(p: ParamSpec): Omit<ParamSpec, "schema" | "fullSchema"> {
  const { schema: _s, fullSchema: _f, ...rest } = p;
  return rest;
}

const SAMPLES: unknown[] = [
  undefined,
  null,
  0n,
  1n,
  -1n,
  0,
  7,
  1.5,
  NaN,
  "",
  "x",
  "buf",
  "1x",
  "a b",
  "-",
  "rw",
  "r",
  "start",
  "TYPE1v2",
  true,
  false,
  new Uint8Array([1, 2]),
  [],
  [1n],
  { start: 1n, end: 2n },
  {},
];

function sameParse(a: { safeParse(v: unknown): unknown }, b: z.ZodType, what: string): void {
  for (const v of SAMPLES) {
    const ra = a.safeParse(v) as {
      success: boolean;
      data?: unknown;
      error?: { issues: { message: string }[] };
    };
    const rb = b.safeParse(v);
    strictEqual(ra.success, rb.success, `${what}: success for ${String(v)}`);
    if (ra.success && rb.success) {
      deepStrictEqual(ra.data, rb.data, `${what}: data for ${String(v)}`);
    }
    if (!ra.success && !rb.success) {
      strictEqual(
        ra.error!.issues[0].message,
        rb.error.issues[0].message,
        `${what}: message for ${String(v)}`,
      );
    }
  }
}

Deno.test("schema_lite: every core command reads, defaults and validates as with zod", () => {
  let n = 0;
  for (const spec of corePlugin.commands) {
    for (const d of [spec.args, spec.options, spec.result]) {
      if (d !== undefined) strictEqual(isLite(d), true, `${spec.name}: a zod-free declaration`);
    }
    const lite = analyseCommand(spec, "core");
    const real = analyseCommand(withZod(spec), "core");
    deepStrictEqual(lite.params.map(plain), real.params.map(plain), spec.name);
    deepStrictEqual(
      [...lite.options.values()].map(plain),
      [...real.options.values()].map(plain),
      spec.name,
    );
    deepStrictEqual(lite.fields, real.fields, spec.name);
    strictEqual(lite.principal, real.principal, spec.name);
    const pairs = [
      ...lite.params.map((p, i) => [p, real.params[i]] as const),
      ...[...lite.options.values()].map((p) => [p, real.options.get(p.key)!] as const),
    ];
    for (const [l, r] of pairs) {
      sameParse(l.schema, r.schema, `${spec.name} ${l.key}`);
      sameParse(l.fullSchema, r.fullSchema, `${spec.name} ${l.key} (whole)`);
      n++;
    }
  }
  strictEqual(n > 100, true);
});

Deno.test("schema_lite: every helper of t builds the same declaration as with zod", () => {
  // [name, where it goes, how to make it]
  type Role = "args" | "options" | "result";
  const cases: [string, Role, (tt: typeof zodT, zz: typeof z) => unknown][] = [
    ["int", "args", (tt) => tt.int("d", { bits: 8, label: "N" })],
    ["size", "args", (tt) => tt.size("d")],
    ["constant", "args", (tt) => tt.constant("vfio_extension", "d")],
    ["auto", "args", (tt) => tt.auto("d")],
    ["perm", "args", (tt) => tt.perm()],
    ["choice", "args", (tt) => tt.choice(["a", "b"], "d").default("a")],
    ["string", "args", (tt) => tt.string("d")],
    ["path", "args", (tt) => tt.path("d")],
    ["name", "args", (tt) => tt.name("d")],
    ["bytes", "args", (tt) => tt.bytes("d")],
    ["range", "args", (tt) => tt.range("d")],
    ["array", "args", (tt, zz) => zz.array(tt.int("d"))],
    ["optional", "args", (tt) => tt.int("d").optional()],
    ["flag", "options", (tt) => tt.flag("d")],
    ["number", "options", (_tt, zz) => zz.number()],
    ["enum", "options", (_tt, zz) => zz.enum(["x", "y"])],
    ["hex", "result", (tt) => tt.hex("d")],
    ["dec", "result", (tt) => tt.dec("d", { volatile: true })],
    ["fd", "result", (tt) => tt.fd()],
    ["vaddr", "result", (tt) => tt.vaddr()],
    ["ranges", "result", (tt) => tt.ranges("d")],
    ["hexBytes", "result", (tt) => tt.hexBytes("d")],
    ["text", "result", (tt) => tt.text("d")],
    ["bool", "result", (tt) => tt.bool("d")],
    ["rows", "result", (tt) => tt.rows("d")],
  ];
  for (const [name, role, make] of cases) {
    const lite = make(liteT as typeof zodT, liteZ as typeof z) as z.ZodType;
    const real = make(zodT, z) as z.ZodType;
    const spec = (s: z.ZodType, zz: typeof z) =>
      ({
        name: "x",
        summary: "",
        [role]: zz.object({ v: s }),
        run: () => ({ errno: 0, fields: {} }),
      }) as unknown as Command;
    const a = analyseCommand(spec(lite, liteZ as typeof z), "p");
    const b = analyseCommand(spec(real, z), "p");
    deepStrictEqual(a.params.map(plain), b.params.map(plain), name);
    deepStrictEqual([...a.options.values()].map(plain), [...b.options.values()].map(plain), name);
    deepStrictEqual(a.fields, b.fields, name);
    sameParse(lite, real, name);
    sameParse(lite, toZod(lite, z), `${name} (toZod)`);
  }
});
