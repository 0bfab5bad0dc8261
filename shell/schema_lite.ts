/**
 * Declarations shaped like zod schemas, built without loading zod: the `z` the core
 * commands declare their arguments, options and results with (see shell/commands/_api.ts).
 *
 * Importing zod costs ~40 ms and building the core commands' ~250 schemas ~25 ms more, on
 * every start of the shell, for declarations the shell only reads (kinds, defaults, labels,
 * descriptions: shell/registry.ts) and almost never validates with. These objects carry
 * exactly what the shell reads from a zod schema, in the same places (`_zod.def`, `meta()`,
 * `description`, `shape`, `safeParse`), for the subset of zod the core uses: `bigint`,
 * `number`, `string` (with `regex`), `boolean`, `enum`, `literal`, `union`, `array`,
 * `object`, `instanceof`, `record`, `unknown`, and `.optional()`, `.default()`, `.meta()`.
 * Their `safeParse` gives zod's result and zod's (English) first message for those types.
 *
 * {@link toZod} turns one into the real zod schema, for whatever needs zod itself; a test
 * (schema_lite_test.ts) checks that every core declaration reads, defaults and validates the
 * same both ways.
 *
 * @module
 */

import type { z as zod } from "zod";
import type { ZodBuilders } from "./plugin_core.ts";

/** A check on a string (the only one the core uses: a pattern). */
interface RegexCheck {
  readonly check: "regex";
  readonly pattern: RegExp;
}

/** The parts of zod's `_zod.def` the shell reads, as zod names them. */
interface LiteDef {
  readonly type: string;
  readonly innerType?: LiteSchema;
  readonly defaultValue?: unknown;
  readonly element?: LiteSchema;
  readonly entries?: Readonly<Record<string, string>>;
  readonly options?: readonly LiteSchema[];
  readonly values?: readonly unknown[];
  readonly shape?: Readonly<Record<string, LiteSchema>>;
  readonly checks?: readonly RegexCheck[];
  readonly keyType?: LiteSchema;
  readonly valueType?: LiteSchema;
  /** `instanceof`: the class. */
  // deno-lint-ignore no-explicit-any
  readonly cls?: abstract new (...args: any[]) => unknown;
}

type Meta = Record<string, unknown>;

/** What {@link LiteSchema.safeParse} returns (zod's shape, first issue only). */
type LiteResult =
  | { success: true; data: unknown }
  | { success: false; error: { issues: { message: string }[] } };

function fail(message: string): LiteResult {
  return { success: false, error: { issues: [{ message }] } };
}

/** How zod's English messages name the type of a value it did not expect. */
function received(v: unknown): string {
  const t = typeof v;
  if (t === "number") return Number.isFinite(v) ? "number" : String(v);
  if (t === "object") {
    if (v === null) return "null";
    if (Array.isArray(v)) return "array";
    const proto = Object.getPrototypeOf(v);
    if (proto !== Object.prototype && proto !== null && typeof proto.constructor === "function") {
      return proto.constructor.name;
    }
  }
  return t;
}

function quote(v: unknown): string {
  return typeof v === "bigint" ? `${v}n` : typeof v === "string" ? `"${v}"` : `${v}`;
}

function expected(what: string, v: unknown): LiteResult {
  return fail(`Invalid input: expected ${what}, received ${received(v)}`);
}

/** A copy of a default value, as zod hands out (objects and arrays are not shared). */
function clone(v: unknown): unknown {
  if (Array.isArray(v)) return [...v];
  if (typeof v === "object" && v !== null && Object.getPrototypeOf(v) === Object.prototype) {
    return { ...v };
  }
  return v;
}

/** One declaration (see the module documentation). */
export class LiteSchema {
  /** Where zod keeps a schema's definition. */
  readonly _zod: { readonly def: LiteDef };
  readonly #meta: Meta | undefined;
  /** Made by `.meta()` from another (zod clones the schema then; see `custom` below). */
  readonly #cloned: boolean;

  constructor(def: LiteDef, meta?: Meta, cloned = false) {
    this._zod = { def };
    this.#meta = meta;
    this.#cloned = cloned;
  }

