/**
 * The plugin API without zod at run time: the types of commands, results and the session
 * state, {@link defineCommand}, {@link definePlugin}, {@link ShellError}, and the schema
 * helpers as a function of the zod constructors they use ({@link makeHelpers}).
 *
 * shell/plugin_api.ts is the public face: it adds `z` (zod itself) and `t` (the helpers
 * built with it). The shell's own modules import this one instead, so that starting the
 * shell loads no zod (whose import alone costs ~40 ms); see shell/commands/_api.ts.
 *
 * @module
 */

import type { z } from "zod";
import type { Kernel } from "../uapi/kernel.ts";
import { type FieldValue, NAME_PATTERN, type Range, type Value } from "../dsl/values.ts";

export type { FieldValue, Range, Value };

/** How a word of the command line is read for an argument or option. */
export type ArgKind =
  | "int" //      integer expression: numbers, sizes, constants, variables, arithmetic
  | "auto" //     an integer, or `-` for "let the kernel choose"
  | "perm" //     r, w, rw, - (DMA permission)
  | "choice" //   one of a fixed list of words
  | "string" //   any word (a quoted string, or a bare word)
  | "path" //     a file path (completed from the file system)
  | "name" //     a name of the shell's own (memory regions)
  | "bytes" //    hex bytes: 0c000000, de:ad:be:ef
  | "range" //    START-END, inclusive: 0x1000-0x1fffff
  | "flag"; //    an option that takes no value

/** How a result field is printed and put in JSON. */
export type FieldFormat =
  | "hex" //   0x1000 (the default for numbers); JSON: "0x1000"
  | "dec" //   ids, fds, counts: 3; JSON: 3
  | "ranges" // [0x0-0xfff,…]; JSON: [["0x0","0xfff"],…]
  | "bytes" // hex string; JSON: "0c000000"
  | "text" //  a string; JSON: a string
  | "bool" //  true/false
  | "rows"; // a table, printed below the result line

/** vfsh's metadata on a zod schema (read with `schema.meta()`). */
export interface VfshMeta {
  /** How to read the word(s), for arguments and options. */
  kind?: ArgKind;
  /** How to print it, for result fields. */
  format?: FieldFormat;
  /** Width of an integer in bits (default 64): larger values are refused. */
  bits?: number;
  /** A uapi constant set whose names complete here (e.g. `"vfio_extension"`). */
  set?: string;
  /** The placeholder shown in usage lines (default: the key in capitals). */
  label?: string;
  /** A result field whose value differs from run to run (fds, addresses): left out of recordings. */
  volatile?: boolean;
}

function withMeta<T extends z.ZodType>(schema: T, description: string | undefined, m: VfshMeta): T {
  return schema.meta({ ...(description ? { description } : {}), vfsh: m }) as T;
}

/** Read vfsh's metadata and description from a schema (through optional/default wrappers). */
export function metaOf(schema: z.ZodType): { vfsh: VfshMeta; description?: string } {
  let s: z.ZodType | undefined = schema;
  let description: string | undefined;
  let vfsh: VfshMeta | undefined;
  while (s) {
    const m = s.meta() as { description?: string; vfsh?: VfshMeta } | undefined;
    description ??= m?.description ?? s.description;
    vfsh ??= m?.vfsh;
    const def: { type: string; innerType?: z.ZodType } =
      (s as unknown as { _zod: { def: { type: string; innerType?: z.ZodType } } })._zod.def;
    if (def.type === "optional" || def.type === "default" || def.type === "nullable") {
      s = def.innerType;
    } else break;
  }
  return { vfsh: vfsh ?? {}, description };
}

