import assert from "node:assert/strict";
import { kindOf, thrownMessage } from "./plugin_core.ts";

Deno.test("thrownMessage: what anything thrown says, on one line, never throwing itself", () => {
  const cases: [unknown, string][] = [
    [new Error("kaboom"), "kaboom"],
    [new RangeError("line1\nline2"), "line1"],
    [new Error(""), "Error"],
    ["a string", "a string"],
    [null, "null"],
    [undefined, "undefined"],
    [42, "42"],
    [{ message: "plain object" }, "plain object"],
    [
      {
        get message() {
          throw new Error("inner");
        },
      },
      "an object whose message cannot be read (reading it threw: inner)",
    ],
    [Object.create(null), "an object that cannot be shown as text"],
  ];
  for (const [thrown, want] of cases) assert.equal(thrownMessage(thrown), want);
  // A getter that throws itself is said once, not followed for ever.
  const self = {
    get message(): string {
      throw self;
    },
  };
  assert.equal(
    thrownMessage(self),
    "an object whose message cannot be read (reading it threw: an object whose message cannot be read)",
  );
});

Deno.test("kindOf: a value in a few words", () => {
  const cases: [unknown, string][] = [
    [undefined, "undefined"],
    [null, "null"],
    [5, "a number"],
    [[], "an array"],
    [{}, "an object"],
    ["x", "a string"],
  ];
  for (const [v, want] of cases) assert.equal(kindOf(v), want);
});
