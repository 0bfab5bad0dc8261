/**
 * The generic ioctls do_vfs_ioctl answers before any driver: one test per rule, on the kinds
 * of file the simulator has (a device node, a memfd, an event queue's anonymous inode).
 */
import assert from "node:assert/strict";
import { E } from "../uapi/errno.ts";
import * as R from "../uapi/ioctl.ts";
import * as S from "../uapi/structs.ts";
import { call, openIommufd } from "../tests/_sim_helpers.ts";
import { VFS_IOCTL as V } from "./vfs_ioctl.ts";

const int = (v: number) => {
  const b = new Uint8Array(4);
  new DataView(b.buffer).setInt32(0, v, true);
  return b;
};
const readInt = (b: Uint8Array) => new DataView(b.buffer, b.byteOffset).getInt32(0, true);

/** A simulator, /dev/iommu, a 3-page memfd and a fault queue's fd. */
function files() {
  const { k, fd } = openIommufd();
  const memfd = k.memfdCreate("m", 3n * 4096n);
  const q = call(k, fd, R.IOMMU_FAULT_QUEUE_ALLOC, S.iommu_fault_alloc);
  assert.equal(q.ret, 0);
  return { k, kinds: { iommufd: fd, memfd, eventq: Number(q.out.out_fault_fd) } };
}

Deno.test("vfs ioctl: FIOCLEX and FIONCLEX succeed on every file, whatever the argument", () => {
  const { k, kinds } = files();
  for (const fd of Object.values(kinds)) {
    assert.equal(k.ioctl(fd, V.FIOCLEX, 0n), 0);
    assert.equal(k.ioctl(fd, V.FIONCLEX, 0xdeadn), 0);
  }
});

Deno.test("vfs ioctl: FIONBIO reads an int (EFAULT when it cannot), then succeeds", () => {
  const { k, kinds } = files();
  for (const fd of Object.values(kinds)) {
    assert.equal(k.ioctl(fd, V.FIONBIO, 0n), -E.EFAULT);
    assert.equal(k.ioctl(fd, V.FIONBIO, new Uint8Array(3)), -E.EFAULT, "a short buffer");
    assert.equal(k.ioctl(fd, V.FIONBIO, int(1)), 0);
    assert.equal(k.ioctl(fd, V.FIONBIO, int(0)), 0);
  }
});

Deno.test("vfs ioctl: FIOASYNC on needs a fasync op none of our files has (ENOTTY); off succeeds", () => {
  const { k, kinds } = files();
  for (const fd of Object.values(kinds)) {
    assert.equal(k.ioctl(fd, V.FIOASYNC, 0n), -E.EFAULT);
    assert.equal(k.ioctl(fd, V.FIOASYNC, int(1)), -E.ENOTTY);
    assert.equal(k.ioctl(fd, V.FIOASYNC, int(-1)), -E.ENOTTY, "any non-zero int is on");
    assert.equal(k.ioctl(fd, V.FIOASYNC, int(0)), 0);
  }
});

Deno.test("vfs ioctl: FIOQSIZE is ENOTTY for what is not a regular file, directory or link", () => {
  const { k, kinds } = files();
  assert.equal(k.ioctl(kinds.iommufd, V.FIOQSIZE, new Uint8Array(8)), -E.ENOTTY);
  assert.equal(k.ioctl(kinds.eventq, V.FIOQSIZE, new Uint8Array(8)), -E.ENOTTY);
});

Deno.test("vfs ioctl: FIGETBSZ stores the filesystem's block size as an int, or EFAULT", () => {
  const { k, kinds } = files();
  for (const fd of Object.values(kinds)) {
    const b = int(-1);
    assert.equal(k.ioctl(fd, V.FIGETBSZ, b), 0);
    assert.equal(readInt(b), 4096);
    assert.equal(k.ioctl(fd, V.FIGETBSZ, 0n), -E.EFAULT);
    const short = new Uint8Array(3);
    assert.equal(k.ioctl(fd, V.FIGETBSZ, short), -E.EFAULT);
    assert.deepEqual([...short], [0, 0, 0], "put_user stores all four bytes or none");
  }
});

