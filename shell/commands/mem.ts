/**
 * Memory in the shell's own address space: `mem alloc/free/write/read`, and `mem mmap-region`
 * (a VFIO device region, such as a PCI BAR, mmapped through the device fd). `$NAME` is the
 * address of region NAME.
 *
 * @module
 */

import { type Command, type CommandContext, defineCommand, t, z } from "./_api.ts";
import { readUser } from "./_util.ts";
import { deviceFd, REGION_FLAG_MMAP, regionInfo } from "./device.ts";

function region(ctx: CommandContext, name: string) {
  const m = ctx.state.mem.get(name);
  if (!m) {
    const names = [...ctx.state.mem.keys()];
    ctx.fail(
      `no memory region '${name}'` +
        (names.length ? ` (regions: ${names.join(", ")})` : " (make one with mem alloc NAME SIZE)"),
    );
  }
  return m;
}

/** A new region's name, which becomes `$NAME`: not `last`, which is always the last result. */
function newRegionName(ctx: CommandContext, name: string): void {
  if (name === "last") ctx.fail("'last' is taken: $last is always the last result");
  if (ctx.state.mem.has(name)) ctx.fail(`region '${name}' exists; mem free ${name} first`);
}

function inBounds(ctx: CommandContext, name: string, size: bigint, offset: bigint, len: bigint) {
  if (offset + len > size) {
    ctx.fail(
      `${name} is 0x${size.toString(16)} bytes: offset 0x${offset.toString(16)} + ` +
        `0x${len.toString(16)} bytes lies outside it`,
    );
  }
}

const alloc = defineCommand({
  name: "mem alloc",
  summary: "Allocate anonymous memory (mmap); $NAME is its address",
  args: z.object({ name: t.name("a name for the region"), size: t.size("bytes") }),
  result: z.object({ vaddr: t.vaddr("its address") }),
  principal: "vaddr",
  examples: ["mem alloc buf 2M", "map 0x100000 2M rw --vaddr $buf"],
  run(ctx, { name, size }) {
    newRegionName(ctx, name);
    const addr = ctx.kernel.mmap(size);
    if (addr < 0n) return ctx.errno(Number(-addr));
    ctx.state.mem.set(name, { addr, size });
    ctx.state.vars.set(name, addr);
    return ctx.ok({ vaddr: addr });
  },
});

const free = defineCommand({
  name: "mem free",
  summary: "Free a region (munmap)",
  args: z.object({ name: t.name("the region") }),
  run(ctx, { name }) {
    const m = region(ctx, name);
    const r = ctx.kernel.munmap(m.addr, m.size);
    if (r < 0) return ctx.errno(-r);
    ctx.state.mem.delete(name);
    ctx.state.vars.delete(name);
    return ctx.ok();
  },
});

const write = defineCommand({
  name: "mem write",
  summary: "Write hex bytes into a region at OFFSET",
  args: z.object({
    name: t.name("the region"),
    offset: t.int("byte offset", { label: "OFFSET" }),
    bytes: t.bytes("the bytes, in hex"),
  }),
  result: z.object({ bytes: t.dec("bytes written") }),
  examples: ["mem write buf 0 deadbeef"],
  run(ctx, { name, offset, bytes }) {
    const m = region(ctx, name);
    const b = bytes as Uint8Array;
    inBounds(ctx, name, m.size, offset, BigInt(b.length));
    const r = ctx.kernel.writeMemory(m.addr + offset, b);
    return r < 0 ? ctx.errno(-r) : ctx.ok({ bytes: BigInt(b.length) });
  },
});

const read = defineCommand({
  name: "mem read",
  summary: "Read LEN bytes of a region at OFFSET",
  args: z.object({
    name: t.name("the region"),
    offset: t.int("byte offset", { label: "OFFSET" }),
    len: t.int("how many bytes (at most 4096)", { label: "LEN" }),
  }),
  result: z.object({ bytes: t.hexBytes("the bytes") }),
  examples: ["mem read buf 0 4 => bytes=deadbeef"],
  run(ctx, { name, offset, len }) {
    const m = region(ctx, name);
    if (len > 4096n) ctx.fail("LEN is at most 4096");
    inBounds(ctx, name, m.size, offset, len);
    return ctx.ok({ bytes: readUser(ctx, m.addr + offset, Number(len)) });
  },
});

