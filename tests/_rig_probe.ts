/**
 * The rig's probe (shared/rig/probe.c) replayed against the simulator, for comparing with the
 * recordings of shared/rig/results/: one probe for the iommufd recordings
 * (tests/sim_rig_probe_test.ts) and the legacy type1 ones (tests/audit/legacy_rig_probe_test.ts),
 * so it also decodes the MIGRATION capability only the legacy container returns.
 *
 * @module
 */

import { errnoName } from "../uapi/errno.ts";
import { encode } from "../uapi/codec.ts";
import { decodeInfoCaps } from "../uapi/caps.ts";
import * as S from "../uapi/structs.ts";
import * as R from "../uapi/ioctl.ts";
import type { SimKernel } from "../sim/kernel.ts";

/** Where the rig's recordings are. */
export const RESULTS = new URL("../../shared/rig/results/", import.meta.url);
const MiB = 0x100000n;
const BUF_SIZE = 2n * MiB;

/** The rig's probe (shared/rig/probe.c) as a sequence of ioctls, printing what it printed. */
export class Probe {
  lines: string[] = [];
  constructor(readonly k: SimKernel) {}

  report(step: string, ret: number): void {
    const name = step.padEnd(34);
    this.lines.push(
      ret < 0 ? `${name} ret=-1 errno=${-ret} (${errnoName(-ret)})` : `${name} ret=${ret} errno=0`,
    );
  }

  x(fd: number, name: string, req: number, arg: Uint8Array | bigint): number {
    const r = this.k.ioctl(fd, req, arg);
    this.report(name, r);
    return r;
  }

  dumpInfo(fd: number, tag: string): void {
    const hdr = encode(S.vfio_iommu_type1_info, { argsz: 24 });
    if (this.x(fd, `GET_INFO[${tag}](argsz=24)`, R.VFIO_IOMMU_GET_INFO, hdr) < 0) return;
    const v = new DataView(hdr.buffer);
    const line = (b: DataView) =>
      `  info: argsz=${b.getUint32(0, true)} flags=0x${b.getUint32(4, true).toString(16)} ` +
      `iova_pgsizes=0x${b.getBigUint64(8, true).toString(16)} cap_offset=${b.getUint32(16, true)}`;
    this.lines.push(line(v));
    const sz = Math.max(v.getUint32(0, true), 24);
    const buf = new Uint8Array(sz);
    new DataView(buf.buffer).setUint32(0, sz, true);
    if (this.x(fd, `GET_INFO[${tag}](argsz=${sz})`, R.VFIO_IOMMU_GET_INFO, buf) < 0) return;
    const bv = new DataView(buf.buffer);
    this.lines.push(line(bv));
    if (!(bv.getUint32(4, true) & 2) || bv.getUint32(16, true) === 0) return;
    for (const c of decodeInfoCaps(buf).caps) {
      let s = `  cap@${c.offset}: id=${c.id} version=${c.version} next=${c.next}`;
      if (c.kind === "iova_range") {
        this.lines.push(`${s} IOVA_RANGE nr_iovas=${c.fields.nr_iovas}`);
        c.ranges!.forEach((r, i) =>
          this.lines.push(
            `    range[${i}]: start=0x${r.start.toString(16)} end=0x${r.end.toString(16)}`,
          )
        );
      } else if (c.kind === "migration") {
        this.lines.push(
          `${s} MIGRATION flags=0x${c.fields.flags.toString(16)} pgsize_bitmap=0x${
            c.fields.pgsize_bitmap.toString(16)
          } max_dirty_bitmap_size=${c.fields.max_dirty_bitmap_size}`,
        );
      } else if (c.kind === "dma_avail") {
        s += ` DMA_AVAIL avail=${c.fields.avail}`;
        this.lines.push(s);
      }
    }
  }

  mapDma(fd: number, tag: string, vaddr: bigint, iova: bigint, size: bigint): number {
    const m = encode(S.vfio_iommu_type1_dma_map, { flags: 3, vaddr, iova, size });
    return this.x(
      fd,
      `MAP_DMA[${tag}](iova=0x${iova.toString(16)},size=0x${size.toString(16)})`,
      R.VFIO_IOMMU_MAP_DMA,
      m,
    );
  }

