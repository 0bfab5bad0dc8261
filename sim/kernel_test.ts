/** The file table and the simulator controls. */

import { deepStrictEqual, strictEqual, throws } from "node:assert";
import { E } from "../uapi/errno.ts";
import * as S from "../uapi/structs.ts";
import * as R from "../uapi/ioctl.ts";
import { SimKernel } from "./kernel.ts";
import { createSimKernel } from "./mod.ts";
import {
  call,
  deviceFd,
  ioasAlloc,
  mapFixed,
  mockDomain,
  openIommufd,
  VTD_DEVICE,
  vtdContainer,
} from "../tests/_sim_helpers.ts";
import { SimFile } from "./file.ts";

Deno.test("open: fds are the lowest free from 3; unknown paths ENOENT", () => {
  const k = createSimKernel();
  strictEqual(k.name, "sim");
  strictEqual(k.open("/dev/iommu"), 3);
  strictEqual(k.open("/dev/vfio/vfio"), 4);
  strictEqual(k.open("/dev/null"), -E.ENOENT);
  strictEqual(k.open("/dev/vfio/007"), -E.ENOENT);
  strictEqual(k.close(3), 0);
  strictEqual(k.open("/dev/iommu"), 3);
});

Deno.test("close/ioctl on bad fds: EBADF", () => {
  const k = createSimKernel();
  for (const fd of [-1, 0, 1, 2, 3, 1.5, NaN, 2 ** 40]) {
    strictEqual(k.close(fd), -E.EBADF);
    strictEqual(k.ioctl(fd, R.VFIO_GET_API_VERSION, 0n), -E.EBADF);
  }
  const fd = k.open("/dev/iommu");
  strictEqual(k.close(fd), 0);
  strictEqual(k.close(fd), -E.EBADF);
});

Deno.test("closing the iommufd releases every object and drops every pin", () => {
  const { k, fd } = openIommufd();
  const buf = k.mmap(0x100000n);
  const ioas = ioasAlloc(k, fd);
  mockDomain(k, fd, ioas);
  strictEqual(mapFixed(k, fd, ioas, buf, 0x100000n, 0x1000000n), 0);
  strictEqual(k.pinnedPages(), 0x100n);
  strictEqual(k.close(fd), 0);
  strictEqual(k.pinnedPages(), 0n);
});

Deno.test("memlock: unprivileged pins past RLIMIT_MEMLOCK fail ENOMEM, privileged ones do not", () => {
  const { k, fd } = openIommufd();
  const buf = k.mmap(0x200000n);
  const ioas = ioasAlloc(k, fd);
  mockDomain(k, fd, ioas);
  k.setMemlockLimit(0x100000n);
  strictEqual(mapFixed(k, fd, ioas, buf, 0x200000n, 0x1000000n), 0);
  k.setPrivileged(false);
  strictEqual(mapFixed(k, fd, ioas, buf, 0x200000n, 0x2000000n), -E.ENOMEM);
  strictEqual(mapFixed(k, fd, ioas, buf, 0x100000n, 0x2000000n), 0);
});

Deno.test("controls: profiles, releases, reset, mappings, addDevice, attachDevice", () => {
  const k = new SimKernel();
  deepStrictEqual(k.kernelVersions(), ["6.2", "6.6", "6.12", "6.12.117", "6.18"]);
  strictEqual(k.kernelVersion(), "6.18");
  k.setKernelVersion("6.12.117");
  strictEqual(k.kernelVersion(), "6.12.117");
  throws(() => k.setKernelVersion("5.10"));
  throws(() => k.setProfile("nope"));
  strictEqual(k.profiles().includes("arm-smmuv3"), true);
  const fd = k.open("/dev/iommu");
  strictEqual(k.mappings(fd), -E.ENODEV);
  strictEqual(k.mappings(99), -E.EBADF);
  const group = k.addDevice("extra0", { profile: "amd-vi" });
  strictEqual(group, 1);
  throws(() => k.addDevice("extra0"));
  // Names a kernel could not give a device (they are sysfs directory names).
  for (const bad of ["", "a b", "pci/0", "x\ty", "\x1b[0m"]) {
    throws(() => k.addDevice(bad), /cannot name a device/, JSON.stringify(bad));
  }
  const r = k.attachDevice(fd, "extra0");
  deepStrictEqual(r, { errno: 0, ioasId: 1 });
  const buf = k.mmap(0x1000n);
  strictEqual(
    call(k, fd, R.VFIO_IOMMU_MAP_DMA, S.vfio_iommu_type1_dma_map, {
      flags: 3,
      vaddr: buf,
      iova: 0x1000n,
      size: 0x1000n,
    }).ret,
    0,
  );
  deepStrictEqual(k.mappings(fd), [{
    iova: 0x1000n,
    last: 0x1fffn,
    vaddr: buf,
    prot: 3,
    pinned: true,
  }]);
  strictEqual(k.ioctl(fd, R.VFIO_CHECK_EXTENSION, 4n), 1, "AMD-Vi enforces cache coherency");
  strictEqual(k.pinnedPages(), 1n);
  strictEqual(k.close(fd), 0);
  strictEqual(k.pinnedPages(), 0n);
  const fd2 = k.open("/dev/iommu");
  deepStrictEqual(k.attachDevice(fd2, "extra0"), { errno: 0, ioasId: 1 }, "free again after close");
  k.reset();
  strictEqual(k.pinnedPages(), 0n);
  strictEqual(k.open("/dev/iommu"), 3);
  k.setProfile("arm-smmuv3");
  strictEqual(k.open("/dev/vfio/5"), 3, "setProfile reboots: fd 3 is free again");
});

