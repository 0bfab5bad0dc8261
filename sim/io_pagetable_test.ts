import assert from "node:assert/strict";
import { E, MOCK, PAGE_SIZE, U64_MAX } from "../uapi/mod.ts";
import { findRelease } from "./release.ts";
import {
  type Domain,
  HPAGE_SIZE,
  IOMMU_READ,
  IOMMU_WRITE,
  IoPagetable,
  type UnmapResult,
} from "./io_pagetable.ts";
import { type AccountMode, PinAccounting, pinnedPages } from "./pages.ts";
import { UserMemory } from "./user_memory.ts";
import { prng } from "../tests/_prng.ts";

const RW = IOMMU_READ | IOMMU_WRITE;
const MiB = 0x100000n;

interface Setup {
  memory: UserMemory;
  accounting: PinAccounting;
  iopt: IoPagetable;
  newIopt: () => IoPagetable;
}

function setup(o: {
  release?: string;
  privileged?: boolean;
  memlock?: bigint;
  mode?: AccountMode;
  cap?: bigint | null;
} = {}): Setup {
  const memory = new UserMemory();
  const accounting = new PinAccounting({
    privileged: o.privileged ?? true,
    memlockLimit: o.memlock,
  });
  const rel = findRelease(o.release ?? "6.18")!;
  const newIopt = () =>
    new IoPagetable({
      memory,
      accounting,
      release: () => rel,
      accountMode: () => o.mode ?? "user",
      allocAlignCap: o.cap === undefined ? undefined : () => o.cap as bigint | null,
    });
  return { memory, accounting, iopt: newIopt(), newIopt };
}

/** The selftest mock domain (iommufd_test.h geometry). */
function mockDomain(): Domain {
  return {
    pgsizeBitmap: MOCK.IO_PAGE_SIZE,
    apertureStart: MOCK.APERTURE_START,
    apertureLast: MOCK.APERTURE_LAST,
    enforceCacheCoherency: false,
  };
}

/** An Intel VT-d second-stage domain as the rig's emulated IOMMU reports it. */
function vtdDomain(): Domain {
  return {
    pgsizeBitmap: 0x40201000n,
    apertureStart: 0n,
    apertureLast: 0x7f_ffff_ffffn,
    enforceCacheCoherency: true,
    rejectsNoAccessProt: true,
  };
}

/** A domain translating all of the IOVA space with the given page sizes. */
function fullDomain(pgsizeBitmap = 0x1000n): Domain {
  return { pgsizeBitmap, apertureStart: 0n, apertureLast: U64_MAX, enforceCacheCoherency: false };
}

function areasOf(iopt: IoPagetable): [bigint, bigint][] {
  return [...iopt.areas()].map((a) => [a.iova, a.last]);
}

function ok(r: { errno: number }): void {
  assert.equal(r.errno, 0);
}

// ---- §6.1 map: pages object checks ------------------------------------------------------------

Deno.test("iopt_alloc_user_pages: length 0 -> EINVAL", () => {
  const { iopt } = setup();
  assert.equal(
    iopt.mapUserPages({ uptr: 0x1000n, length: 0n, prot: RW, iova: 0x1000n }).errno,
    E.EINVAL,
  );
});

Deno.test("iopt_alloc_user_pages: length > 2^64 - 1 - PAGE_SIZE -> EINVAL", () => {
  const { iopt } = setup();
  const r = iopt.mapUserPages({ uptr: 0n, length: U64_MAX - PAGE_SIZE + 1n, prot: RW });
  assert.equal(r.errno, E.EINVAL);
});

Deno.test("iopt_alloc_user_pages: uptr + length beyond 2^64 - 1 -> EOVERFLOW (ending at 2^64 too)", () => {
  const { iopt } = setup();
  const uptr = 2n ** 64n - 0x2000n;
  assert.equal(
    iopt.mapUserPages({ uptr, length: 0x2000n, prot: RW, iova: 0x1000n }).errno,
    E.EOVERFLOW,
  );
  ok(iopt.mapUserPages({ uptr, length: 0x1fffn, prot: RW, iova: 0x1000n }));
});

Deno.test("iopt_alloc_user_pages: both bad -> EINVAL first up to 6.12.x, EOVERFLOW first from 6.13 (Release.uptrOverflowFirst)", () => {
  const a = { uptr: 0x10000n, length: U64_MAX - 0x100n, prot: RW, iova: 0n };
  assert.equal(setup({ release: "6.12.117" }).iopt.mapUserPages(a).errno, E.EINVAL);
  assert.equal(setup({ release: "6.18" }).iopt.mapUserPages(a).errno, E.EOVERFLOW);
});

// ---- §6.1 map: area allocation ------------------------------------------------------------------

Deno.test("iopt_alloc_area_pages: length not a multiple of iova_alignment -> EINVAL", () => {
  const { iopt, memory } = setup();
  ok({ errno: iopt.addDomain(mockDomain(), []) });
  const buf = memory.mmap(MiB);
  const r = iopt.mapUserPages({ uptr: buf, length: 0x400n, prot: RW, iova: 0x1000000n });
  assert.equal(r.errno, E.EINVAL);
});

Deno.test("iopt_check_iova: fixed iova not aligned to iova_alignment -> EINVAL", () => {
  const { iopt, memory } = setup();
  ok({ errno: iopt.addDomain(vtdDomain(), []) });
  const buf = memory.mmap(MiB);
  const r = iopt.mapUserPages({ uptr: buf, length: 0x1000n, prot: RW, iova: 0x300800n });
  assert.equal(r.errno, E.EINVAL);
});

Deno.test("iopt_check_iova: no domain means alignment 1: iova 0x300800 maps (rig)", () => {
  const { iopt, memory } = setup();
  const buf = memory.mmap(MiB);
  ok(iopt.mapUserPages({ uptr: buf, length: 0x1000n, prot: RW, iova: 0x300800n }));
  assert.equal(iopt.iovaAlignment, 1n);
});

Deno.test("iopt_check_iova: iova + length - 1 beyond 2^64 - 1 -> EOVERFLOW", () => {
  const { iopt, memory } = setup();
  const buf = memory.mmap(MiB);
  const r = iopt.mapUserPages({ uptr: buf, length: 0x2000n, prot: RW, iova: U64_MAX - 0xfffn });
  assert.equal(r.errno, E.EOVERFLOW);
  ok(iopt.mapUserPages({ uptr: buf, length: 0x1000n, prot: RW, iova: U64_MAX - 0xfffn }));
});

Deno.test("iopt_check_iova: range intersects a reserved range -> EINVAL (mock aperture, rig)", () => {
  const { iopt, memory } = setup();
  ok({ errno: iopt.addDomain(mockDomain(), []) });
  const buf = memory.mmap(2n * MiB);
  assert.equal(
    iopt.mapUserPages({ uptr: buf, length: 2n * MiB, prot: RW, iova: 0x100000n }).errno,
    E.EINVAL,
  );
  ok(iopt.mapUserPages({ uptr: buf, length: 2n * MiB, prot: RW, iova: 0x1000000n }));
});

Deno.test("iopt_check_iova: range intersects an existing area -> EEXIST (rig: same again, overlap)", () => {
  const { iopt, memory } = setup();
  const buf = memory.mmap(2n * MiB);
  ok(iopt.mapUserPages({ uptr: buf, length: 2n * MiB, prot: RW, iova: 0x100000n }));
  const again = iopt.mapUserPages({ uptr: buf, length: 2n * MiB, prot: RW, iova: 0x100000n });
  assert.equal(again.errno, E.EEXIST);
  const overlap = iopt.mapUserPages({ uptr: buf, length: 2n * MiB, prot: RW, iova: 0x200000n });
  assert.equal(overlap.errno, E.EEXIST);
  assert.equal(iopt.areaCount(), 1);
});

Deno.test("iopt_check_iova: order — misalignment before overflow before reserved before overlap", () => {
  const { iopt, memory } = setup();
  ok({ errno: iopt.addDomain(mockDomain(), []) });
  const buf = memory.mmap(MiB);
  // Misaligned and overflowing: EINVAL (alignment is checked first).
  const r = iopt.mapUserPages({
    uptr: buf,
    length: 0x1000n,
    prot: RW,
    iova: U64_MAX - 0x7ffn + 1n,
  });
  assert.equal(r.errno, E.EINVAL);
  // Overflowing and reserved: EOVERFLOW.
  const r2 = iopt.mapUserPages({ uptr: buf, length: 0x2000n, prot: RW, iova: U64_MAX - 0xfffn });
  assert.equal(r2.errno, E.EOVERFLOW);
});

