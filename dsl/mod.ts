/**
 * The vfsh command language: lexer, parser, integer expressions, values and expectations.
 *
 * @example
 * ```ts
 * import { parse } from "./mod.ts";
 * const script = parse("map 0x100000 2M rw => ok\n", "demo.vfs");
 * ```
 *
 * @module
 */

export * from "./expectation.ts";
export * from "./expr.ts";
export * from "./lexer.ts";
export * from "./number.ts";
export * from "./parser.ts";
export * from "./source.ts";
export * from "./values.ts";
