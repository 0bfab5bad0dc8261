// memfdCreate and read on the FFI backend: real memfd_create(2), ftruncate(2) and read(2)
// through libc; needs --allow-ffi.
import assert from "node:assert/strict";
import { E } from "../uapi/errno.ts";
import { FfiKernel } from "./_kernel.ts";
import { loadLibc } from "./_libc.ts";

Deno.test("ffi memfdCreate: a shmem file of the size asked; read gives its zeros, then EOF", () => {
  const k = new FfiKernel(loadLibc());
  const fd = k.memfdCreate("vfsh-test", 10n);
  assert.ok(fd >= 0, `memfd_create ${fd}`);
  const b = new Uint8Array(8).fill(1);
  assert.equal(k.read(fd, b), 8);
  assert.deepEqual([...b], new Array(8).fill(0));
  assert.equal(k.read(fd, b), 2);
  assert.equal(k.read(fd, b), 0);
  assert.equal(k.close(fd), 0);
});

Deno.test("ffi memfdCreate: a negative size fails in ftruncate (EINVAL) and leaves no fd; read of a foreign fd -> EBADF", () => {
  const k = new FfiKernel(loadLibc());
  assert.equal(k.memfdCreate("x", -1n), -E.EINVAL);
  assert.equal(k.read(0, new Uint8Array(1)), -E.EBADF);
});
