/**
 * The sequences of the kernel's own iommufd selftests (tools/testing/selftests/iommu/
 * iommufd.c), retold against the simulator: fixtures `iommufd`, `iommufd_ioas` (no domain,
 * one and two mock domains), `iommufd_mock_domain` and `vfio_compat_mock_domain` (TYPE1v2
 * and TYPE1). BUFFER_SIZE is 16 pages, as there.
 */

import { deepStrictEqual, strictEqual } from "node:assert";
import { E } from "../uapi/errno.ts";
import { decodeInfoCaps } from "../uapi/caps.ts";
import { MOCK, PAGE_SIZE, U64_MAX } from "../uapi/constants.ts";
import * as S from "../uapi/structs.ts";
import * as R from "../uapi/ioctl.ts";
import type { SimKernel } from "../sim/kernel.ts";
import {
  call,
  destroy,
  ioasAlloc,
  iovaRanges,
  mapAuto,
  mapDma,
  mapFixed,
  mockDomain,
  openIommufd,
  setCompat,
  unmap,
  unmapDma,
} from "./_sim_helpers.ts";

const PS = PAGE_SIZE;
const BUFFER_SIZE = 16n * PS;
const MOCK_PAGE = MOCK.IO_PAGE_SIZE;

// ---- FIXTURE(iommufd) ----

Deno.test("selftest iommufd.cmd_fail: ENOENT id 0, EFAULT NULL, ENOTTY below the base", () => {
  const { k, fd } = openIommufd();
  strictEqual(destroy(k, fd, 0), -E.ENOENT);
  strictEqual(k.ioctl(fd, R.IOMMU_DESTROY, 0n), -E.EFAULT);
  strictEqual(k.ioctl(fd, 0x3b7f, new Uint8Array(8)), -E.ENOTTY);
});

Deno.test("selftest iommufd.cmd_ex_fail: a longer command with zero tail, E2BIG, short EINVAL", () => {
  const { k, fd } = openIommufd();
  const b = new Uint8Array(16);
  const v = new DataView(b.buffer);
  v.setUint32(0, 16, true);
  strictEqual(k.ioctl(fd, R.IOMMU_DESTROY, b), -E.ENOENT);
  b[8] = 1;
  strictEqual(k.ioctl(fd, R.IOMMU_DESTROY, b), -E.E2BIG);
  v.setUint32(0, 8, true);
  strictEqual(k.ioctl(fd, R.IOMMU_DESTROY, b), -E.ENOENT);
  v.setUint32(0, 7, true);
  strictEqual(k.ioctl(fd, R.IOMMU_DESTROY, b), -E.EINVAL);
});

Deno.test("selftest iommufd.global_options: RLIMIT_MODE round trip; HUGE_PAGES on id 0 ENOENT", () => {
  const { k, fd } = openIommufd();
  const o = (v: Record<string, bigint | number>) =>
    call(k, fd, R.IOMMU_OPTION, S.iommu_option, { option_id: 0, ...v });
  deepStrictEqual([o({ op: 1, val64: 1n }).ret, o({ op: 1, val64: 1n }).out.val64], [0, 0n]);
  strictEqual(o({ op: 0, val64: 1n }).ret, 0);
  strictEqual(o({ op: 0, val64: 2n }).ret, -E.EINVAL);
  strictEqual(o({ op: 1 }).out.val64, 1n);
  strictEqual(o({ op: 0, val64: 0n }).ret, 0);
  strictEqual(o({ option_id: 1, op: 1 }).ret, -E.ENOENT);
  strictEqual(o({ option_id: 1, op: 0 }).ret, -E.ENOENT);
});

