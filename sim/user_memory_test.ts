import assert from "node:assert/strict";
import { E, PAGE_SIZE } from "../uapi/mod.ts";
import { MMAP_BASE, TASK_SIZE, UserMemory } from "./user_memory.ts";
import { prng } from "../tests/_prng.ts";

Deno.test("mmap: deterministic addresses, ascending, with a guard page between mappings", () => {
  const m = new UserMemory();
  const a = m.mmap(0x200000n);
  const b = m.mmap(0x1001n);
  const c = m.mmap(4096n);
  assert.equal(a, MMAP_BASE);
  assert.equal(b, a + 0x200000n + PAGE_SIZE);
  // 0x1001 is rounded up to two pages.
  assert.equal(c, b + 0x2000n + PAGE_SIZE);
  assert.ok(m.isMapped(b, 0x2000n));
  assert.ok(!m.isMapped(b + 0x2000n, 1n));
});

Deno.test("mmap: length 0 -> EINVAL (do_mmap)", () => {
  assert.equal(new UserMemory().mmap(0n), -BigInt(E.EINVAL));
});

Deno.test("mmap: length beyond TASK_SIZE -> ENOMEM (get_unmapped_area)", () => {
  const m = new UserMemory();
  assert.equal(m.mmap(TASK_SIZE + 1n), -BigInt(E.ENOMEM));
  assert.equal(m.mmap(2n ** 64n - 1n), -BigInt(E.ENOMEM));
  // Address space exhausted.
  assert.equal(m.mmap(TASK_SIZE - MMAP_BASE + PAGE_SIZE), -BigInt(E.ENOMEM));
});

Deno.test("munmap: unaligned address -> EINVAL", () => {
  const m = new UserMemory();
  const a = m.mmap(0x4000n);
  assert.equal(m.munmap(a + 1n, 0x1000n), -E.EINVAL);
});

Deno.test("munmap: length 0 -> EINVAL", () => {
  const m = new UserMemory();
  const a = m.mmap(0x4000n);
  assert.equal(m.munmap(a, 0n), -E.EINVAL);
});

Deno.test("munmap: range beyond TASK_SIZE -> EINVAL", () => {
  const m = new UserMemory();
  assert.equal(m.munmap(TASK_SIZE - PAGE_SIZE, 2n * PAGE_SIZE), -E.EINVAL);
});

Deno.test("munmap: a hole in the middle splits the mapping; unmapped memory succeeds too", () => {
  const m = new UserMemory();
  const a = m.mmap(0x4000n);
  assert.equal(m.munmap(a + 0x1000n, 0x1000n), 0);
  assert.deepEqual(m.mappings(), [
    { start: a, end: a + 0x1000n },
    { start: a + 0x2000n, end: a + 0x4000n },
  ]);
  assert.ok(!m.isMapped(a, 0x2000n));
  assert.ok(m.isMapped(a + 0x2000n, 0x2000n));
  assert.equal(m.munmap(a + 0x1000n, 0x1000n), 0);
  assert.equal(m.munmap(0x1000n, 0x1000n), 0);
});

Deno.test("read/write: sparse contents, unwritten bytes read 0, writes cross pages", () => {
  const m = new UserMemory();
  const a = m.mmap(1n << 30n); // 1 GiB costs nothing until written
  assert.equal(m.residentPages(), 0);
  const bytes = new Uint8Array(5000).map((_, i) => (i * 7) & 0xff);
  assert.equal(m.write(a + 4090n, bytes), 0);
  assert.equal(m.residentPages(), 3);
  const back = new Uint8Array(5010);
  assert.equal(m.read(a + 4085n, back), 0);
  assert.deepEqual(back.subarray(0, 5), new Uint8Array(5));
  assert.deepEqual(back.subarray(5, 5005), bytes);
  const far = new Uint8Array(16).fill(9);
  assert.equal(m.read(a + (1n << 29n), far), 0);
  assert.deepEqual(far, new Uint8Array(16));
});

Deno.test("read/write: any unmapped byte -> EFAULT, nothing copied", () => {
  const m = new UserMemory();
  const a = m.mmap(0x1000n);
  assert.equal(m.write(a + 0xff0n, new Uint8Array(32)), -E.EFAULT);
  assert.equal(m.residentPages(), 0);
  assert.equal(m.read(0n, new Uint8Array(1)), -E.EFAULT);
  assert.equal(m.read(a, new Uint8Array(0)), 0);
});

