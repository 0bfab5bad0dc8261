/**
 * The hw pagetable commands: what each puts in its struct (read from the buffer the kernel
 * got) and what it makes of the answer. The simulator's rules for these ioctls are tested in
 * sim/hwpt_ioctl_test.ts; tests/scenarios/hwpt_commands.vfs holds them to the real kernel.
 */

import { deepStrictEqual, strictEqual } from "node:assert";
import { SimKernel } from "../../sim/kernel.ts";
import {
  IOMMU_HWPT_ALLOC,
  IOMMU_HWPT_GET_DIRTY_BITMAP,
  IOMMU_HWPT_INVALIDATE,
  IOMMU_HWPT_SET_DIRTY_TRACKING,
  IOMMU_TEST_CMD,
} from "../../uapi/ioctl.ts";
import type { IoctlArg } from "../../uapi/kernel.ts";
import { outcome, runJson } from "../../tests/_session_json.ts";

/** A simulator that keeps a copy of the last argument buffer of each request. */
class RecordingSim extends SimKernel {
  readonly sent = new Map<number, Uint8Array>();
  override ioctl(fd: number, request: number, arg: IoctlArg): number {
    if (arg instanceof Uint8Array) this.sent.set(request, arg.slice());
    return super.ioctl(fd, request, arg);
  }
}

/** Run `script` after a mock device on IOAS 1 ($idev 3, $dev 2); the results of `script`. */
async function run(script: string) {
  const k = new RecordingSim();
  const setup = "set +e\ncontainer open\nlet ioas = ioas alloc\n" +
    "let dev = test mock-domain $ioas\nlet idev = $last.idev\n";
  const { s, results } = await runJson(k, setup + script);
  const u32 = (request: number, off: number) =>
    new DataView(k.sent.get(request)!.buffer).getUint32(off, true);
  const u64 = (request: number, off: number) =>
    new DataView(k.sent.get(request)!.buffer).getBigUint64(off, true);
  return { k, s, results: results.slice(4), u32, u64 };
}

Deno.test("hwpt alloc: flags, DEV, PT, the data type and the data's length and address as given; id is out_hwpt_id", async () => {
  const { k, s, results, u32, u64 } = await run(
    "let parent = hwpt alloc $idev $ioas --flags HWPT_ALLOC_NEST_PARENT\n" +
      "hwpt alloc $idev $parent --data-type HWPT_DATA_SELFTEST --data 0a0b0c0d",
  );
  deepStrictEqual(outcome(results[0]), { id: 5 });
  deepStrictEqual(outcome(results[1]), { id: 6 });
  const A = IOMMU_HWPT_ALLOC;
  deepStrictEqual([u32(A, 0), u32(A, 4), u32(A, 8), u32(A, 12)], [48, 0, 3, 5]);
  deepStrictEqual([u32(A, 24), u32(A, 28), u32(A, 40)], [0xdead, 4, 0]);
  const data = new Uint8Array(4);
  strictEqual(k.readMemory(u64(A, 32), data), 0);
  deepStrictEqual([...data], [0x0a, 0x0b, 0x0c, 0x0d]);
  s.close();
});

Deno.test("hwpt alloc: without --data, data_len 0 and a NULL data_uptr; --fault-id does not set FAULT_ID_VALID", async () => {
  const { s, results, u32, u64 } = await run(
    "hwpt alloc $idev $ioas --fault-id 7 --flags HWPT_ALLOC_DIRTY_TRACKING|HWPT_ALLOC_NEST_PARENT",
  );
  deepStrictEqual(outcome(results[0]), { id: 5 });
  const A = IOMMU_HWPT_ALLOC;
  deepStrictEqual([u32(A, 4), u32(A, 24), u32(A, 28), u64(A, 32), u32(A, 40)], [3, 0, 0, 0n, 7]);
  s.close();
});

Deno.test("hwpt alloc: --size sends that size, and an unknown pt is the kernel's EINVAL", async () => {
  const { s, results, u32 } = await run("hwpt alloc $idev $ioas --size 24\nhwpt alloc $idev 99");
  deepStrictEqual(outcome(results[0]), { id: 5 });
  strictEqual(outcome(results[1]), "EINVAL");
  strictEqual(u32(IOMMU_HWPT_ALLOC, 12), 99);
  s.close();
});

Deno.test("hwpt invalidate: entry_len by data type, entry_num from the entries, done written back on failure", async () => {
  const nested = "let p = hwpt alloc $idev $ioas --flags HWPT_ALLOC_NEST_PARENT\n" +
    "let n = hwpt alloc $idev $p --data-type HWPT_DATA_SELFTEST --data 00000000\n";
  const { k, s, results, u32, u64 } = await run(
    nested +
      "hwpt invalidate $n 01000000 00000000 --data-type HWPT_INVALIDATE_DATA_SELFTEST\n" +
      // The second request has an unknown flag: the mock handles the first, then refuses.
      "hwpt invalidate $n 00000000 01000000 02000000 00000000 --data-type HWPT_INVALIDATE_DATA_SELFTEST",
  );
  deepStrictEqual(outcome(results[2]), { done: 1 });
  strictEqual(outcome(results[3]), "EOPNOTSUPP");
  deepStrictEqual(results[3].fields, { done: 1 });
  const I = IOMMU_HWPT_INVALIDATE;
  deepStrictEqual([u32(I, 4), u32(I, 16), u32(I, 20), u32(I, 24)], [6, 0xdeadbeef, 8, 2]);
  const entries = new Uint8Array(16);
  strictEqual(k.readMemory(u64(I, 8), entries), 0);
  deepStrictEqual([...entries.subarray(8, 12)], [2, 0, 0, 0]);
  s.close();
});