Deno.test("iopt_insert_area: page offset of uptr not a multiple of iova_alignment -> EINVAL", () => {
  const { iopt, memory } = setup();
  ok({ errno: iopt.addDomain(vtdDomain(), []) });
  const buf = memory.mmap(MiB);
  const r = iopt.mapUserPages({ uptr: buf + 0x800n, length: 0x1000n, prot: RW, iova: 0x100000n });
  assert.equal(r.errno, E.EINVAL);
  assert.equal(iopt.areaCount(), 0);
});

Deno.test("mock domain alignment 2048: half-page offsets and lengths map", () => {
  const { iopt, memory, accounting } = setup();
  ok({ errno: iopt.addDomain(mockDomain(), []) });
  assert.equal(iopt.iovaAlignment, 0x800n);
  const buf = memory.mmap(MiB);
  ok(iopt.mapUserPages({ uptr: buf + 0x800n, length: 0x1000n, prot: RW, iova: 0x1000800n }));
  // 0x800..0x17ff of the buffer spans two pages.
  assert.equal(pinnedPages(accounting), 2n);
});

Deno.test("no domain: nothing is pinned and any uptr is accepted (compat §6.1 step 4)", () => {
  const { iopt, accounting } = setup({ privileged: false });
  ok(iopt.mapUserPages({ uptr: 0xdead0000n, length: 0x10000n, prot: RW, iova: 0x100000n }));
  assert.equal(pinnedPages(accounting), 0n);
  assert.equal([...iopt.areas()][0].pinned, false);
});

// ---- §6.1 map: filling domains --------------------------------------------------------------

Deno.test("iopt_area_fill_domains: pinning unmapped memory -> EFAULT, map undone", () => {
  const { iopt, memory, accounting } = setup({ privileged: false, memlock: 64n * MiB });
  ok({ errno: iopt.addDomain(fullDomain(), []) });
  const buf = memory.mmap(0x4000n);
  memory.munmap(buf + 0x3000n, 0x1000n);
  const r = iopt.mapUserPages({ uptr: buf, length: 0x4000n, prot: RW, iova: 0x100000n });
  assert.equal(r.errno, E.EFAULT);
  assert.equal(iopt.areaCount(), 0);
  assert.equal(pinnedPages(accounting), 0n);
  assert.equal(accounting.lockedBytes("user"), 0n);
  assert.equal(accounting.pages.count, 0);
});

Deno.test("pfn_reader_user_update_pinned: over RLIMIT_MEMLOCK without CAP_IPC_LOCK -> ENOMEM, undone", () => {
  const { iopt, memory, accounting } = setup({ privileged: false, memlock: 0x8000n });
  ok({ errno: iopt.addDomain(fullDomain(), []) });
  const buf = memory.mmap(0x10000n);
  ok(iopt.mapUserPages({ uptr: buf, length: 0x8000n, prot: RW, iova: 0x100000n }));
  assert.equal(accounting.lockedBytes("user"), 0x8000n);
  const r = iopt.mapUserPages({ uptr: buf + 0x8000n, length: 0x1000n, prot: RW, iova: 0x200000n });
  assert.equal(r.errno, E.ENOMEM);
  assert.equal(iopt.areaCount(), 1);
  assert.equal(pinnedPages(accounting), 8n);
  assert.equal(accounting.lockedBytes("user"), 0x8000n);
});

Deno.test("account mode MM (iommufd's /dev/vfio/vfio) charges the per-process counter", () => {
  const { iopt, memory, accounting } = setup({ privileged: false, memlock: MiB, mode: "mm" });
  ok({ errno: iopt.addDomain(fullDomain(), []) });
  const buf = memory.mmap(0x4000n);
  ok(iopt.mapUserPages({ uptr: buf, length: 0x4000n, prot: RW, iova: 0x100000n }));
  assert.equal(accounting.lockedBytes("mm"), 0x4000n);
  assert.equal(accounting.lockedBytes("user"), 0n);
  ok(iopt.unmapAll());
  assert.equal(accounting.lockedBytes("mm"), 0n);
});

Deno.test("CAP_IPC_LOCK: pages get account mode NONE: no charge, no ENOMEM", () => {
  const { iopt, memory, accounting } = setup({ privileged: true, memlock: 0n });
  ok({ errno: iopt.addDomain(fullDomain(), []) });
  const buf = memory.mmap(MiB);
  ok(iopt.mapUserPages({ uptr: buf, length: MiB, prot: RW, iova: 0x100000n }));
  assert.equal(pinnedPages(accounting), 256n);
  assert.equal(accounting.lockedBytes("user"), 0n);
});

Deno.test("VT-d __domain_mapping: prot without READ/WRITE -> EINVAL at fill; mock domain ignores prot", () => {
  const s = setup();
  ok({ errno: s.iopt.addDomain(vtdDomain(), []) });
  const buf = s.memory.mmap(MiB);
  assert.equal(
    s.iopt.mapUserPages({ uptr: buf, length: 0x1000n, prot: 0, iova: 0x100000n }).errno,
    E.EINVAL,
  );
  assert.equal(pinnedPages(s.accounting), 0n);
  const m = setup();
  ok({ errno: m.iopt.addDomain(mockDomain(), []) });
  const b2 = m.memory.mmap(MiB);
  ok(m.iopt.mapUserPages({ uptr: b2, length: 0x1000n, prot: 0, iova: 0x1000000n }));
  // Without a domain prot 0 is accepted; the VT-d attach then refuses it.
  const n = setup();
  const b3 = n.memory.mmap(MiB);
  ok(n.iopt.mapUserPages({ uptr: b3, length: 0x1000n, prot: 0, iova: 0x100000n }));
  assert.equal(n.iopt.addDomain(vtdDomain(), []), E.EINVAL);
  assert.equal(pinnedPages(n.accounting), 0n);
});

// ---- §6.7 automatic IOVA ------------------------------------------------------------------------

Deno.test("iopt_alloc_iova: length >= ULONG_MAX / 2 -> EOVERFLOW", () => {
  const { iopt } = setup();
  const r = iopt.mapUserPages({ uptr: 0x1000n, length: 2n ** 63n - 1n, prot: RW });
  assert.equal(r.errno, E.EOVERFLOW);
});

Deno.test("iopt_alloc_iova: address alignment below iova_alignment -> EINVAL", () => {
  const { iopt, memory } = setup();
  ok({ errno: iopt.addDomain(mockDomain(), []) });
  const buf = memory.mmap(MiB);
  // Lowest set bit of the address is 0x400 < 0x800.
  const r = iopt.mapUserPages({ uptr: buf + 0x400n, length: 0x800n, prot: RW });
  assert.equal(r.errno, E.EINVAL);
});

Deno.test("iopt_alloc_iova: nothing fits -> ENOSPC", () => {
  const { iopt, memory } = setup();
  ok({ errno: iopt.setAllowIova([{ start: 0x10000n, last: 0x1ffffn }]) });
  const buf = memory.mmap(MiB);
  assert.equal(iopt.mapUserPages({ uptr: buf, length: 0x20000n, prot: RW }).errno, E.ENOSPC);
  ok(iopt.mapUserPages({ uptr: buf, length: 0x10000n, prot: RW }));
  assert.equal(iopt.mapUserPages({ uptr: buf, length: 0x1000n, prot: RW }).errno, E.ENOSPC);
});

Deno.test("iopt_alloc_iova: never IOVA 0; first fit from PAGE_SIZE; fixed maps ignore allowed ranges", () => {
  const { iopt, memory } = setup();
  const buf = memory.mmap(MiB);
  const r = iopt.mapUserPages({ uptr: buf, length: 0x1000n, prot: RW });
  assert.deepEqual(r, { errno: 0, iova: 0x1000n });
  ok({ errno: iopt.setAllowIova([{ start: 0x40000000n, last: 0x4fffffffn }]) });
  ok(iopt.mapUserPages({ uptr: buf, length: 0x1000n, prot: RW, iova: 0x2000n }));
  assert.deepEqual(iopt.mapUserPages({ uptr: buf, length: 0x1000n, prot: RW }), {
    errno: 0,
    iova: 0x40000000n,
  });
});

Deno.test("iopt_alloc_iova: without THP the alignment is capped at PAGE_SIZE (0x2000 lands at 0xc9000)", () => {
  const { iopt, memory } = setup({ cap: PAGE_SIZE });
  const buf = memory.mmap(4n * MiB);
  ok(iopt.mapUserPages({ uptr: buf, length: 0xc8000n, prot: RW }));
  assert.deepEqual(iopt.mapUserPages({ uptr: buf, length: 0x2000n, prot: RW }), {
    errno: 0,
    iova: 0xc9000n,
  });
});