Deno.test("sim noiommu: a no-IOMMU device needs enable_unsafe_noiommu_mode; off refused while one exists", () => {
  const k = new SimKernel({ profile: "intel-vtd" });
  strictEqual(k.noIommu(), "off");
  throws(() => k.addDevice("0000:00:05.0", { noiommu: true }), /enable_unsafe_noiommu_mode/);
  k.setNoIommu("built");
  throws(() => k.addDevice("0000:00:05.0", { noiommu: true }), /enable_unsafe_noiommu_mode/);
  k.setNoIommu("on");
  throws(() => k.addDevice("x", { noiommu: true, profile: "amd-vi" }), /no profile/);
  const g = k.addDevice("0000:00:05.0", { noiommu: true });
  strictEqual(g, 0, "the lowest free iommu_group id");
  deepStrictEqual(k.groups()[0], { group: 0, devices: ["0000:00:05.0"], noiommu: true });
  throws(() => k.setNoIommu("off"), /sim reset/);
  k.setNoIommu("built"); // the parameter only decides new groups
  k.reset();
  strictEqual(k.noIommu(), "built", "settings survive a reboot; the group does not");
  strictEqual(k.groups().some((x) => x.noiommu), false);
  k.setNoIommu("off");
  throws(() => new SimKernel({ noiommu: "yes" as "on" }), /unknown no-IOMMU setting/);
});

Deno.test("sim reset: device BAR mappings are dropped with the rest (the device is released)", () => {
  const { k, gfd } = vtdContainer();
  const dfd = deviceFd(k, gfd);
  strictEqual(k.mmap(0x1000n, dfd, 0n) > 0n, true);
  k.reset();
  deepStrictEqual(k.internalErrors, []);
  strictEqual(k.pinnedPages(), 0n);
});

Deno.test("mlock: RLIMIT_MEMLOCK 0 without CAP_IPC_LOCK -> EPERM (can_do_mlock)", () => {
  const k = new SimKernel();
  const buf = k.mmap(0x2000n);
  k.setPrivileged(false);
  k.setMemlockLimit(0n);
  strictEqual(k.mlock(buf, 0x1000n), -E.EPERM);
  k.setPrivileged(true);
  strictEqual(k.mlock(buf, 0x1000n), 0, "CAP_IPC_LOCK: no limit");
  strictEqual(k.accounting.lockedPages("mm"), 1, "counted all the same");
});

Deno.test("mlock: past RLIMIT_MEMLOCK -> ENOMEM; pages already locked count once", () => {
  const k = new SimKernel();
  const buf = k.mmap(0x4000n);
  k.setPrivileged(false);
  k.setMemlockLimit(0x2000n);
  strictEqual(k.mlock(buf + 0x10n, 0x1000n), 0, "rounded out to the two pages it touches");
  strictEqual(k.accounting.lockedPages("mm"), 2);
  strictEqual(k.mlock(buf, 0x2000n), 0, "already locked: nothing new");
  strictEqual(k.mlock(buf, 0x3000n), -E.ENOMEM);
  strictEqual(k.accounting.lockedPages("mm"), 2);
});

