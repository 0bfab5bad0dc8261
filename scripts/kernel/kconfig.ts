/**
 * Kconfig fragment handling: what `scripts/kconfig/merge_config.sh -m` and the rig's config
 * check do, as pure functions over `.config` text.
 *
 * @module
 */

/** One symbol's requested setting: its value (`y`, `8`, `"str"`), or `null` for "is not set". */
export type KconfigSettings = Map<string, string | null>;

const SET = /^(CONFIG_[A-Za-z0-9_]+)=(.*)$/;
const UNSET = /^# (CONFIG_[A-Za-z0-9_]+) is not set$/;

/** Parse the settings in a fragment or `.config`; later lines override earlier ones. */
export function parseKconfig(text: string): KconfigSettings {
  const out: KconfigSettings = new Map();
  for (const raw of text.split("\n")) {
    const line = raw.trim();
    const set = line.match(SET);
    if (set) out.set(set[1], set[2]);
    const unset = line.match(UNSET);
    if (unset) out.set(unset[1], null);
  }
  return out;
}

/** Render one setting as a `.config` line. */
function render(symbol: string, value: string | null): string {
  return value === null ? `# ${symbol} is not set` : `${symbol}=${value}`;
}

/**
 * Apply `fragments` (in order) on top of `base` (a `.config`): every symbol a fragment names
 * is dropped from the base and appended with the fragment's value. `make olddefconfig` then
 * resolves dependencies, as after `merge_config.sh -m`.
 */
export function mergeKconfig(base: string, fragments: string[]): string {
  const wanted: KconfigSettings = new Map();
  for (const f of fragments) for (const [k, v] of parseKconfig(f)) wanted.set(k, v);
  const kept = base.split("\n").filter((raw) => {
    const line = raw.trim();
    const sym = line.match(SET)?.[1] ?? line.match(UNSET)?.[1];
    return sym === undefined || !wanted.has(sym);
  });
  while (kept.length > 0 && kept[kept.length - 1] === "") kept.pop();
  const added = [...wanted].map(([k, v]) => render(k, v));
  return [...kept, "# --- vfsh kernel lane fragments ---", ...added, ""].join("\n");
}

/**
 * Settings of `fragments` that did not land in the final `.config` as requested (after
 * olddefconfig dropped or changed them because of unmet dependencies). An "is not set"
 * request is met by the symbol being absent too. Empty when everything landed.
 */
export function checkKconfig(finalConfig: string, fragments: string[]): string[] {
  const have = parseKconfig(finalConfig);
  const problems: string[] = [];
  for (const f of fragments) {
    for (const [sym, want] of parseKconfig(f)) {
      const got = have.get(sym) ?? null;
      if (got === want) continue;
      const shown = have.has(sym) ? render(sym, got) : "absent";
      problems.push(`want ${render(sym, want)}, have ${shown}`);
    }
  }
  return problems;
}