/** The type of {@link t}. */
export interface SchemaHelpers {
  int(description?: string, m?: Omit<VfshMeta, "kind" | "format">): z.ZodBigInt;
  size(description?: string): z.ZodBigInt;
  constant(set: string, description?: string, m?: Omit<VfshMeta, "kind" | "set">): z.ZodBigInt;
  auto(
    description?: string,
    m?: Omit<VfshMeta, "kind">,
  ): z.ZodUnion<[z.ZodBigInt, z.ZodLiteral<"-">]>;
  perm(description?: string): z.ZodEnum<{ r: "r"; w: "w"; rw: "rw"; "-": "-" }>;
  choice<const V extends readonly [string, ...string[]]>(
    values: V,
    description?: string,
  ): z.ZodEnum<{ [K in V[number]]: K }>;
  string(description?: string, m?: Omit<VfshMeta, "kind">): z.ZodString;
  path(description?: string): z.ZodString;
  name(description?: string): z.ZodString;
  bytes(description?: string): z.ZodCustom<Uint8Array, Uint8Array>;
  range(description?: string): z.ZodObject<{ start: z.ZodBigInt; end: z.ZodBigInt }>;
  flag(description?: string): z.ZodDefault<z.ZodBoolean>;
  hex(description?: string, m?: Omit<VfshMeta, "format">): z.ZodOptional<z.ZodBigInt>;
  dec(description?: string, m?: Omit<VfshMeta, "format">): z.ZodOptional<z.ZodBigInt>;
  fd(description?: string): z.ZodOptional<z.ZodBigInt>;
  vaddr(description?: string): z.ZodOptional<z.ZodBigInt>;
  ranges(
    description?: string,
  ): z.ZodOptional<z.ZodArray<z.ZodObject<{ start: z.ZodBigInt; end: z.ZodBigInt }>>>;
  hexBytes(description?: string): z.ZodOptional<z.ZodCustom<Uint8Array, Uint8Array>>;
  text(description?: string, m?: Omit<VfshMeta, "format">): z.ZodOptional<z.ZodString>;
  bool(description?: string): z.ZodOptional<z.ZodBoolean>;
  rows(description?: string): z.ZodOptional<z.ZodArray<z.ZodRecord<z.ZodString, z.ZodUnknown>>>;
}

/**
 * The zod constructors {@link makeHelpers} builds on: real zod (`t` of the public API), or
 * the core commands' declarations that load no zod (shell/commands/_api.ts).
 */
export type ZodBuilders = Pick<
  typeof z,
  | "bigint"
  | "number"
  | "string"
  | "boolean"
  | "enum"
  | "literal"
  | "union"
  | "array"
  | "object"
  | "instanceof"
  | "record"
  | "unknown"
>;

/**
 * The schema helpers ({@link SchemaHelpers}) built with `zb`. Plain zod works too
 * (`z.bigint()` reads an integer, `z.string()` a word, `z.enum([...])` a choice,
 * `z.boolean()` a flag option, `z.array(x)` the remaining words); these add the metadata
 * that makes help, completion and printing better.
 */
