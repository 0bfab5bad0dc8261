import { deepStrictEqual, strictEqual } from "node:assert";
import { E } from "../uapi/errno.ts";
import { UserMemory } from "./user_memory.ts";
import { UserArg } from "./uaccess.ts";

Deno.test("copy_from_user: a buffer shorter than the copy faults", () => {
  const u = new UserArg(new UserMemory());
  u.set(new Uint8Array(3));
  strictEqual(u.copyIn(4), false);
  u.set(new Uint8Array(4));
  strictEqual(u.copyIn(4), true);
});

Deno.test("copy_from_user: NULL and unmapped addresses fault, mapped ones read", () => {
  const mem = new UserMemory();
  const u = new UserArg(mem);
  u.set(0n);
  strictEqual(u.copyIn(4), false);
  const a = mem.mmap(4096n);
  mem.write(a, new Uint8Array([1, 2, 3, 4]));
  u.set(a);
  strictEqual(u.copyIn(4), true);
  strictEqual(u.kv.getUint32(0, true), 0x04030201);
  u.set(a + 4094n);
  strictEqual(u.copyIn(4), false);
});

Deno.test("check_zeroed_user: E2BIG before a fault, EFAULT when the fault comes first", () => {
  const u = new UserArg(new UserMemory());
  const b = new Uint8Array(12);
  u.set(b);
  strictEqual(u.checkZeroed(8, 12), 0);
  strictEqual(u.checkZeroed(8, 16), E.EFAULT);
  b[9] = 1;
  strictEqual(u.checkZeroed(8, 16), E.E2BIG);
});

Deno.test("copy_to_user: partial writes stop at the end of the buffer", () => {
  const u = new UserArg(new UserMemory());
  const b = new Uint8Array(6).fill(0xaa);
  u.set(b);
  strictEqual(u.writeAt(4, new Uint8Array([1, 2, 3, 4])), false);
  deepStrictEqual([...b], [0xaa, 0xaa, 0xaa, 0xaa, 1, 2]);
});

Deno.test("UserArg: the view always matches the current buffer, however many alternate", () => {
  const u = new UserArg(new UserMemory());
  const bufs = Array.from({ length: 6 }, (_, i) => new Uint8Array([i, 0, 0, 0, 0xaa]));
  for (let round = 0; round < 3; round++) {
    for (const order of [[0, 1], [0, 1, 2, 3, 4, 5], [5, 0, 5, 1]]) {
      for (const i of order) {
        u.set(bufs[i]);
        strictEqual(u.kv.getUint32(0, true), i);
        strictEqual(u.kv.byteLength, 5);
        strictEqual(u.k, bufs[i]);
      }
    }
  }
  // A subarray view of a larger buffer reads at its own offset.
  const big = new Uint8Array(16);
  big[8] = 7;
  u.set(big.subarray(8, 12));
  strictEqual(u.kv.getUint32(0, true), 7);
});
