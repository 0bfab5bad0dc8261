/**
 * Two cases of the kernel's iommufd selftest (tools/testing/selftests/iommu/iommufd.c, Linux
 * 6.12), retold against the simulator at the rig's release 6.12.117: TEST_F(iommufd_ioas,
 * alloc_hwpt_nested), nested hw_pagetables of the mock driver and IOMMU_HWPT_INVALIDATE on
 * them, and TEST_F(iommufd_ioas, hwpt_attach). Each runs once per FIXTURE_VARIANT of
 * iommufd_ioas (no_domain, mock_domain, two_mock_domain, mock_domain_limit), with that
 * variant's FIXTURE_SETUP and FIXTURE_TEARDOWN.
 */

import { deepStrictEqual, notStrictEqual, strictEqual } from "node:assert";
import { E } from "../uapi/errno.ts";
import * as S from "../uapi/structs.ts";
import * as R from "../uapi/ioctl.ts";
import type { SimKernel } from "../sim/kernel.ts";
import type { HwptNested } from "../sim/hw_pagetable.ts";
import { call, destroy, mockDomain } from "./_sim_helpers.ts";
import { IOAS_VARIANTS, ioasSetup, ioasTeardown } from "./_selftest_fixture.ts";

// Test ops of iommufd_test.h.
const OP_MOCK_DOMAIN_REPLACE = 10;

// linux/iommufd.h and iommufd_test.h.
const HWPT_ALLOC_NEST_PARENT = 1;
const HWPT_FAULT_ID_VALID = 4;
const HWPT_DATA_NONE = 0;
const HWPT_DATA_SELFTEST = 0xdead;
const TEST_IOTLB_DEFAULT = 0xbadbeef;
const INVALIDATE_DATA_SELFTEST = 0xdeadbeef;
const INVALIDATE_DATA_SELFTEST_INVALID = 0xdadbeef;
const TEST_INVALIDATE_FLAG_ALL = 1;
const IOTLB_ID_MAX = 3;
/** sizeof(struct iommu_hwpt_selftest) and offsetofend(.., iotlb): a single u32. */
const HWPT_SELFTEST_LEN = 4;
/** sizeof(struct iommu_hwpt_invalidate_selftest): flags and iotlb_id. */
const INV_REQ_LEN = 8;
const U32_MAX = 0xffffffff;

const replace = (k: SimKernel, fd: number, stdev: number, pt: number) =>
  call(k, fd, R.IOMMU_TEST_CMD, S.iommu_test_cmd, {
    op: OP_MOCK_DOMAIN_REPLACE,
    id: stdev,
    "mock_domain_replace.pt_id": pt,
  }).ret;

/** The mock nested domain's fake IOTLB, read from the simulator (MD_CHECK_IOTLB is unmodelled). */
function iotlb(k: SimKernel, fd: number, id: number): number[] {
  const obj = k.iommufdContext(fd)!.objects.get(id, "hwpt_nested") as HwptNested | undefined;
  if (obj === undefined) throw new Error(`no nested hwpt ${id}`);
  return [...obj.iotlb];
}

