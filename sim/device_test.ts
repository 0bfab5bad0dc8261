/**
 * VFIO device files: VFIO_DEVICE_GET_REGION_INFO and mmap of a region through the device fd
 * (drivers/vfio/pci/vfio_pci_core.c, mm/mmap.c), one test per errno path, each named after
 * the rule it checks; and the reserved regions of iommufd's attach / replace / detach
 * (drivers/iommu/iommufd/device.c) for a device that has one, through the module API.
 */

import { deepStrictEqual, strictEqual } from "node:assert";
import { E } from "../uapi/errno.ts";
import * as S from "../uapi/structs.ts";
import * as R from "../uapi/ioctl.ts";
import { SimKernel } from "./kernel.ts";
import {
  call,
  destroy,
  deviceFd,
  ioasAlloc,
  iovaRanges,
  mapFixed,
  mockDomain,
  openIommufd,
  VTD_DEVICE,
  vtdContainer,
} from "../tests/_sim_helpers.ts";
import {
  deviceAttach,
  deviceBind,
  deviceDetach,
  deviceReplace,
  vfio_device_info,
} from "./device.ts";
import { IommuGroup, type PhysicalDevice } from "./platform.ts";
import { MOCK_DOMAIN } from "./builtin_profiles.ts";
import type { Iommu } from "./profiles.ts";
import { HwptNested, hwptPagingAlloc } from "./hw_pagetable.ts";

const MiB = 0x100000n;
const PAGE = 0x1000n;
const BAR0 = 0n;
const CONFIG = 7n << 40n;

/** An iommufd compat container with the intel-vtd group attached and its device open. */
function device() {
  const { k, fd, gfd } = vtdContainer();
  const dfd = deviceFd(k, gfd);
  strictEqual(dfd > 0, true);
  return { k, fd, gfd, dfd };
}

function regionInfo(k: SimKernel, dfd: number, index: number, argsz = 32) {
  return call(k, dfd, R.VFIO_DEVICE_GET_REGION_INFO, S.vfio_region_info, { argsz, index });
}

Deno.test("GET_REGION_INFO: argsz below offsetofend(offset) is EINVAL", () => {
  const { k, dfd } = device();
  strictEqual(regionInfo(k, dfd, 0, 31).ret, -E.EINVAL);
});

Deno.test("GET_REGION_INFO: a short buffer is EFAULT (copy_from_user of 32 bytes)", () => {
  const { k, dfd } = device();
  const b = new Uint8Array(16);
  new DataView(b.buffer).setUint32(0, 32, true);
  strictEqual(k.ioctl(dfd, R.VFIO_DEVICE_GET_REGION_INFO, b), -E.EFAULT);
});

Deno.test("GET_REGION_INFO: a BAR is READ|WRITE|MMAP with its size at index << 40", () => {
  const { k, dfd } = device();
  const r = regionInfo(k, dfd, 0);
  strictEqual(r.ret, 0);
  strictEqual(r.out.flags, 7n);
  strictEqual(r.out.size, MiB);
  strictEqual(r.out.offset, 0n);
  strictEqual(r.out.index, 0n);
  strictEqual(r.out.argsz, 32n);
});

Deno.test("GET_REGION_INFO: a BAR the device lacks has size 0 and no flags", () => {
  const { k, dfd } = device();
  const r = regionInfo(k, dfd, 2);
  strictEqual(r.ret, 0);
  strictEqual(r.out.flags, 0n);
  strictEqual(r.out.size, 0n);
  strictEqual(r.out.offset, 2n << 40n);
});

Deno.test("GET_REGION_INFO: config space is READ|WRITE, cfg_size bytes (256, conventional PCI)", () => {
  const { k, dfd } = device();
  const r = regionInfo(k, dfd, 7);
  strictEqual(r.out.flags, 3n);
  strictEqual(r.out.size, 256n);
  strictEqual(r.out.offset, CONFIG);
});

