/**
 * The legacy container (drivers/vfio/container.c) and the group side of it (group.c): one
 * test per errno path, each named after the rule it checks.
 */

import { deepStrictEqual, strictEqual } from "node:assert";
import { E } from "../uapi/errno.ts";
import { decodeInfoCaps } from "../uapi/caps.ts";
import { encode } from "../uapi/codec.ts";
import * as S from "../uapi/structs.ts";
import * as R from "../uapi/ioctl.ts";
import { SimKernel } from "./kernel.ts";
import { mapDma, unmapDma } from "../tests/_sim_helpers.ts";

const MiB = 0x100000n;

function legacy(profile = "intel-vtd", release?: string) {
  const k = new SimKernel({ profile, release, container: "legacy" });
  const fd = k.open("/dev/vfio/vfio");
  const g = k.groups()[0];
  return { k, fd, group: g.group, device: g.devices[0] };
}

function setContainer(k: SimKernel, gfd: number, fd: number): number {
  const b = new Uint8Array(4);
  new DataView(b.buffer).setInt32(0, fd, true);
  return k.ioctl(gfd, R.VFIO_GROUP_SET_CONTAINER, b);
}

function attached(profile = "intel-vtd", release?: string) {
  const l = legacy(profile, release);
  const gfd = l.k.open(`/dev/vfio/${l.group}`);
  strictEqual(setContainer(l.k, gfd, l.fd), 0);
  return { ...l, gfd };
}

function deviceFd(k: SimKernel, gfd: number, name: string): number {
  return k.ioctl(gfd, R.VFIO_GROUP_GET_DEVICE_FD, new TextEncoder().encode(name + "\0"));
}

function infoCaps(k: SimKernel, fd: number) {
  const b = new Uint8Array(256);
  new DataView(b.buffer).setUint32(0, 256, true);
  strictEqual(k.ioctl(fd, R.VFIO_IOMMU_GET_INFO, b), 0);
  return { pgsizes: new DataView(b.buffer).getBigUint64(8, true), caps: decodeInfoCaps(b).caps };
}

function groupFlags(k: SimKernel, gfd: number): number {
  const b = encode(S.vfio_group_status);
  strictEqual(k.ioctl(gfd, R.VFIO_GROUP_GET_STATUS, b), 0);
  return new DataView(b.buffer).getUint32(4, true);
}

Deno.test("container: /dev/vfio/vfio is the legacy container only when selected", () => {
  const k = new SimKernel();
  strictEqual(k.container(), "iommufd");
  const a = k.open("/dev/vfio/vfio");
  strictEqual(k.ioctl(a, R.VFIO_IOMMU_GET_INFO, encode(S.vfio_iommu_type1_info)), -E.ENODEV);
  k.setContainer("legacy");
  const b = k.open("/dev/vfio/vfio");
  strictEqual(k.ioctl(b, R.VFIO_IOMMU_GET_INFO, encode(S.vfio_iommu_type1_info)), -E.EINVAL);
  strictEqual(k.ioctl(a, R.VFIO_IOMMU_GET_INFO, encode(S.vfio_iommu_type1_info)), -E.ENODEV);
  const c = k.open("/dev/iommu");
  strictEqual(k.ioctl(c, R.VFIO_IOMMU_GET_INFO, encode(S.vfio_iommu_type1_info)), -E.ENODEV);
});

Deno.test("container: GET_API_VERSION is 0 with or without a backend", () => {
  const { k, fd } = legacy();
  strictEqual(k.ioctl(fd, R.VFIO_GET_API_VERSION, 0n), 0);
});

Deno.test("container: CHECK_EXTENSION without a backend polls type1 (TYPE1, TYPE1v2, UNMAP_ALL, NESTING)", () => {
  const { k, fd } = legacy("intel-vtd", "6.12");
  const want: Record<number, number> = {
    1: 1,
    2: 0,
    3: 1,
    4: 0,
    5: 0,
    6: 1,
    7: 0,
    8: 0,
    9: 1,
    10: 0,
  };
  for (const [ext, v] of Object.entries(want)) {
    strictEqual(k.ioctl(fd, R.VFIO_CHECK_EXTENSION, BigInt(ext)), v, `ext ${ext}`);
  }
});