Deno.test("hwpt invalidate: a type the shell does not know sends ENTRIES as one request; none is a NULL pointer", async () => {
  const { k, s, u32, u64 } = await run("hwpt invalidate 9 0102030405 --data-type 77");
  const I = IOMMU_HWPT_INVALIDATE;
  deepStrictEqual([u32(I, 16), u32(I, 20), u32(I, 24)], [77, 5, 1]);
  const entries = new Uint8Array(5);
  strictEqual(k.readMemory(u64(I, 8), entries), 0);
  deepStrictEqual([...entries], [1, 2, 3, 4, 5]);
  s.close();
  const none = await run("hwpt invalidate 9");
  // The default type is 0, IOMMU_HWPT_INVALIDATE_DATA_VTD_S1: its 24-byte request, none sent.
  deepStrictEqual([none.u64(I, 8), none.u32(I, 16), none.u32(I, 20), none.u32(I, 24)], [
    0n,
    0,
    24,
    0,
  ]);
  none.s.close();
  const given = await run("hwpt invalidate 9 00000000 --entry-len 2 --entry-num 5");
  deepStrictEqual([given.u32(I, 20), given.u32(I, 24)], [2, 5]);
  given.s.close();
});

Deno.test("hwpt dirty-tracking: on sends IOMMU_HWPT_DIRTY_TRACKING_ENABLE, off sends 0; a hwpt without tracking is EOPNOTSUPP", async () => {
  const { s, results, u32 } = await run(
    "let dt = hwpt alloc $idev $ioas --flags HWPT_ALLOC_DIRTY_TRACKING\n" +
      "hwpt dirty-tracking $dt\nhwpt dirty-tracking $dt off\nhwpt dirty-tracking 4 on",
  );
  deepStrictEqual([outcome(results[1]), outcome(results[2])], [{}, {}]);
  strictEqual(outcome(results[3]), "EOPNOTSUPP");
  const T = IOMMU_HWPT_SET_DIRTY_TRACKING;
  deepStrictEqual([u32(T, 0), u32(T, 4), u32(T, 8)], [16, 1, 4]);
  s.close();
});

Deno.test("hwpt dirty-bitmap: one bit a page, rounded up to whole u64s; --no-clear and --page-size go in the struct", async () => {
  const { s, results, u32, u64 } = await run(
    "let dt = hwpt alloc $idev $ioas --flags HWPT_ALLOC_DIRTY_TRACKING\n" +
      "ioas map $ioas 0x1000000 1M rw\n" +
      "hwpt dirty-bitmap $dt 0x1000000 1M --no-clear --page-size 2K\n" +
      "hwpt dirty-bitmap $dt 0x1000000 1M",
  );
  deepStrictEqual(outcome(results[2]), { dirty: 0, bitmap: "00".repeat(64) });
  // 256 pages of 4 KiB: 32 bytes of bitmap.
  deepStrictEqual(outcome(results[3]), { dirty: 0, bitmap: "00".repeat(32) });
  const B = IOMMU_HWPT_GET_DIRTY_BITMAP;
  deepStrictEqual([u32(B, 4), u32(B, 8), u64(B, 16), u64(B, 24), u64(B, 32)], [
    5,
    0,
    0x1000000n,
    0x100000n,
    0x1000n,
  ]);
  s.close();
});

Deno.test("test replace: IOMMU_TEST_OP_MOCK_DOMAIN_REPLACE of STDEV to PT; hwpt is the one attached after", async () => {
  const { s, results, u32 } = await run(
    "let p = hwpt alloc $idev $ioas\ntest replace $dev $p\ntest replace $dev 99",
  );
  deepStrictEqual(outcome(results[1]), { hwpt: 5 });
  strictEqual(outcome(results[2]), "ENOENT");
  deepStrictEqual([u32(IOMMU_TEST_CMD, 4), u32(IOMMU_TEST_CMD, 8), u32(IOMMU_TEST_CMD, 16)], [
    10,
    2,
    99,
  ]);
  s.close();
});

Deno.test("test mock-domain --dev-flags: IOMMU_TEST_OP_MOCK_DOMAIN_FLAGS; a NO_DIRTY device refuses dirty tracking", async () => {
  const { s, results, u32 } = await run(
    "test mock-domain $ioas --dev-flags MOCK_FLAGS_DEVICE_NO_DIRTY\n" +
      "hwpt alloc $last.idev $ioas --flags HWPT_ALLOC_DIRTY_TRACKING",
  );
  deepStrictEqual(outcome(results[0]), { stdev: 5, hwpt: 4, idev: 6 });
  deepStrictEqual([u32(IOMMU_TEST_CMD, 4), u32(IOMMU_TEST_CMD, 8), u32(IOMMU_TEST_CMD, 28)], [
    12,
    1,
    1,
  ]);
  strictEqual(outcome(results[1]), "EOPNOTSUPP");
  s.close();
});