Deno.test("GET_REGION_INFO: no ROM gives size 0, flags 0; VGA without VGA and index ≥ 9 are EINVAL", () => {
  const { k, dfd } = device();
  const rom = regionInfo(k, dfd, 6);
  strictEqual(rom.ret, 0);
  strictEqual(rom.out.size, 0n);
  strictEqual(rom.out.flags, 0n);
  strictEqual(regionInfo(k, dfd, 8).ret, -E.EINVAL);
  strictEqual(regionInfo(k, dfd, 9).ret, -E.EINVAL);
  strictEqual(regionInfo(k, dfd, 0xffffffff).ret, -E.EINVAL);
});

Deno.test("GET_REGION_INFO: cap_offset comes back as passed when there is no capability", () => {
  const { k, dfd } = device();
  const r = call(k, dfd, R.VFIO_DEVICE_GET_REGION_INFO, S.vfio_region_info, {
    argsz: 64,
    index: 0,
    cap_offset: 0x55,
  }, 64);
  strictEqual(r.ret, 0);
  strictEqual(r.out.cap_offset, 0x55n);
  strictEqual(r.out.argsz, 64n);
});

Deno.test("mmap: an offset that is not page aligned is EINVAL before the fd is looked at", () => {
  const { k } = device();
  strictEqual(k.mmap(PAGE, 99, 1n), -BigInt(E.EINVAL));
  strictEqual(k.mmap(PAGE, 99, -PAGE), -BigInt(E.EINVAL));
});

Deno.test("mmap: a bad fd is EBADF; length 0 is EINVAL after it", () => {
  const { k, dfd } = device();
  strictEqual(k.mmap(PAGE, 99, 0n), -BigInt(E.EBADF));
  strictEqual(k.mmap(0n, dfd, 0n), -BigInt(E.EINVAL));
});

Deno.test("mmap: a file without an mmap op (a group, the legacy container) is ENODEV", () => {
  const { k, gfd } = device();
  strictEqual(k.mmap(PAGE, gfd, 0n), -BigInt(E.ENODEV));
  const legacy = new SimKernel({ profile: "intel-vtd", container: "legacy" });
  strictEqual(legacy.mmap(PAGE, legacy.open("/dev/vfio/vfio"), 0n), -BigInt(E.ENODEV));
});

Deno.test("mmap: no room below TASK_SIZE is ENOMEM; an end past the largest offset EOVERFLOW", () => {
  const { k, dfd } = device();
  strictEqual(k.mmap(1n << 47n, dfd, BAR0), -BigInt(E.ENOMEM));
  strictEqual(k.mmap(2n * PAGE, dfd, (1n << 64n) - PAGE), -BigInt(E.EOVERFLOW));
});

Deno.test("vfio_pci_core_mmap: a BAR within its page-rounded size maps as VM_PFNMAP", () => {
  const { k, dfd } = device();
  const a = k.mmap(MiB, dfd, BAR0);
  strictEqual(a > 0n, true);
  const b = k.mmap(PAGE, dfd, BAR0 + MiB - PAGE); // the last page
  strictEqual(b > 0n, true);
  strictEqual(k.memory.isPfnmap(a), true);
});

Deno.test("vfio_pci_core_mmap: past the end of the BAR is EINVAL", () => {
  const { k, dfd } = device();
  strictEqual(k.mmap(MiB + PAGE, dfd, BAR0), -BigInt(E.EINVAL));
  strictEqual(k.mmap(PAGE, dfd, BAR0 + MiB), -BigInt(E.EINVAL));
});

Deno.test("vfio_pci_core_mmap: an absent BAR, ROM, config, VGA and index ≥ 9 are EINVAL", () => {
  const { k, dfd } = device();
  for (const index of [1n, 5n, 6n, 7n, 8n, 9n, 0xfffn]) {
    strictEqual(k.mmap(PAGE, dfd, index << 40n), -BigInt(E.EINVAL), `region ${index}`);
  }
});

Deno.test("device memory: readMemory/writeMemory refuse it (EFAULT), as the FFI backend does", () => {
  const { k, dfd } = device();
  const a = k.mmap(PAGE, dfd, BAR0);
  strictEqual(k.readMemory(a, new Uint8Array(4)), -E.EFAULT);
  strictEqual(k.writeMemory(a, new Uint8Array(4)), -E.EFAULT);
  const anon = k.mmap(PAGE);
  strictEqual(k.writeMemory(anon, new Uint8Array(4)), 0);
});

