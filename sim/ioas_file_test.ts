/**
 * IOMMU_IOAS_MAP_FILE and IOMMU_IOAS_CHANGE_PROCESS (ioas.c, io_pagetable.c, pages.c), after
 * the map_file cases of tools/testing/selftests/iommu/iommufd.c: memfd-backed mappings pin
 * when a domain needs them, like user mappings, and only memfd pages can be pinned.
 */

import { deepStrictEqual, strictEqual } from "node:assert";
import { E } from "../uapi/errno.ts";
import * as S from "../uapi/structs.ts";
import * as R from "../uapi/ioctl.ts";
import type { SimKernel } from "./kernel.ts";
import {
  call,
  destroy,
  ioasAlloc,
  mapAuto,
  mockDomain,
  openIommufd,
  unmap,
} from "../tests/_sim_helpers.ts";
import type { StructValues } from "../uapi/codec.ts";

const RW = 6;
/** MOCK_APERTURE_START. */
const AP = 0x1000000n;
const mapFile = (k: SimKernel, fd: number, v: StructValues) =>
  call(k, fd, R.IOMMU_IOAS_MAP_FILE, S.iommu_ioas_map_file, { flags: RW, ...v });
const changeProcess = (k: SimKernel, fd: number, v: StructValues = {}) =>
  call(k, fd, R.IOMMU_IOAS_CHANGE_PROCESS, S.iommu_ioas_change_process, v).ret;

function setup(release?: string) {
  const { k, fd } = openIommufd(release ? { release } : {});
  const ioas = ioasAlloc(k, fd);
  const mfd = k.memfdCreate("buf", 0x10000n);
  strictEqual(mfd > 0, true);
  return { k, fd, ioas, mfd };
}

Deno.test("map_file: unknown flags -> EOPNOTSUPP; iova or length U64_MAX -> EOVERFLOW; no R/W -> EINVAL", () => {
  const { k, fd, ioas, mfd } = setup();
  const base = { ioas_id: ioas, fd: mfd, length: 4096n };
  strictEqual(mapFile(k, fd, { ...base, flags: 8 | RW }).ret, -E.EOPNOTSUPP);
  strictEqual(mapFile(k, fd, { ...base, iova: (1n << 64n) - 1n }).ret, -E.EOVERFLOW);
  strictEqual(mapFile(k, fd, { ...base, length: (1n << 64n) - 1n }).ret, -E.EOVERFLOW);
  strictEqual(mapFile(k, fd, { ...base, flags: 1 }).ret, -E.EINVAL);
});

Deno.test("map_file: ioas_id not an IOAS -> ENOENT; fd not open -> EBADF, and the IOAS stays held (DESTROY -> EBUSY)", () => {
  const { k, fd, ioas, mfd } = setup();
  strictEqual(mapFile(k, fd, { ioas_id: 9, fd: mfd, length: 4096n }).ret, -E.ENOENT);
  strictEqual(mapFile(k, fd, { ioas_id: ioas, fd: 77, length: 4096n }).ret, -E.EBADF);
  strictEqual(destroy(k, fd, ioas), -E.EBUSY);
  const other = ioasAlloc(k, fd);
  strictEqual(destroy(k, fd, other), 0);
  strictEqual(k.close(fd), 0);
  strictEqual(k.internalErrors.length, 0);
});

Deno.test("map_file: start + length - 1 wrapping -> EOVERFLOW before length 0 -> EINVAL", () => {
  const { k, fd, ioas, mfd } = setup();
  strictEqual(
    mapFile(k, fd, { ioas_id: ioas, fd: mfd, start: 1n << 63n, length: (1n << 63n) + 1n }).ret,
    -E.EOVERFLOW,
  );
  strictEqual(mapFile(k, fd, { ioas_id: ioas, fd: mfd, length: 0n }).ret, -E.EINVAL);
});

Deno.test("map_file: without a domain nothing is pinned; attaching the mock domain pins the file pages", () => {
  const { k, fd, ioas, mfd } = setup();
  // In the mock aperture, which attach reserves around.
  const m = mapFile(k, fd, { ioas_id: ioas, fd: mfd, length: 0x4000n, flags: RW | 1, iova: AP });
  strictEqual(m.ret, 0);
  strictEqual(k.pinnedPages(), 0n);
  strictEqual(mockDomain(k, fd, ioas).ret, 0);
  strictEqual(k.pinnedPages(), 4n);
  strictEqual(k.close(fd), 0);
  strictEqual(k.pinnedPages(), 0n, "close drops every pin");
});

Deno.test("map_file: the automatic IOVA follows the file offset's alignment, as MAP follows the address", () => {
  const { k, fd, ioas, mfd } = setup();
  strictEqual(mockDomain(k, fd, ioas).ret, 0);
  const a = mapFile(k, fd, { ioas_id: ioas, fd: mfd, start: 0x2000n, length: 0x2000n });
  strictEqual(a.ret, 0);
  strictEqual(a.out.iova % 0x2000n, 0n);
  strictEqual(k.pinnedPages(), 2n);
});