  unmapDma(fd: number, tag: string, flags: number, iova: bigint, size: bigint): void {
    const u = encode(S.vfio_iommu_type1_dma_unmap, { flags, iova, size });
    this.x(
      fd,
      `UNMAP_DMA[${tag}](flags=0x${flags.toString(16)},iova=0x${iova.toString(16)},size=0x${
        size.toString(16)
      })`,
      R.VFIO_IOMMU_UNMAP_DMA,
      u,
    );
    this.lines.push(
      `  unmap: size_out=0x${new DataView(u.buffer).getBigUint64(16, true).toString(16)}`,
    );
  }

  iovaRanges(fd: number, ioas: number, tag: string): void {
    const arr = this.k.mmap(4096n);
    const q = encode(S.iommu_ioas_iova_ranges, { ioas_id: ioas, num_iovas: 8, allowed_iovas: arr });
    if (this.x(fd, `IOMMU_IOAS_IOVA_RANGES[${tag}]`, R.IOMMU_IOAS_IOVA_RANGES, q) < 0) return;
    const qv = new DataView(q.buffer);
    const n = qv.getUint32(8, true);
    this.lines.push(
      `  ranges: num_iovas=${n} out_iova_alignment=0x${qv.getBigUint64(24, true).toString(16)}`,
    );
    const bytes = new Uint8Array(128);
    this.k.readMemory(arr, bytes);
    const bv = new DataView(bytes.buffer);
    for (let i = 0; i < n && i < 8; i++) {
      this.lines.push(
        `    range[${i}]: start=0x${bv.getBigUint64(16 * i, true).toString(16)} last=0x${
          bv.getBigUint64(16 * i + 8, true).toString(16)
        }`,
      );
    }
  }

  checkExtensions(fd: number, tag: string): void {
    const exts: [number, string][] = [
      [1, "TYPE1"],
      [2, "SPAPR_TCE"],
      [3, "TYPE1v2"],
      [4, "DMA_CC"],
      [5, "EEH"],
      [6, "TYPE1_NESTING"],
      [7, "SPAPR_TCE_v2"],
      [8, "NOIOMMU"],
      [9, "UNMAP_ALL"],
      [10, "UPDATE_VADDR"],
    ];
    for (const [e, n] of exts) {
      this.x(fd, `CHECK_EXTENSION[${tag}](${n}=${e})`, R.VFIO_CHECK_EXTENSION, BigInt(e));
    }
  }

  vfioIoasGet(fd: number, name: string): number {
    const g = encode(S.iommu_vfio_ioas, { op: 0 });
    const r = this.x(fd, name, R.IOMMU_VFIO_IOAS, g);
    return r === 0 ? new DataView(g.buffer).getUint32(4, true) : 0;
  }

  mockPhase(fd: number, ioas: number, buf: bigint): void {
    this.lines.push(`== phase: IOMMU_TEST_CMD mock domain on IOAS ${ioas}`);
    const t = encode(S.iommu_test_cmd, { op: 2, id: ioas });
    if (this.x(fd, "IOMMU_TEST_CMD(MOCK_DOMAIN)", R.IOMMU_TEST_CMD, t) < 0) return;
    const tv = new DataView(t.buffer);
    const stdev = tv.getUint32(16, true);
    this.lines.push(
      `  mock: out_stdev_id=${stdev} out_hwpt_id=${tv.getUint32(20, true)} out_idev_id=${
        tv.getUint32(24, true)
      }`,
    );
    this.dumpInfo(fd, "mock");
    this.iovaRanges(fd, ioas, "mock");
    this.checkExtensions(fd, "mock");
    this.mapDma(fd, "mock,outside-aperture", buf, 0x100000n, BUF_SIZE);
    const iova = 0x1000000n;
    if (this.mapDma(fd, "mock", buf, iova, BUF_SIZE) === 0) {
      this.unmapDma(fd, "mock,half", 0, iova, BUF_SIZE / 2n);
      this.unmapDma(fd, "mock,all", 2, 0n, 0n);
    }
    const d = encode(S.iommu_destroy, { id: stdev });
    this.x(fd, "IOMMU_DESTROY(mock stdev)", R.IOMMU_DESTROY, d);
    this.dumpInfo(fd, "after-mock-destroy");
  }