Deno.test("iopt_alloc_iova: with THP (HPAGE cap) or before the cap, alignment follows length and address", () => {
  for (const cap of [HPAGE_SIZE, null]) {
    const { iopt, memory } = setup({ cap });
    const buf = memory.mmap(8n * MiB); // 0x7f0000000000: highly aligned
    // roundup_pow_of_two(0xc8000) = 1 MiB: the first area goes to 0x100000 ...
    assert.deepEqual(iopt.mapUserPages({ uptr: buf, length: 0xc8000n, prot: RW }), {
      errno: 0,
      iova: 0x100000n,
    });
    // ... leaving [0x1000, 0xfffff] free for a 0x2000-aligned block.
    assert.deepEqual(iopt.mapUserPages({ uptr: buf, length: 0x2000n, prot: RW }), {
      errno: 0,
      iova: 0x2000n,
    });
    const big = iopt.mapUserPages({ uptr: buf, length: 4n * MiB, prot: RW });
    assert.equal(big.iova, cap === null ? 0x400000n : 0x200000n);
  }
});

Deno.test("iopt_alloc_iova: page offset of the address is kept in the IOVA", () => {
  const { iopt, memory } = setup();
  const buf = memory.mmap(MiB);
  const r = iopt.mapUserPages({ uptr: buf + 0x10n, length: 0x10n, prot: RW });
  assert.deepEqual(r, { errno: 0, iova: 0x1010n });
});

Deno.test("iopt_alloc_iova: the hole search starts at the window's aligned start (an area before it is not seen)", () => {
  const { iopt, memory } = setup();
  const buf = memory.mmap(MiB);
  // A 16-byte area at 0x1000 ends before ALIGN_UP(0x1000, 0x10) | 0x100 = 0x1100.
  assert.deepEqual(iopt.mapUserPages({ uptr: buf, length: 0x10n, prot: RW }), {
    errno: 0,
    iova: 0x1000n,
  });
  assert.deepEqual(iopt.mapUserPages({ uptr: buf + 0x100n, length: 0x10n, prot: RW }), {
    errno: 0,
    iova: 0x1100n,
  });
  // The same inside an allowed window whose start an area covers.
  const w = setup();
  const wbuf = w.memory.mmap(MiB);
  ok({ errno: w.iopt.setAllowIova([{ start: 0x40000n, last: 0x7ffffn }]) });
  ok(w.iopt.mapUserPages({ uptr: wbuf, length: 0x10n, prot: RW, iova: 0x40000n }));
  assert.deepEqual(w.iopt.mapUserPages({ uptr: wbuf + 0x100n, length: 0x10n, prot: RW }), {
    errno: 0,
    iova: 0x40100n,
  });
});

Deno.test("iopt_alloc_iova: skips reserved ranges and small gaps, honours the domain aperture", () => {
  const { iopt, memory } = setup();
  ok({ errno: iopt.addDomain(mockDomain(), []) });
  const buf = memory.mmap(16n * MiB);
  const r = iopt.mapUserPages({ uptr: buf, length: MiB, prot: RW });
  assert.deepEqual(r, { errno: 0, iova: 0x1000000n });
  const owner = {};
  ok({ errno: iopt.reserveIova(0x1100000n, 0x11fffffn, owner) });
  const r2 = iopt.mapUserPages({ uptr: buf, length: MiB, prot: RW });
  assert.deepEqual(r2, { errno: 0, iova: 0x1200000n });
});

Deno.test("allocation variants: the checked hole test refuses a start equal to the hole's last IOVA", () => {
  // A one-byte hole right below a reserved range; only the pre-fix test accepts it.
  for (const cap of [PAGE_SIZE, null]) {
    const { iopt } = setup({ cap });
    ok({ errno: iopt.setAllowIova([{ start: 0x1000n, last: 0x1000n }]) });
    const r = iopt.mapUserPages({ uptr: 0n, length: 1n, prot: RW });
    assert.deepEqual(r, cap === null ? { errno: 0, iova: 0x1000n } : { errno: E.ENOSPC, iova: 0n });
  }
});

// ---- §6.2 / §6.3 unmap ----------------------------------------------------------------------------

function unmap(iopt: IoPagetable, iova: bigint, length: bigint): UnmapResult {
  return iopt.unmapIova(iova, length);
}

Deno.test("iopt_unmap_iova: length 0 -> EINVAL", () => {
  const { iopt } = setup();
  assert.deepEqual(unmap(iopt, 0x1000n, 0n), { errno: E.EINVAL, unmapped: 0n, empty: false });
});

Deno.test("iopt_unmap_iova: iova + length - 1 overflows -> EOVERFLOW", () => {
  const { iopt } = setup();
  assert.equal(unmap(iopt, U64_MAX, 2n).errno, E.EOVERFLOW);
});

Deno.test("iopt_unmap_iova_range: area sticking out -> ENOENT with 0 bytes, not empty (rig: either half)", () => {
  const { iopt, memory } = setup();
  const buf = memory.mmap(2n * MiB);
  ok(iopt.mapUserPages({ uptr: buf, length: 2n * MiB, prot: RW, iova: 0x100000n }));
  assert.deepEqual(unmap(iopt, 0x100000n, MiB), { errno: E.ENOENT, unmapped: 0n, empty: false });
  assert.deepEqual(unmap(iopt, 0x200000n, MiB), { errno: E.ENOENT, unmapped: 0n, empty: false });
  assert.equal(iopt.areaCount(), 1);
});

Deno.test("iopt_unmap_iova_range: areas below the one sticking out stay removed", () => {
  const { iopt, memory } = setup();
  const buf = memory.mmap(4n * MiB);
  ok(iopt.mapUserPages({ uptr: buf, length: MiB, prot: RW, iova: 0x100000n }));
  ok(iopt.mapUserPages({ uptr: buf, length: MiB, prot: RW, iova: 0x300000n }));
  const r = unmap(iopt, 0x100000n, 0x280000n);
  assert.deepEqual(r, { errno: E.ENOENT, unmapped: MiB, empty: false });
  assert.deepEqual(areasOf(iopt), [[0x300000n, 0x3fffffn]]);
});

Deno.test("iopt_unmap_iova_range: nothing mapped in range -> ENOENT, empty (callers apply unmapEmptyOk)", () => {
  const { iopt } = setup();
  assert.deepEqual(unmap(iopt, 0x1100000n, 2n * MiB), {
    errno: E.ENOENT,
    unmapped: 0n,
    empty: true,
  });
});

Deno.test("iopt_unmap_iova_range: whole areas with holes between -> 0 and the sum (rig: span-both)", () => {
  const { iopt, memory } = setup();
  const buf = memory.mmap(2n * MiB);
  ok(iopt.mapUserPages({ uptr: buf, length: MiB, prot: RW, iova: 0x100000n }));
  ok(iopt.mapUserPages({ uptr: buf + MiB, length: MiB, prot: RW, iova: 0x200000n }));
  ok(iopt.mapUserPages({ uptr: buf, length: 0x1000n, prot: RW, iova: 0x500000n }));
  assert.deepEqual(unmap(iopt, 0x100000n, 0x200000n), {
    errno: 0,
    unmapped: 2n * MiB,
    empty: false,
  });
  assert.deepEqual(unmap(iopt, 0n, U64_MAX), { errno: 0, unmapped: 0x1000n, empty: false });
});

Deno.test("iopt_unmap_all: 0 with the total (rig 0x201000), and 0 with 0 when empty", () => {
  const { iopt, memory, accounting } = setup();
  ok({ errno: iopt.addDomain(fullDomain(), []) });
  const buf = memory.mmap(2n * MiB);
  ok(iopt.mapUserPages({ uptr: buf, length: 2n * MiB, prot: RW, iova: 0x100000n }));
  ok(iopt.mapUserPages({ uptr: buf, length: 0x1000n, prot: RW, iova: 0x300000n }));
  assert.deepEqual(iopt.unmapAll(), { errno: 0, unmapped: 0x201000n, empty: false });
  assert.deepEqual(iopt.unmapAll(), { errno: 0, unmapped: 0n, empty: false });
  assert.equal(pinnedPages(accounting), 0n);
  assert.equal(accounting.pages.count, 0);
});

Deno.test("unmap of an area over the top of the IOVA space sums lengths exactly", () => {
  const { iopt } = setup();
  ok(iopt.mapUserPages({ uptr: 0n, length: U64_MAX - PAGE_SIZE, prot: RW, iova: 0n }));
  assert.deepEqual(iopt.unmapAll(), { errno: 0, unmapped: U64_MAX - PAGE_SIZE, empty: false });
});