Deno.test("selftest iommufd: simple_ioctls, unmap_cmd, map_cmd, info_cmd, set_iommu_cmd", () => {
  const { k, fd } = openIommufd();
  strictEqual(k.ioctl(fd, R.VFIO_GET_API_VERSION, 0n), 0);
  strictEqual(k.ioctl(fd, R.VFIO_CHECK_EXTENSION, 3n), 1);
  const um = { iova: MOCK.APERTURE_START, size: PS };
  strictEqual(
    call(k, fd, R.VFIO_IOMMU_UNMAP_DMA, S.vfio_iommu_type1_dma_unmap, { ...um, argsz: 1 }).ret,
    -E.EINVAL,
  );
  strictEqual(
    call(k, fd, R.VFIO_IOMMU_UNMAP_DMA, S.vfio_iommu_type1_dma_unmap, { ...um, flags: 1 << 31 })
      .ret,
    -E.EINVAL,
  );
  strictEqual(call(k, fd, R.VFIO_IOMMU_UNMAP_DMA, S.vfio_iommu_type1_dma_unmap, um).ret, -E.ENODEV);
  const buf = k.mmap(BUFFER_SIZE);
  const m = { iova: MOCK.APERTURE_START, size: PS, vaddr: buf };
  strictEqual(
    call(k, fd, R.VFIO_IOMMU_MAP_DMA, S.vfio_iommu_type1_dma_map, { ...m, argsz: 1 }).ret,
    -E.EINVAL,
  );
  strictEqual(
    call(k, fd, R.VFIO_IOMMU_MAP_DMA, S.vfio_iommu_type1_dma_map, { ...m, flags: 1 << 31 }).ret,
    -E.EINVAL,
  );
  strictEqual(
    call(k, fd, R.VFIO_IOMMU_MAP_DMA, S.vfio_iommu_type1_dma_map, { ...m, flags: 3 }).ret,
    -E.ENODEV,
  );
  strictEqual(
    call(k, fd, R.VFIO_IOMMU_GET_INFO, S.vfio_iommu_type1_info, { argsz: 1 }).ret,
    -E.EINVAL,
  );
  strictEqual(call(k, fd, R.VFIO_IOMMU_GET_INFO, S.vfio_iommu_type1_info).ret, -E.ENODEV);
  strictEqual(k.ioctl(fd, R.VFIO_SET_IOMMU, 3n), -E.ENODEV);
  strictEqual(k.ioctl(fd, R.VFIO_SET_IOMMU, 1n), -E.ENODEV);
});

Deno.test("selftest iommufd.vfio_ioas: GET ENODEV, SET ENOENT, SET/GET/CLEAR", () => {
  const { k, fd } = openIommufd();
  const v = (op: number, ioas_id = 0) =>
    call(k, fd, R.IOMMU_VFIO_IOAS, S.iommu_vfio_ioas, { op, ioas_id });
  strictEqual(v(0).ret, -E.ENODEV);
  strictEqual(v(1).ret, -E.ENOENT);
  const id = ioasAlloc(k, fd);
  strictEqual(v(1, id).ret, 0);
  deepStrictEqual([v(0).ret, Number(v(0).out.ioas_id)], [0, id]);
  strictEqual(v(2).ret, 0);
  strictEqual(v(0).ret, -E.ENODEV);
});

// ---- FIXTURE(iommufd_ioas) ----

