import assert from "node:assert/strict";
import { E, PAGE_SIZE } from "../uapi/mod.ts";
import { PinAccounting, pinnedPages } from "./pages.ts";
import { UserMemory } from "./user_memory.ts";

function setup(privileged = false, memlockLimit = 16n * PAGE_SIZE) {
  const acct = new PinAccounting({ privileged, memlockLimit });
  const mem = new UserMemory();
  return { acct, mem, store: acct.pages };
}

Deno.test("iopt_alloc_pages: uptr rounded down, npages covers the partial pages", () => {
  const { store } = setup();
  const id = store.alloc(0x7f00_0000_0800n, 0x1000n, true, "user");
  assert.equal(store.uptr(id), 0x7f00_0000_0000n);
  assert.equal(store.npages(id), 2);
  assert.equal(store.writable(id), true);
  assert.equal(store.mode(id), "user");
  assert.equal(store.refs(id), 1);
});

Deno.test("PinAccounting: defaults are root with an 8 MiB RLIMIT_MEMLOCK; modes follow privilege", () => {
  const a = new PinAccounting();
  assert.equal(a.privileged, true);
  assert.equal(a.memlockLimit, 8n << 20n);
  assert.equal(a.modeFor("mm"), "none");
  a.privileged = false;
  assert.equal(a.modeFor("mm"), "mm");
  assert.equal(a.modeFor("user"), "user");
});

Deno.test("pin: lazily pins once, counts pinned pages, unpin brings the count back to 0", () => {
  const { mem, store, acct } = setup();
  const a = mem.mmap(0x8000n);
  const id = store.alloc(a, 0x8000n, true, "user");
  assert.equal(store.npinned(id), 0);
  assert.equal(store.pin(id, 0, 7, mem), 0);
  assert.equal(store.newlyPinned, 8);
  assert.equal(pinnedPages(acct), 8n);
  assert.equal(store.unpin(id, 0, 7), 8);
  assert.equal(pinnedPages(acct), 0n);
  store.put(id);
  assert.equal(store.count, 0);
});

Deno.test("pin_user_pages: an unmapped page -> EFAULT and nothing changes", () => {
  const { mem, store, acct } = setup();
  const a = mem.mmap(0x4000n);
  mem.munmap(a + 0x2000n, 0x1000n);
  const id = store.alloc(a, 0x4000n, true, "user");
  assert.equal(store.pin(id, 0, 3, mem), E.EFAULT);
  assert.equal(store.npinned(id), 0);
  assert.equal(store.pin(id, 0, 1, mem), 0);
  // Sharing: only the uncovered pages must be mapped.
  assert.equal(store.pin(id, 1, 3, mem), E.EFAULT);
  assert.equal(store.npinned(id), 2);
  assert.equal(pinnedPages(acct), 2n);
});

Deno.test("pin: overlapping users pin a page once; partial release keeps the shared pages", () => {
  const { mem, store, acct } = setup();
  const a = mem.mmap(0x10000n);
  const id = store.alloc(a, 0x10000n, true, "user");
  assert.equal(store.pin(id, 0, 9, mem), 0);
  assert.equal(store.newlyPinned, 10);
  assert.equal(store.pin(id, 5, 15, mem), 0);
  assert.equal(store.newlyPinned, 6);
  assert.equal(store.npinned(id), 16);
  assert.equal(store.unpin(id, 0, 9), 5);
  assert.equal(store.npinned(id), 11);
  // Pins outlive the mapping (the kernel keeps pinned pages alive).
  mem.munmap(a, 0x10000n);
  assert.equal(store.pin(id, 6, 7, mem), 0);
  assert.equal(store.newlyPinned, 0);
  assert.equal(store.unpin(id, 6, 7), 0);
  assert.equal(store.unpin(id, 5, 15), 11);
  assert.equal(pinnedPages(acct), 0n);
  store.put(id);
});

Deno.test("incr_user_locked_vm: beyond RLIMIT_MEMLOCK >> PAGE_SHIFT -> ENOMEM", () => {
  const { acct } = setup(false, 16n * PAGE_SIZE + 100n);
  assert.equal(acct.charge(1, 16), 0);
  assert.equal(acct.charge(1, 1), E.ENOMEM);
  assert.equal(acct.lockedBytes("user"), 16n * PAGE_SIZE);
  acct.uncharge(1, 16);
  assert.equal(acct.lockedBytes("user"), 0n);
});

Deno.test("__account_locked_vm (mm mode) has its own counter and the same limit", () => {
  const { acct, mem, store } = setup(false, 4n * PAGE_SIZE);
  const a = mem.mmap(0x8000n);
  const u = store.alloc(a, 0x4000n, true, "user");
  const m = store.alloc(a, 0x8000n, true, "mm");
  assert.equal(store.pin(u, 0, 3, mem), 0);
  assert.equal(store.charge(u, store.newlyPinned), 0);
  assert.equal(store.pin(m, 0, 4, mem), 0);
  assert.equal(store.charge(m, store.newlyPinned), E.ENOMEM);
  store.unpin(m, 0, 4);
  assert.equal(store.pin(m, 0, 3, mem), 0);
  assert.equal(store.charge(m, store.newlyPinned), 0);
  assert.equal(acct.lockedBytes("user"), 4n * PAGE_SIZE);
  assert.equal(acct.lockedBytes("mm"), 4n * PAGE_SIZE);
  // Two pages objects over the same memory each pin it: 8 pins.
  assert.equal(pinnedPages(acct), 8n);
});

Deno.test("IOPT_PAGES_ACCOUNT_NONE: never charged, never ENOMEM", () => {
  const { acct } = setup(true, 0n);
  assert.equal(acct.charge(0, 1_000_000), 0);
  assert.equal(acct.lockedBytes("user"), 0n);
  assert.equal(acct.lockedBytes("mm"), 0n);
});

Deno.test("RLIMIT_MEMLOCK unlimited (2^64 - 1) never refuses", () => {
  const acct = new PinAccounting({ privileged: false, memlockLimit: 2n ** 64n - 1n });
  assert.equal(acct.charge(1, 2 ** 40), 0);
});

Deno.test("iopt_release_pages: freeing a pinned pages object is a bug (throws)", () => {
  const { mem, store } = setup();
  const a = mem.mmap(0x1000n);
  const id = store.alloc(a, 0x1000n, true, "user");
  store.pin(id, 0, 0, mem);
  assert.throws(() => store.put(id));
});

Deno.test("pin: sub-page neighbours sharing a page keep it pinned until both go", () => {
  const { mem, store } = setup();
  const a = mem.mmap(0x3000n);
  const id = store.alloc(a, 0x3000n, true, "user");
  assert.equal(store.pin(id, 0, 1, mem), 0);
  assert.equal(store.pin(id, 1, 2, mem), 0);
  assert.equal(store.newlyPinned, 1);
  assert.equal(store.unpin(id, 0, 1), 1);
  assert.equal(store.npinned(id), 2);
  assert.equal(store.unpin(id, 1, 2), 2);
  assert.equal(store.npinned(id), 0);
});
