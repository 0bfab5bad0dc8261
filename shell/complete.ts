/**
 * Tab completion for the REPL (node:readline's completer shape): command names and
 * sub-commands, options, choices, constant and errno names, variables, memory region
 * names, result fields after `=>`, and file paths for PATH arguments.
 *
 * @module
 */

import { CONSTANT_SETS, constantNames, shortNames } from "../uapi/constants.ts";
import { errnoNames } from "../uapi/errno.ts";
import { dirname } from "./_path.ts";
import type { ParamSpec, Registry } from "./registry.ts";
import { SHELL_SETS } from "./compile.ts";

/** What the completer may look at. */
export interface CompletionSource {
  readonly registry: Registry;
  /** Variable names (without `$`). */
  vars(): string[];
  /** Memory region names. */
  mem(): string[];
  /** Field names of `$last`. */
  lastFields?(): string[];
}

function lastStatement(line: string): string {
  let start = 0;
  let quote = "";
  for (let i = 0; i < line.length; i++) {
    const c = line[i];
    if (quote) {
      if (c === quote) quote = "";
    } else if (c === '"' || c === "'") quote = c;
    else if (c === ";") start = i + 1;
  }
  return line.slice(start);
}

function filter(cands: Iterable<string>, prefix: string, caseless = false): string[] {
  const p = caseless ? prefix.toLowerCase() : prefix;
  const out = new Set<string>();
  for (const c of cands) if ((caseless ? c.toLowerCase() : c).startsWith(p)) out.add(c);
  return [...out].sort();
}

/** File names under the directory part of `partial` (directories get a trailing `/`). */
export function completePath(partial: string): string[] {
  const dir = partial.endsWith("/") ? partial : dirname(partial);
  const shownDir = partial.endsWith("/") ? partial : partial.includes("/") ? dir + "/" : "";
  const out: string[] = [];
  try {
    for (const e of Deno.readDirSync(dir === "" ? "." : dir)) {
      const name = shownDir + e.name + (e.isDirectory ? "/" : "");
      if (name.startsWith(partial) && !e.name.startsWith(".")) out.push(name);
    }
  } catch {
    return [];
  }
  return out.sort();
}

function setNames(set?: string): string[] {
  if (!set) return constantNames();
  if (SHELL_SETS[set]) return Object.keys(SHELL_SETS[set]);
  const cs = CONSTANT_SETS.find((s) => s.name === set);
  if (!cs) return constantNames();
  const out: string[] = [];
  for (const full of Object.keys(cs.values)) {
    const names = shortNames(full);
    out.push(names[names.length - 1]);
  }
  return out;
}

function forParam(p: ParamSpec, word: string, src: CompletionSource): string[] {
  if (word.startsWith("$")) return filter(src.vars().map((v) => "$" + v), word);
  switch (p.kind) {
    case "perm":
    case "choice":
      return filter(p.choices ?? [], word, true);
    case "path":
      return completePath(word);
    case "name":
      return filter(src.mem(), word);
    case "int":
    case "auto":
      if (word === "" || /^[0-9]/.test(word)) return [];
      return filter(setNames(p.set), word, true);
    default:
      return [];
  }
}

/** Complete `line` (the text before the cursor). */
export function completeLine(line: string, src: CompletionSource): [string[], string] {
  const stmt = lastStatement(line);
  const words = stmt.trimStart().split(/\s+/);
  const word = words[words.length - 1] ?? "";
  const done = words.slice(0, -1);
  const reg = src.registry;
  // After `=>`: ok, errno names, result fields.
  const arrow = done.indexOf("=>");
  if (arrow >= 0 || word.startsWith("=>")) {
    const w = word.startsWith("=>") ? word.slice(2) : word;
    const neg = w.startsWith("!") ? "!" : "";
    const bare = w.slice(neg.length);
    const names = done.slice(0, arrow >= 0 ? arrow : undefined).filter((x) => !x.startsWith("-"));
    const r = reg.resolve(names[0] === "let" ? names.slice(3) : names);
    const fields = r.ok ? r.cmd.fields.map((f) => f.key + "=") : [];
    const cands = filter(["ok", ...errnoNames(), ...fields], bare, true).map((c) => neg + c);
    return [cands, w];
  }
  let cmdWords = done;
  if (done[0] === "let") {
    if (done.length < 2) return [[], word];
    cmdWords = done.slice(3);
    if (done.length < 3) return [filter(["="], word), word];
  }
  if (done[0] === "expect") {
    if (done.length === 1) {
      return [filter([...(src.lastFields?.() ?? []), "errno", "ok"], word), word];
    }
    if (done.length === 2) return [filter(["==", "!=", "<", "<=", ">", ">="], word), word];
    return [[], word];
  }
  // Command words: walk the registry as far as the typed words go.
  let depth = 0;
  while (depth < cmdWords.length) {
    const kids = reg.children(cmdWords.slice(0, depth));
    if (!kids.includes(cmdWords[depth])) break;
    depth++;
  }
  const nameWords = cmdWords.slice(0, depth);
  if (depth === cmdWords.length) {
    const kids = reg.children(nameWords);
    const extra = depth === 0 && done[0] !== "let" ? ["let", "expect"] : [];
    const cands = filter([...kids, ...extra], word);
    const cmd = reg.get(nameWords.join(" "));
    if (cands.length || !cmd) {
      if (cmd && word === "") {
        // Both sub-commands and the first argument are possible.
        const p = cmd.params[0];
        return [[...cands, ...(p ? forParam(p, word, src) : [])], word];
      }
      return [cands, word];
    }
  }
  const cmd = reg.get(nameWords.join(" "));
  if (!cmd) return [[], word];
  const argWords = cmdWords.slice(depth);
  if (word.startsWith("-") && word !== "-") {
    const opts = [...cmd.options.keys()].map((k) => "--" + k);
    return [filter(opts, word), word];
  }
  // Which positional is being typed (skipping options and their values).
  let index = 0;
  for (let i = 0; i < argWords.length; i++) {
    const w = argWords[i];
    if (w.startsWith("--")) {
      const o = cmd.options.get(w.slice(2));
      if (o && o.kind !== "flag" && !w.includes("=")) i++;
      if (i === argWords.length) {
        // The word being typed is this option's value.
        return [o ? forParam(o, word, src) : [], word];
      }
      continue;
    }
    index++;
  }
  const prev = argWords[argWords.length - 1];
  if (prev?.startsWith("--")) {
    const o = cmd.options.get(prev.slice(2));
    if (o && o.kind !== "flag") return [forParam(o, word, src), word];
  }
  const params = cmd.params;
  const p = params[Math.min(index, params.length - 1)];
  if (!p || (index >= params.length && !p.variadic)) return [[], word];
  return [forParam(p, word, src), word];
}