Deno.test("vfs ioctl: FIGETBSZ through a user-memory address writes there", () => {
  const { k, kinds } = files();
  const addr = k.mmap(4096n);
  assert.equal(k.ioctl(kinds.iommufd, V.FIGETBSZ, addr), 0);
  const back = new Uint8Array(4);
  assert.equal(k.readMemory(addr, back), 0);
  assert.equal(readInt(back), 4096);
  // The int's last byte past the mapping: nothing is stored.
  assert.equal(k.ioctl(kinds.iommufd, V.FIGETBSZ, addr + 4094n), -E.EFAULT);
});

Deno.test("vfs ioctl: FIFREEZE needs CAP_SYS_ADMIN (EPERM), then the fs's support (EOPNOTSUPP)", () => {
  const { k, kinds } = files();
  for (const fd of Object.values(kinds)) assert.equal(k.ioctl(fd, V.FIFREEZE, 0n), -E.EOPNOTSUPP);
  k.setPrivileged(false);
  for (const fd of Object.values(kinds)) assert.equal(k.ioctl(fd, V.FIFREEZE, 0n), -E.EPERM);
});

Deno.test("vfs ioctl: FITHAW needs CAP_SYS_ADMIN (EPERM), then a filesystem frozen by user space (EINVAL)", () => {
  const { k, kinds } = files();
  for (const fd of Object.values(kinds)) assert.equal(k.ioctl(fd, V.FITHAW, 0n), -E.EINVAL);
  k.setPrivileged(false);
  for (const cmd of [V.FIFREEZE, V.FITHAW]) {
    for (const fd of Object.values(kinds)) assert.equal(k.ioctl(fd, cmd, 0n), -E.EPERM);
  }
});

Deno.test("vfs ioctl: FS_IOC_FIEMAP is EOPNOTSUPP before the argument is read (no fiemap op)", () => {
  const { k, kinds } = files();
  for (const fd of Object.values(kinds)) {
    assert.equal(k.ioctl(fd, V.FS_IOC_FIEMAP, 0n), -E.EOPNOTSUPP);
  }
});

Deno.test("vfs ioctl: FIONREAD of a regular file is the bytes left to read; others ask their driver", () => {
  const { k, kinds } = files();
  const b = int(-1);
  assert.equal(k.ioctl(kinds.memfd, V.FIONREAD, b), 0);
  assert.equal(readInt(b), 3 * 4096);
  assert.equal(k.read(kinds.memfd, new Uint8Array(100)), 100);
  assert.equal(k.ioctl(kinds.memfd, V.FIONREAD, b), 0);
  assert.equal(readInt(b), 3 * 4096 - 100);
  assert.equal(k.ioctl(kinds.memfd, V.FIONREAD, 0n), -E.EFAULT);
  // iommufd has no such request, and the fault queue has no ioctl op at all.
  assert.equal(k.ioctl(kinds.iommufd, V.FIONREAD, int(0)), -E.ENOTTY);
  assert.equal(k.ioctl(kinds.eventq, V.FIONREAD, int(0)), -E.ENOTTY);
});

Deno.test("vfs ioctl: a closed fd is EBADF before any of them", () => {
  const { k, kinds } = files();
  assert.equal(k.close(kinds.memfd), 0);
  assert.equal(k.ioctl(kinds.memfd, V.FIOCLEX, 0n), -E.EBADF);
});

Deno.test("vfs ioctl: FS_IOC_SETFLAGS and FS_IOC_FSSETXATTR read their argument (EFAULT) before anything else", () => {
  const { k, kinds } = files();
  for (const fd of Object.values(kinds)) {
    assert.equal(k.ioctl(fd, V.FS_IOC_SETFLAGS, 0n), -E.EFAULT);
    assert.equal(k.ioctl(fd, V.FS_IOC_SETFLAGS, new Uint8Array(3)), -E.EFAULT);
    assert.equal(k.ioctl(fd, V.FS_IOC_FSSETXATTR, new Uint8Array(27)), -E.EFAULT);
    // Read: then no filesystem of ours has fileattr_set, and no driver knows the request.
    assert.equal(k.ioctl(fd, V.FS_IOC_SETFLAGS, new Uint8Array(4)), -E.ENOTTY);
    assert.equal(k.ioctl(fd, V.FS_IOC_FSSETXATTR, new Uint8Array(28)), -E.ENOTTY);
  }
});