Deno.test("iopt_unmap_all: an area locked by an internal access -> EBUSY; the areas below it stay removed", () => {
  const { iopt, memory, accounting } = setup();
  const buf = memory.mmap(0x3000n);
  ok(iopt.mapUserPages({ uptr: buf, length: 0x1000n, prot: RW, iova: 0x1000n }));
  ok(iopt.mapUserPages({ uptr: buf + 0x1000n, length: 0x1000n, prot: RW, iova: 0x3000n }));
  ok(iopt.mapUserPages({ uptr: buf + 0x2000n, length: 0x1000n, prot: RW, iova: 0x5000n }));
  const owner = {};
  assert.equal(iopt.addAccess(owner, PAGE_SIZE), 0);
  const pin = iopt.accessPin(0x3000n, 0x1000n);
  ok(pin);
  // num_locks stops the walk at the locked area: not ENOENT-turned-0, and the bytes count.
  assert.deepEqual(iopt.unmapAll(), { errno: E.EBUSY, unmapped: 0x1000n, empty: false });
  assert.deepEqual(areasOf(iopt), [[0x3000n, 0x3fffn], [0x5000n, 0x5fffn]]);
  iopt.accessUnpin(pin.pins);
  iopt.removeAccess(owner);
  assert.deepEqual(iopt.unmapAll(), { errno: 0, unmapped: 0x2000n, empty: false });
  assert.equal(pinnedPages(accounting), 0n);
});

// ---- §6.5 cut ------------------------------------------------------------------------------------

Deno.test("iopt_area_split: cut at an area's first or last IOVA, or outside areas, changes nothing", () => {
  const { iopt, memory } = setup();
  const buf = memory.mmap(MiB);
  ok(iopt.mapUserPages({ uptr: buf, length: 0x4000n, prot: RW, iova: 0x10000n }));
  assert.equal(iopt.cutIova([0x10000n, 0x13fffn, 0x50000n]), 0);
  assert.equal(iopt.areaCount(), 1);
});

Deno.test("iopt_area_split: split point not aligned to iova_alignment -> EINVAL", () => {
  const { iopt, memory } = setup();
  const buf = memory.mmap(MiB);
  ok({ errno: iopt.disableLargePages() });
  ok(iopt.mapUserPages({ uptr: buf, length: 0x4000n, prot: RW, iova: 0x10000n }));
  assert.equal(iopt.cutIova([0x10800n]), E.EINVAL);
  assert.equal(iopt.cutIova([0x10fffn]), 0);
  assert.deepEqual(areasOf(iopt), [[0x10000n, 0x10fffn], [0x11000n, 0x13fffn]]);
});

Deno.test("iopt_area_split: area already in a domain while large pages are enabled -> EINVAL", () => {
  const { iopt, memory } = setup();
  ok({ errno: iopt.addDomain(fullDomain(), []) });
  const buf = memory.mmap(MiB);
  ok(iopt.mapUserPages({ uptr: buf, length: 0x4000n, prot: RW, iova: 0x10000n }));
  assert.equal(iopt.cutIova([0x10fffn]), E.EINVAL);
});

Deno.test("iopt_cut_iova: stops at the first error; earlier cuts stay", () => {
  const { iopt, memory } = setup();
  const buf = memory.mmap(MiB);
  ok({ errno: iopt.disableLargePages() });
  ok(iopt.mapUserPages({ uptr: buf, length: 0x4000n, prot: RW, iova: 0x10000n }));
  assert.equal(iopt.cutIova([0x11fffn, 0x12800n, 0x12fffn]), E.EINVAL);
  assert.equal(iopt.areaCount(), 2);
});

Deno.test("TYPE1 flow: cut then unmap the middle releases only its pages; the rest stays pinned", () => {
  const { iopt, memory, accounting } = setup({ privileged: false, memlock: 64n * MiB });
  ok({ errno: iopt.disableLargePages() });
  ok({ errno: iopt.addDomain(fullDomain(), []) });
  const buf = memory.mmap(MiB);
  ok(iopt.mapUserPages({ uptr: buf, length: MiB, prot: RW, iova: 0x100000n }));
  assert.equal(pinnedPages(accounting), 256n);
  assert.equal(iopt.cutIova([0x180fffn, 0x17ffffn]), 0);
  assert.deepEqual(unmap(iopt, 0x180000n, 0x1000n), { errno: 0, unmapped: 0x1000n, empty: false });
  assert.equal(pinnedPages(accounting), 255n);
  assert.equal(accounting.lockedBytes("user"), 255n * PAGE_SIZE);
  assert.equal(iopt.areaCount(), 2);
  ok(iopt.unmapAll());
  assert.equal(pinnedPages(accounting), 0n);
  assert.equal(accounting.pages.count, 0);
});

// ---- §6.8 reserved / allowed ---------------------------------------------------------------------

Deno.test("iopt_reserve_iova: intersects an area -> EADDRINUSE", () => {
  const { iopt, memory } = setup();
  const buf = memory.mmap(MiB);
  ok(iopt.mapUserPages({ uptr: buf, length: 0x1000n, prot: RW, iova: 0x10000n }));
  assert.equal(iopt.reserveIova(0x10fffn, 0x20000n, {}), E.EADDRINUSE);
  assert.equal(iopt.reserveIova(0x11000n, 0x20000n, {}), 0);
});

Deno.test("iopt_reserve_iova: intersects an allowed range -> EADDRINUSE", () => {
  const { iopt } = setup();
  ok({ errno: iopt.setAllowIova([{ start: 0x10000n, last: 0x1ffffn }]) });
  assert.equal(iopt.reserveIova(0x1f000n, 0x30000n, {}), E.EADDRINUSE);
});

Deno.test("iopt_set_allow_iova: a range intersecting a reserved one -> EADDRINUSE, old list kept", () => {
  const { iopt } = setup();
  ok({ errno: iopt.setAllowIova([{ start: 0x1000n, last: 0x1fffn }]) });
  ok({ errno: iopt.reserveIova(0x10000n, 0x1ffffn, {}) });
  const e = iopt.setAllowIova([{ start: 0x5000n, last: 0x5fffn }, {
    start: 0x1f000n,
    last: 0x2ffffn,
  }]);
  assert.equal(e, E.EADDRINUSE);
  assert.deepEqual(iopt.allowedIovas(), [{ start: 0x1000n, last: 0x1fffn }]);
  ok({ errno: iopt.setAllowIova([]) });
  assert.deepEqual(iopt.allowedIovas(), []);
});

Deno.test("iova ranges: gaps of overlapping reserved ranges; removal by owner restores them", () => {
  const { iopt } = setup();
  assert.deepEqual(iopt.iovaRanges(), [{ start: 0n, last: U64_MAX }]);
  const a = {}, b = {};
  ok({ errno: iopt.reserveIova(0x1000n, 0x4fffn, a) });
  ok({ errno: iopt.reserveIova(0x3000n, 0x8fffn, b) });
  ok({ errno: iopt.reserveIova(0x9000n, 0x9fffn, b) });
  assert.deepEqual(iopt.iovaRanges(), [
    { start: 0n, last: 0xfffn },
    { start: 0xa000n, last: U64_MAX },
  ]);
  iopt.removeReservedIova(b);
  assert.deepEqual(iopt.iovaRanges(), [
    { start: 0n, last: 0xfffn },
    { start: 0x5000n, last: U64_MAX },
  ]);
});

// ---- §7 domains ------------------------------------------------------------------------------------

Deno.test("mock domain attach: ranges [0x1000000, 0x7fffffff], alignment 0x800; detach restores (rig)", () => {
  const { iopt } = setup();
  const d = mockDomain();
  ok({ errno: iopt.addDomain(d, []) });
  assert.deepEqual(iopt.iovaRanges(), [{ start: 0x1000000n, last: 0x7fffffffn }]);
  assert.equal(iopt.iovaAlignment, 0x800n);
  iopt.removeDomain(d);
  assert.deepEqual(iopt.iovaRanges(), [{ start: 0n, last: U64_MAX }]);
  assert.equal(iopt.iovaAlignment, 1n);
});

Deno.test("VT-d attach with the MSI window as a device reserved region: the rig's two ranges", () => {
  const { iopt } = setup();
  const dev = {};
  ok({ errno: iopt.addDomain(vtdDomain(), [{ start: 0xfee00000n, last: 0xfeefffffn }], dev) });
  assert.deepEqual(iopt.iovaRanges(), [
    { start: 0n, last: 0xfedfffffn },
    { start: 0xfef00000n, last: 0x7fffffffffn },
  ]);
  assert.equal(iopt.iovaAlignment, 0x1000n);
});

Deno.test("iopt_table_add_domain: the same domain twice -> EEXIST", () => {
  const { iopt } = setup();
  const d = mockDomain();
  ok({ errno: iopt.addDomain(d, []) });
  assert.equal(iopt.addDomain(d, []), E.EEXIST);
});

