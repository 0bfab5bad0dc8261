/** The iommufd ioctl entry (main.c iommufd_fops_ioctl): order of checks and write-back. */

import { deepStrictEqual, strictEqual } from "node:assert";
import { E } from "../uapi/errno.ts";
import { encode } from "../uapi/codec.ts";
import * as S from "../uapi/structs.ts";
import * as R from "../uapi/ioctl.ts";
import { call, ioasAlloc, openIommufd } from "../tests/_sim_helpers.ts";

const LENGTH_CASES: [number, S.StructDesc][] = [
  [R.IOMMU_DESTROY, S.iommu_destroy],
  [R.IOMMU_IOAS_ALLOC, S.iommu_ioas_alloc],
  [R.IOMMU_IOAS_ALLOW_IOVAS, S.iommu_ioas_allow_iovas],
  [R.IOMMU_IOAS_COPY, S.iommu_ioas_copy],
  [R.IOMMU_IOAS_IOVA_RANGES, S.iommu_ioas_iova_ranges],
  [R.IOMMU_IOAS_MAP, S.iommu_ioas_map],
  [R.IOMMU_IOAS_UNMAP, S.iommu_ioas_unmap],
  [R.IOMMU_OPTION, S.iommu_option],
  [R.IOMMU_VFIO_IOAS, S.iommu_vfio_ioas],
];

Deno.test("entry: get_user(size) faults first: NULL, short buffer, unmapped address → EFAULT", () => {
  const { k, fd } = openIommufd();
  strictEqual(k.ioctl(fd, R.IOMMU_DESTROY, 0n), -E.EFAULT);
  strictEqual(k.ioctl(fd, R.IOMMU_DESTROY, new Uint8Array(3)), -E.EFAULT);
  strictEqual(k.ioctl(fd, R.IOMMU_DESTROY, 0x1234_0000n), -E.EFAULT);
  // An unknown but in-table nr faults before it is found unknown.
  strictEqual(k.ioctl(fd, 0x3b9f, 0n), -E.EFAULT);
});

Deno.test("entry: holes and dir/size-encoded numbers are ENOTTY, nr below 0x80 goes to compat", () => {
  const { k, fd } = openIommufd();
  const b = encode(S.iommu_destroy);
  strictEqual(k.ioctl(fd, 0x3b9f, b), -E.ENOTTY);
  strictEqual(k.ioctl(fd, 0x3b89, b), -E.EINVAL, "HWPT_ALLOC is in the table: 8 < min 24");
  const old = openIommufd({ release: "6.2" });
  strictEqual(old.k.ioctl(old.fd, 0x3b89, b), -E.ENOTTY, "6.2 has no HWPT_ALLOC");
  strictEqual(k.ioctl(fd, 0xc0083b80, b), -E.ENOTTY);
  strictEqual(k.ioctl(fd, 0x3b7f, b), -E.ENOTTY);
  strictEqual(k.ioctl(fd, 0x3c80, b), -E.ENOTTY, "other type byte");
});

Deno.test("entry: size below the minimum is EINVAL; non-zero bytes past sizeof are E2BIG", () => {
  const { k, fd } = openIommufd();
  for (const [req, desc] of LENGTH_CASES) {
    const b = new Uint8Array(desc.size + 8);
    const v = new DataView(b.buffer);
    v.setUint32(0, desc.minSize - 1, true);
    b[desc.size] = 0xff;
    strictEqual(k.ioctl(fd, req, b), -E.EINVAL, desc.name);
    v.setUint32(0, desc.size + 1, true);
    strictEqual(k.ioctl(fd, req, b), -E.E2BIG, desc.name);
    v.setUint32(0, desc.size, true);
    const rc = k.ioctl(fd, req, b);
    v.setUint32(0, desc.size + 1, true);
    b[desc.size] = 0;
    strictEqual(k.ioctl(fd, req, b), rc, `${desc.name}: zero extension behaves like sizeof`);
  }
});

Deno.test("entry: size past the buffer with zero bytes up to its end is EFAULT", () => {
  const { k, fd } = openIommufd();
  const b = encode(S.iommu_destroy, { size: 16 }, { bufferSize: 12 });
  strictEqual(b.length, 16);
  strictEqual(k.ioctl(fd, R.IOMMU_DESTROY, b.subarray(0, 12)), -E.EFAULT);
});

Deno.test("entry: iommufd_ucmd_respond writes min(size, sizeof) bytes and nothing past", () => {
  const { k, fd } = openIommufd();
  const b = encode(S.iommu_ioas_alloc, { size: 20 }, { bufferSize: 32 });
  b.fill(0xaa, 12);
  strictEqual(k.ioctl(fd, R.IOMMU_IOAS_ALLOC, b), -E.E2BIG);
  b.fill(0, 12, 20);
  strictEqual(k.ioctl(fd, R.IOMMU_IOAS_ALLOC, b), 0);
  strictEqual(new DataView(b.buffer).getUint32(8, true), 1);
  deepStrictEqual([...b.subarray(20)], new Array(12).fill(0xaa));
});

Deno.test("entry: a struct in user memory is read and written back there", () => {
  const { k, fd } = openIommufd();
  const addr = k.mmap(4096n);
  k.writeMemory(addr, encode(S.iommu_ioas_alloc));
  strictEqual(k.ioctl(fd, R.IOMMU_IOAS_ALLOC, addr), 0);
  const out = new Uint8Array(12);
  k.readMemory(addr, out);
  strictEqual(new DataView(out.buffer).getUint32(8, true), 1);
  // The last bytes of the mapping: a struct that runs off its end faults.
  k.writeMemory(addr + 4088n, new Uint8Array([12, 0, 0, 0]));
  strictEqual(k.ioctl(fd, R.IOMMU_IOAS_ALLOC, addr + 4088n), -E.EFAULT);
});

Deno.test("entry: IOMMU_TEST_CMD sizes follow the release (72 in 6.12, 56 in 6.2)", () => {
  const { k, fd } = openIommufd({ release: "6.2" });
  const id = ioasAlloc(k, fd);
  const c = call(k, fd, R.IOMMU_TEST_CMD, S.iommu_test_cmd, { op: 1, id, size: 72 });
  strictEqual(c.ret, 0, "zero bytes past 56 are accepted");
  const d = call(k, fd, R.IOMMU_TEST_CMD, S.iommu_test_cmd, { op: 1, id, size: 72, last: 1 });
  strictEqual(d.ret, -E.E2BIG);
  const e = call(k, fd, R.IOMMU_TEST_CMD, S.iommu_test_cmd, { op: 1, id, size: 51 });
  strictEqual(e.ret, -E.EINVAL);
});
