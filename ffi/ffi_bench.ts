// Per-call cost of the kernel backend's ioctl, against /dev/null (every call is ENOTTY, so
// errno is read each time). Run: deno bench --allow-ffi --allow-read ffi/ffi_bench.ts
// The raw-libc line is the floor (one FFI call, no checks); the backend lines add the policy
// lookup, the errno read and, for buffers, the copy into the guarded arena and back.
import { encode } from "../uapi/codec.ts";
import { IOMMU_IOAS_ALLOC, VFIO_GET_API_VERSION } from "../uapi/ioctl.ts";
import { iommu_ioas_alloc } from "../uapi/structs.ts";
import { FfiKernel } from "./_kernel.ts";
import { loadLibc } from "./_libc.ts";
import { createFfiKernel } from "./mod.ts";

const kernel = createFfiKernel();
const fd = kernel.open("/dev/null");
if (fd < 0) throw new Error(`open /dev/null: ${fd}`);
const libc = loadLibc();
const request = BigInt(VFIO_GET_API_VERSION);
const alloc = encode(iommu_ioas_alloc);

Deno.bench({
  name: "raw libc ioctl(VFIO_GET_API_VERSION) + errno",
  group: "ioctl",
  baseline: true,
  fn() {
    if (libc.symbols.ioctl_val(fd, request, 0n) < 0 && libc.errno[0] !== 25) throw new Error();
  },
});

Deno.bench({
  name: "kernel.ioctl(VFIO_GET_API_VERSION, 0n)",
  group: "ioctl",
  fn() {
    if (kernel.ioctl(fd, VFIO_GET_API_VERSION, 0n) !== -25) throw new Error();
  },
});

Deno.bench({
  name: "kernel.ioctl(IOMMU_IOAS_ALLOC, 12-byte struct)",
  group: "ioctl",
  fn() {
    if (kernel.ioctl(fd, IOMMU_IOAS_ALLOC, alloc) !== -25) throw new Error();
  },
});

// 10^6 calls in one timed run, the shape of scripts/bench's comparison with C.
Deno.bench({
  name: "kernel.ioctl(VFIO_GET_API_VERSION) × 10^6",
  group: "million",
  n: 1,
  warmup: 1,
  fn() {
    for (let i = 0; i < 1_000_000; i++) kernel.ioctl(fd, VFIO_GET_API_VERSION, 0n);
  },
});

// The backend's own cost, without the syscall (whose time on a loaded VM drowns it): the
// same kernel.ioctl over a syscall-free libc function with ioctl's signature (labs, which
// ignores the extra arguments), against that function called raw.
const standIn = Deno.dlopen("libc.so.6", {
  ioctl: { name: "labs", parameters: ["i32", "u64", "u64"], result: "i32" },
}).symbols.ioctl;
const overhead = new FfiKernel({ ...libc, symbols: { ...libc.symbols, ioctl_val: standIn } });

Deno.bench({
  name: "raw stand-in call (no syscall)",
  group: "overhead",
  baseline: true,
  fn() {
    if (standIn(5, request, 0n) !== 5) throw new Error();
  },
});

Deno.bench({
  name: "kernel.ioctl over the stand-in (no syscall)",
  group: "overhead",
  fn() {
    if (overhead.ioctl(5, VFIO_GET_API_VERSION, 0n) !== 5) throw new Error();
  },
});