const mmapRegion = defineCommand({
  name: "mem mmap-region",
  summary: "mmap region INDEX of a VFIO device (a PCI BAR) as device memory; $NAME is its address",
  description: "Asks the device for the region (VFIO_DEVICE_GET_REGION_INFO), then mmaps SIZE\n" +
    "bytes of it (default: the whole region) from --offset OFF inside it, shared and\n" +
    "read/write, through the device fd (default: the last one this shell opened). The\n" +
    "mapping is MMIO (VM_PFNMAP): map it with --vaddr $NAME to try peer-to-peer DMA. Legacy\n" +
    "type1 maps such memory (and does not charge it to RLIMIT_MEMLOCK); iommufd cannot pin\n" +
    "it (EFAULT when a domain or access needs the pages). vfsh never reads or writes device\n" +
    "memory itself (mem read/write answer EFAULT): an access could kill the process. mem free\n" +
    "NAME unmaps it.",
  args: z.object({
    name: t.name("a name for the mapping"),
    index: t.int("the region index (BAR0-5: 0-5)", { bits: 32, label: "INDEX" }),
    size: t.size("bytes to map (default: the region's size)").optional(),
  }),
  options: z.object({
    device: t.int("the device fd (default: the last one this shell opened)", {
      bits: 31,
      label: "FD",
    }).optional(),
    offset: t.int("where in the region to start (a page multiple)", { label: "OFF" })
      .optional(),
  }),
  result: z.object({
    vaddr: t.vaddr("its address"),
    size: t.hex("bytes mapped"),
    offset: t.hex("the file offset mapped (the region's offset + --offset)"),
  }),
  principal: "vaddr",
  examples: ["mem mmap-region bar 0", "map 0x100000 1M rw --vaddr $bar"],
  run(ctx, { name, index, size }, o) {
    newRegionName(ctx, name);
    const fd = deviceFd(ctx, o.device);
    const info = regionInfo(ctx, fd, index);
    if (info.ret < 0) {
      return {
        ...ctx.errno(-info.ret),
        lines: [`  VFIO_DEVICE_GET_REGION_INFO of region ${index} failed`],
      };
    }
    const within = o.offset ?? 0n;
    const length = size ?? info.out.size - within;
    if (length <= 0n) ctx.fail(`region ${index} has 0x${info.out.size.toString(16)} bytes`);
    const offset = info.out.offset + within;
    const addr = ctx.kernel.mmap(length, fd, offset);
    if (addr < 0n) {
      const hint = (info.out.flags & REGION_FLAG_MMAP) === 0n
        ? [`  region ${index} has no MMAP flag (flags=0x${info.out.flags.toString(16)})`]
        : undefined;
      return { ...ctx.errno(Number(-addr)), lines: hint };
    }
    ctx.state.mem.set(name, { addr, size: length });
    ctx.state.vars.set(name, addr);
    return ctx.ok({ vaddr: addr, size: length, offset });
  },
});

/** The memory commands. */
const mlock = defineCommand({
  name: "mem mlock",
  summary: "mlock(2) a region: its pages count in the process's locked memory",
  description:
    "Locked pages count in mm->locked_vm against RLIMIT_MEMLOCK, as legacy type1's pins and\n" +
    "iommufd's per-process (MM) accounting do; iommufd's per-user accounting (/dev/iommu) does\n" +
    "not see them. Without CAP_IPC_LOCK (sim privileged off) past the limit: ENOMEM.",
  args: z.object({ name: t.name("the region") }),
  examples: ["mem alloc vm 512K; mem mlock vm"],
  run(ctx, { name }) {
    const m = region(ctx, name);
    if (!ctx.kernel.mlock) return ctx.fail("this backend cannot mlock");
    const r = ctx.kernel.mlock(m.addr, m.size);
    return r < 0 ? ctx.errno(-r) : ctx.ok();
  },
});

export const memCommands: Command[] = [alloc, free, write, read, mmapRegion, mlock];