export function makeHelpers(zb: ZodBuilders): SchemaHelpers {
  return {
    /** An integer: numbers in any base, sizes, constants, `$vars`, arithmetic. */
    int(description?: string, m: Omit<VfshMeta, "kind" | "format"> = {}): z.ZodBigInt {
      return withMeta(zb.bigint(), description, { kind: "int", ...m });
    },
    /** A size in bytes (`4K`, `2M`, `0x1000`). */
    size(description?: string): z.ZodBigInt {
      return withMeta(zb.bigint(), description, { kind: "int", label: "SIZE" });
    },
    /** A uapi constant by name (or a number), completed from constant set `set`. */
    constant(
      set: string,
      description?: string,
      m: Omit<VfshMeta, "kind" | "set"> = {},
    ): z.ZodBigInt {
      return withMeta(zb.bigint(), description, { kind: "int", set, bits: 32, ...m });
    },
    /** An integer or `-` (the kernel chooses). */
    auto(
      description?: string,
      m: Omit<VfshMeta, "kind"> = {},
    ): z.ZodUnion<[z.ZodBigInt, z.ZodLiteral<"-">]> {
      return withMeta(zb.union([zb.bigint(), zb.literal("-")]), description, {
        kind: "auto",
        ...m,
      });
    },
    /** A DMA permission: `r`, `w`, `rw` or `-`. */
    perm(
      description = "DMA permission: r, w, rw or - (none)",
    ): z.ZodEnum<{ r: "r"; w: "w"; rw: "rw"; "-": "-" }> {
      return withMeta(zb.enum(["r", "w", "rw", "-"]), description, { kind: "perm", label: "PERM" });
    },
    /** One of `values`. */
    choice<const V extends readonly [string, ...string[]]>(
      values: V,
      description?: string,
    ): z.ZodEnum<{ [K in V[number]]: K }> {
      return withMeta(zb.enum(values), description, { kind: "choice" });
    },
    /** A word or quoted string. */
    string(description?: string, m: Omit<VfshMeta, "kind"> = {}): z.ZodString {
      return withMeta(zb.string(), description, { kind: "string", ...m });
    },
    /** A file path (completed from the file system). */
    path(description?: string): z.ZodString {
      return withMeta(zb.string(), description, { kind: "path", label: "PATH" });
    },
    /** A name of a memory region of the shell. */
    name(description?: string): z.ZodString {
      return withMeta(zb.string().regex(NAME_PATTERN), description, {
        kind: "name",
        label: "NAME",
      });
    },
    /** Hex bytes (`0c000000`, `de:ad:be:ef`); as the last argument, the rest of the words. */
    bytes(description?: string): z.ZodCustom<Uint8Array, Uint8Array> {
      return withMeta(zb.instanceof(Uint8Array), description, {
        kind: "bytes",
        label: "HEX_BYTES",
      });
    },
    /** An inclusive range `START-END`. */
    range(description?: string): z.ZodObject<{ start: z.ZodBigInt; end: z.ZodBigInt }> {
      return withMeta(zb.object({ start: zb.bigint(), end: zb.bigint() }), description, {
        kind: "range",
        label: "RANGE",
      });
    },
    /** An option without a value. */
    flag(description?: string): z.ZodDefault<z.ZodBoolean> {
      return withMeta(zb.boolean(), description, { kind: "flag" }).default(false);
    },

    /** Result field: a number printed in hex (addresses, sizes, flags). */
    hex(description?: string, m: Omit<VfshMeta, "format"> = {}): z.ZodOptional<z.ZodBigInt> {
      return withMeta(zb.bigint(), description, { format: "hex", ...m }).optional();
    },
    /** Result field: a number printed in decimal (ids, counts, small values). */
    dec(description?: string, m: Omit<VfshMeta, "format"> = {}): z.ZodOptional<z.ZodBigInt> {
      return withMeta(zb.bigint(), description, { format: "dec", ...m }).optional();
    },
    /** Result field: a file descriptor (decimal, left out of recordings). */
    fd(description = "file descriptor"): z.ZodOptional<z.ZodBigInt> {
      return withMeta(zb.bigint(), description, { format: "dec", volatile: true }).optional();
    },
    /** Result field: a user virtual address (hex, left out of recordings). */
    vaddr(description = "user virtual address"): z.ZodOptional<z.ZodBigInt> {
      return withMeta(zb.bigint(), description, { format: "hex", volatile: true }).optional();
    },
    /** Result field: a list of inclusive ranges. */
    ranges(
      description?: string,
    ): z.ZodOptional<z.ZodArray<z.ZodObject<{ start: z.ZodBigInt; end: z.ZodBigInt }>>> {
      return withMeta(zb.array(zb.object({ start: zb.bigint(), end: zb.bigint() })), description, {
        format: "ranges",
      }).optional();
    },
    /** Result field: bytes, printed as hex. */
    hexBytes(description?: string): z.ZodOptional<z.ZodCustom<Uint8Array, Uint8Array>> {
      return withMeta(zb.instanceof(Uint8Array), description, { format: "bytes" }).optional();
    },
    /** Result field: text. */
    text(description?: string, m: Omit<VfshMeta, "format"> = {}): z.ZodOptional<z.ZodString> {
      return withMeta(zb.string(), description, { format: "text", ...m }).optional();
    },
    /** Result field: true/false. */
    bool(description?: string): z.ZodOptional<z.ZodBoolean> {
      return withMeta(zb.boolean(), description, { format: "bool" }).optional();
    },
    /** Result field: a table (printed below the result line). */
    rows(
      description?: string,
    ): z.ZodOptional<z.ZodArray<z.ZodRecord<z.ZodString, z.ZodUnknown>>> {
      return withMeta(zb.array(zb.record(zb.string(), zb.unknown())), description, {
        format: "rows",
      }).optional();
    },
  };
}

/** What a command returns: success or an errno, named fields, and optional extra lines. */
export interface CommandResult {
  /** 0 on success, else the errno. */
  readonly errno: number;
  /** Named fields (see the command's `result` schema). */
  readonly fields: Readonly<Record<string, FieldValue>>;
  /** Lines printed after the result line (tables, decoded structures). */
  readonly lines?: readonly string[];
  /** Print only `lines`, no result line (help, echo and other shell commands). */
  readonly silent?: boolean;
}