Deno.test("container: CHECK_EXTENSION(NESTING) is 0 after its removal (6.13)", () => {
  const { k, fd } = legacy("intel-vtd", "6.18");
  strictEqual(k.ioctl(fd, R.VFIO_CHECK_EXTENSION, 6n), 0);
});

Deno.test("container: CHECK_EXTENSION with the backend: UPDATE_VADDR 1, DMA_CC from the domains", () => {
  for (const [profile, cc] of [["intel-vtd", 0], ["amd-vi", 1]] as const) {
    const { k, fd } = attached(profile);
    strictEqual(k.ioctl(fd, R.VFIO_SET_IOMMU, 3n), 0);
    strictEqual(k.ioctl(fd, R.VFIO_CHECK_EXTENSION, 10n), 1, "UPDATE_VADDR");
    strictEqual(k.ioctl(fd, R.VFIO_CHECK_EXTENSION, 4n), cc, `DMA_CC on ${profile}`);
  }
});

Deno.test("container: backend requests before SET_IOMMU are EINVAL (no iommu_driver)", () => {
  const { k, fd } = attached();
  strictEqual(k.ioctl(fd, R.VFIO_IOMMU_GET_INFO, encode(S.vfio_iommu_type1_info)), -E.EINVAL);
  strictEqual(k.ioctl(fd, R.VFIO_IOMMU_MAP_DMA, encode(S.vfio_iommu_type1_dma_map)), -E.EINVAL);
  strictEqual(k.ioctl(fd, R.VFIO_IOMMU_UNMAP_DMA, encode(S.vfio_iommu_type1_dma_unmap)), -E.EINVAL);
  strictEqual(k.ioctl(fd, R.VFIO_IOMMU_DIRTY_PAGES, new Uint8Array(8)), -E.EINVAL);
  strictEqual(k.ioctl(fd, R.IOMMU_VFIO_IOAS, encode(S.iommu_vfio_ioas)), -E.EINVAL);
});

Deno.test("container: SET_IOMMU without a group is EINVAL", () => {
  const { k, fd } = legacy();
  strictEqual(k.ioctl(fd, R.VFIO_SET_IOMMU, 3n), -E.EINVAL);
});

Deno.test("container: SET_IOMMU a second time is EINVAL (iommu_driver already set)", () => {
  const { k, fd } = attached();
  strictEqual(k.ioctl(fd, R.VFIO_SET_IOMMU, 3n), 0);
  strictEqual(k.ioctl(fd, R.VFIO_SET_IOMMU, 3n), -E.EINVAL);
  strictEqual(k.ioctl(fd, R.VFIO_SET_IOMMU, 1n), -E.EINVAL);
});

Deno.test("container: SET_IOMMU of a type no driver claims is ENODEV", () => {
  const { k, fd } = attached("intel-vtd", "6.18");
  for (const t of [2n, 4n, 5n, 6n, 7n, 8n, 10n, 0n]) {
    strictEqual(k.ioctl(fd, R.VFIO_SET_IOMMU, t), -E.ENODEV, `type ${t}`);
  }
});

Deno.test("container: SET_IOMMU(UNMAP_ALL) is claimed by type1 but cannot be opened: EINVAL", () => {
  const { k, fd } = attached();
  strictEqual(k.ioctl(fd, R.VFIO_SET_IOMMU, 9n), -E.EINVAL);
  strictEqual(k.ioctl(fd, R.VFIO_SET_IOMMU, 3n), 0, "no backend was left behind");
});

Deno.test("container: SET_IOMMU(NESTING) before 6.13 needs a driver that can nest (EINVAL on VT-d)", () => {
  const intel = attached("intel-vtd", "6.12");
  strictEqual(intel.k.ioctl(intel.fd, R.VFIO_SET_IOMMU, 6n), -E.EINVAL);
  const arm = attached("arm-smmuv3", "6.12");
  strictEqual(arm.k.ioctl(arm.fd, R.VFIO_SET_IOMMU, 6n), 0);
});

