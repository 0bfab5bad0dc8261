/**
 * `help` text, generated from the commands' declarations.
 *
 * @module
 */

import type { ParamSpec, RegisteredCommand, Registry } from "./registry.ts";

function placeholder(p: ParamSpec): string {
  if (p.kind === "flag") return "";
  if (p.kind === "choice" || p.kind === "perm") {
    const c = p.choices ?? [];
    return c.length <= 5 ? c.join("|") : p.label;
  }
  return p.label;
}

/** `map IOVA SIZE PERM [--vaddr ADDR] [--argsz N]` */
export function usageOf(cmd: RegisteredCommand): string {
  if (cmd.spec.usage) return cmd.spec.usage;
  const parts = [cmd.spec.name];
  for (const p of cmd.params) {
    const ph = placeholder(p) + (p.variadic ? "…" : "");
    parts.push(p.optional ? `[${ph}]` : ph);
  }
  for (const p of cmd.options.values()) {
    const ph = placeholder(p);
    parts.push(ph ? `[--${p.key} ${ph}]` : `[--${p.key}]`);
  }
  return parts.join(" ");
}

/** The command list, grouped by plugin. */
export function helpList(registry: Registry): string[] {
  const out: string[] = [];
  const cmds = registry.commands();
  const width = Math.min(28, Math.max(...cmds.map((c) => c.spec.name.length)));
  for (const plugin of registry.plugins()) {
    const mine = cmds.filter((c) => c.plugin === plugin.name);
    if (mine.length === 0) continue;
    out.push(`${plugin.name}${plugin.description ? ": " + plugin.description : ""}`);
    for (const c of mine) out.push(`  ${c.spec.name.padEnd(width)}  ${c.spec.summary}`);
  }
  out.push(
    "",
    "Language: `let NAME = COMMAND…` or `let NAME = EXPR`; `CMD => ok`, `=> EXXX`, `=> N` or",
    "`=> field=value…` (all must hold; `!` negates); `expect FIELD OP VALUE`; `#` comments;",
    "`;` separates; `\\` continues.",
    "Values: 0x1000 4096 0b1010 4K 2M 1G 4KiB, constants (TYPE1v2, UNMAP_ALL), errno names,",
    '"strings", $var, $last.field, arithmetic + - * / | ( ). `help COMMAND` for details.',
  );
  return out;
}

/** Everything about one command. */
export function helpCommand(cmd: RegisteredCommand): string[] {
  const out = [`usage: ${usageOf(cmd)}`, "", cmd.spec.summary];
  if (cmd.spec.description) out.push("", ...cmd.spec.description.split("\n"));
  const params = [...cmd.params, ...cmd.options.values()];
  if (params.length) {
    out.push("");
    for (const p of params) {
      const name = cmd.options.get(p.key) === p ? `--${p.key}` : p.label;
      let text = p.description ?? "";
      if (p.kind === "choice" && p.choices) text += ` (${p.choices.join(", ")})`;
      if (p.set) text += ` (constants: ${p.set})`;
      out.push(`  ${name.padEnd(14)}  ${text}`.trimEnd());
    }
  }
  if (cmd.fields.length) {
    out.push("", "result fields:");
    for (const f of cmd.fields) {
      const principal = f.key === cmd.principal ? " (principal value)" : "";
      out.push(`  ${f.key.padEnd(14)}  ${f.description ?? ""}${principal}`.trimEnd());
    }
  }
  if (cmd.spec.examples?.length) {
    out.push("", "examples:", ...cmd.spec.examples.map((e) => `  ${e}`));
  }
  out.push("", `(plugin ${cmd.plugin})`);
  return out;
}