Deno.test("iopt_table_add_domain: lowest page size above PAGE_SIZE -> EINVAL", () => {
  const { iopt } = setup();
  assert.equal(iopt.addDomain(fullDomain(0x200000n), []), E.EINVAL);
  assert.deepEqual(iopt.domains(), []);
});

Deno.test("iopt_check_iova_alignment: raising the alignment over a misaligned area -> EADDRINUSE", () => {
  const { iopt, memory } = setup();
  const buf = memory.mmap(MiB);
  ok(iopt.mapUserPages({ uptr: buf, length: 0x1000n, prot: RW, iova: 0x1000400n }));
  assert.equal(iopt.addDomain(mockDomain(), []), E.EADDRINUSE);
  assert.equal(iopt.iovaAlignment, 1n);
  assert.deepEqual(iopt.iovaRanges(), [{ start: 0n, last: U64_MAX }]);
});

Deno.test("iopt_table_add_domain: aperture complement over an area -> EADDRINUSE, nothing kept", () => {
  const { iopt, memory } = setup();
  const buf = memory.mmap(MiB);
  ok(iopt.mapUserPages({ uptr: buf, length: 0x1000n, prot: RW, iova: 0x100000n }));
  assert.equal(iopt.addDomain(mockDomain(), []), E.EADDRINUSE);
  assert.deepEqual(iopt.iovaRanges(), [{ start: 0n, last: U64_MAX }]);
  assert.deepEqual(iopt.domains(), []);
});

Deno.test("iopt_table_add_domain: aperture complement over an allowed range -> EADDRINUSE", () => {
  const { iopt } = setup();
  ok({ errno: iopt.setAllowIova([{ start: 0x1000n, last: 0xffffn }]) });
  assert.equal(iopt.addDomain(mockDomain(), []), E.EADDRINUSE);
});

Deno.test("iopt_table_enforce_dev_resv_regions: device region over an area -> EADDRINUSE, undone", () => {
  const { iopt, memory } = setup();
  const buf = memory.mmap(MiB);
  ok(iopt.mapUserPages({ uptr: buf, length: 0x1000n, prot: RW, iova: 0xfee00000n }));
  const dev = {};
  const e = iopt.addDomain(vtdDomain(), [{ start: 0x1000n, last: 0x1fffn }, {
    start: 0xfee00000n,
    last: 0xfeefffffn,
  }], dev);
  assert.equal(e, E.EADDRINUSE);
  assert.deepEqual(iopt.iovaRanges(), [{ start: 0n, last: U64_MAX }]);
});

Deno.test("iopt_fill_domain: an area over unmapped memory -> EFAULT, the attach fully undone (compat §11 step 11)", () => {
  const { iopt, memory, accounting } = setup({ privileged: false, memlock: 64n * MiB });
  ok({ errno: iopt.disableLargePages() });
  const buf = memory.mmap(MiB);
  ok(iopt.mapUserPages({ uptr: buf, length: 0x2000n, prot: RW, iova: 0x100000n }));
  ok(iopt.mapUserPages({ uptr: 0xdead0000n, length: 0x1000n, prot: RW, iova: 0x200000n }));
  const dev = {};
  const e = iopt.addDomain(vtdDomain(), [{ start: 0xfee00000n, last: 0xfeefffffn }], dev);
  assert.equal(e, E.EFAULT);
  assert.deepEqual(iopt.domains(), []);
  assert.deepEqual(iopt.iovaRanges(), [{ start: 0n, last: U64_MAX }]);
  assert.equal(iopt.iovaAlignment, PAGE_SIZE);
  assert.equal(pinnedPages(accounting), 0n);
  assert.equal(accounting.lockedBytes("user"), 0n);
});

Deno.test("iopt_fill_domain: pins charged over RLIMIT_MEMLOCK -> ENOMEM, undone", () => {
  const { iopt, memory, accounting } = setup({ privileged: false, memlock: 0x3000n });
  const buf = memory.mmap(MiB);
  ok(iopt.mapUserPages({ uptr: buf, length: 0x2000n, prot: RW, iova: 0x100000n }));
  ok(iopt.mapUserPages({ uptr: buf + 0x2000n, length: 0x2000n, prot: RW, iova: 0x200000n }));
  assert.equal(iopt.addDomain(fullDomain(), []), E.ENOMEM);
  assert.equal(pinnedPages(accounting), 0n);
  assert.equal(accounting.lockedBytes("user"), 0n);
  accounting.memlockLimit = 0x4000n;
  ok({ errno: iopt.addDomain(fullDomain(), []) });
  assert.equal(accounting.lockedBytes("user"), 0x4000n);
});

Deno.test("second domain reads pfns from the first: no new pins, survives munmap; last detach unpins", () => {
  const { iopt, memory, accounting } = setup({ privileged: false, memlock: 64n * MiB });
  const d1 = fullDomain();
  const d2 = mockDomain();
  ok({ errno: iopt.addDomain(d1, []) });
  const buf = memory.mmap(MiB);
  ok(iopt.mapUserPages({ uptr: buf, length: MiB, prot: RW, iova: 0x1000000n }));
  memory.munmap(buf, MiB);
  ok({ errno: iopt.addDomain(d2, []) });
  assert.equal(pinnedPages(accounting), 256n);
  iopt.removeDomain(d1);
  assert.deepEqual(iopt.domains(), [d2]);
  assert.equal(pinnedPages(accounting), 256n);
  iopt.removeDomain(d2);
  assert.equal(pinnedPages(accounting), 0n);
  assert.equal(accounting.lockedBytes("user"), 0n);
  // Pinning again now needs the (gone) memory.
  assert.equal(iopt.addDomain(fullDomain(), []), E.EFAULT);
});

Deno.test("iopt_table_remove_domain: the tail domain takes the removed slot", () => {
  const { iopt } = setup();
  const [a, b, c] = [fullDomain(), fullDomain(), fullDomain()];
  for (const d of [a, b, c]) ok({ errno: iopt.addDomain(d, []) });
  iopt.removeDomain(a);
  assert.deepEqual(iopt.domains(), [c, b]);
});

// ---- §6.6 large pages ------------------------------------------------------------------------------

Deno.test("iopt_disable_large_pages: a domain and an area -> EINVAL", () => {
  const { iopt, memory } = setup();
  ok({ errno: iopt.addDomain(fullDomain(), []) });
  const buf = memory.mmap(MiB);
  ok(iopt.mapUserPages({ uptr: buf, length: 0x1000n, prot: RW, iova: 0x100000n }));
  assert.equal(iopt.disableLargePages(), E.EINVAL);
  assert.equal(iopt.largePagesDisabled, false);
});

Deno.test("iopt_disable_large_pages: a misaligned area -> EADDRINUSE, flag reverted", () => {
  const { iopt, memory } = setup();
  const buf = memory.mmap(MiB);
  ok(iopt.mapUserPages({ uptr: buf, length: 0x1000n, prot: RW, iova: 0x300800n }));
  assert.equal(iopt.disableLargePages(), E.EADDRINUSE);
  assert.equal(iopt.largePagesDisabled, false);
  assert.equal(iopt.iovaAlignment, 1n);
});

Deno.test("iopt_disable_large_pages: already disabled -> 0 even with domain and areas; enable lowers alignment", () => {
  const { iopt, memory } = setup();
  ok({ errno: iopt.disableLargePages() });
  assert.equal(iopt.iovaAlignment, PAGE_SIZE);
  ok({ errno: iopt.addDomain(mockDomain(), []) });
  const buf = memory.mmap(MiB);
  ok(iopt.mapUserPages({ uptr: buf, length: 0x1000n, prot: RW, iova: 0x1000000n }));
  assert.equal(iopt.disableLargePages(), 0);
  iopt.enableLargePages();
  assert.equal(iopt.largePagesDisabled, false);
  assert.equal(iopt.iovaAlignment, 0x800n);
});

// ---- internal accesses (iommufd_access_pin_pages) ------------------------------------------------
// The only access the simulator has is an HW queue's, which raises the alignment to PAGE_SIZE
// first (so every area is page aligned): the two EINVAL rules are reached directly here.

Deno.test("iommufd_access_pin_pages: a piece not starting on a page of its pages -> EINVAL, nothing pinned", () => {
  const { iopt, memory, accounting } = setup();
  const buf = memory.mmap(0x3000n);
  // No domain and no access: alignment 1, so the area starts half-way into a page.
  ok(iopt.mapUserPages({ uptr: buf + 0x800n, length: 0x2000n, prot: RW, iova: 0x1000n }));
  assert.deepEqual(iopt.accessPin(0x1000n, 0x1000n), { errno: E.EINVAL, pins: [] });
  assert.equal(pinnedPages(accounting), 0n);
  // The rule is on the byte in the pages, not on the IOVA: IOVA 0x1800 is byte 0x1000.
  const r = iopt.accessPin(0x1800n, 0x800n);
  ok(r);
  assert.deepEqual(r.pins.map((p) => [p.first, p.last, p.areaStart]), [[1, 1, 0x1000n]]);
  assert.equal(pinnedPages(accounting), 1n);
  iopt.accessUnpin(r.pins);
  assert.equal(pinnedPages(accounting), 0n);
});