Deno.test("mlock: a range with an unmapped page -> ENOMEM, nothing locked", () => {
  const k = new SimKernel();
  const buf = k.mmap(0x1000n);
  strictEqual(k.mlock(buf, 0x2000n), -E.ENOMEM);
  strictEqual(k.accounting.lockedPages("mm"), 0);
});

Deno.test("munmap of mlocked pages takes them out of mm->locked_vm", () => {
  const k = new SimKernel();
  const buf = k.mmap(0x3000n);
  strictEqual(k.mlock(buf, 0x3000n), 0);
  strictEqual(k.munmap(buf + 0x1000n, 0x1000n), 0);
  strictEqual(k.accounting.lockedPages("mm"), 2);
  strictEqual(k.munmap(buf, 0x3000n), 0);
  strictEqual(k.accounting.lockedPages("mm"), 0);
});

Deno.test("mlocked pages count against legacy type1 pins (mm->locked_vm), not against /dev/iommu (user->locked_vm)", () => {
  const mapAfterMlock = (container: "legacy" | "iommufd") => {
    const k = new SimKernel({ profile: "intel-vtd", container });
    const locked = k.mmap(0x80000n);
    const buf = k.mmap(0x100000n);
    k.setPrivileged(false);
    k.setMemlockLimit(0x100000n);
    strictEqual(k.mlock(locked, 0x80000n), 0);
    // /dev/iommu as the compat container: the device open attaches the domain that pins.
    const { fd, gfd } = vtdContainer(container, k);
    if (container === "iommufd") strictEqual(deviceFd(k, gfd) > 0, true);
    const map = (iova: bigint, size: bigint) =>
      call(k, fd, R.VFIO_IOMMU_MAP_DMA, S.vfio_iommu_type1_dma_map, {
        flags: 3,
        vaddr: buf,
        iova,
        size,
      }).ret;
    return [map(0x100000n, 0x80000n), map(0x200000n, 0x1000n)];
  };
  deepStrictEqual(mapAfterMlock("legacy"), [0, -E.ENOMEM]);
  deepStrictEqual(mapAfterMlock("iommufd"), [0, 0]);
});

Deno.test("read: a bad fd is EBADF; a file without a read op (iommufd, group, legacy container) EINVAL (vfs_read: no FMODE_CAN_READ)", () => {
  const { k, fd, gfd } = vtdContainer();
  const into = new Uint8Array(8).fill(0xaa);
  for (const bad of [-1, 0, 99, 1.5]) strictEqual(k.read(bad, into), -E.EBADF, `fd ${bad}`);
  strictEqual(k.read(fd, into), -E.EINVAL, "/dev/iommu");
  strictEqual(k.read(gfd, into), -E.EINVAL, "/dev/vfio/3");
  const legacy = vtdContainer("legacy");
  strictEqual(legacy.k.read(legacy.fd, into), -E.EINVAL, "the legacy /dev/vfio/vfio");
  deepStrictEqual([...into], new Array(8).fill(0xaa), "nothing read");
  // A memfd has one (shmem_file_read_iter): zeros up to its size.
  const mfd = k.memfdCreate("m", 4n);
  strictEqual(k.read(mfd, into), 4);
});

Deno.test("mmap of a file: a length that wraps to 0 when page aligned is ENOMEM (do_mmap), after EBADF and before ENODEV", () => {
  const { k, gfd } = vtdContainer();
  const U64_MAX = (1n << 64n) - 1n;
  strictEqual(k.mmap(U64_MAX, 99), -BigInt(E.EBADF));
  for (const length of [U64_MAX, U64_MAX - 0xffen]) {
    strictEqual(k.mmap(length, gfd), -BigInt(E.ENOMEM), `length ${length}`);
  }
  strictEqual(k.mmap(0x1000n, gfd), -BigInt(E.ENODEV), "a group has no mmap op");
});

Deno.test("mlock: addr + len past the top of the address space -> EINVAL (apply_vma_lock_flags: end < start)", () => {
  const k = new SimKernel();
  const buf = k.mmap(0x1000n);
  // Privileged (CAP_IPC_LOCK): neither can_do_mlock nor RLIMIT_MEMLOCK comes first.
  strictEqual(k.mlock(buf, (1n << 64n) - buf), -E.EINVAL);
  strictEqual(k.mlock(buf + 0x800n, (1n << 64n) - buf - 0x7ffn), -E.EINVAL);
  strictEqual(k.accounting.lockedPages("mm"), 0);
  strictEqual(k.mlock(buf, 0x1000n), 0);
  strictEqual(k.accounting.lockedPages("mm"), 1);
});