/** A memory region made by `mem alloc` (or by `map` without `--vaddr`). */
export interface MemRegion {
  readonly addr: bigint;
  readonly size: bigint;
}

/** One area this shell mapped (what `mappings` shows on the kernel backend). */
export interface ShellArea {
  iova: bigint;
  last: bigint;
  vaddr: bigint;
  prot: number;
}

/** The state of a session that commands read and change. */
export interface ShellState {
  /** The current container (iommufd) fd, or -1 when none is open. */
  container: number;
  /** Every container fd this shell opened and has not closed. */
  readonly containers: Set<number>;
  /** The IOAS set with `ioas set` on each container fd (for bookkeeping). */
  readonly compatIoas: Map<number, number>;
  /** The current group fd, or -1. */
  group: number;
  /** Open group fds → group number. */
  readonly groups: Map<number, number>;
  /** Device fds this shell got from a group. */
  readonly devices: Set<number>;
  /** Memory regions by name (`$NAME` is their address). */
  readonly mem: Map<string, MemRegion>;
  /** Anonymous memory `map` allocated for itself, freed when the session closes. */
  readonly anon: MemRegion[];
  /** Variables (without `$`). */
  readonly vars: Map<string, Value>;
  /** Areas mapped through this shell, by `fd:ioas` (`fd:compat` for VFIO maps). */
  readonly areas: Map<string, ShellArea[]>;
}

/**
 * Forget every fd, memory region and mapping the shell holds on the machine (its kernel side
 * is gone: the session closed, or the simulator rebooted).
 */
export function forgetMachine(st: ShellState): void {
  st.containers.clear();
  st.compatIoas.clear();
  st.groups.clear();
  st.devices.clear();
  st.mem.clear();
  st.anon.length = 0;
  st.areas.clear();
  st.container = -1;
  st.group = -1;
}

/** Shell-level operations, for the shell's own commands (`include`, `plugin load`, …). */
export interface ShellControl {
  /** Run a script file in this session; `path` is relative to the including file. */
  include(path: string): Promise<void>;
  /** Load a plugin module; throws a one-line error naming the plugin on failure. */
  loadPlugin(path: string): Promise<{ name: string; commands: string[] }>;
  /** `set -e` / `set +e`. */
  setErrexit(on: boolean): void;
  /** Help text: the command list, or one command's usage. */
  help(command?: string): string[];
  /** Lines typed in this session. */
  history(): string[];
  /**
   * Start recording to `path`, beside the running script (throws a one-line error when it
   * cannot write); returns the file as messages should name it.
   */
  startRecording(path: string): string;
  /** Stop recording; returns the file and how many commands were written. */
  stopRecording(): { path: string; commands: number } | undefined;
  /** Ask the session to end after this command. */
  quit(): void;
  /** The script being run (`<line>` at the prompt). */
  readonly file: string;
}

/** What a command's `run` receives besides its arguments. */
export interface CommandContext {
  /** The backend. Nothing else reaches the kernel. */
  readonly kernel: Kernel;
  /** The session's state: current container, groups, memory, variables. */
  readonly state: ShellState;
  /** Shell-level operations. */
  readonly shell: ShellControl;
  /** The name of the plugin this command belongs to. */
  readonly plugin: string;
  /** Success, with fields. */
  ok(fields?: Record<string, FieldValue | undefined>): CommandResult;
  /** Failure with errno `n` (positive), with optional fields. */
  errno(n: number, fields?: Record<string, FieldValue | undefined>): CommandResult;
  /** From a kernel return value: `ret < 0` is errno `-ret`, else success with `fields`. */
  fromRet(
    ret: number | bigint,
    fields?:
      | Record<string, FieldValue | undefined>
      | (() => Record<string, FieldValue | undefined>),
  ): CommandResult;
  /** Stop the command with a one-line shell error (not an errno): bad usage, missing state. */
  fail(message: string): never;
  /**
   * Put `bytes` in scratch user memory owned by the shell and return its address (for
   * ioctls that take a pointer to an int, a string or an array). Valid until the next call.
   */
  userBytes(bytes: Uint8Array): bigint;
}

/** The declaration of one command. */
export interface CommandSpec<
  A extends z.ZodObject = z.ZodObject,
  O extends z.ZodObject = z.ZodObject,
