/**
 * Memory in the shell's own address space: `mem alloc/free/write/read`. `$NAME` is the
 * address of region NAME.
 *
 * @module
 */

import { type Command, type CommandContext, defineCommand, t, z } from "../plugin_api.ts";
import { readUser } from "./_util.ts";

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
    if (ctx.state.mem.has(name)) ctx.fail(`region '${name}' exists; mem free ${name} first`);
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

/** The memory commands. */
export const memCommands: Command[] = [alloc, free, write, read];