Deno.test("a BAR mapping holds the device file: closing the fd does not release the device", () => {
  // Legacy UNSET_CONTAINER is EBUSY while a device of the group is open (container_users).
  const { k, gfd } = vtdContainer("legacy");
  const dfd = deviceFd(k, gfd);
  const bar = k.mmap(2n * PAGE, dfd, BAR0);
  strictEqual(k.close(dfd), 0);
  strictEqual(k.ioctl(gfd, R.VFIO_GROUP_UNSET_CONTAINER, 0n), -E.EBUSY);
  strictEqual(k.munmap(bar, PAGE), 0); // one page left: still held
  strictEqual(k.ioctl(gfd, R.VFIO_GROUP_UNSET_CONTAINER, 0n), -E.EBUSY);
  strictEqual(k.munmap(bar + PAGE, PAGE), 0);
  strictEqual(k.ioctl(gfd, R.VFIO_GROUP_UNSET_CONTAINER, 0n), 0);
});

// ---- reserved regions across attach, replace and detach (device.c), with a device that has one ----

/** IOAS 1 and 2 on an iommufd, and a bound mock-driver device reserving [0x2000000, +4 KiB). */
function resvDevice() {
  const { k, fd } = openIommufd();
  const a = ioasAlloc(k, fd);
  const b = ioasAlloc(k, fd);
  const ctx = k.iommufdContext(fd)!;
  const dev: PhysicalDevice = {
    name: "resv0",
    iommu: MOCK_DOMAIN,
    resvRegions: [{ start: 0x2000000n, length: PAGE, type: "reserved" }],
    isMock: true,
    igroup: new IommuGroup(),
  };
  const idev = deviceBind(ctx, dev);
  if (typeof idev === "number") throw new Error(`bind: ${idev}`);
  return { k, fd, a, b, ctx, idev };
}

const holes = (k: SimKernel, fd: number, ioas: number) => iovaRanges(k, fd, ioas).ranges.length;

Deno.test("replace: the device's reserved regions move to the new IOAS and leave the old one", () => {
  const { k, fd, a, b, idev } = resvDevice();
  strictEqual(deviceAttach(idev, a) > 0, true);
  strictEqual(holes(k, fd, a), 2, "the region splits the aperture");
  strictEqual(deviceReplace(idev, b) > 0, true);
  strictEqual(holes(k, fd, a), 1);
  strictEqual(holes(k, fd, b), 2);
  deviceDetach(idev);
  strictEqual(holes(k, fd, b), 1);
});

Deno.test("replace: a reserved region over a mapped area of the new IOAS -> EADDRINUSE, attachment unchanged", () => {
  const { k, fd, a, b, idev } = resvDevice();
  const hwpt = deviceAttach(idev, a);
  strictEqual(hwpt > 0, true);
  strictEqual(mapFixed(k, fd, b, k.mmap(0x200000n), 0x200000n, 0x2000000n), 0);
  strictEqual(deviceReplace(idev, b), -E.EADDRINUSE);
  strictEqual(idev.hwpt?.id, hwpt);
  strictEqual(holes(k, fd, a), 2, "still reserved in the old IOAS");
});

/** A page mapped at `iova` of `ioas` whose user memory is then unmapped (a fill faults on it). */
function mapUnbacked(k: SimKernel, fd: number, ioas: number, iova: bigint): void {
  const va = k.mmap(PAGE);
  strictEqual(mapFixed(k, fd, ioas, va, PAGE, iova), 0);
  strictEqual(k.munmap(va, PAGE), 0);
}

Deno.test("attach (automatic domain): reserved regions are checked before the fill pins: EADDRINUSE over EFAULT", () => {
  const { k, fd, a, idev } = resvDevice();
  // An area over the device's reserved region whose memory is gone: the kernel attaches
  // (immediate_attach) before iopt_table_add_domain would fault on it.
  mapUnbacked(k, fd, a, 0x2000000n);
  strictEqual(deviceAttach(idev, a), -E.EADDRINUSE);
  strictEqual(idev.hwpt, undefined);
});

