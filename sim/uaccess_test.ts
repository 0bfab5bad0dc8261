import { deepStrictEqual, strictEqual } from "node:assert";
import { E } from "../uapi/errno.ts";
import { UserMemory } from "./user_memory.ts";
import { copyStructFromUser, UserArg, userWrite } from "./uaccess.ts";
import * as R from "../uapi/ioctl.ts";
import { openIommufd } from "../tests/_sim_helpers.ts";

const PAGE = 0x1000n;

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

// ---- arguments in user memory that straddle the end of a mapping ----

/** A fresh iommufd and one mapped page; `at(n)` is the address n bytes before its end. */
function pageEnd() {
  const { k, fd } = openIommufd();
  const page = k.mmap(PAGE);
  return { k, fd, at: (n: number) => page + PAGE - BigInt(n) };
}

Deno.test("copy_struct_from_user: the bytes past sizeof must be zero; running into unmapped memory first is EFAULT", () => {
  // IOMMU_IOAS_ALLOC (12 bytes) with size 32, placed 16 bytes before the end of the mapping:
  // bytes 12..15 are checked, then byte 16 faults.
  const { k, fd, at } = pageEnd();
  const arg = at(16);
  const s = new Uint8Array(16);
  new DataView(s.buffer).setUint32(0, 32, true);
  strictEqual(k.writeMemory(arg, s), 0);
  strictEqual(k.ioctl(fd, R.IOMMU_IOAS_ALLOC, arg), -E.EFAULT);
  s[13] = 1; // a non-zero byte before the fault: E2BIG
  strictEqual(k.writeMemory(arg, s), 0);
  strictEqual(k.ioctl(fd, R.IOMMU_IOAS_ALLOC, arg), -E.E2BIG);
  // Size 16 stays within the page: the ioctl runs, out_ioas_id lands at byte 8.
  s[13] = 0;
  new DataView(s.buffer).setUint32(0, 16, true);
  strictEqual(k.writeMemory(arg, s), 0);
  strictEqual(k.ioctl(fd, R.IOMMU_IOAS_ALLOC, arg), 0);
  const back = new Uint8Array(16);
  strictEqual(k.readMemory(arg, back), 0);
  deepStrictEqual([...back.subarray(0, 12)], [16, 0, 0, 0, 0, 0, 0, 0, 1, 0, 0, 0], "IOAS 1");
});

Deno.test("copy_struct_from_user of a user pointer: a tail past ksize running into unmapped memory is EFAULT, a non-zero byte first E2BIG", () => {
  // A 4-byte kernel struct given as 8 bytes, 6 bytes before the end of a mapping: bytes 4
  // and 5 are checked, byte 6 faults. (copyStructFromUser is the bare copy_struct_from_user;
  // iommu_copy_struct_from_user refuses a length past sizeof before reading anything.)
  const mem = new UserMemory();
  const u = new UserArg(mem);
  const end = mem.mmap(PAGE) + PAGE;
  strictEqual(mem.write(end - 8n, new Uint8Array([1, 2, 3, 4, 0, 0, 0, 0])), 0);
  strictEqual(copyStructFromUser(u, end - 6n, 8, 4), -E.EFAULT);
  strictEqual(mem.write(end - 2n, new Uint8Array([7])), 0); // byte 4 of the struct at end - 6
  strictEqual(copyStructFromUser(u, end - 6n, 8, 4), -E.E2BIG);
  // Wholly mapped, zero past ksize: the first ksize bytes; shorter than ksize: zero-extended.
  strictEqual(mem.write(end - 16n, new Uint8Array([5, 6, 7, 8])), 0);
  deepStrictEqual(copyStructFromUser(u, end - 16n, 8, 4), new Uint8Array([5, 6, 7, 8]));
  deepStrictEqual(copyStructFromUser(u, end - 8n, 4, 4), new Uint8Array([1, 2, 3, 4]));
  deepStrictEqual(copyStructFromUser(u, end - 8n, 2, 4), new Uint8Array([1, 2, 0, 0]));
  strictEqual(copyStructFromUser(u, end - 2n, 4, 4), -E.EFAULT, "the struct itself faults");
});

Deno.test("copy_to_user: the bytes before the first unmapped one are written, and the copy fails", () => {
  const mem = new UserMemory();
  const a = mem.mmap(PAGE);
  const at = a + PAGE - 3n;
  strictEqual(userWrite(mem, at, new Uint8Array([1, 2, 3, 4, 5])), false);
  const back = new Uint8Array(3);
  strictEqual(mem.read(at, back), 0);
  deepStrictEqual([...back], [1, 2, 3]);
  // The struct write-back of a pointer argument does the same.
  const u = new UserArg(mem);
  u.set(a + PAGE - 2n);
  strictEqual(u.writeAt(0, new Uint8Array([9, 9, 9])), false);
  strictEqual(mem.read(a + PAGE - 2n, back.subarray(0, 2)), 0);
  deepStrictEqual([...back.subarray(0, 2)], [9, 9]);
  strictEqual(userWrite(mem, a + PAGE, new Uint8Array([7])), false, "nothing mapped at all");
});
