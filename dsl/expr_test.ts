import assert from "node:assert/strict";
import { compileInt, EvalError } from "./expr.ts";
import { ScriptError, SourceText } from "./source.ts";
import type { Env, Value } from "./values.ts";

const src = new SourceText("t.vfs", "x");
const consts: Record<string, bigint> = { TYPE1V2: 3n, READ: 1n, WRITE: 2n };
const resolve = (n: string) => consts[n.toUpperCase()];
function c(text: string, col = 1) {
  return compileInt(text, { src, line: 1, col }, { resolve, suggest: () => ["TYPE1v2"] });
}
function env(vars: Record<string, Value>): Env {
  return { lookup: (n) => vars[n] };
}

Deno.test("expr: literals in every base and size", () => {
  assert.equal(c("4096").constant, 4096n);
  assert.equal(c("0x1000").constant, 0x1000n);
  assert.equal(c("0b1010").constant, 10n);
  assert.equal(c("0o17").constant, 15n);
  assert.equal(c("4K").constant, 4096n);
  assert.equal(c("2M").constant, 0x200000n);
  assert.equal(c("1G").constant, 1n << 30n);
  assert.equal(c("4KiB").constant, 4096n);
  assert.equal(c("2MiB").constant, 0x200000n);
  assert.equal(c("1_000").constant, 1000n);
  assert.equal(c("0xffffffffffffffff").constant, (1n << 64n) - 1n);
});

Deno.test("expr: arithmetic with precedence and parentheses, folded", () => {
  assert.equal(c("1+2*3").constant, 7n);
  assert.equal(c("(1+2)*3").constant, 9n);
  assert.equal(c("2M/4K").constant, 512n);
  assert.equal(c("READ|WRITE").constant, 3n);
  assert.equal(c("type1v2").constant, 3n);
  assert.equal(c("( 1 + 2 )").constant, 3n);
});

Deno.test("expr: variables and $last fields at run time", () => {
  const e = c("$buf+0x1000");
  assert.equal(e.constant, undefined);
  assert.equal(e.run!(env({ buf: 0x7000n })), 0x8000n);
  const last = c("$last.iova*2");
  const rec = { errno: 0, fields: { iova: 0x10n }, principal: "iova" };
  assert.equal(last.run!(env({ last: rec })), 0x20n);
  assert.equal(c("$last").run!(env({ last: rec })), 0x10n);
});

Deno.test("expr: a number wider than 64 bits is an error with its column", () => {
  assert.throws(() => c("0x10000000000000000", 7), (e: unknown) => {
    assert.ok(e instanceof ScriptError);
    assert.equal(e.location?.col, 7);
    assert.match(e.message, /does not fit 64 bits/);
    return true;
  });
  assert.throws(() => c("1+0x1ffffffffffffffff", 1), (e: unknown) => {
    assert.equal((e as ScriptError).location?.col, 3);
    return true;
  });
  assert.throws(() => c("0xffffffffffffffff+1"), /does not fit 64 bits/);
  assert.throws(() => c("1-2"), /does not fit 64 bits/);
});

Deno.test("expr: errors name what was expected", () => {
  assert.throws(() => c("4X"), /bad number '4X': expected a digit or a size suffix/);
  // The message lists every suffix that is read, P and E included.
  assert.equal(c("1E").constant, 1n << 60n);
  assert.throws(() => c("4KB"), /size suffix K M G T P E \(or KiB … EiB\)$/);
  assert.throws(() => c("0x"), /expected hex digits/);
  assert.throws(() => c("FOO"), /unknown name 'FOO'.*did you mean TYPE1v2/);
  assert.throws(() => c("1+"), /expected a number, a name or a \$variable/);
  assert.throws(() => c("(1"), /expected '\)'/);
  assert.throws(() => c("1 2"), /expected an operator/);
});

Deno.test("expr: a constant division by zero is a script error at the operator", () => {
  // Folded at compile time, so it is found before the script runs, with its place.
  assert.throws(() => c("4K/(2-2)", 7), (e: unknown) => {
    assert.ok(e instanceof ScriptError, String(e));
    assert.equal(e.message, "division by zero");
    assert.equal(e.location?.col, 9);
    return true;
  });
});

Deno.test("expr: nesting and length have limits, which are script errors at their place", () => {
  // At the limits it still works (64 levels, 1000 operators), past them it is a ScriptError
  // where the limit was passed, never an overflowed stack.
  assert.equal(c("(".repeat(64) + "1" + ")".repeat(64)).constant, 1n);
  assert.equal(c("-".repeat(64) + "1").constant, 1n);
  assert.equal(c(Array(1001).fill("1").join("+")).constant, 1001n);
  const cases: [string, number, RegExp][] = [
    ["(".repeat(20000) + "1" + ")".repeat(20000), 65, /nested too deeply: more than 64/],
    ["-".repeat(50000) + "1", 65, /nested too deeply/],
    ["2*(" + "-(".repeat(40) + "1" + ")".repeat(41), 67, /nested too deeply/],
    [Array(50000).fill("$a").join("+"), 3 * 1001, /too long: more than 1000 operators/],
  ];
  for (const [text, col, message] of cases) {
    assert.throws(() => c(text), (e: unknown) => {
      assert.ok(e instanceof ScriptError, String(e));
      assert.match(e.message, message);
      assert.equal(e.location?.col, col, text.slice(0, 20));
      return true;
    });
  }
});

Deno.test("expr: run-time errors carry their column", () => {
  assert.throws(() => c("$nope+1", 5).run!(env({})), (e: unknown) => {
    assert.ok(e instanceof EvalError);
    assert.equal(e.col, 5);
    assert.match(e.message, /\$nope is not set/);
    return true;
  });
  assert.throws(() => c("$a/$b").run!(env({ a: 1n, b: 0n })), /division by zero/);
  assert.throws(() => c("$s").run!(env({ s: "text" })), /is a string, expected a number/);
  const rec = { errno: 0, fields: { fd: 3n } };
  assert.throws(() => c("$last.nope").run!(env({ last: rec })), /no field 'nope' \(fields: fd/);
  assert.throws(() => c("$a-$b").run!(env({ a: 1n, b: 2n })), /does not fit 64 bits/);
});