Deno.test("container: SET_IOMMU attaches the groups: the domain's page sizes and ranges appear", () => {
  const { k, fd } = attached();
  strictEqual(k.ioctl(fd, R.VFIO_SET_IOMMU, 1n), 0);
  const i = infoCaps(k, fd);
  strictEqual(i.pgsizes, 0x40201000n);
  deepStrictEqual(i.caps.find((c) => c.kind === "iova_range")!.ranges, [
    { start: 0n, end: 0xfedfffffn },
    { start: 0xfef00000n, end: 0x7f_ffff_ffffn },
  ]);
});

Deno.test("container: unknown requests once the backend is set are ENOTTY", () => {
  const { k, fd } = attached();
  strictEqual(k.ioctl(fd, R.VFIO_SET_IOMMU, 3n), 0);
  strictEqual(k.ioctl(fd, R.IOMMU_IOAS_ALLOC, encode(S.iommu_ioas_alloc)), -E.ENOTTY);
});

Deno.test("group: SET_CONTAINER marks the group CONTAINER_SET|VIABLE", () => {
  const { k, fd, group } = legacy();
  const gfd = k.open(`/dev/vfio/${group}`);
  strictEqual(groupFlags(k, gfd), 1);
  strictEqual(setContainer(k, gfd, fd), 0);
  strictEqual(groupFlags(k, gfd), 3);
});

Deno.test("group: GET_DEVICE_FD before SET_IOMMU is EINVAL (vfio_group_use_container)", () => {
  const { k, fd, gfd, device } = attached();
  strictEqual(deviceFd(k, gfd, device), -E.EINVAL);
  strictEqual(k.ioctl(fd, R.VFIO_SET_IOMMU, 3n), 0);
  strictEqual(deviceFd(k, gfd, device) >= 0, true);
});

Deno.test("group: UNSET_CONTAINER with a device open is EBUSY (container_users != 1)", () => {
  const { k, fd, gfd, device } = attached();
  strictEqual(k.ioctl(fd, R.VFIO_SET_IOMMU, 3n), 0);
  const dfd = deviceFd(k, gfd, device);
  strictEqual(k.ioctl(gfd, R.VFIO_GROUP_UNSET_CONTAINER, 0n), -E.EBUSY);
  strictEqual(k.close(dfd), 0);
  strictEqual(k.ioctl(gfd, R.VFIO_GROUP_UNSET_CONTAINER, 0n), 0);
  strictEqual(k.ioctl(gfd, R.VFIO_GROUP_UNSET_CONTAINER, 0n), -E.EINVAL, "not attached");
});

Deno.test("group: the last group leaving takes the backend and every mapping with it", () => {
  const { k, fd, gfd } = attached();
  strictEqual(k.ioctl(fd, R.VFIO_SET_IOMMU, 3n), 0);
  const buf = k.mmap(2n * MiB);
  strictEqual(mapDma(k, fd, buf, MiB, 2n * MiB), 0);
  strictEqual(k.ioctl(gfd, R.VFIO_GROUP_UNSET_CONTAINER, 0n), 0);
  strictEqual(k.ioctl(fd, R.VFIO_IOMMU_GET_INFO, encode(S.vfio_iommu_type1_info)), -E.EINVAL);
  strictEqual(setContainer(k, gfd, fd), 0);
  strictEqual(k.ioctl(fd, R.VFIO_SET_IOMMU, 3n), 0, "SET_IOMMU is needed (and allowed) again");
  deepStrictEqual(unmapDma(k, fd, MiB, 2n * MiB), { ret: 0, size: 0n }, "the mapping is gone");
});

Deno.test("group: closing the group file detaches it, like UNSET_CONTAINER", () => {
  const { k, fd, gfd, group } = attached();
  strictEqual(k.ioctl(fd, R.VFIO_SET_IOMMU, 3n), 0);
  strictEqual(k.close(gfd), 0);
  strictEqual(k.ioctl(fd, R.VFIO_IOMMU_GET_INFO, encode(S.vfio_iommu_type1_info)), -E.EINVAL);
  strictEqual(k.open(`/dev/vfio/${group}`) >= 0, true, "the group can be opened again");
});