Deno.test("iommufd_access_pin_pages: a piece before the last not ending on a page's last byte -> EINVAL, earlier pins dropped", () => {
  const { iopt, memory, accounting } = setup();
  const buf = memory.mmap(0x3000n);
  ok(iopt.mapUserPages({ uptr: buf, length: 0x1000n, prot: RW, iova: 0x1000n }));
  ok(iopt.mapUserPages({ uptr: buf + 0x1000n, length: 0x800n, prot: RW, iova: 0x2000n }));
  ok(iopt.mapUserPages({ uptr: buf + 0x2000n, length: 0x1000n, prot: RW, iova: 0x2800n }));
  // The first area pins, the second ends at byte 0x7ff of its page with more to come.
  assert.deepEqual(iopt.accessPin(0x1000n, 0x2800n), { errno: E.EINVAL, pins: [] });
  assert.equal(pinnedPages(accounting), 0n);
  // As the last piece it may end anywhere.
  const r = iopt.accessPin(0x1000n, 0x1800n);
  ok(r);
  assert.deepEqual(r.pins.map((p) => [p.first, p.last, p.areaStart]), [
    [0, 0, 0x1000n],
    [0, 0, 0x2000n],
  ]);
  assert.equal(pinnedPages(accounting), 2n);
  iopt.accessUnpin(r.pins);
  assert.equal(pinnedPages(accounting), 0n);
});

Deno.test("iommufd_access_pin_pages: areas not contiguous over the range -> ENOENT, earlier pins dropped, nothing locked", () => {
  const { iopt, memory, accounting } = setup();
  const buf = memory.mmap(0x2000n);
  ok(iopt.mapUserPages({ uptr: buf, length: 0x1000n, prot: RW, iova: 0x1000n }));
  ok(iopt.mapUserPages({ uptr: buf + 0x1000n, length: 0x1000n, prot: RW, iova: 0x3000n }));
  assert.deepEqual(iopt.accessPin(0x1000n, 0x3000n), { errno: E.ENOENT, pins: [] }, "a hole");
  assert.deepEqual(iopt.accessPin(0x3000n, 0x2000n), { errno: E.ENOENT, pins: [] }, "past the top");
  assert.deepEqual(iopt.accessPin(0x2000n, 0x1000n), { errno: E.ENOENT, pins: [] }, "in the hole");
  assert.equal(pinnedPages(accounting), 0n);
  assert.deepEqual(iopt.unmapAll(), { errno: 0, unmapped: 0x2000n, empty: false });
});

// ---- §6.9 COPY -------------------------------------------------------------------------------------

Deno.test("iopt_get_pages: length 0 -> EINVAL; overflow -> EOVERFLOW", () => {
  const { iopt } = setup();
  assert.equal(iopt.getPages(0x1000n, 0n).errno, E.EINVAL);
  assert.equal(iopt.getPages(U64_MAX, 2n).errno, E.EOVERFLOW);
});

Deno.test("iopt_get_pages: not starting inside an area, or a hole -> ENOENT", () => {
  const { iopt, memory } = setup();
  const buf = memory.mmap(MiB);
  ok(iopt.mapUserPages({ uptr: buf, length: 0x2000n, prot: RW, iova: 0x10000n }));
  ok(iopt.mapUserPages({ uptr: buf, length: 0x2000n, prot: RW, iova: 0x13000n }));
  assert.equal(iopt.getPages(0xf000n, 0x2000n).errno, E.ENOENT);
  assert.equal(iopt.getPages(0x10000n, 0x5000n).errno, E.ENOENT);
  assert.equal(iopt.getPages(0x10000n, 0x3000n).errno, E.ENOENT);
});

Deno.test("iopt_get_pages: any covered sub-range; one piece per area", () => {
  const { iopt, memory } = setup();
  const buf = memory.mmap(MiB);
  ok(iopt.mapUserPages({ uptr: buf, length: 0x2000n, prot: RW, iova: 0x10000n }));
  ok(iopt.mapUserPages({ uptr: buf + 0x8000n, length: 0x2000n, prot: RW, iova: 0x12000n }));
  const r = iopt.getPages(0x11000n, 0x2000n);
  assert.equal(r.errno, 0);
  assert.equal(r.pieces.length, 2);
  assert.deepEqual(r.pieces.map((p) => p.length), [0x1000n, 0x1000n]);
});

Deno.test("IOAS_COPY: pages shared and pinned once; destination areas keep pages alive", () => {
  const { iopt: src, newIopt, memory, accounting } = setup({
    privileged: false,
    memlock: 64n * MiB,
  });
  const dst = newIopt();
  ok({ errno: src.addDomain(fullDomain(), []) });
  ok({ errno: dst.addDomain(fullDomain(), []) });
  const buf = memory.mmap(MiB);
  ok(src.mapUserPages({ uptr: buf, length: 0x4000n, prot: RW, iova: 0x10000n }));
  ok(src.mapUserPages({ uptr: buf + 0x4000n, length: 0x4000n, prot: RW, iova: 0x14000n }));
  const got = src.getPages(0x12000n, 0x4000n);
  assert.equal(got.errno, 0);
  const r = dst.mapPages(got.pieces, { prot: RW, length: 0x4000n });
  // Allocation starts from the source address (buf + 0x2000), capped at PAGE_SIZE.
  assert.deepEqual(r, { errno: 0, iova: 0x1000n });
  assert.deepEqual(areasOf(dst), [[0x1000n, 0x2fffn], [0x3000n, 0x4fffn]]);
  assert.deepEqual([...dst.areas()].map((a) => a.vaddr), [buf + 0x2000n, buf + 0x4000n]);
  assert.equal(pinnedPages(accounting), 8n);
  ok(src.unmapAll());
  assert.equal(pinnedPages(accounting), 4n);
  ok(dst.unmapAll());
  assert.equal(pinnedPages(accounting), 0n);
  assert.equal(accounting.pages.count, 0);
});

Deno.test("iopt_insert_area via IOAS_COPY: WRITE on pages mapped read-only -> EPERM", () => {
  const { iopt: src, newIopt, memory } = setup();
  const dst = newIopt();
  const buf = memory.mmap(MiB);
  ok(src.mapUserPages({ uptr: buf, length: 0x4000n, prot: IOMMU_READ, iova: 0x10000n }));
  const got = src.getPages(0x10000n, 0x4000n);
  assert.equal(
    dst.mapPages(got.pieces, { prot: RW, length: 0x4000n, iova: 0x10000n }).errno,
    E.EPERM,
  );
  assert.equal(dst.areaCount(), 0);
  ok(dst.mapPages(got.pieces, { prot: IOMMU_READ, length: 0x4000n, iova: 0x10000n }));
});

Deno.test("IOAS_COPY destination checks: EEXIST at a used fixed IOVA, EINVAL misaligned", () => {
  const { iopt: src, newIopt, memory } = setup();
  const dst = newIopt();
  ok({ errno: dst.addDomain(mockDomain(), []) });
  const buf = memory.mmap(MiB);
  ok(src.mapUserPages({ uptr: buf, length: 0x4000n, prot: RW, iova: 0x10000n }));
  ok(dst.mapUserPages({ uptr: buf, length: 0x4000n, prot: RW, iova: 0x1000000n }));
  const got = src.getPages(0x10000n, 0x4000n);
  assert.equal(
    dst.mapPages(got.pieces, { prot: RW, length: 0x4000n, iova: 0x1000000n }).errno,
    E.EEXIST,
  );
  assert.equal(
    dst.mapPages(got.pieces, { prot: RW, length: 0x4000n, iova: 0x1000400n }).errno,
    E.EINVAL,
  );
});

// ---- teardown ---------------------------------------------------------------------------------------

Deno.test("destroy: unmaps and unpins everything", () => {
  const { iopt, memory, accounting } = setup({ privileged: false, memlock: 64n * MiB });
  ok({ errno: iopt.addDomain(fullDomain(), []) });
  const buf = memory.mmap(MiB);
  for (let i = 0n; i < 16n; i++) {
    ok(
      iopt.mapUserPages({
        uptr: buf + i * 0x1000n,
        length: 0x1000n,
        prot: RW,
        iova: 0x100000n + i * 0x2000n,
      }),
    );
  }
  iopt.destroy();
  assert.equal(iopt.areaCount(), 0);
  assert.equal(pinnedPages(accounting), 0n);
  assert.equal(accounting.lockedBytes("user"), 0n);
  assert.equal(accounting.pages.count, 0);
  assert.deepEqual(iopt.domains(), []);
});

