/**
 * Runs INSIDE a lane VM: proves that Deno's FFI reaches the container ioctls. Opens a
 * container node through libc, issues a few VFIO and iommufd ioctls, and checks what kind
 * of container answered.
 *
 *   deno run --allow-ffi scripts/kernel/guest/ffi_smoke.ts DEV [--expect iommufd|vfio] [--mock]
 *
 * `--mock` also attaches the iommufd selftest mock domain (needs IOMMUFD_TEST=y). The last
 * line is `FFI-SMOKE OK` or `FFI-SMOKE FAIL: <why>` (exit status 1).
 *
 * @module
 */

const args = [...Deno.args];
const flag = (name: string) => args.includes(name);
const expectAt = args.indexOf("--expect");
const expected = expectAt >= 0 ? args[expectAt + 1] : undefined;
const dev = args.find((a, i) => !a.startsWith("--") && args[i - 1] !== "--expect") ??
  "/dev/iommu";

const libc = Deno.dlopen("libc.so.6", {
  open: { parameters: ["buffer", "i32"], result: "i32" },
  close: { parameters: ["i32"], result: "i32" },
  ioctl_val: { name: "ioctl", parameters: ["i32", "u64", "u64"], result: "i32" },
  ioctl_buf: { name: "ioctl", parameters: ["i32", "u64", "buffer"], result: "i32" },
  __errno_location: { parameters: [], result: "pointer" },
});

// _IO(';', nr): VFIO and iommufd ioctls carry no size or direction bits.
const io = (nr: number) => BigInt((0x3b << 8) | nr);
const VFIO_GET_API_VERSION = io(100);
const VFIO_CHECK_EXTENSION = io(101);
const IOMMU_DESTROY = io(0x80);
const IOMMU_IOAS_ALLOC = io(0x81);
const IOMMU_VFIO_IOAS = io(0x88);
const IOMMU_TEST_CMD = io(0xa0);
const VFIO_TYPE1V2_IOMMU = 3n;
const IOMMU_TEST_OP_MOCK_DOMAIN = 2;
const ENODEV = 19;
const O_RDWR = 2, O_CLOEXEC = 0o2000000;

function errno(): number {
  return new Deno.UnsafePointerView(libc.symbols.__errno_location()!).getInt32();
}

/** Print `name ret=R errno=E` and return [ret, errno]. */
function show(name: string, ret: number): [number, number] {
  const e = ret < 0 ? errno() : 0;
  console.log(`${name.padEnd(32)} ret=${ret} errno=${e}`);
  return [ret, e];
}

/** A zeroed struct whose first u32 is its own size (iommufd's convention). */
function sized(bytes: number): [Uint8Array, DataView] {
  const buf = new Uint8Array(bytes);
  const view = new DataView(buf.buffer);
  view.setUint32(0, bytes, true);
  return [buf, view];
}

function fail(why: string): never {
  console.log(`FFI-SMOKE FAIL: ${why}`);
  Deno.exit(1);
}

const fd = libc.symbols.open(new TextEncoder().encode(dev + "\0"), O_RDWR | O_CLOEXEC);
show(`open(${dev})`, fd);
if (fd < 0) fail(`cannot open ${dev}`);
const { ioctl_val: ioctlVal, ioctl_buf: ioctlBuf } = libc.symbols;

if (show("VFIO_GET_API_VERSION", ioctlVal(fd, VFIO_GET_API_VERSION, 0n))[0] !== 0) {
  fail("VFIO_GET_API_VERSION is not 0");
}
show("VFIO_CHECK_EXTENSION(TYPE1v2)", ioctlVal(fd, VFIO_CHECK_EXTENSION, VFIO_TYPE1V2_IOMMU));

// struct iommu_vfio_ioas { u32 size; u32 ioas_id; u16 op; u16 reserved } with op GET (0):
// iommufd answers 0 or ENODEV (no compat IOAS yet); the type1 container does not know it.
const [vioas] = sized(12);
const [r, e] = show("IOMMU_VFIO_IOAS(GET)", ioctlBuf(fd, IOMMU_VFIO_IOAS, vioas));
const kind = r === 0 || e === ENODEV ? "iommufd" : "vfio";
console.log(`container kind: ${kind}`);
if (expected && kind !== expected) fail(`expected a ${expected} container, got ${kind}`);

if (kind === "iommufd") {
  // struct iommu_ioas_alloc { u32 size; u32 flags; u32 out_ioas_id }
  const [alloc, allocView] = sized(12);
  if (show("IOMMU_IOAS_ALLOC", ioctlBuf(fd, IOMMU_IOAS_ALLOC, alloc))[0] !== 0) {
    fail("IOMMU_IOAS_ALLOC failed");
  }
  const ioas = allocView.getUint32(8, true);
  console.log(`  out_ioas_id=${ioas}`);
  if (flag("--mock")) mockDomain(ioas);
}

const n = 10_000;
const t0 = performance.now();
for (let i = 0; i < n; i++) ioctlVal(fd, VFIO_GET_API_VERSION, 0n);
console.log(`VFIO_GET_API_VERSION: ${((performance.now() - t0) * 1000 / n).toFixed(2)} us/call`);
libc.symbols.close(fd);
console.log("FFI-SMOKE OK");

/** Attach the selftest mock domain to `ioas`, then destroy it (IOMMUFD_TEST kernels only). */
function mockDomain(ioas: number): void {
  // struct iommu_test_cmd: size, op, id, reserved, then a union; 72 bytes in Linux 6.12.
  const [cmd, view] = sized(72);
  view.setUint32(4, IOMMU_TEST_OP_MOCK_DOMAIN, true);
  view.setUint32(8, ioas, true);
  if (show("IOMMU_TEST_CMD(MOCK_DOMAIN)", ioctlBuf(fd, IOMMU_TEST_CMD, cmd))[0] !== 0) {
    fail("no mock domain (is IOMMUFD_TEST=y?)");
  }
  const [stdev, hwpt, idev] = [16, 20, 24].map((at) => view.getUint32(at, true));
  console.log(`  out_stdev_id=${stdev} out_hwpt_id=${hwpt} out_idev_id=${idev}`);
  // struct iommu_destroy { u32 size; u32 id }
  const [destroy, destroyView] = sized(8);
  destroyView.setUint32(4, stdev, true);
  show("IOMMU_DESTROY(stdev)", ioctlBuf(fd, IOMMU_DESTROY, destroy));
}