Deno.test("attach (automatic domain): a fill that fails detaches again: no reserved region, no hwpt, the IOAS free", () => {
  const { k, fd, a, idev } = resvDevice();
  mapUnbacked(k, fd, a, 0x3000000n);
  strictEqual(deviceAttach(idev, a), -E.EFAULT);
  strictEqual(idev.hwpt, undefined);
  strictEqual(holes(k, fd, a), 1, "the device's region left the IOAS");
  strictEqual(destroy(k, fd, a), 0, "no hwpt holds the IOAS");
});

Deno.test("attach to a nested hwpt: no reserved regions in the parent's IOAS (find_hwpt_paging is NULL)", () => {
  const { k, fd, a, ctx, idev } = resvDevice();
  const parent = hwptPagingAlloc(ctx, ctx.getIoas(a)!, idev);
  if (typeof parent === "number") throw new Error(`alloc: ${parent}`);
  parent.nestParent = true;
  ctx.objects.finalize(parent);
  const nested = new HwptNested(parent, undefined, 0);
  strictEqual(ctx.objects.allocate(nested), 0);
  parent.users++;
  ctx.objects.finalize(nested);
  strictEqual(deviceAttach(idev, nested.id), nested.id);
  strictEqual(holes(k, fd, a), 1);
  strictEqual(deviceReplace(idev, parent.id), parent.id);
  strictEqual(holes(k, fd, a), 2, "a paging hwpt brings them");
  strictEqual(deviceReplace(idev, nested.id), nested.id);
  strictEqual(holes(k, fd, a), 1, "and replacing onto the nested one takes them away");
  deviceDetach(idev);
  strictEqual(nested.users, 1);
});

// ---- VFIO_DEVICE_GET_INFO (vfio_pci_ioctl_get_info) ----

const DEVICE_GET_INFO = R.requestByName("VFIO_DEVICE_GET_INFO")!.request;

Deno.test("GET_INFO: argsz below offsetofend(num_irqs) is EINVAL, nothing written back", () => {
  const { k, dfd } = device();
  const r = call(k, dfd, DEVICE_GET_INFO, vfio_device_info, { argsz: 15, flags: 0xaa });
  strictEqual(r.ret, -E.EINVAL);
  deepStrictEqual([r.out.flags, r.out.num_regions, r.out.num_irqs], [0xaan, 0n, 0n]);
  const ok = call(k, dfd, DEVICE_GET_INFO, vfio_device_info, { argsz: 16 });
  deepStrictEqual([ok.ret, ok.out.flags, ok.out.num_regions, ok.out.num_irqs], [0, 2n, 9n, 5n]);
});

Deno.test("GET_INFO: a buffer shorter than offsetofend(num_irqs) is EFAULT (copy_from_user of 16 bytes)", () => {
  const { k, dfd } = device();
  const b = new Uint8Array(15);
  new DataView(b.buffer).setUint32(0, 24, true);
  strictEqual(k.ioctl(dfd, DEVICE_GET_INFO, b), -E.EFAULT);
  deepStrictEqual([...b.subarray(4)], new Array(11).fill(0), "nothing written back");
  // The same struct ending at the last byte of a mapping, and one byte short of it.
  const page = k.mmap(PAGE);
  const at = page + PAGE - 16n;
  strictEqual(k.writeMemory(at, new Uint8Array([16, 0, 0, 0])), 0);
  strictEqual(k.ioctl(dfd, DEVICE_GET_INFO, at), 0);
  const back = new Uint8Array(16);
  strictEqual(k.readMemory(at, back), 0);
  deepStrictEqual([...back.subarray(4, 16)], [2, 0, 0, 0, 9, 0, 0, 0, 5, 0, 0, 0]);
  strictEqual(k.writeMemory(at + 1n, new Uint8Array([16, 0, 0, 0])), 0);
  strictEqual(k.ioctl(dfd, DEVICE_GET_INFO, at + 1n), -E.EFAULT);
});

// ---- iommufd_device_bind, and attach / replace errors (device.c), through the module API ----