  run(dev: string, group?: string, devname?: string): void {
    const k = this.k;
    const fd = k.open(dev);
    this.report("open(dev)", fd);
    const vi = encode(S.iommu_vfio_ioas, { op: 0 });
    const r = k.ioctl(fd, R.IOMMU_VFIO_IOAS, vi);
    this.report("IOMMU_VFIO_IOAS(GET) [initial]", r);
    const isIommufd = r === 0 || r === -19;
    this.lines.push(`  fd kind: ${isIommufd ? "iommufd" : "vfio-container"}`);
    this.lines.push("== phase: before any IOAS / group");
    this.x(fd, "VFIO_GET_API_VERSION", R.VFIO_GET_API_VERSION, 0n);
    this.checkExtensions(fd, "empty");
    this.dumpInfo(fd, "empty");
    this.x(fd, "VFIO_SET_IOMMU[empty](TYPE1v2)", R.VFIO_SET_IOMMU, 3n);
    const buf = k.mmap(BUF_SIZE);
    k.writeMemory(buf, new Uint8Array(Number(BUF_SIZE)).fill(0x5a));
    this.mapDma(fd, "empty", buf, 0x100000n, BUF_SIZE);
    let ioas = 0;
    if (isIommufd) {
      this.lines.push("== phase: iommufd IOAS setup");
      const a = encode(S.iommu_ioas_alloc);
      if (this.x(fd, "IOMMU_IOAS_ALLOC", R.IOMMU_IOAS_ALLOC, a) === 0) {
        ioas = new DataView(a.buffer).getUint32(8, true);
      }
      this.lines.push(`  ioas: out_ioas_id=${ioas}`);
      const s = encode(S.iommu_vfio_ioas, { op: 1, ioas_id: ioas });
      this.x(fd, "IOMMU_VFIO_IOAS(SET)", R.IOMMU_VFIO_IOAS, s);
      const id = this.vfioIoasGet(fd, "IOMMU_VFIO_IOAS(GET)");
      this.lines.push(`  vfio_ioas: ioas_id=${id}`);
      this.iovaRanges(fd, ioas, "fresh");
    }
    let gfd = -1;
    if (group) {
      this.lines.push(`== phase: group ${group}`);
      gfd = k.open(group);
      this.report("open(group)", gfd);
      if (gfd >= 0) {
        const gs = encode(S.vfio_group_status);
        this.x(gfd, "VFIO_GROUP_GET_STATUS", R.VFIO_GROUP_GET_STATUS, gs);
        this.lines.push(
          `  group: flags=0x${new DataView(gs.buffer).getUint32(4, true).toString(16)}`,
        );
        const fdArg = new Uint8Array(4);
        new DataView(fdArg.buffer).setInt32(0, fd, true);
        this.x(gfd, "VFIO_GROUP_SET_CONTAINER", R.VFIO_GROUP_SET_CONTAINER, fdArg);
        const gs2 = encode(S.vfio_group_status);
        this.x(gfd, "VFIO_GROUP_GET_STATUS", R.VFIO_GROUP_GET_STATUS, gs2);
        this.lines.push(
          `  group: flags=0x${new DataView(gs2.buffer).getUint32(4, true).toString(16)}`,
        );
        if (isIommufd) {
          const id = this.vfioIoasGet(fd, "IOMMU_VFIO_IOAS(GET)[group]");
          this.lines.push(`  vfio_ioas: ioas_id=${id}`);
        }
      }
    }
    this.lines.push("== phase: VFIO type1v2 container");
    this.x(fd, "VFIO_SET_IOMMU(TYPE1v2)", R.VFIO_SET_IOMMU, 3n);
    this.x(fd, "VFIO_SET_IOMMU(TYPE1v2) again", R.VFIO_SET_IOMMU, 3n);
    if (gfd >= 0 && devname) {
      const name = new TextEncoder().encode(devname + "\0");
      const dfd = k.ioctl(gfd, R.VFIO_GROUP_GET_DEVICE_FD, name);
      this.report("VFIO_GROUP_GET_DEVICE_FD", dfd);
      if (dfd >= 0) {
        const di = new Uint8Array(24);
        new DataView(di.buffer).setUint32(0, 24, true);
        this.x(dfd, "VFIO_DEVICE_GET_INFO", R.requestByName("VFIO_DEVICE_GET_INFO")!.request, di);
        const dv = new DataView(di.buffer);
        this.lines.push(
          `  device: flags=0x${dv.getUint32(4, true).toString(16)} num_regions=${
            dv.getUint32(8, true)
          } num_irqs=${dv.getUint32(12, true)}`,
        );
      }
      if (isIommufd) {
        const id = this.vfioIoasGet(fd, "IOMMU_VFIO_IOAS(GET)[device]");
        this.lines.push(`  vfio_ioas: ioas_id=${id}`);
        this.iovaRanges(fd, id, "device");
      }
    }
    this.checkExtensions(fd, "set");
    this.dumpInfo(fd, "set");
    const iova = 0x100000n;
    this.mapDma(fd, "main", buf, iova, BUF_SIZE);
    this.mapDma(fd, "main,same-again", buf, iova, BUF_SIZE);
    this.mapDma(fd, "main,overlap", buf, iova + BUF_SIZE / 2n, BUF_SIZE);
    this.mapDma(fd, "main,unaligned-iova", buf, iova + BUF_SIZE + 0x800n, 0x1000n);
    this.mapDma(fd, "main,size0", buf, iova + 4n * BUF_SIZE, 0n);
    if (isIommufd) this.iovaRanges(fd, ioas, "mapped");
    this.dumpInfo(fd, "mapped");
    this.unmapDma(fd, "half-first", 0, iova, BUF_SIZE / 2n);
    this.unmapDma(fd, "half-second", 0, iova + BUF_SIZE / 2n, BUF_SIZE / 2n);
    this.unmapDma(fd, "not-mapped", 0, iova + 8n * BUF_SIZE, BUF_SIZE);
    this.unmapDma(fd, "all,nonzero-size", 2, 0n, BUF_SIZE);
    this.unmapDma(fd, "all", 2, 0n, 0n);
    this.unmapDma(fd, "all,again", 2, 0n, 0n);
    this.mapDma(fd, "split-a", buf, iova, BUF_SIZE / 2n);
    this.mapDma(fd, "split-b", buf + BUF_SIZE / 2n, iova + BUF_SIZE / 2n, BUF_SIZE / 2n);
    this.unmapDma(fd, "span-both", 0, iova, BUF_SIZE);
    if (isIommufd && ioas && !group) this.mockPhase(fd, ioas, buf);
  }
}

/** One probe run of a recording. */
export interface Run {
  dev: string;
  group?: string;
  lines: string[];
}

/** The probe runs recorded in one results file, host-dependent lines removed. */
export function recordedRuns(file: string): Run[] {
  const text = Deno.readTextFileSync(new URL(file, RESULTS));
  const runs: Run[] = [];
  let cur: Run | undefined;
  for (const raw of text.split(/\r?\n/)) {
    const line = raw.replace(/^\s*\d+ ms \| /, "");
    const start = /^PROBE START dev=(\S+) group=(\S+)/.exec(line);
    if (start) {
      cur = { dev: start[1], group: start[2] === "-" ? undefined : start[2], lines: [] };
      runs.push(cur);
      continue;
    }
    if (cur === undefined) continue;
    if (line.startsWith("PROBE END")) {
      cur = undefined;
      continue;
    }
    if (/^ {2}(node|buffer:) /.test(line)) continue;
    cur.lines.push(line);
  }
  return runs;
}