for (const domains of [0, 1, 2]) {
  const variant = ["no_domain", "mock_domain", "two_mock_domain"][domains];
  const setup = () => {
    const { k, fd } = openIommufd();
    const ioas = ioasAlloc(k, fd);
    let stdev = 0, hwpt = 0;
    for (let i = 0; i < domains; i++) ({ stdev, hwpt } = mockDomain(k, fd, ioas));
    const buffer = k.mmap(BUFFER_SIZE);
    const base = domains ? MOCK.APERTURE_START : 0n;
    return { k, fd, ioas, stdev, hwpt, buffer, base };
  };
  const t = (name: string, fn: (s: ReturnType<typeof setup>) => void) =>
    Deno.test(`selftest iommufd_ioas/${variant}.${name}`, () => fn(setup()));

  t("ioas_destroy", ({ k, fd, ioas, stdev }) => {
    strictEqual(destroy(k, fd, ioas), stdev ? -E.EBUSY : 0);
  });

  t("hwpt_attach", ({ k, fd, hwpt, stdev }) => {
    strictEqual(mockDomain(k, fd, hwpt).ret, stdev ? 0 : -E.ENOENT);
  });

  t("ioas_area_destroy", ({ k, fd, ioas, stdev, buffer, base }) => {
    strictEqual(mapFixed(k, fd, ioas, buffer, PS, base), 0);
    strictEqual(destroy(k, fd, ioas), stdev ? -E.EBUSY : 0);
  });

  t("ioas_area_auto_destroy", ({ k, fd, ioas, buffer, base }) => {
    for (let i = 0n; i < 10n; i++) strictEqual(mapFixed(k, fd, ioas, buffer, PS, base + i * PS), 0);
    strictEqual(k.close(fd), 0);
    strictEqual(k.pinnedPages(), 0n);
  });

  t("area", ({ k, fd, ioas, buffer, base }) => {
    for (let i = 0n; i < 10n; i++) strictEqual(unmap(k, fd, ioas, i * PS, PS).ret, -E.ENOENT);
    for (let i = 0n; i < 10n; i++) strictEqual(mapFixed(k, fd, ioas, buffer, PS, base + i * PS), 0);
    for (let i = 0n; i < 10n; i++) strictEqual(unmap(k, fd, ioas, base + i * PS, PS).ret, 0);
    strictEqual(mapFixed(k, fd, ioas, buffer, 2n * PS, base + 16n * PS), 0);
    strictEqual(unmap(k, fd, ioas, base + 16n * PS, PS).ret, -E.ENOENT);
    strictEqual(unmap(k, fd, ioas, base + 17n * PS, PS).ret, -E.ENOENT);
    for (const [len, at] of [[2n, 16n], [1n, 16n], [1n, 17n], [2n, 15n], [3n, 15n]]) {
      strictEqual(mapFixed(k, fd, ioas, buffer, len * PS, base + at * PS), -E.EEXIST);
    }
    strictEqual(unmap(k, fd, ioas, 0n, U64_MAX).ret, 0);
    strictEqual(unmap(k, fd, ioas, 0n, U64_MAX).ret, 0);
  });

  t("unmap_fully_contained_areas", ({ k, fd, ioas, buffer, base }) => {
    const b = base + 4n * PS;
    for (let i = 0n; i < 4n; i++) {
      strictEqual(mapFixed(k, fd, ioas, buffer, 8n * PS, b + i * 16n * PS), 0);
    }
    strictEqual(unmap(k, fd, ioas, b - 4n * PS, 8n * PS).ret, -E.ENOENT);
    strictEqual(unmap(k, fd, ioas, b + 3n * 16n * PS + 8n * PS - 4n * PS, 8n * PS).ret, -E.ENOENT);
    deepStrictEqual(unmap(k, fd, ioas, b - 4n * PS, 3n * 16n * PS + 8n * PS + 4n * PS), {
      ret: 0,
      length: 32n * PS,
    });
  });

  t("area_auto_iova", ({ k, fd, ioas, stdev, buffer }) => {
    const iovas: bigint[] = [];
    for (let i = 0; i < 10; i++) {
      const r = mapAuto(k, fd, ioas, buffer, PS);
      strictEqual(r.ret, 0);
      iovas.push(r.iova);
    }
    for (const iova of iovas) strictEqual(unmap(k, fd, ioas, iova, PS).ret, 0);
    const resv = { start: PS * 4n, length: PS * 100n };
    strictEqual(
      call(k, fd, R.IOMMU_TEST_CMD, S.iommu_test_cmd, {
        op: 1,
        id: ioas,
        "add_reserved.start": resv.start,
        "add_reserved.length": resv.length,
      }).ret,
      0,
    );
    for (let i = 1n; i <= 10n; i++) {
      const r = mapAuto(k, fd, ioas, buffer, PS * i);
      strictEqual(r.ret, 0);
      // This kernel (no THP) aligns automatic IOVAs to PAGE_SIZE at most.
      strictEqual(r.iova % PS, 0n);
      strictEqual(r.iova > resv.start && r.iova < resv.start + resv.length, false);
      strictEqual(unmap(k, fd, ioas, r.iova, PS * i).ret, 0);
    }
    const arr = k.mmap(PS);
    const allow = (start: bigint, last: bigint) => {
      const b = new Uint8Array(16);
      new DataView(b.buffer).setBigUint64(0, start, true);
      new DataView(b.buffer).setBigUint64(8, last, true);
      k.writeMemory(arr, b);
      return call(k, fd, R.IOMMU_IOAS_ALLOW_IOVAS, S.iommu_ioas_allow_iovas, {
        ioas_id: ioas,
        num_iovas: 1,
        allowed_iovas: arr,
      }).ret;
    };
    strictEqual(allow(PS, PS * 600n), -E.EADDRINUSE);
    const [lo, hi] = stdev
      ? [MOCK.APERTURE_START + PS, MOCK.APERTURE_START + PS * 600n - 1n]
      : [PS * 200n, PS * 600n - 1n];
    strictEqual(allow(lo, hi), 0);
    for (let i = 1n; i <= 10n; i++) {
      const r = mapAuto(k, fd, ioas, buffer, PS * i);
      strictEqual(r.ret, 0);
      strictEqual(r.iova >= lo && r.iova + PS * i <= hi + 1n, true);
      strictEqual(unmap(k, fd, ioas, r.iova, PS * i).ret, 0);
    }
  });

  t("copy_area", ({ k, fd, ioas, buffer, base }) => {
    strictEqual(mapFixed(k, fd, ioas, buffer, PS, base), 0);
    const copy = (dst: number, dst_iova: bigint) =>
      call(k, fd, R.IOMMU_IOAS_COPY, S.iommu_ioas_copy, {
        flags: 7,
        dst_ioas_id: dst,
        src_ioas_id: ioas,
        length: PS,
        src_iova: base,
        dst_iova,
      }).ret;
    strictEqual(copy(ioas, base + PS), 0);
    strictEqual(copy(ioasAlloc(k, fd), 0n), 0);
  });

  t("iova_ranges", ({ k, fd, ioas, stdev }) => {
    const r = iovaRanges(k, fd, ioas, 256);
    strictEqual(r.num, 1);
    deepStrictEqual(r.ranges[0], stdev ? [MOCK.APERTURE_START, MOCK.APERTURE_LAST] : [0n, U64_MAX]);
    strictEqual(r.alignment, stdev ? MOCK_PAGE : 1n);
    deepStrictEqual([iovaRanges(k, fd, ioas, 0).ret, iovaRanges(k, fd, ioas, 0).num], [
      -E.EMSGSIZE,
      1,
    ]);
    call(k, fd, R.IOMMU_TEST_CMD, S.iommu_test_cmd, {
      op: 1,
      id: ioas,
      "add_reserved.start": PS,
      "add_reserved.length": PS,
    });
    const two = iovaRanges(k, fd, ioas, 256);
    if (!stdev) {
      deepStrictEqual(two.ranges, [[0n, PS - 1n], [PS * 2n, U64_MAX]]);
      const one = iovaRanges(k, fd, ioas, 1);
      deepStrictEqual([one.ret, one.num, one.ranges], [-E.EMSGSIZE, 2, [[0n, PS - 1n]]]);
    } else {
      deepStrictEqual(two.ranges, [[MOCK.APERTURE_START, MOCK.APERTURE_LAST]]);
    }
  });

  t("ioas_option_huge_pages", ({ k, fd, ioas }) => {
    const o = (op: number, val64: bigint) =>
      call(k, fd, R.IOMMU_OPTION, S.iommu_option, { option_id: 1, op, val64, object_id: ioas });
    strictEqual(o(1, 3n).out.val64, 1n);
    strictEqual(o(0, 0n).ret, 0);
    strictEqual(o(1, 3n).out.val64, 0n);
    strictEqual(o(0, 2n).ret, -E.EINVAL);
    strictEqual(o(0, 1n).ret, 0);
  });

  t("ioas_iova_alloc", ({ k, fd, ioas, buffer }) => {
    for (let length = 1n; length < PS * 2n; length += 37n) {
      const r = mapAuto(k, fd, ioas, buffer, length);
      if (domains && length % MOCK_PAGE !== 0n) {
        strictEqual(r.ret, -E.EINVAL);
      } else {
        strictEqual(r.ret, 0, `length ${length}`);
        strictEqual(unmap(k, fd, ioas, r.iova, length).ret, 0);
      }
    }
  });

  t("ioas_align_change", ({ k, fd, ioas, buffer }) => {
    if (domains) return;
    const o = (val64: bigint) =>
      call(k, fd, R.IOMMU_OPTION, S.iommu_option, { option_id: 1, op: 0, val64, object_id: ioas })
        .ret;
    strictEqual(mapFixed(k, fd, ioas, buffer, PS, MOCK.APERTURE_START), 0);
    strictEqual(o(0n), 0);
    strictEqual(mapFixed(k, fd, ioas, buffer + MOCK_PAGE, PS, MOCK.APERTURE_START + PS), -E.EINVAL);
    strictEqual(o(0n), 0);
    strictEqual(o(1n), 0);
    strictEqual(mapFixed(k, fd, ioas, buffer + MOCK_PAGE, PS, MOCK.APERTURE_START + PS), 0);
    strictEqual(o(0n), -E.EADDRINUSE);
    strictEqual(unmap(k, fd, ioas, MOCK.APERTURE_START + PS, PS).ret, 0);
    strictEqual(unmap(k, fd, ioas, MOCK.APERTURE_START, PS).ret, 0);
  });

  t("copy_sweep", ({ k, fd, ioas, buffer }) => {
    const dst = ioasAlloc(k, fd);
    const last = MOCK.APERTURE_START + BUFFER_SIZE - (domains ? 1n : 2n);
    strictEqual(
      mapFixed(k, fd, ioas, buffer, last - MOCK.APERTURE_START + 1n, MOCK.APERTURE_START),
      0,
    );
    for (let iova = MOCK.APERTURE_START - PS; iova <= last; iova += 511n) {
      const c = call(k, fd, R.IOMMU_IOAS_COPY, S.iommu_ioas_copy, {
        flags: 7,
        src_ioas_id: ioas,
        dst_ioas_id: dst,
        dst_iova: MOCK.APERTURE_START,
        length: MOCK_PAGE,
        src_iova: iova,
      });
      if (iova < MOCK.APERTURE_START || iova + MOCK_PAGE - 1n > last) {
        strictEqual(c.ret, -E.ENOENT);
      } else {
        strictEqual(c.ret, 0, `src ${iova.toString(16)}`);
        strictEqual(unmap(k, fd, dst, MOCK.APERTURE_START, MOCK_PAGE).ret, 0);
      }
    }
    strictEqual(destroy(k, fd, dst), 0);
  });
}