Deno.test("areas(from): ascending from the area containing or following `from`", () => {
  const { iopt, memory } = setup();
  const buf = memory.mmap(MiB);
  for (const iova of [0x30000n, 0x10000n, 0x20000n]) {
    ok(iopt.mapUserPages({ uptr: buf, length: 0x1000n, prot: RW, iova }));
  }
  assert.deepEqual([...iopt.areas(0x10800n)].map((a) => a.iova), [0x10000n, 0x20000n, 0x30000n]);
  assert.deepEqual([...iopt.areas(0x11000n)].map((a) => a.iova), [0x20000n, 0x30000n]);
  assert.deepEqual([...iopt.areas(0x31000n)], []);
});

Deno.test("scale: 200,000 areas map, allocate and unmap without scanning", () => {
  const { iopt, memory } = setup();
  const buf = memory.mmap(MiB);
  const n = 200_000;
  for (let i = 0; i < n; i++) {
    const r = iopt.mapUserPages({ uptr: buf, length: 0x1000n, prot: RW });
    assert.equal(r.errno, 0);
  }
  assert.equal(iopt.areaCount(), n);
  // Punch a hole in the middle; the next allocation must find it.
  const mid = 0x1000n + BigInt(n / 2) * 0x1000n;
  ok(iopt.unmapIova(mid, 0x1000n));
  assert.deepEqual(iopt.mapUserPages({ uptr: buf, length: 0x1000n, prot: RW }), {
    errno: 0,
    iova: mid,
  });
  ok(iopt.unmapAll());
});

// ---- property test ----------------------------------------------------------------------------

type Span = [bigint, bigint];

function mergeSpans(spans: Span[]): Span[] {
  const s = [...spans].sort((a, b) => (a[0] < b[0] ? -1 : a[0] > b[0] ? 1 : 0));
  const out: Span[] = [];
  for (const [a, b] of s) {
    const top = out[out.length - 1];
    if (top && a <= top[1] + 1n) {
      if (b > top[1]) top[1] = b;
    } else out.push([a, b]);
  }
  return out;
}

function modelFit(
  hs: bigint,
  hl: bigint,
  align: bigint,
  po: bigint,
  len: bigint,
  checked: boolean,
) {
  const mask = align - 1n;
  if (checked) {
    if (hs + mask > U64_MAX) return -1n;
    const a = ((hs + mask) & ~mask) | po;
    return a >= hl || hl - a < len - 1n ? -1n : a;
  }
  if (hl - hs < len - 1n) return -1n;
  const a = (((hs + mask) % 2n ** 64n) & ~mask) | po;
  return a > hl || hl - a < len - 1n ? -1n : a;
}

/** Brute-force iopt_alloc_iova over the public view of an io_pagetable. */
function modelAlloc(iopt: IoPagetable, addr: bigint, len: bigint, cap: bigint | null): bigint {
  const po = addr % PAGE_SIZE;
  if (len === 0n || len >= U64_MAX / 2n) return -BigInt(E.EOVERFLOW);
  let align = 1n;
  while (align < len) align <<= 1n;
  if (addr !== 0n && (addr & -addr) < align) align = addr & -addr;
  if (cap !== null && align >= cap) align = cap;
  if (align < iopt.iovaAlignment) return -BigInt(E.EINVAL);
  const lo = PAGE_SIZE, hi = U64_MAX - PAGE_SIZE;
  const allowed = mergeSpans(iopt.allowedIovas().map((r) => [r.start, r.last] as Span));
  const windows: Span[] = allowed.length === 0 ? [[lo, hi]] : allowed
    .map(([a, b]) => [a > lo ? a : lo, b < hi ? b : hi] as Span)
    .filter(([a, b]) => a <= b);
  const reservedSpans: Span[] = [];
  let cur = 0n;
  for (const g of iopt.iovaRanges()) {
    if (g.start > cur) reservedSpans.push([cur, g.start - 1n]);
    cur = g.last + 1n;
  }
  if (cur <= U64_MAX) reservedSpans.push([cur, U64_MAX]);
  const used = mergeSpans([...reservedSpans, ...areasOf(iopt)]);
  const checked = cap !== null;
  for (const [ws, wl] of windows) {
    if (modelFit(ws, wl, align, po, len, checked) < 0n) continue;
    let c = ws;
    for (const [us, ul] of used) {
      if (ul < c) continue;
      if (us > wl) break;
      if (us > c) {
        const r = modelFit(c, us - 1n, align, po, len, checked);
        if (r >= 0n) return r;
      }
      c = ul + 1n;
      if (c > wl) break;
    }
    if (c <= wl) {
      const r = modelFit(c, wl, align, po, len, checked);
      if (r >= 0n) return r;
    }
  }
  return -BigInt(E.ENOSPC);
}

function snapshot(s: Setup, ioases: IoPagetable[]) {
  return JSON.stringify({
    areas: ioases.map((i) => [...i.areas()]),
    ranges: ioases.map((i) => i.iovaRanges()),
    align: ioases.map((i) => i.iovaAlignment),
    doms: ioases.map((i) => i.domains().length),
    large: ioases.map((i) => i.largePagesDisabled),
    pinned: pinnedPages(s.accounting),
    user: s.accounting.lockedBytes("user"),
    mm: s.accounting.lockedBytes("mm"),
    pages: s.accounting.pages.count,
  }, (_, v) => (typeof v === "bigint" ? v.toString(16) : v));
}

/** The kernel's invariants after every step. */
function checkInvariants(s: Setup, ioases: IoPagetable[]): void {
  const store = s.accounting.pages;
  const union = new Map<number, Span[]>();
  for (const iopt of ioases) {
    iopt.check();
    if (iopt.domains().length === 0) continue;
    for (const r of iopt.pinRanges()) {
      const l = union.get(r.pagesId) ?? [];
      l.push([BigInt(r.first), BigInt(r.last)]);
      union.set(r.pagesId, l);
    }
  }
  let total = 0;
  const seen = new Set<number>();
  for (const iopt of ioases) {
    for (const r of iopt.pinRanges()) {
      if (seen.has(r.pagesId)) continue;
      seen.add(r.pagesId);
      // A page is pinned once per pages object, however many areas and domains use it.
      const want = mergeSpans(union.get(r.pagesId) ?? [])
        .reduce((n, [a, b]) => n + Number(b - a + 1n), 0);
      assert.equal(store.npinned(r.pagesId), want, `pages ${r.pagesId}`);
      total += want;
    }
  }
  assert.equal(store.totalPinned, total);
  assert.equal(Number(pinnedPages(s.accounting)), total);
  assert.equal(store.count, seen.size, "no leaked pages objects");
  const byMode = store.recountByMode();
  assert.equal(s.accounting.lockedPages("user"), byMode.user);
  assert.equal(s.accounting.lockedPages("mm"), byMode.mm);
}

