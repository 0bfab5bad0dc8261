import assert from "node:assert/strict";
import { E, errno, errnoMessage, errnoName, errnoNames, errnoNumber } from "./errno.ts";

// x86_64 values (abi.md §5, asm-generic/errno*.h).
const PINNED: Record<string, number> = {
  EPERM: 1,
  ENOENT: 2,
  ESRCH: 3,
  E2BIG: 7,
  EBADF: 9,
  ENOMEM: 12,
  EACCES: 13,
  EFAULT: 14,
  EBUSY: 16,
  EEXIST: 17,
  ENODEV: 19,
  EINVAL: 22,
  ENOTTY: 25,
  ENOSPC: 28,
  EDEADLK: 35,
  EOVERFLOW: 75,
  EBADFD: 77,
  EMSGSIZE: 90,
  EOPNOTSUPP: 95,
  EADDRINUSE: 98,
  EHWPOISON: 133,
};

for (const [name, n] of Object.entries(PINNED)) {
  Deno.test(`errno ${name} = ${n}, both directions`, () => {
    assert.equal(errno[name], n);
    assert.equal(errnoNumber(name), n);
    assert.equal(errnoNumber(name.toLowerCase()), n);
    assert.equal(errnoName(n), name);
  });
}

Deno.test("the typed E table agrees with the full table", () => {
  for (const [name, n] of Object.entries(E)) assert.equal(errno[name], n, name);
});

Deno.test("aliases resolve to their canonical number; names are canonical", () => {
  assert.equal(errnoNumber("EDEADLOCK"), 35);
  assert.equal(errnoNumber("EWOULDBLOCK"), 11);
  assert.equal(errnoNumber("ENOTSUP"), 95);
  assert.equal(errnoName(95), "EOPNOTSUPP");
  assert.ok(errnoNames().includes("EDEADLOCK"));
});

Deno.test("unknown numbers and names", () => {
  assert.equal(errnoName(41), "E41"); // 41 and 58 are unused on Linux
  assert.equal(errnoMessage(9999), "Unknown error 9999");
  assert.equal(errnoNumber("ENOPE"), undefined);
});

Deno.test("messages are the C library's", () => {
  assert.equal(errnoMessage(2), "No such file or directory");
  assert.equal(errnoMessage(25), "Inappropriate ioctl for device");
});

Deno.test("numbers are unique", () => {
  const seen = new Set(Object.values(errno));
  assert.equal(seen.size, Object.keys(errno).length);
});