// ---- FIXTURE(iommufd_mock_domain): MOCK_DOMAIN_REPLACE and device attach to nested hwpts ----

const replace = (k: SimKernel, fd: number, stdev: number, pt: number) =>
  call(k, fd, R.IOMMU_TEST_CMD, S.iommu_test_cmd, {
    op: 10,
    id: stdev,
    "mock_domain_replace.pt_id": pt,
  }).ret;
const hwptAlloc = (k: SimKernel, fd: number, idev: number, pt: number, flags = 0) => {
  const c = call(k, fd, R.IOMMU_HWPT_ALLOC, S.iommu_hwpt_alloc, { dev_id: idev, pt_id: pt, flags });
  strictEqual(c.ret, 0);
  return Number(c.out.out_hwpt_id);
};

for (const domains of [1, 2]) {
  const variant = ["", "one_domain", "two_domain"][domains];
  const setup = () => {
    const { k, fd } = openIommufd();
    const ioas = ioasAlloc(k, fd);
    const devs = Array.from({ length: domains }, () => mockDomain(k, fd, ioas));
    for (const d of devs) strictEqual(d.ret, 0);
    return { k, fd, ioas, devs };
  };
  const t = (name: string, fn: (s: ReturnType<typeof setup>) => void) =>
    Deno.test(`selftest iommufd_mock_domain/${variant}.${name}`, () => fn(setup()));

  t("replace", ({ k, fd, ioas, devs }) => {
    const other = ioasAlloc(k, fd);
    strictEqual(replace(k, fd, devs[0].stdev, other), 0);
    // With one device its automatic hwpt went away with it.
    if (domains === 1) strictEqual(replace(k, fd, devs[0].stdev, devs[0].hwpt), -E.ENOENT);
    strictEqual(replace(k, fd, devs[0].stdev, other), 0);
    if (domains >= 2) {
      strictEqual(replace(k, fd, devs[0].stdev, devs[1].hwpt), 0);
      strictEqual(replace(k, fd, devs[0].stdev, devs[1].hwpt), 0);
      strictEqual(replace(k, fd, devs[0].stdev, devs[0].hwpt), 0);
    }
    strictEqual(replace(k, fd, devs[0].stdev, ioas), 0);
    strictEqual(destroy(k, fd, other), 0);
  });

  t("alloc_hwpt", ({ k, fd, ioas, devs }) => {
    for (const d of devs) {
      const plain = hwptAlloc(k, fd, d.idev, ioas);
      const parent = hwptAlloc(k, fd, d.idev, ioas, 1);
      // Rotate the device through both, each busy while it is attached.
      strictEqual(replace(k, fd, d.stdev, plain), 0);
      strictEqual(destroy(k, fd, plain), -E.EBUSY);
      strictEqual(replace(k, fd, d.stdev, parent), 0);
      strictEqual(destroy(k, fd, parent), -E.EBUSY);
      strictEqual(replace(k, fd, d.stdev, ioas), 0);
      strictEqual(destroy(k, fd, parent), 0);
      const m = mockDomain(k, fd, plain);
      strictEqual(m.ret, 0);
      strictEqual(destroy(k, fd, m.stdev), 0);
      strictEqual(destroy(k, fd, plain), 0);
    }
  });

  t("nested_hwpt_alloc: device replace through nested hwpts", ({ k, fd, ioas, devs }) => {
    const d = devs[0];
    const parent = hwptAlloc(k, fd, d.idev, ioas, 1);
    const data = k.mmap(PS);
    const nested = () => {
      const c = call(k, fd, R.IOMMU_HWPT_ALLOC, S.iommu_hwpt_alloc, {
        dev_id: d.idev,
        pt_id: parent,
        data_type: 0xdead,
        data_len: 4,
        data_uptr: data,
      });
      strictEqual(c.ret, 0);
      return Number(c.out.out_hwpt_id);
    };
    const n = [nested(), nested()];
    strictEqual(destroy(k, fd, parent), -E.EBUSY, "the nested hwpts hold it");
    strictEqual(replace(k, fd, d.stdev, n[0]), 0);
    strictEqual(destroy(k, fd, n[0]), -E.EBUSY);
    strictEqual(replace(k, fd, d.stdev, n[1]), 0);
    strictEqual(destroy(k, fd, n[1]), -E.EBUSY);
    strictEqual(destroy(k, fd, n[0]), 0);
    strictEqual(replace(k, fd, d.stdev, parent), 0);
    strictEqual(destroy(k, fd, n[1]), 0);
    strictEqual(replace(k, fd, d.stdev, ioas), 0);
    strictEqual(destroy(k, fd, parent), 0);
  });
}