  /** With no argument: the metadata. With one: a copy with it added (as zod's `.meta`). */
  meta(): Meta | undefined;
  meta(m: Meta): LiteSchema;
  meta(m?: Meta): Meta | undefined | LiteSchema {
    if (m === undefined) return this.#meta;
    return new LiteSchema(this._zod.def, { ...this.#meta, ...m }, true);
  }

  /** The description from the metadata. */
  get description(): string | undefined {
    return this.#meta?.description as string | undefined;
  }

  /** An object's fields. */
  get shape(): Readonly<Record<string, LiteSchema>> | undefined {
    return this._zod.def.shape;
  }

  optional(): LiteSchema {
    return new LiteSchema({ type: "optional", innerType: this });
  }

  default(value: unknown): LiteSchema {
    return new LiteSchema({
      type: "default",
      innerType: this,
      get defaultValue() {
        return clone(value);
      },
    });
  }

  /** A string that must match `pattern`. */
  regex(pattern: RegExp): LiteSchema {
    const d = this._zod.def;
    if (d.type !== "string") throw new TypeError(`regex() on a ${d.type} declaration`);
    return new LiteSchema(
      { ...d, checks: [...(d.checks ?? []), { check: "regex", pattern }] },
      this.#meta,
    );
  }

  /** Validate `v` as zod would (its result, and its first issue's message on failure). */
  safeParse(v: unknown): LiteResult {
    const d = this._zod.def;
    switch (d.type) {
      case "optional":
        return v === undefined ? { success: true, data: undefined } : d.innerType!.safeParse(v);
      case "default":
        return v === undefined
          ? { success: true, data: d.defaultValue }
          : d.innerType!.safeParse(v);
      case "bigint":
        return typeof v === "bigint" ? { success: true, data: v } : expected("bigint", v);
      case "number":
        return typeof v === "number" && Number.isFinite(v)
          ? { success: true, data: v }
          : expected("number", v);
      case "boolean":
        return typeof v === "boolean" ? { success: true, data: v } : expected("boolean", v);
      case "string": {
        if (typeof v !== "string") return expected("string", v);
        for (const c of d.checks ?? []) {
          c.pattern.lastIndex = 0;
          if (!c.pattern.test(v)) {
            return fail(`Invalid string: must match pattern ${c.pattern}`);
          }
        }
        return { success: true, data: v };
      }
      case "enum": {
        const values = Object.values(d.entries ?? {});
        return values.includes(v as string)
          ? { success: true, data: v }
          : fail(`Invalid option: expected one of ${values.map(quote).join("|")}`);
      }
      case "literal": {
        const values = d.values ?? [];
        if (values.includes(v)) return { success: true, data: v };
        return values.length === 1
          ? fail(`Invalid input: expected ${quote(values[0])}`)
          : fail(`Invalid option: expected one of ${values.map(quote).join("|")}`);
      }
      case "union": {
        for (const o of d.options ?? []) {
          const r = o.safeParse(v);
          if (r.success) return r;
        }
        return fail("Invalid input");
      }
      case "custom":
        if (v instanceof d.cls!) return { success: true, data: v };
        // zod's instanceof names the types, but a copy of it (`.meta()`) has lost that.
        return this.#cloned ? fail("Invalid input") : expected(d.cls!.name, v);
      case "unknown":
        return { success: true, data: v };
      case "array": {
        if (!Array.isArray(v)) return expected("array", v);
        const out: unknown[] = [];
        for (const x of v) {
          const r = d.element!.safeParse(x);
          if (!r.success) return r;
          out.push(r.data);
        }
        return { success: true, data: out };
      }
      case "object":
      case "record": {
        if (typeof v !== "object" || v === null || Array.isArray(v)) {
          return expected(d.type === "object" ? "object" : "record", v);
        }
        const rec = v as Record<string, unknown>;
        const out: Record<string, unknown> = {};
        if (d.type === "record") {
          for (const k of Object.keys(rec)) {
            const r = d.valueType!.safeParse(rec[k]);
            if (!r.success) return r;
            out[k] = r.data;
          }
          return { success: true, data: out };
        }
        for (const [k, s] of Object.entries(d.shape ?? {})) {
          const r = s.safeParse(rec[k]);
          if (!r.success) return r;
          if (r.data !== undefined || k in rec) out[k] = r.data;
        }
        return { success: true, data: out };
      }
    }
    throw new TypeError(`safeParse of a ${d.type} declaration`);
  }
}

/** Whether `s` is a declaration of this module (rather than a zod schema). */
export function isLite(s: unknown): s is LiteSchema {
  return s instanceof LiteSchema;
}

const lite = (def: LiteDef) => new LiteSchema(def);

/** The zod constructors the core uses, building {@link LiteSchema}s (typed as zod's). */
export const z: ZodBuilders = {
  bigint: () => lite({ type: "bigint" }),
  number: () => lite({ type: "number" }),
  string: () => lite({ type: "string" }),
  boolean: () => lite({ type: "boolean" }),
  enum: (values: readonly string[] | Readonly<Record<string, string>>) =>
    lite({
      type: "enum",
      entries: Array.isArray(values)
        ? Object.fromEntries(values.map((v) => [v, v]))
        : { ...values as Record<string, string> },
    }),
  literal: (value: unknown) => lite({ type: "literal", values: [value] }),
  union: (options: readonly LiteSchema[]) => lite({ type: "union", options: [...options] }),
  array: (element: LiteSchema) => lite({ type: "array", element }),
  object: (shape: Record<string, LiteSchema> = {}) => lite({ type: "object", shape: { ...shape } }),
  // deno-lint-ignore no-explicit-any
  instanceof: (cls: abstract new (...args: any[]) => unknown) => lite({ type: "custom", cls }),
  record: (keyType: LiteSchema, valueType: LiteSchema) =>
    lite({ type: "record", keyType, valueType }),
  unknown: () => lite({ type: "unknown" }),
} as unknown as ZodBuilders;

/**
 * The real zod schema for a declaration (a zod schema is returned as it is). `zod` is the
 * zod namespace (`import { z } from "zod"`): this module never loads it itself.
 */
export function toZod(s: unknown, z: typeof zod): zod.ZodType {
  if (!isLite(s)) return s as zod.ZodType;
  const d = s._zod.def;
  const sub = (x: LiteSchema) => toZod(x, z);
  let out: zod.ZodType;
  switch (d.type) {
    case "optional":
      out = sub(d.innerType!).optional();
      break;
    case "default":
      out = sub(d.innerType!).default(d.defaultValue as never);
      break;
    case "bigint":
      out = z.bigint();
      break;
    case "number":
      out = z.number();
      break;
    case "boolean":
      out = z.boolean();
      break;
    case "string": {
      let str = z.string();
      for (const c of d.checks ?? []) str = str.regex(c.pattern);
      out = str;
      break;
    }
    case "enum":
      out = z.enum(Object.values(d.entries ?? {}) as [string, ...string[]]);
      break;
    case "literal":
      out = d.values!.length === 1
        ? z.literal(d.values![0] as zod.core.util.Literal)
        : z.literal(d.values as zod.core.util.Literal[]);
      break;
    case "union":
      out = z.union((d.options ?? []).map(sub) as [zod.ZodType, ...zod.ZodType[]]);
      break;
    case "custom":
      // deno-lint-ignore no-explicit-any
      out = z.instanceof(d.cls! as abstract new (...args: any[]) => any);
      break;
    case "unknown":
      out = z.unknown();
      break;
    case "array":
      out = z.array(sub(d.element!));
      break;
    case "object":
      out = z.object(
        Object.fromEntries(Object.entries(d.shape ?? {}).map(([k, v]) => [k, sub(v)])),
      );
      break;
    case "record":
      out = z.record(sub(d.keyType!) as zod.ZodString, sub(d.valueType!));
      break;
    default:
      throw new TypeError(`toZod: a ${d.type} declaration`);
  }
  const m = s.meta();
  return m === undefined ? out : out.meta(m);
}
