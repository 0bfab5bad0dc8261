import assert from "node:assert/strict";
import { errnoNumber } from "../uapi/errno.ts";
import { compileExpectation, type ExpectTarget } from "./expectation.ts";
import { parse } from "./parser.ts";
import { ScriptError } from "./source.ts";
import type { Env, ResultRecord } from "./values.ts";

const NO_VARS: Env = { lookup: () => undefined };

/** Bare names: one constant (TYPE1v2 = 3, as in the uapi headers) and the errno names. */
function resolve(name: string): bigint | undefined {
  if (name.toUpperCase() === "TYPE1V2") return 3n;
  const e = errnoNumber(name);
  return e === undefined ? undefined : BigInt(e);
}

/** The expectation of `line` (a command with `=> …`), compiled against `target`. */
function expectation(line: string, target?: ExpectTarget) {
  const { source, statements } = parse(line, "t.vfs");
  const st = statements[0];
  if (st.kind !== "command" || !st.expect) throw new Error(`no expectation in ${line}`);
  return compileExpectation(st.expect, { src: source, resolve }, target);
}

/** The headline of the error compiling `line` gives, or "no error". */
function refusal(line: string, target?: ExpectTarget): string {
  try {
    expectation(line, target);
  } catch (e) {
    if (e instanceof ScriptError) return e.headline();
    throw e;
  }
  return "no error";
}

const ok = (value: ResultRecord["fields"][string]): ResultRecord => ({
  errno: 0,
  fields: { value },
  principal: "value",
});
const failed = (errno: number): ResultRecord => ({ errno, fields: {}, principal: "value" });

Deno.test("expectation: an atom said twice is refused like a second value", () => {
  assert.equal(refusal("x => ok ok"), "t.vfs:1:9: a second 'ok' in one expectation");
  assert.equal(refusal("x => !OK ok"), "t.vfs:1:10: a second 'ok' in one expectation");
  assert.equal(refusal("x => EINVAL EINVAL"), "t.vfs:1:13: a second 'EINVAL' in one expectation");
  assert.equal(
    refusal("x => EAGAIN EWOULDBLOCK"),
    "t.vfs:1:13: a second errno 'EWOULDBLOCK' after 'EAGAIN' (the same errno) in one expectation",
  );
  // `ok` besides a field or a value says nothing new, but is no repetition either.
  assert.equal(refusal("x => ok value=1"), "no error");
  assert.equal(refusal("x => value=1 ok"), "no error");
  assert.equal(refusal("x => 1 ok"), "no error");
});

Deno.test("expectation: a bare value on a command without a principal value is refused", () => {
  const none: ExpectTarget = { command: "ioas set", principal: "none" };
  const why = "'ioas set' has no principal value to compare with";
  const hint = "use FIELD=VALUE, ok or an errno name";
  assert.equal(refusal("x => 0", none), `t.vfs:1:6: ${why} '0': ${hint}`);
  assert.equal(refusal("x => !0", none), `t.vfs:1:7: ${why} '0': ${hint}`);
  assert.equal(refusal("x => ok TYPE1v2", none), `t.vfs:1:9: ${why} 'TYPE1v2': ${hint}`);
  assert.equal(refusal('x => "text"', none), `t.vfs:1:6: ${why} 'text': ${hint}`);
  assert.equal(refusal("x => $id", none), `t.vfs:1:6: ${why} '$id': ${hint}`);
  for (const fine of ["x => ok", "x => !ok", "x => EINVAL", "x => flags=0 ok", "x => !EPERM"]) {
    assert.equal(refusal(fine, none), "no error", fine);
  }
});

Deno.test("expectation: a bare word compares as text with a principal value declared as text", () => {
  const text: ExpectTarget = { command: "qemu-probe", principal: "text" };
  const number: ExpectTarget = { command: "check-extension", principal: "number" };
  const holds = (line: string, r: ResultRecord, t?: ExpectTarget) =>
    expectation(line, t).check(r, NO_VARS);
  assert.equal(holds("x => TYPE1v2", ok("TYPE1v2"), text), true);
  assert.equal(holds("x => TYPE1v2", ok("TYPE1"), text), false);
  assert.equal(holds("x => !TYPE1", ok("TYPE1v2"), text), true);
  assert.equal(holds("x => 3", ok("3"), text), true);
  // Elsewhere the word is the constant, as it always was.
  assert.equal(holds("x => TYPE1v2", ok(3n), number), true);
  assert.equal(holds("x => TYPE1v2", ok(3n)), true);
  assert.equal(holds("x => TYPE1v2", ok("TYPE1v2"), number), false);
  // `ok` and an errno name keep their meaning; quoted, they are text.
  assert.equal(holds("x => EINVAL", failed(22), text), true);
  assert.equal(holds("x => EINVAL", ok("EINVAL"), text), false);
  assert.equal(holds('x => "EINVAL"', ok("EINVAL"), text), true);
  assert.equal(holds("x => ok", ok("nope"), text), true);
  assert.equal(holds('x => "ok"', ok("ok"), text), true);
  assert.equal(holds('x => "ok"', ok("nope"), text), false);
  // A word no number can be read from is text there, and an error against a number.
  assert.equal(refusal("x => hello-world", text), "no error");
  assert.match(refusal("x => hello-world", number), /^t\.vfs:1:6: unknown name 'hello'/);
});

Deno.test("expectation: field=$name on a text field compares with the variable's text", () => {
  const vars: Env = { lookup: (n) => (n === "dev" ? "0000:00:04.0" : n === "n" ? 5n : undefined) };
  const text: ExpectTarget = { command: "greet", principal: "text" };
  assert.equal(expectation("x => value=$dev").check(ok("0000:00:04.0"), vars), true);
  assert.equal(expectation("x => value=$dev").check(ok("0000:00:05.0"), vars), false);
  assert.equal(expectation("x => $dev", text).check(ok("0000:00:04.0"), vars), true);
  // A number variable is no text; an unset one is an error, as for a number field.
  assert.equal(expectation("x => value=$n").check(ok("5"), vars), false);
  assert.throws(() => expectation("x => value=$nope").check(ok("a"), NO_VARS), /\$nope is not set/);
});