// ---- FIXTURE(vfio_compat_mock_domain) ----

for (const version of [3, 1]) {
  const variant = version === 3 ? "Ver1v2" : "Ver1v0";
  const setup = () => {
    const { k, fd } = openIommufd();
    const ioas = ioasAlloc(k, fd);
    strictEqual(mockDomain(k, fd, ioas).ret, 0);
    strictEqual(setCompat(k, fd, ioas), 0);
    strictEqual(k.ioctl(fd, R.VFIO_SET_IOMMU, BigInt(version)), 0);
    return { k, fd, ioas, buffer: k.mmap(BUFFER_SIZE) };
  };
  const t = (name: string, fn: (s: ReturnType<typeof setup>) => void) =>
    Deno.test(`selftest vfio_compat_mock_domain/${variant}.${name}`, () => fn(setup()));

  t("simple_close", ({ k, fd }) => strictEqual(k.close(fd), 0));

  t("option_huge_pages", ({ k, fd, ioas }) => {
    const c = call(k, fd, R.IOMMU_OPTION, S.iommu_option, {
      option_id: 1,
      op: 1,
      val64: 3n,
      object_id: ioas,
    });
    strictEqual(c.out.val64, version === 1 ? 0n : 1n);
  });

  t("get_info, every argsz byte by byte over a 0xAA buffer", ({ k, fd }) => {
    const run = (argsz: number) => {
      const b = new Uint8Array(256).fill(0xaa);
      const v = new DataView(b.buffer);
      b.fill(0, 0, Math.min(argsz, 24));
      v.setUint32(0, argsz, true);
      strictEqual(k.ioctl(fd, R.VFIO_IOMMU_GET_INFO, b), 0);
      strictEqual(b.subarray(argsz).every((x) => x === 0xaa), true, `nothing past argsz ${argsz}`);
      strictEqual(v.getUint32(4, true), 3);
      strictEqual(v.getBigUint64(8, true) !== 0n, true);
      return { b, v };
    };
    run(16);
    const { v } = run(24);
    strictEqual(v.getUint32(16, true), 0);
    const caplen = v.getUint32(0, true);
    strictEqual(caplen, 72);
    for (let i = 24; i < caplen + 16; i++) {
      const { b, v } = run(i);
      if (v.getUint32(16, true) === 0) {
        strictEqual(i < caplen, true);
        continue;
      }
      const chain = decodeInfoCaps(b.subarray(0, Math.max(i, caplen)));
      strictEqual(chain.error, undefined);
      deepStrictEqual(chain.caps.map((c) => c.id), [3, 1]);
      strictEqual(chain.caps[0].next - chain.caps[0].offset, 16, "DMA_AVAIL occupies 16");
      deepStrictEqual(chain.caps[1].ranges, [{
        start: MOCK.APERTURE_START,
        end: MOCK.APERTURE_LAST,
      }]);
    }
  });

  t("map", ({ k, fd, buffer }) => {
    strictEqual(mapDma(k, fd, buffer, MOCK.APERTURE_START, BUFFER_SIZE), 0);
    deepStrictEqual(unmapDma(k, fd, MOCK.APERTURE_START, BUFFER_SIZE), {
      ret: 0,
      size: BUFFER_SIZE,
    });
    strictEqual(mapDma(k, fd, buffer, MOCK.APERTURE_START, BUFFER_SIZE), 0);
    strictEqual(unmapDma(k, fd, MOCK.APERTURE_START, BUFFER_SIZE, 2).ret, -E.EINVAL);
    deepStrictEqual(unmapDma(k, fd, 0n, 0n, 2), { ret: 0, size: BUFFER_SIZE });
    const iovas: bigint[] = [];
    for (let i = 0n; i < 16n; i++) {
      iovas.push(MOCK.APERTURE_START + i * PS);
      strictEqual(mapDma(k, fd, buffer + i * PS, MOCK.APERTURE_START + i * PS, PS), 0);
    }
    for (let i = 0; i < iovas.length; i++) {
      const j = (i * 7 + 3) % iovas.length;
      [iovas[i], iovas[j]] = [iovas[j], iovas[i]];
    }
    for (const iova of iovas) strictEqual(unmapDma(k, fd, iova, PS).ret, 0);
  });

  t("huge_map: TYPE1 cuts larger mappings, TYPE1v2 fails ENOENT", ({ k, fd }) => {
    const size = 2n * 0x200000n;
    const buf = k.mmap(size);
    strictEqual(mapDma(k, fd, buf, MOCK.APERTURE_START, size), 0);
    const piece = size / 16n;
    const order = [5, 0, 12, 3, 9, 15, 1, 7, 14, 2, 11, 6, 10, 4, 13, 8];
    for (const i of order) {
      const r = unmapDma(k, fd, MOCK.APERTURE_START + BigInt(i) * piece, piece);
      strictEqual(r.ret, version === 1 ? 0 : -E.ENOENT);
    }
  });
}