for (const seed of [1, 2, 3, 4, 5, 6]) {
  Deno.test(`property (seed ${seed}): random maps/unmaps/cuts/reserves/domains/copies keep the kernel's invariants`, () => {
    const r = prng(seed);
    const pick = <T>(xs: readonly T[]): T => xs[Math.floor(r() * xs.length)];
    const cap = pick([PAGE_SIZE, HPAGE_SIZE, null]);
    const s = setup({
      privileged: false,
      memlock: BigInt(200 + Math.floor(r() * 400)) * PAGE_SIZE,
      mode: pick(["user", "mm"] as AccountMode[]),
      cap,
      release: pick(["6.12.117", "6.18"]),
    });
    const ioases = [s.iopt, s.newIopt()];
    const bufs = [s.memory.mmap(MiB), s.memory.mmap(MiB), s.memory.mmap(2n * MiB)];
    const owners = [{}, {}, {}];
    const attached: Domain[][] = [[], []];
    const makeDomain = (): Domain =>
      pick([
        () => fullDomain(0x1000n),
        () => mockDomain(),
        () => ({ ...fullDomain(0x1000n), apertureStart: 0x100000n, apertureLast: 0xffffffffn }),
        () => fullDomain(0x800n | 0x200000n),
      ])();
    const randIova = () => BigInt(Math.floor(r() * 0x3000)) * pick([0x400n, 0x800n, 0x1000n]);
    const randLen = () =>
      r() < 0.03 ? pick([0n, 0x123n]) : BigInt(1 + Math.floor(r() * 16)) * pick([0x800n, 0x1000n]);
    const randUptr = () =>
      r() < 0.03
        ? 0xdead0000n
        : pick(bufs) + BigInt(Math.floor(r() * 0xf0)) * pick([0x400n, 0x1000n]);
    const randProt = () => pick([RW, RW, IOMMU_READ, IOMMU_WRITE, 0]);
    /** A sub-range of an existing area (or a random range when there is none). */
    const inArea = (iopt: IoPagetable): Span => {
      const all = [...iopt.areas()];
      if (all.length === 0 || r() < 0.2) return [randIova(), randLen()];
      const a = pick(all);
      const len = a.last - a.iova + 1n;
      const step = pick([0x800n, 0x1000n]);
      const off = (BigInt(Math.floor(r() * Number(len / step + 1n))) * step) % len;
      return [a.iova + off, r() < 0.5 ? len - off : (len - off + 1n) / 2n];
    };
    const seen = new Map<string, number>();
    const count = (what: string) => seen.set(what, (seen.get(what) ?? 0) + 1);
    let maxPinned = 0n;

    for (let step = 0; step < 1500; step++) {
      const k = Math.floor(r() * ioases.length);
      const iopt = ioases[k];
      const before = snapshot(s, ioases);
      const op = r();
      let errno = 0;
      let mayChangeOnError = false;
      if (op < 0.25) {
        errno = iopt.mapUserPages({
          uptr: randUptr(),
          length: randLen(),
          prot: randProt(),
          iova: randIova(),
        }).errno;
      } else if (op < 0.4) {
        const uptr = randUptr();
        const length = randLen();
        const want = length === 0n || length > U64_MAX - PAGE_SIZE ? -BigInt(E.EINVAL) : undefined;
        const lengthBad = (length & (iopt.iovaAlignment - 1n)) !== 0n;
        const model = modelAlloc(iopt, uptr, length, cap);
        const got = iopt.mapUserPages({ uptr, length, prot: randProt() });
        errno = got.errno;
        if (want !== undefined || lengthBad) {
          assert.equal(got.errno, E.EINVAL);
        } else if (model < 0n) {
          assert.equal(got.errno, Number(-model), `alloc model ${model}`);
        } else if (got.errno === 0) {
          assert.equal(got.iova, model);
        } else {
          // Failed after the allocation: page offset, pinning, accounting or the driver.
          assert.ok(
            ([E.EINVAL, E.EFAULT, E.ENOMEM] as number[]).includes(got.errno),
            `errno ${got.errno}`,
          );
        }
      } else if (op < 0.55) {
        const [a, l] = r() < 0.5
          ? inArea(iopt)
          : [randIova(), randLen() * BigInt(1 + Math.floor(r() * 4))];
        const res = iopt.unmapIova(a, l);
        errno = res.errno;
        mayChangeOnError = true;
      } else if (op < 0.57) {
        errno = iopt.unmapAll().errno;
      } else if (op < 0.65) {
        const [a] = inArea(iopt);
        errno = iopt.cutIova([a + pick([0n, 0xfffn, 0x7ffn, 0x1n]) - pick([0n, 1n])]);
      } else if (op < 0.7) {
        const start = randIova();
        errno = iopt.reserveIova(start, start + randLen(), pick(owners));
      } else if (op < 0.72) {
        iopt.removeReservedIova(pick(owners));
      } else if (op < 0.74) {
        const a = randIova();
        const ranges = r() < 0.3 ? [] : [{ start: a, last: a + 0x10000n }];
        errno = iopt.setAllowIova(ranges);
      } else if (op < 0.8) {
        if (attached[k].length > 0 && r() < 0.5) {
          const d = pick(attached[k]);
          iopt.removeDomain(d);
          attached[k] = attached[k].filter((x) => x !== d);
        } else {
          const d = makeDomain();
          const dev = {};
          const resv = r() < 0.3 ? [{ start: 0xfee00000n, last: 0xfeefffffn }] : [];
          errno = iopt.addDomain(d, resv, dev);
          if (errno === 0) attached[k].push(d);
        }
      } else if (op < 0.84) {
        if (r() < 0.5) errno = iopt.disableLargePages();
        else iopt.enableLargePages();
      } else if (op < 0.95) {
        const src = ioases[1 - k];
        const [a, l] = inArea(src);
        const got = src.getPages(a, l);
        errno = got.errno;
        if (got.errno === 0) {
          const length = got.pieces.reduce((n, p) => n + p.length, 0n);
          const fixed = r() < 0.5 ? randIova() : undefined;
          errno = iopt.mapPages(got.pieces, { prot: randProt(), iova: fixed, length }).errno;
        }
      } else if (op < 0.97) {
        const b = pick(bufs);
        s.memory.munmap(b + BigInt(Math.floor(r() * 256)) * PAGE_SIZE, PAGE_SIZE);
      } else {
        s.accounting.memlockLimit = BigInt(Math.floor(r() * 800)) * PAGE_SIZE;
      }
      checkInvariants(s, ioases);
      count(
        `${
          op < 0.25
            ? "map"
            : op < 0.4
            ? "alloc"
            : op < 0.57
            ? "unmap"
            : op < 0.65
            ? "cut"
            : op < 0.74
            ? "reserve"
            : op < 0.8
            ? "domain"
            : op < 0.84
            ? "large"
            : op < 0.95
            ? "copy"
            : "other"
        }:${errno}`,
      );
      if (pinnedPages(s.accounting) > maxPinned) maxPinned = pinnedPages(s.accounting);
      if (errno !== 0 && !mayChangeOnError) {
        assert.equal(snapshot(s, ioases), before, `step ${step}: errno ${errno} changed state`);
      }
    }
    // The run must have exercised the interesting outcomes, not only early rejections.
    for (const what of ["map:0", "map:17", "alloc:0", "unmap:0", "unmap:2", "cut:0", "copy:0"]) {
      assert.ok((seen.get(what) ?? 0) > 0, `never saw ${what}: ${[...seen.entries()]}`);
    }
    assert.ok(maxPinned > 0n);
    for (const iopt of ioases) iopt.destroy();
    assert.equal(pinnedPages(s.accounting), 0n);
    assert.equal(s.accounting.lockedBytes("user"), 0n);
    assert.equal(s.accounting.lockedBytes("mm"), 0n);
    assert.equal(s.accounting.pages.count, 0);
  });
}

Deno.test("map64/unmap64: hi/lo halves agree with the bigint API, beyond 2^53 too", () => {
  const { memory, iopt } = setup();
  const buf = memory.mmap(4n * MiB);
  const halves = (x: bigint) => [Number(x >> 32n), Number(x & 0xffff_ffffn)];
  const [uh, ul] = halves(buf + 0x3000n);
  const [lh, ll] = halves(0x2000n);
  for (const iova of [0x1000n, (1n << 53n) + 0x1000n, 0xffff_ffff_0000_0000n]) {
    const [ih, il] = halves(iova);
    assert.equal(iopt.map64(uh, ul, lh, ll, RW, true, ih, il), 0);
    assert.deepEqual([iopt.outHi, iopt.outLo], [ih, il]);
    assert.equal(iopt.map64(uh, ul, lh, ll, RW, true, ih, il), E.EEXIST);
    const area = [...iopt.areas(iova)][0];
    assert.deepEqual([area.iova, area.last, area.vaddr], [iova, iova + 0x1fffn, buf + 0x3000n]);
    // A range holding nothing: ENOENT, 0 bytes, empty.
    const [gh, gl] = halves(iova + 0x10000n);
    assert.equal(iopt.unmap64(gh, gl, lh, ll), E.ENOENT);
    assert.deepEqual([iopt.outHi, iopt.outLo, iopt.outEmpty], [0, 0, true]);
    // Cutting into the area: ENOENT, not empty.
    const [hh, hl] = halves(0x1000n);
    assert.equal(iopt.unmap64(ih, il, hh, hl), E.ENOENT);
    assert.equal(iopt.outEmpty, false);
    assert.equal(iopt.unmap64(ih, il, lh, ll), 0);
    assert.deepEqual([iopt.outHi, iopt.outLo, iopt.outEmpty], [0, 0x2000, false]);
  }
  // Automatic IOVA through map64 (not fixed): the result comes back in the registers.
  assert.equal(iopt.map64(uh, ul, lh, ll, RW, false, 0, 0), 0);
  const auto = (BigInt(iopt.outHi) << 32n) | BigInt(iopt.outLo);
  assert.equal([...iopt.areas()][0].iova, auto);
  // Zero length, and a range past 2^64 - 1.
  assert.equal(iopt.unmap64(0, 0x1000, 0, 0), E.EINVAL);
  assert.equal(iopt.unmap64(0xffff_ffff, 0xffff_f000, 0, 0x2000), E.EOVERFLOW);
  assert.deepEqual([iopt.outHi, iopt.outLo], [0, 0]);
  iopt.check();
});