Deno.test("mlock: can_do_mlock and RLIMIT_MEMLOCK come before the wrap check; a length rounding to 2^64 locks nothing (do_mlock)", () => {
  const k = new SimKernel();
  const buf = k.mmap(0x1000n);
  const wraps = (1n << 64n) - buf;
  k.setPrivileged(false);
  k.setMemlockLimit(0n);
  strictEqual(k.mlock(buf, wraps), -E.EPERM, "can_do_mlock first");
  k.setMemlockLimit(0x2000n);
  strictEqual(k.mlock(buf, wraps), -E.ENOMEM, "then the limit, counted in whole pages");
  k.setPrivileged(true);
  strictEqual(k.mlock(buf, wraps), -E.EINVAL, "then end < start");
  // PAGE_ALIGN(2^64 - 1) is 0 in 64 bits: an empty range, success, nothing locked.
  strictEqual(k.mlock(buf, (1n << 64n) - 1n), 0);
  k.setPrivileged(false);
  strictEqual(k.mlock(buf, (1n << 64n) - 1n), 0, "within any limit");
  strictEqual(k.accounting.lockedPages("mm"), 0);
  // Arguments no unsigned long can hold never reach the rules.
  strictEqual(k.mlock(-1n, 0x1000n), -E.EINVAL);
  strictEqual(k.mlock(buf, 1n << 64n), -E.EINVAL);
});

Deno.test("Kernel contract: an internal error is caught at the boundary, answered EFAULT and kept in internalErrors", () => {
  const k = new SimKernel();
  class Broken extends SimFile {
    readonly kind = "iommufd" as const;
    protected release(): void {
      throw new Error("release");
    }
    ioctl(): number {
      throw new Error("ioctl");
    }
    override read(): number {
      throw new Error("read");
    }
    override mmap(): number {
      throw new Error("mmap");
    }
  }
  const fd = k.install(new Broken());
  strictEqual(k.ioctl(fd, R.IOMMU_IOAS_ALLOC, 0n), -E.EFAULT);
  strictEqual(k.read(fd, new Uint8Array(1)), -E.EFAULT);
  strictEqual(k.mmap(0x1000n, fd), -BigInt(E.EFAULT));
  strictEqual(k.close(fd), -E.EFAULT);
  strictEqual(k.close(fd), -E.EBADF, "the fd is gone all the same");
  deepStrictEqual(k.internalErrors.map((e) => (e as Error).message), [
    "ioctl",
    "read",
    "mmap",
    "release",
  ]);
});

Deno.test("attachDevice: a pt id that is no IOAS fails as iommufd_device_attach does (ENOENT, EINVAL); the device is unbound again", () => {
  const k = new SimKernel({ profile: "intel-vtd" });
  const fd = k.open("/dev/iommu");
  strictEqual(k.attachDevice(fd, VTD_DEVICE, 99).errno, E.ENOENT, "no object 99");
  strictEqual(k.attachDevice(fd, VTD_DEVICE, 1).errno, E.EINVAL, "id 1 is the device just bound");
  const ioas = ioasAlloc(k, fd);
  strictEqual(ioas, 1, "the failed bind's device id was given back");
  const m = mockDomain(k, fd, ioas);
  strictEqual(m.ret, 0);
  strictEqual(k.attachDevice(fd, VTD_DEVICE, m.idev).errno, E.EINVAL, "a device object");
  strictEqual(k.attachDevice(fd, VTD_DEVICE, m.stdev).errno, E.EINVAL, "a selftest object");
  // DMA ownership was released each time: the group opens and reports itself viable.
  const gfd = k.open("/dev/vfio/3");
  strictEqual(Number(call(k, gfd, R.VFIO_GROUP_GET_STATUS, S.vfio_group_status).out.flags), 1);
  strictEqual(k.close(gfd), 0);
  deepStrictEqual(k.attachDevice(fd, VTD_DEVICE, ioas), { errno: 0, ioasId: ioas });
});

Deno.test("mappings: EINVAL for a file that is no iommufd (a group; a legacy container given an IOAS id)", () => {
  const { k, gfd } = vtdContainer();
  strictEqual(k.mappings(gfd), -E.EINVAL);
  strictEqual(k.mappings(gfd, 1), -E.EINVAL);
  const legacy = vtdContainer("legacy");
  deepStrictEqual(legacy.k.mappings(legacy.fd), []);
  strictEqual(legacy.k.mappings(legacy.fd, 1), -E.EINVAL);
});