Deno.test("group: SET_CONTAINER while iommufd holds a device of the group is EBUSY (DMA ownership)", () => {
  const { k, fd, group, device } = legacy();
  const ifd = k.open("/dev/iommu");
  strictEqual(k.attachDevice(ifd, device).errno, 0);
  const gfd = k.open(`/dev/vfio/${group}`);
  strictEqual(setContainer(k, gfd, fd), -E.EBUSY);
});

Deno.test("group: a second group joins the backend at once; same IOMMU kind, same domain", () => {
  const { k, fd } = attached();
  strictEqual(k.ioctl(fd, R.VFIO_SET_IOMMU, 3n), 0);
  const g2 = k.addDevice("0000:00:04.0");
  const gfd2 = k.open(`/dev/vfio/${g2}`);
  strictEqual(setContainer(k, gfd2, fd), 0);
  strictEqual(groupFlags(k, gfd2), 3);
  strictEqual(infoCaps(k, fd).pgsizes, 0x40201000n);
});

Deno.test("group: joining with an aperture that strands a mapping is EINVAL (vfio_iommu_aper_conflict)", () => {
  const { k, fd } = attached();
  strictEqual(k.ioctl(fd, R.VFIO_SET_IOMMU, 3n), 0);
  const buf = k.mmap(MiB);
  strictEqual(mapDma(k, fd, buf, MiB, MiB), 0);
  const g2 = k.addDevice("mock1", { profile: "mock" });
  const gfd2 = k.open(`/dev/vfio/${g2}`);
  strictEqual(setContainer(k, gfd2, fd), -E.EINVAL, "the mock aperture starts at 16 MiB");
  strictEqual(groupFlags(k, gfd2), 1, "not attached, DMA ownership given back");
});

Deno.test("group: joining with a reserved region over a mapping is EINVAL (vfio_iommu_resv_conflict)", () => {
  const { k, fd } = attached("arm-smmuv3");
  strictEqual(k.ioctl(fd, R.VFIO_SET_IOMMU, 3n), 0);
  const buf = k.mmap(MiB);
  strictEqual(mapDma(k, fd, buf, 0xfee00000n, 0x1000n), 0, "no MSI window on this SMMU");
  const g2 = k.addDevice("0000:00:05.0", { profile: "intel-vtd" });
  const gfd2 = k.open(`/dev/vfio/${g2}`);
  strictEqual(setContainer(k, gfd2, fd), -E.EINVAL);
});

Deno.test("group: a group behind another IOMMU kind gets its own domain; page sizes AND together", () => {
  const { k, fd } = attached("amd-vi");
  strictEqual(k.ioctl(fd, R.VFIO_SET_IOMMU, 3n), 0);
  strictEqual(k.ioctl(fd, R.VFIO_CHECK_EXTENSION, 4n), 1);
  const g2 = k.addDevice("0000:00:06.0", { profile: "intel-vtd" });
  const gfd2 = k.open(`/dev/vfio/${g2}`);
  strictEqual(setContainer(k, gfd2, fd), 0);
  strictEqual(infoCaps(k, fd).pgsizes, 0x40201000n & 0x000f_ff7f_ffff_f000n);
  strictEqual(k.ioctl(fd, R.VFIO_CHECK_EXTENSION, 4n), 0, "one domain does not enforce");
  strictEqual(k.ioctl(gfd2, R.VFIO_GROUP_UNSET_CONTAINER, 0n), 0);
  strictEqual(k.ioctl(fd, R.VFIO_CHECK_EXTENSION, 4n), 1, "its domain went with it");
});

Deno.test("container: mappings lists the type1 mappings", () => {
  const { k, fd } = attached();
  strictEqual(k.ioctl(fd, R.VFIO_SET_IOMMU, 3n), 0);
  const buf = k.mmap(MiB);
  strictEqual(mapDma(k, fd, buf, MiB, MiB), 0);
  deepStrictEqual(k.mappings(fd), [
    { iova: MiB, last: 2n * MiB - 1n, vaddr: buf, prot: 3, pinned: true },
  ]);
});

// ---- vfio-noiommu (CONFIG_VFIO_NOIOMMU, enable_unsafe_noiommu_mode) ----