Deno.test("selftest iommufd_ioas.alloc_hwpt_nested: nested hwpt allocation and IOMMU_HWPT_INVALIDATE on the mock", async (t) => {
  for (const v of IOAS_VARIANTS) {
    await t.step(v.name, () => {
      const { k, fd, ioas, stdev, idev } = ioasSetup(v);
      // struct iommu_hwpt_selftest with the default IOTLB value.
      const data = k.mmap(4096n);
      const d = new Uint8Array(HWPT_SELFTEST_LEN);
      new DataView(d.buffer).setUint32(0, TEST_IOTLB_DEFAULT, true);
      strictEqual(k.writeMemory(data, d), 0);
      // Two struct iommu_hwpt_invalidate_selftest, all zero to begin with.
      const reqs = k.mmap(4096n);
      const req = (i: number, flags: number, iotlbId: number) => {
        const b = new Uint8Array(INV_REQ_LEN);
        const dv = new DataView(b.buffer);
        dv.setUint32(0, flags, true);
        dv.setUint32(4, iotlbId, true);
        strictEqual(k.writeMemory(reqs + BigInt(i * INV_REQ_LEN), b), 0);
      };

      const alloc = (
        dev: number,
        pt: number,
        flags: number,
        o: { type?: number; len?: number; uptr?: bigint; faultId?: number } = {},
      ) => {
        const c = call(k, fd, R.IOMMU_HWPT_ALLOC, S.iommu_hwpt_alloc, {
          flags,
          dev_id: dev,
          pt_id: pt,
          data_type: o.type ?? HWPT_DATA_NONE,
          data_len: o.len ?? 0,
          data_uptr: o.uptr ?? 0n,
          fault_id: o.faultId ?? 0,
        });
        return { ret: c.ret, id: Number(c.out.out_hwpt_id) };
      };
      const nested = (
        dev: number,
        pt: number,
        flags: number,
        o: { len?: number; uptr?: bigint; type?: number; faultId?: number } = {},
      ) =>
        alloc(dev, pt, flags, {
          type: o.type ?? HWPT_DATA_SELFTEST,
          len: o.len ?? HWPT_SELFTEST_LEN,
          uptr: o.uptr ?? data,
          faultId: o.faultId,
        });
      const ok = (r: { ret: number; id: number }) => {
        strictEqual(r.ret, 0);
        notStrictEqual(r.id, 0);
        return r.id;
      };
      const invalidate = (
        hwptId: number,
        num: number,
        o: { type?: number; len?: number; uptr?: bigint } = {},
      ) => {
        const c = call(k, fd, R.IOMMU_HWPT_INVALIDATE, S.iommu_hwpt_invalidate, {
          hwpt_id: hwptId,
          data_uptr: o.uptr ?? reqs,
          data_type: o.type ?? INVALIDATE_DATA_SELFTEST,
          entry_len: o.len ?? INV_REQ_LEN,
          entry_num: num,
        });
        return { ret: c.ret, num: Number(c.out.entry_num) };
      };
      const D = TEST_IOTLB_DEFAULT;

      if (idev === 0) {
        // No device: every id the case names is 0.
        strictEqual(alloc(idev, ioas, 0).ret, -E.ENOENT);
        strictEqual(nested(idev, 0, 0).ret, -E.ENOENT);
        strictEqual(nested(idev, 0, 0).ret, -E.ENOENT);
        strictEqual(replace(k, fd, stdev, 0), -E.ENOENT);
        strictEqual(replace(k, fd, stdev, 0), -E.ENOENT);
        ioasTeardown(k, fd);
        return;
      }

      // Paging allocations gone wrong: the IOAS as the device, the device as the page
      // table, a fault id on a nest parent.
      strictEqual(alloc(ioas, idev, 0).ret, -E.ENOENT);
      strictEqual(alloc(idev, idev, 0).ret, -E.EINVAL);
      strictEqual(
        alloc(idev, ioas, HWPT_ALLOC_NEST_PARENT | HWPT_FAULT_ID_VALID).ret,
        -E.EOPNOTSUPP,
      );
      const parent = ok(alloc(idev, ioas, HWPT_ALLOC_NEST_PARENT));
      const notParent = ok(alloc(idev, ioas, 0));

      // Nested allocations gone wrong.
      strictEqual(nested(idev, parent, 0, { type: HWPT_DATA_NONE }).ret, -E.EINVAL);
      strictEqual(nested(idev, parent, 0, { type: HWPT_DATA_SELFTEST + 1 }).ret, -E.EOPNOTSUPP);
      strictEqual(nested(idev, parent, 0, { len: HWPT_SELFTEST_LEN - 1 }).ret, -E.EINVAL);
      strictEqual(nested(idev, parent, 0, { uptr: 0n }).ret, -E.EFAULT);
      strictEqual(nested(idev, parent, HWPT_ALLOC_NEST_PARENT).ret, -E.EOPNOTSUPP);
      strictEqual(nested(idev, notParent, 0).ret, -E.EINVAL);

      // A fault queue, two nested hwpts over one parent, and one reporting to the queue.
      const fq = call(k, fd, R.IOMMU_FAULT_QUEUE_ALLOC, S.iommu_fault_alloc);
      strictEqual(fq.ret, 0);
      const faultId = Number(fq.out.out_fault_id);
      const faultFd = Number(fq.out.out_fault_fd);
      notStrictEqual(faultId, 0);
      notStrictEqual(faultFd, 0);
      const n0 = ok(nested(idev, parent, 0));
      const n1 = ok(nested(idev, parent, 0));
      strictEqual(
        nested(idev, parent, HWPT_FAULT_ID_VALID, { faultId: U32_MAX }).ret,
        -E.ENOENT,
      );
      const iopf = ok(nested(idev, parent, HWPT_FAULT_ID_VALID, { faultId }));
      // MD_CHECK_IOTLB on all four entries of both: read here from the simulator.
      deepStrictEqual(iotlb(k, fd, n0), [D, D, D, D]);
      deepStrictEqual(iotlb(k, fd, n1), [D, D, D, D]);

      // Nesting over a nested hwpt; the parent is held by its children.
      strictEqual(nested(idev, n0, 0).ret, -E.EINVAL);
      strictEqual(destroy(k, fd, parent), -E.EBUSY);

      // Invalidation: a paging hwpt is not a nested one.
      deepStrictEqual(invalidate(parent, 1), { ret: -E.ENOENT, num: 0 });
      // An empty array checks only the data type.
      deepStrictEqual(invalidate(n0, 0), { ret: 0, num: 0 });
      deepStrictEqual(invalidate(n0, 1, { type: INVALIDATE_DATA_SELFTEST_INVALID }), {
        ret: -E.EINVAL,
        num: 0,
      });
      deepStrictEqual(invalidate(n0, 1, { len: INV_REQ_LEN + 1 }), { ret: -E.EINVAL, num: 0 });
      deepStrictEqual(invalidate(n0, 1, { len: 1 }), { ret: -E.EINVAL, num: 0 });
      req(0, U32_MAX, 0);
      deepStrictEqual(invalidate(n0, 1), { ret: -E.EOPNOTSUPP, num: 0 });
      req(0, 0, 0);
      deepStrictEqual(invalidate(n0, 1, { uptr: 0n }), { ret: -E.EINVAL, num: 0 });
      deepStrictEqual(invalidate(n0, 1, { len: 0 }), { ret: -E.EINVAL, num: 0 });
      req(0, 0, IOTLB_ID_MAX + 1);
      deepStrictEqual(invalidate(n0, 1), { ret: -E.EINVAL, num: 0 });

      // The first of two requests is carried out, the second has bad flags.
      req(0, 0, 0);
      req(1, U32_MAX, 1);
      deepStrictEqual(invalidate(n0, 2), { ret: -E.EOPNOTSUPP, num: 1 });
      deepStrictEqual(iotlb(k, fd, n0), [0, D, D, D]);
      // ... or an iotlb_id out of range.
      req(0, 0, 0);
      req(1, 0, IOTLB_ID_MAX + 1);
      deepStrictEqual(invalidate(n0, 2), { ret: -E.EINVAL, num: 1 });
      deepStrictEqual(iotlb(k, fd, n0), [0, D, D, D]);
      // Entry 1, then entries 2 and 3.
      req(0, 0, 1);
      deepStrictEqual(invalidate(n0, 1), { ret: 0, num: 1 });
      deepStrictEqual(iotlb(k, fd, n0), [0, 0, D, D]);
      req(0, 0, 2);
      req(1, 0, 3);
      deepStrictEqual(invalidate(n0, 2), { ret: 0, num: 2 });
      deepStrictEqual(iotlb(k, fd, n0), [0, 0, 0, 0]);
      // Everything at once on the other one.
      req(0, TEST_INVALIDATE_FLAG_ALL, 3);
      deepStrictEqual(invalidate(n1, 1), { ret: 0, num: 1 });
      deepStrictEqual(iotlb(k, fd, n1), [0, 0, 0, 0]);

      // Move the device through the nested hwpts; the one it is on cannot go.
      strictEqual(replace(k, fd, stdev, n0), 0);
      strictEqual(destroy(k, fd, n0), -E.EBUSY);
      strictEqual(replace(k, fd, stdev, n1), 0);
      strictEqual(destroy(k, fd, n1), -E.EBUSY);
      strictEqual(destroy(k, fd, n0), 0);
      strictEqual(replace(k, fd, stdev, iopf), 0);
      strictEqual(destroy(k, fd, iopf), -E.EBUSY);
      // TRIGGER_IOPF (raise a fault, read it from the queue, answer it) is not modelled.
      strictEqual(replace(k, fd, stdev, parent), 0);
      strictEqual(destroy(k, fd, n1), 0);
      strictEqual(destroy(k, fd, iopf), 0);
      strictEqual(replace(k, fd, stdev, ioas), 0);
      strictEqual(destroy(k, fd, parent), 0);
      strictEqual(destroy(k, fd, notParent), 0);
      strictEqual(k.close(faultFd), 0);
      strictEqual(destroy(k, fd, faultId), 0);
      ioasTeardown(k, fd);
    });
  }
});

Deno.test("selftest iommufd_ioas.hwpt_attach: a mock device attaches straight to the fixture's hwpt", async (t) => {
  for (const v of IOAS_VARIANTS) {
    await t.step(v.name, () => {
      const { k, fd, stdev, hwpt } = ioasSetup(v);
      if (stdev !== 0) {
        const m = mockDomain(k, fd, hwpt);
        strictEqual(m.ret, 0);
        // Attached to an existing hwpt: that one is reported back.
        strictEqual(m.hwpt, hwpt);
      } else {
        strictEqual(mockDomain(k, fd, hwpt).ret, -E.ENOENT);
      }
      ioasTeardown(k, fd);
    });
  }
});
