/**
 * Generates the replay benchmark's script: a `.vfs` file of exactly N lines that mixes
 * compat and native maps and unmaps, `let` bindings (commands and expressions), `=>`
 * expectations (values and errnos) and `expect` lines, and that passes on the simulator.
 * Every prefix of it is itself a passing script (the setup comes first, and blocks never
 * depend on later lines), so a test can run the first lines alone.
 *
 * @module
 */

import { prng } from "./stats.ts";

/** Lines before the first block. */
export const VFS_HEADER: readonly string[] = [
  "container open",
  "api-version => 0",
  "let ioas = ioas alloc",
  "ioas set $ioas",
  "set-iommu TYPE1v2",
  "mem alloc buf 1M",
];

/** IOVA of block `i`: 64 KiB apart from 16 MiB up, so no two blocks overlap. */
export function blockIova(i: number): bigint {
  return 0x100_0000n + BigInt(i) * 0x1_0000n;
}

/**
 * One block: 8 lines on the 64 KiB at {@linkcode blockIova}. When `keep` is set the compat
 * area stays mapped (the resident set grows as the script goes on).
 */
export function vfsBlock(i: number, keep: boolean): string[] {
  const a = `0x${blockIova(i).toString(16)}`;
  return [
    `let a = ${a}`,
    "map $a 4K rw --vaddr $buf => ok",
    "expect iova == $a",
    "ioas map $ioas $a+4K 8K rw --vaddr $buf => iova=$a+4K",
    "map $a+8K 4K rw --vaddr $buf => EEXIST",
    keep ? `let kept = $a # block ${i} stays mapped` : "unmap $a 4K => unmapped=4K",
    "ioas unmap $ioas $a+4K 8K => unmapped=8K",
    "expect unmapped == 8K",
  ];
}

/**
 * A script of exactly `lines` lines (`lines` ≥ 1): a comment, the setup, then blocks; one in
 * five blocks (chosen by a PRNG seeded with `seed`) keeps its area mapped.
 */
export function generateVfs(lines: number, seed = 1): string {
  const next = prng(seed);
  const out = [`# vfsh replay benchmark: ${lines} generated lines (seed ${seed})`, ...VFS_HEADER];
  for (let i = 0; out.length < lines; i++) out.push(...vfsBlock(i, next() < 0.2));
  out.length = lines;
  return out.join("\n") + "\n";
}