/** A legacy container and an open no-IOMMU group (sim noiommu on). */
function noiommu(release?: string) {
  const k = new SimKernel({ profile: "intel-vtd", release, container: "legacy", noiommu: "on" });
  const g = k.addDevice("0000:00:05.0", { noiommu: true });
  const fd = k.open("/dev/vfio/vfio");
  const gfd = k.open(`/dev/vfio/noiommu-${g}`);
  strictEqual(gfd > 0, true);
  return { k, fd, gfd, g };
}

Deno.test("legacy: CHECK_EXTENSION(NOIOMMU) with no group polls vfio-noiommu: 1 only with the parameter", () => {
  for (const [setting, want] of [["off", 0], ["built", 0], ["on", 1]] as const) {
    const k = new SimKernel({ profile: "intel-vtd", container: "legacy", noiommu: setting });
    strictEqual(k.ioctl(k.open("/dev/vfio/vfio"), R.VFIO_CHECK_EXTENSION, 8n), want, setting);
  }
});

Deno.test("legacy: a container of no-IOMMU groups asks only vfio-noiommu (vfio_iommu_driver_allowed)", () => {
  const { k, fd, gfd } = noiommu();
  strictEqual(setContainer(k, gfd, fd), 0);
  strictEqual(k.ioctl(fd, R.VFIO_CHECK_EXTENSION, 8n), 1);
  strictEqual(k.ioctl(fd, R.VFIO_CHECK_EXTENSION, 3n), 0);
  strictEqual(k.ioctl(fd, R.VFIO_CHECK_EXTENSION, 9n), 0);
});

Deno.test("legacy: a container of real groups never asks vfio-noiommu: CHECK_EXTENSION(NOIOMMU) 0", () => {
  const k = new SimKernel({ profile: "intel-vtd", container: "legacy", noiommu: "on" });
  const fd = k.open("/dev/vfio/vfio");
  strictEqual(setContainer(k, k.open("/dev/vfio/3"), fd), 0);
  strictEqual(k.ioctl(fd, R.VFIO_CHECK_EXTENSION, 8n), 0);
  strictEqual(k.ioctl(fd, R.VFIO_SET_IOMMU, 8n), -E.ENODEV);
});

Deno.test("legacy: SET_CONTAINER of a no-IOMMU group needs CAP_SYS_RAWIO (EPERM)", () => {
  const { k, fd, gfd } = noiommu();
  k.setPrivileged(false);
  strictEqual(setContainer(k, gfd, fd), -E.EPERM);
  k.setPrivileged(true);
  strictEqual(setContainer(k, gfd, fd), 0);
});

Deno.test("legacy: real and no-IOMMU groups cannot share a container (EPERM), either way round", () => {
  const { k, fd, gfd } = noiommu();
  strictEqual(setContainer(k, gfd, fd), 0);
  const real = k.open("/dev/vfio/3");
  strictEqual(setContainer(k, real, fd), -E.EPERM);
  const fd2 = k.open("/dev/vfio/vfio");
  strictEqual(setContainer(k, real, fd2), 0);
  strictEqual(k.ioctl(gfd, R.VFIO_GROUP_UNSET_CONTAINER, 0n), 0);
  strictEqual(setContainer(k, gfd, fd2), -E.EPERM);
});

Deno.test("legacy: SET_IOMMU on a no-IOMMU container: TYPE1v2 ENODEV, NOIOMMU EPERM without RAWIO", () => {
  const { k, fd, gfd } = noiommu();
  strictEqual(setContainer(k, gfd, fd), 0);
  strictEqual(k.ioctl(fd, R.VFIO_SET_IOMMU, 3n), -E.ENODEV);
  strictEqual(k.ioctl(fd, R.VFIO_SET_IOMMU, 1n), -E.ENODEV);
  k.setPrivileged(false);
  strictEqual(k.ioctl(fd, R.VFIO_SET_IOMMU, 8n), -E.EPERM);
  k.setPrivileged(true);
  strictEqual(k.ioctl(fd, R.VFIO_SET_IOMMU, 8n), 0);
  strictEqual(k.ioctl(fd, R.VFIO_SET_IOMMU, 8n), -E.EINVAL, "a driver is set");
});