Deno.test("munmap drops contents: a later read of the range faults", () => {
  const m = new UserMemory();
  const a = m.mmap(0x3000n);
  m.write(a, new Uint8Array([1, 2, 3]));
  m.write(a + 0x2000n, new Uint8Array([4]));
  assert.equal(m.munmap(a, 0x1000n), 0);
  assert.equal(m.residentPages(), 1);
  assert.equal(m.read(a, new Uint8Array(1)), -E.EFAULT);
  const b = new Uint8Array(1);
  assert.equal(m.read(a + 0x2000n, b), 0);
  assert.equal(b[0], 4);
});

/** A file that counts the references mappings hold on it. */
function countingFile() {
  const f = {
    refs: 0,
    get() {
      this.refs++;
    },
    put() {
      this.refs--;
    },
  };
  return f;
}

Deno.test("mmapFile: each mapping (VMA) holds its file; a split holds it twice; munmap drops", () => {
  const m = new UserMemory();
  const f = countingFile();
  const a = m.mmapFile(4n * PAGE_SIZE, { file: f, pfnmap: true });
  assert.equal(f.refs, 1);
  assert.equal(m.munmap(a + PAGE_SIZE, PAGE_SIZE), 0); // the middle: two VMAs now
  assert.equal(f.refs, 2);
  assert.equal(m.munmap(a, PAGE_SIZE), 0); // the first one whole
  assert.equal(f.refs, 1);
  assert.equal(m.munmap(a + 3n * PAGE_SIZE, PAGE_SIZE), 0); // trimming keeps the VMA
  assert.equal(f.refs, 1);
  m.unmapAll();
  assert.equal(f.refs, 0);
  assert.equal(m.mappings().length, 0);
});

Deno.test("isPinnablePages: a VM_PFNMAP mapping is mapped but never pinnable (check_vma_flags)", () => {
  const m = new UserMemory();
  const anon = m.mmap(2n * PAGE_SIZE);
  const bar = m.mmapFile(2n * PAGE_SIZE, { file: countingFile(), pfnmap: true });
  const page = (a: bigint) => Number(a / PAGE_SIZE);
  assert.ok(m.isPinnablePages(page(anon), 2));
  assert.ok(m.isMappedPages(page(bar), 2));
  assert.ok(!m.isPinnablePages(page(bar), 1));
  assert.ok(m.isPfnmap(bar + 100n));
  assert.ok(!m.isPfnmap(anon));
  assert.ok(!m.isPinnablePages(page(anon), 3)); // runs into the guard page
});

Deno.test("touchesFile: any byte of a file's mapping; anonymous memory never", () => {
  const m = new UserMemory();
  const anon = m.mmap(PAGE_SIZE);
  const bar = m.mmapFile(PAGE_SIZE, { file: countingFile(), pfnmap: true });
  assert.ok(!m.touchesFile(anon, PAGE_SIZE));
  assert.ok(m.touchesFile(bar + PAGE_SIZE - 1n, 1n));
  assert.ok(m.touchesFile(anon, bar - anon + 1n));
  assert.ok(!m.touchesFile(bar + PAGE_SIZE, PAGE_SIZE));
});

Deno.test("munmap of random ranges over many mappings agrees page by page with a plain model", () => {
  const rand = prng(7);
  const m = new UserMemory();
  const mapped = new Set<number>();
  let lo = Infinity, hi = 0;
  for (let i = 0; i < 200; i++) {
    const pages = 1 + Math.floor(rand() * 8);
    const a = m.mmap(BigInt(pages) * 0x1000n);
    const p0 = Number(a / 0x1000n);
    for (let p = p0; p < p0 + pages; p++) mapped.add(p);
    lo = Math.min(lo, p0);
    hi = Math.max(hi, p0 + pages);
  }
  for (let i = 0; i < 300; i++) {
    const first = lo + Math.floor(rand() * (hi - lo));
    const count = 1 + Math.floor(rand() * 12);
    assert.equal(m.munmap(BigInt(first) * 0x1000n, BigInt(count) * 0x1000n), 0);
    for (let p = first; p < first + count; p++) mapped.delete(p);
    if (i % 50 === 49) {
      for (let p = lo - 1; p <= hi; p++) {
        assert.equal(m.isMappedPages(p, 1), mapped.has(p), `page ${p.toString(16)} after ${i + 1}`);
      }
    }
  }
  const spans = m.mappings();
  for (let k = 1; k < spans.length; k++) assert.ok(spans[k - 1].end <= spans[k].start, "sorted");
});