> {
  /** Its name as typed: one to three words, `map`, `ioas map`, `sim device add`. */
  readonly name: string;
  /** One line for `help`. */
  readonly summary: string;
  /** More text for `help NAME`. */
  readonly description?: string;
  /** Positional arguments, in key order. */
  readonly args?: A;
  /** `--name value` options (`--name` alone for flags). */
  readonly options?: O;
  /** The result fields, in print order. */
  readonly result?: z.ZodObject;
  /** The field a bare number after `=>` and `let` refer to. */
  readonly principal?: string;
  /** A usage line for `help`, when the generated one does not say it well. */
  readonly usage?: string;
  /** Examples for `help NAME`. */
  readonly examples?: readonly string[];
  /** Run it. Must not throw for anything the kernel says: return an errno result instead. */
  run(
    ctx: CommandContext,
    args: z.output<A>,
    options: z.output<O>,
  ): CommandResult | Promise<CommandResult>;
}

/** A declared command (its argument types erased). */
// deno-lint-ignore no-explicit-any
export type Command = CommandSpec<any, any>;

/** A plugin: a name and its commands. A plugin module's default export is one of these. */
export interface Plugin {
  readonly name: string;
  readonly version?: string;
  readonly description?: string;
  readonly commands: readonly Command[];
}

/** Declare a command. Returns the declaration, checked and frozen. */
export function defineCommand<
  A extends z.ZodObject = z.ZodObject<Record<never, never>>,
  O extends z.ZodObject = z.ZodObject<Record<never, never>>,
>(spec: CommandSpec<A, O>): Command {
  if (typeof spec.name !== "string" || spec.name.trim() === "") {
    throw new TypeError("defineCommand: a command needs a name");
  }
  if (typeof spec.run !== "function") {
    throw new TypeError(`defineCommand: command '${spec.name}' needs a run function`);
  }
  return Object.freeze({ ...spec, name: spec.name.trim().split(/\s+/).join(" ") });
}

/** Declare a plugin. */
export function definePlugin(plugin: Plugin): Plugin {
  if (typeof plugin.name !== "string" || plugin.name === "") {
    throw new TypeError("definePlugin: a plugin needs a name");
  }
  if (!Array.isArray(plugin.commands)) {
    throw new TypeError(`definePlugin: plugin '${plugin.name}' needs a commands array`);
  }
  return Object.freeze({ ...plugin, commands: Object.freeze([...plugin.commands]) });
}

/** A one-line error from a command or the shell (not a kernel errno). */
export class ShellError extends Error {
  constructor(message: string) {
    super(message);
    this.name = "ShellError";
  }
}

/**
 * `v` in a few words, for a message: `undefined`, `null`, `a number`, `an array`, `an
 * object`, or the class of another object (`a Map`).
 */
export function kindOf(v: unknown): string {
  if (v === null || v === undefined) return String(v);
  let name: string = typeof v;
  if (Array.isArray(v)) name = "array";
  else if (typeof v === "object") {
    const ctor = (v as object).constructor?.name;
    name = ctor === undefined ? "null-prototype object" : ctor === "Object" ? "object" : ctor;
  }
  return `${/^[aeiouAEIOU]/.test(name) ? "an" : "a"} ${name}`;
}

/**
 * What a thrown value says, as one line. Never throws itself: a plugin may throw anything,
 * even an object whose `message` getter throws.
 */
export function thrownMessage(e: unknown): string {
  return messageOf(e, true);
}

/** {@link thrownMessage}; what reading a message threw is said once, not followed further. */
function messageOf(e: unknown, nested: boolean): string {
  let m: unknown = e;
  if (typeof e === "object" && e !== null) {
    try {
      m = (e as { message?: unknown }).message;
    } catch (inner) {
      const why = nested ? ` (reading it threw: ${messageOf(inner, false)})` : "";
      return `an object whose message cannot be read${why}`;
    }
  }
  let text: string;
  try {
    text = typeof m === "string" && m !== "" ? m : String(e);
  } catch {
    return "an object that cannot be shown as text";
  }
  return text.split("\n")[0];
}

/**
 * Is `e` a {@link ShellError}? By name as well as by class: a plugin imports this module
 * from the sources while the shell may run from its bundle (`deno task build`), which holds
 * a class of its own.
 */
export function isShellError(e: unknown): e is ShellError {
  return e instanceof ShellError || (e instanceof Error && e.name === "ShellError");
}