Deno.test("legacy: vfio-noiommu claims NOIOMMU only while enable_unsafe_noiommu_mode is on", () => {
  const { k, fd, gfd } = noiommu();
  strictEqual(setContainer(k, gfd, fd), 0);
  k.setNoIommu("built"); // the parameter is writable at run time; the group stays
  strictEqual(k.ioctl(fd, R.VFIO_CHECK_EXTENSION, 8n), 0);
  strictEqual(k.ioctl(fd, R.VFIO_SET_IOMMU, 8n), -E.ENODEV);
});

Deno.test("legacy: vfio-noiommu answers every other container ioctl ENOTTY", () => {
  const { k, fd, gfd } = noiommu();
  strictEqual(setContainer(k, gfd, fd), 0);
  strictEqual(mapDma(k, fd, k.mmap(0x1000n), MiB, 0x1000n), -E.EINVAL, "no driver yet");
  strictEqual(k.ioctl(fd, R.VFIO_SET_IOMMU, 8n), 0);
  strictEqual(mapDma(k, fd, k.mmap(0x1000n), MiB, 0x1000n), -E.ENOTTY);
  strictEqual(unmapDma(k, fd, MiB, 0x1000n).ret, -E.ENOTTY);
  strictEqual(k.ioctl(fd, R.VFIO_IOMMU_GET_INFO, encode(S.vfio_iommu_type1_info)), -E.ENOTTY);
  strictEqual(k.ioctl(fd, R.IOMMU_IOAS_ALLOC, encode(S.iommu_ioas_alloc)), -E.ENOTTY);
  strictEqual(k.ioctl(fd, R.VFIO_CHECK_EXTENSION, 8n), 1);
  strictEqual(k.ioctl(fd, R.VFIO_CHECK_EXTENSION, 4n), 0);
});

Deno.test("legacy: opening a no-IOMMU device needs the backend (EINVAL) and CAP_SYS_RAWIO (EPERM)", () => {
  const { k, fd, gfd } = noiommu();
  strictEqual(setContainer(k, gfd, fd), 0);
  strictEqual(deviceFd(k, gfd, "0000:00:05.0"), -E.EINVAL);
  strictEqual(k.ioctl(fd, R.VFIO_SET_IOMMU, 8n), 0);
  k.setPrivileged(false);
  strictEqual(deviceFd(k, gfd, "0000:00:05.0"), -E.EPERM);
  k.setPrivileged(true);
  strictEqual(deviceFd(k, gfd, "0000:00:05.0") > 0, true);
  strictEqual(groupFlags(k, gfd), 3);
});

Deno.test("legacy: a no-IOMMU group claims no DMA ownership; the last one leaving drops the driver", () => {
  const { k, fd, gfd } = noiommu();
  strictEqual(groupFlags(k, gfd), 1);
  strictEqual(setContainer(k, gfd, fd), 0);
  strictEqual(k.ioctl(fd, R.VFIO_SET_IOMMU, 8n), 0);
  strictEqual(k.ioctl(gfd, R.VFIO_GROUP_UNSET_CONTAINER, 0n), 0);
  strictEqual(groupFlags(k, gfd), 1);
  strictEqual(k.ioctl(fd, R.VFIO_CHECK_EXTENSION, 3n), 1, "no group: every driver is asked");
  strictEqual(setContainer(k, gfd, fd), 0);
  strictEqual(k.ioctl(fd, R.VFIO_SET_IOMMU, 8n), 0, "the container was deprivileged");
});

Deno.test("group open: /dev/vfio/noiommu-N needs CAP_SYS_RAWIO (EPERM before EBUSY)", () => {
  const { k, g } = noiommu();
  strictEqual(k.open(`/dev/vfio/noiommu-${g}`), -E.EBUSY);
  k.setPrivileged(false);
  strictEqual(k.open(`/dev/vfio/noiommu-${g}`), -E.EPERM);
  strictEqual(k.open(`/dev/vfio/${g}`), -E.ENOENT, "no such node");
  strictEqual(k.open("/dev/vfio/noiommu-3"), -E.ENOENT, "group 3 has an IOMMU");
});