/** A device of `iommu` in a group of its own; not a selftest mock unless `isMock`. */
function physDev(iommu: Iommu, isMock = false): PhysicalDevice {
  return { name: "dev0", iommu, resvRegions: [], isMock, igroup: new IommuGroup() };
}

Deno.test("bind: a platform that cannot isolate MSI is EPERM (no allow_unsafe_interrupts), before DMA ownership", () => {
  const { k, fd } = openIommufd();
  const ctx = k.iommufdContext(fd)!;
  const unsafe = { ...MOCK_DOMAIN, driver: "intel-iommu", msiIsolated: false };
  const dev = physDev(unsafe);
  strictEqual(deviceBind(ctx, dev), -E.EPERM);
  strictEqual(dev.igroup.claimed, false, "iommu_device_claim_dma_owner not reached");
  strictEqual(ioasAlloc(k, fd), 1, "no object id was taken");
  // Cache coherency is checked first (EINVAL); a selftest mock device is exempt from MSI.
  strictEqual(deviceBind(ctx, physDev({ ...unsafe, cacheCoherency: false })), -E.EINVAL);
  const mock = deviceBind(ctx, physDev({ ...MOCK_DOMAIN, msiIsolated: false }, true));
  strictEqual(typeof mock === "number" ? mock : mock.id, 2);
});

Deno.test("auto domain: another IOMMU driver's hwpt on the IOAS is passed over (group attach EINVAL), a new one made", () => {
  const k = new SimKernel({ profile: "intel-vtd" });
  const fd = k.open("/dev/iommu");
  const ioas = ioasAlloc(k, fd);
  deepStrictEqual(k.attachDevice(fd, VTD_DEVICE, ioas), { errno: 0, ioasId: ioas });
  const vtdHwpt = k.iommufdContext(fd)!.getIoas(ioas)!.hwpts;
  strictEqual(vtdHwpt.length, 1);
  const [intel] = [...vtdHwpt];
  strictEqual(intel.id, 3, "device 2, its automatic hwpt 3");
  // The mock device tries hwpt 3 (dev_iommu_ops != domain->owner: EINVAL) and allocates its own.
  const m = mockDomain(k, fd, ioas);
  deepStrictEqual([m.ret, m.stdev, m.idev, m.hwpt], [0, 4, 5, 6]);
  strictEqual(intel.users, 2, "hwpt 3 still holds only the IOAS's and the VT-d device's");
  strictEqual(k.iommufdContext(fd)!.getIoas(ioas)!.hwpts.length, 2);
});

Deno.test("attach: a device already attached elsewhere is EINVAL (igroup->hwpt != hwpt), nothing changes", () => {
  const { k, fd, a, b, idev } = resvDevice();
  const hwpt = deviceAttach(idev, a);
  strictEqual(hwpt > 0, true);
  strictEqual(deviceAttach(idev, b), -E.EINVAL);
  strictEqual(deviceAttach(idev, hwpt + 1), -E.ENOENT, "an id with no object: ENOENT first");
  strictEqual(idev.hwpt?.id, hwpt);
  strictEqual(holes(k, fd, a), 2);
  strictEqual(holes(k, fd, b), 1, "no reserved region and no hwpt left in the other IOAS");
  strictEqual(ioasAlloc(k, fd), hwpt + 1, "the next id is free: no hwpt was kept");
});

Deno.test("replace: a device that is not attached is EINVAL (igroup->hwpt == NULL); the new hwpt is aborted", () => {
  const { k, fd, a, ctx, idev } = resvDevice();
  strictEqual(deviceReplace(idev, a), -E.EINVAL);
  strictEqual(idev.hwpt, undefined);
  strictEqual(ctx.getIoas(a)!.hwpts.length, 0, "the automatic hwpt allocated for it went away");
  strictEqual(holes(k, fd, a), 1);
  const paging = hwptPagingAlloc(ctx, ctx.getIoas(a)!, idev);
  if (typeof paging === "number") throw new Error(`alloc: ${paging}`);
  ctx.objects.finalize(paging);
  strictEqual(deviceReplace(idev, paging.id), -E.EINVAL, "onto an explicit hwpt as well");
  strictEqual(paging.users, 1);
});
