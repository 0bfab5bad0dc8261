import assert from "node:assert/strict";
import { literalValue, literalValueAt, parseInteger, scanInteger } from "./number.ts";

Deno.test("number: literals in every base and size", () => {
  assert.equal(parseInteger("0x1000"), 0x1000n);
  assert.equal(parseInteger("4096"), 4096n);
  assert.equal(parseInteger("0b1010"), 10n);
  assert.equal(parseInteger("0o17"), 15n);
  assert.equal(parseInteger("1_000"), 1000n);
  assert.equal(parseInteger("4K"), 4096n);
  assert.equal(parseInteger("2MiB"), 2n << 20n);
  assert.equal(parseInteger("0xffffffffffffffff"), 0xffff_ffff_ffff_ffffn);
  assert.equal(parseInteger("0x10000000000000000"), undefined);
  assert.equal(parseInteger("16E"), undefined);
});

Deno.test("number: '_' only between digits", () => {
  for (
    const [text, at] of [["1_", 1], ["1_K", 1], ["0x_1", 2], ["1__0", 2], ["0xf_", 3]] as const
  ) {
    const r = scanInteger(text, 0);
    assert.deepEqual(r, { ok: false, message: "misplaced '_' in number", at }, text);
  }
  assert.equal(parseInteger("0xffff_ffff"), 0xffff_ffffn);
  assert.equal(parseInteger("1_000K"), 1000n << 10n);
});

Deno.test("number: the fast path never disagrees with scanInteger", () => {
  assert.equal(literalValue("0x100000"), 0x100000n);
  assert.equal(literalValue("8K"), 8192n);
  assert.equal(literalValue("1_000"), undefined, "left to scanInteger");
  const words = [
    "0",
    "7",
    "007",
    "4096",
    "0x0",
    "0x1000",
    "0X1F",
    "0b101",
    "0B1",
    "0o17",
    "0O7",
    "0x",
    "0b",
    "0o",
    "0x_1",
    "1_000",
    "1__0",
    "1_",
    "4K",
    "4k",
    "2M",
    "1G",
    "1T",
    "1P",
    "15E",
    "16E",
    "4KiB",
    "4kib",
    "4KB",
    "4Ki",
    "0x4K",
    "12Q",
    "0xZZ",
    "9007199254740991",
    "9007199254740993",
    "0x1fffffffffffff",
    "0x20000000000001",
    "0xffffffffffffffff",
    "18446744073709551616",
    "8796093022207K",
    "3e",
    "5E",
    "0x1000+1",
    "1-2",
    "",
  ];
  let seed = 7;
  const rnd = (n: number) => (seed = (seed * 1103515245 + 12345) & 0x7fffffff) % n;
  for (let i = 0; i < 2000; i++) {
    const digits = "0123456789abcdefxXbBoOKMGTPEi_";
    let w = String(rnd(10));
    for (let k = rnd(16); k > 0; k--) w += digits[rnd(digits.length)];
    words.push(w);
  }
  for (const w of words) {
    const fast = literalValue(w);
    const r = w === "" ? undefined : scanInteger(w, 0);
    const slow = r && r.ok && r.end === w.length ? r.value : undefined;
    if (fast !== undefined) assert.equal(fast, slow, `'${w}'`);
    // In place, inside a longer text, it reads the same.
    const text = `let x = ${w} 7K`;
    assert.equal(literalValueAt(text, 8, 8 + w.length), fast, `'${w}' in place`);
  }
});