Deno.test("map_file: a page at or past the end of the memfd cannot be pinned -> EINVAL (with a domain)", () => {
  const { k, fd, ioas, mfd } = setup();
  strictEqual(mockDomain(k, fd, ioas).ret, 0);
  strictEqual(
    mapFile(k, fd, { ioas_id: ioas, fd: mfd, start: 0xf000n, length: 0x2000n }).ret,
    -E.EINVAL,
  );
  strictEqual(mapFile(k, fd, { ioas_id: ioas, fd: mfd, start: 0xf000n, length: 0x1000n }).ret, 0);
  strictEqual(k.pinnedPages(), 1n);
});

Deno.test("map_file: a file that is not a memfd maps without a domain, cannot be pinned -> EINVAL", () => {
  const { k, fd, ioas } = setup();
  const other = k.open("/dev/iommu");
  strictEqual(
    mapFile(k, fd, { ioas_id: ioas, fd: other, length: 0x1000n, flags: 7, iova: AP }).ret,
    0,
  );
  strictEqual(mockDomain(k, fd, ioas).ret, -E.EINVAL, "attach fills the domain, the pin fails");
  const ioas2 = ioasAlloc(k, fd);
  strictEqual(mockDomain(k, fd, ioas2).ret, 0);
  strictEqual(mapFile(k, fd, { ioas_id: ioas2, fd: other, length: 0x1000n }).ret, -E.EINVAL);
});

Deno.test("map_file: the mapping holds the memfd: closing the fd keeps the pages pinnable", () => {
  const { k, fd, ioas, mfd } = setup();
  strictEqual(
    mapFile(k, fd, { ioas_id: ioas, fd: mfd, length: 0x1000n, flags: 7, iova: AP }).ret,
    0,
  );
  strictEqual(k.close(mfd), 0);
  strictEqual(mockDomain(k, fd, ioas).ret, 0);
  strictEqual(k.pinnedPages(), 1n);
  strictEqual(unmap(k, fd, ioas, 0x1000000n, 0x1000n).ret, 0);
  strictEqual(k.pinnedPages(), 0n);
});

Deno.test("map_file: the IOVA is written back on success, nothing on failure", () => {
  const { k, fd, ioas, mfd } = setup();
  const ok = mapFile(k, fd, { ioas_id: ioas, fd: mfd, length: 0x1000n, iova: 0xabcn });
  strictEqual(ok.ret, 0);
  strictEqual(ok.out.iova !== 0xabcn, true);
  const bad = mapFile(k, fd, {
    ioas_id: ioas,
    fd: mfd,
    length: 0x1000n,
    flags: RW | 1,
    iova: ok.out.iova,
  });
  deepStrictEqual([bad.ret, bad.out.iova], [-E.EEXIST, ok.out.iova]);
});

Deno.test("change_process: __reserved -> EOPNOTSUPP", () => {
  const { k, fd } = setup();
  strictEqual(changeProcess(k, fd, { __reserved: 1 }), -E.EOPNOTSUPP);
});

Deno.test("change_process: an area that is not file-backed -> EINVAL; only file maps -> 0", () => {
  const { k, fd, ioas, mfd } = setup();
  strictEqual(changeProcess(k, fd), 0, "no areas at all");
  strictEqual(mapFile(k, fd, { ioas_id: ioas, fd: mfd, length: 0x1000n }).ret, 0);
  strictEqual(changeProcess(k, fd), 0);
  const ioas2 = ioasAlloc(k, fd);
  const buf = k.mmap(0x1000n);
  strictEqual(mapAuto(k, fd, ioas2, buf, 0x1000n).ret, 0);
  strictEqual(changeProcess(k, fd), -E.EINVAL);
});

Deno.test("change_process on 6.13 -> ENOTTY (6.14), map_file on 6.13 ... not modelled: 6.12 -> ENOTTY", () => {
  const { k, fd } = openIommufd({ release: "6.12" });
  strictEqual(changeProcess(k, fd), -E.ENOTTY);
  strictEqual(mapFile(k, fd, {}).ret, -E.ENOTTY);
});

Deno.test("memfd: read gives zeros up to the size; ioctl -> ENOTTY; bad name -> EINVAL", () => {
  const { k } = setup();
  const m = k.memfdCreate("x", 10n);
  const b = new Uint8Array(8).fill(1);
  strictEqual(k.read(m, b), 8);
  deepStrictEqual([...b], new Array(8).fill(0));
  strictEqual(k.read(m, b), 2);
  strictEqual(k.read(m, b), 0);
  strictEqual(k.ioctl(m, R.IOMMU_DESTROY, new Uint8Array(8)), -E.ENOTTY);
  strictEqual(k.memfdCreate("n".repeat(250), 1n), -E.EINVAL);
  strictEqual(k.memfdCreate("n", -1n), -E.EINVAL);
});
