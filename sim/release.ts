/**
 * Kernel releases the simulator can answer as, and the behaviour switches that differ
 * between them (shared/reference/compat-semantics.md §0 and §12). A release is named exactly,
 * because stable releases carry backports: 6.12.117 already has the empty-unmap fix that
 * 6.12.0 lacks.
 *
 * @module
 */

/** Behaviour switches of one release. */
export interface Release {
  /** As the user names it: `"6.12"`, `"6.12.117"`. */
  readonly version: string;
  /** VFIO info capabilities occupy their size rounded up to 8 (a881b496941f, v6.6). */
  readonly capAlign8: boolean;
  /** Compat UNMAP_DMA of an empty range returns 0 (afb47765f923: v6.18, stable 6.6.y/6.12.y/6.17.y late 2025). */
  readonly unmapEmptyOk: boolean;
  /** Native IOAS_MAP / IOAS_COPY need READABLE or WRITEABLE (996dc53ac289, v6.11). */
  readonly mapNeedsRW: boolean;
  /**
   * io_pagetable checks uptr + length overflow (EOVERFLOW) before the length check (EINVAL):
   * the order after the MAP_FILE refactor (v6.13). Older releases check length first.
   */
  readonly uptrOverflowFirst: boolean;
  /** iommufd object ids are limited to 31 bits (v6.6). */
  readonly ids31Bit: boolean;
  /** VFIO_CHECK_EXTENSION(VFIO_NOIOMMU_IOMMU) may answer 1 (no-iommu emulation, v6.3). */
  readonly noIommuExtension: boolean;
  /** IOMMU_TEST_CMD struct size known to this kernel (its union grew with the dirty op in 6.7). */
  readonly testCmdSize: number;
  /**
   * Binding a VFIO device to iommufd creates the compat IOAS when none exists (6.2,
   * `iommufd_vfio_compat_ioas_id` in vfio_iommufd_bind). From 6.3 the bind path only looks the
   * compat IOAS up and the open fails with ENODEV without one.
   */
  readonly bindCreatesCompatIoas: boolean;
  /**
   * IOMMU_TEST_OP_MOCK_DOMAIN_FLAGS exists (6.7, with MOCK_FLAGS_DEVICE_NO_DIRTY) and accepts
   * MOCK_FLAGS_DEVICE_HUGE_IOVA (6.8). Older releases answer the op with EOPNOTSUPP.
   */
  readonly mockDomainFlags: boolean;
  /**
   * Legacy type1 (vfio_iommu_type1.c): a wrapping iova/vaddr range is EOVERFLOW, checked
   * before the flags (map) and right after the size/alignment checks (unmap), and lookups use
   * inclusive ends so a mapping may end at 2^64 - 1 (Alex Mastro's series, 6012379ede6a ..
   * ef270ec44637, v6.18-rc4). Before: EINVAL, and a range ending at 2^64 - 1 wraps to 0.
   */
  readonly type1Overflow: boolean;
  /**
   * Legacy type1 answers CHECK_EXTENSION(VFIO_TYPE1_NESTING_IOMMU) with 1 and accepts it in
   * SET_IOMMU (only drivers that can nest attach); removed by 35890f85573c (v6.13).
   */
  readonly type1Nesting: boolean;
  /**
   * Legacy GET_INFO copies back min(argsz, 24) bytes of the fixed struct (since the `pad`
   * member, v6.6); before it copied 16 bytes, or 20 when argsz reached cap_offset's end.
   */
  readonly type1InfoCopy24: boolean;
  /**
   * IOMMU_GET_HW_INFO reports `out_max_pasid_log2` in byte 28 and checks only bytes 29..31 as
   * reserved (v6.14; backported to 6.12.y). Before, bytes 28..31 are one reserved u32.
   */
  readonly hwInfoPasid: boolean;
  /** IOMMU_GET_HW_INFO accepts IOMMU_HW_INFO_FLAG_INPUT_TYPE and an `in_data_type` (v6.17). */
  readonly hwInfoInputType: boolean;
  /**
   * IOMMU_HWPT_GET_DIRTY_BITMAP rejects length 0 with EINVAL first ("iommufd: Reject a
   * zero-length dirty bitmap request", seen in 6.12.117); before, length 0 wraps the last IOVA.
   */
  readonly dirtyZeroLengthEinval: boolean;
  /**
   * IOMMU_HWPT_INVALIDATE also bounds entry_len (≤ PAGE_SIZE) and entry_num (≤ 2^19) ("iommufd:
   * Set upper bounds on cache invalidation entry_num and entry_len", seen in 6.12.117).
   */
  readonly invalidateBounds: boolean;
  /**
   * x86 `__access_ok` of a non-constant size checks only that the range ends below 2^63, in
   * the user half (v6.4 with LAM's untagging until v6.12's USER_PTR_MAX): a user pointer past
   * TASK_SIZE passes, and the access itself then faults (EFAULT). Before and after, the range
   * must end by TASK_SIZE_MAX.
   */
  readonly accessOkSignOnly: boolean;
  /**
   * IOMMU_TEST_OP_ADD_RESERVED refuses length 0 (EINVAL) and a range past 2^64 (EOVERFLOW)
   * before it looks up the IOAS (a syzbot fix of December 2025, seen in 6.12.117). Before,
   * length 0 reserved from start through start - 1, wrapping.
   */
  readonly addReservedChecks: boolean;
  /**
   * Compat CHECK_EXTENSION answers TYPE1, TYPE1v2 and UNMAP_ALL with 0 in no-iommu mode, as
   * SET_IOMMU already refuses them there (a 2026 fix, seen in 6.12.117). Before, always 1.
   */
  readonly noIommuHidesType1: boolean;
}

function release(version: string, r: Omit<Release, "version">): Release {
  return Object.freeze({ version, ...r });
}

/** Every modelled release, oldest first. The last one is the default. */
export const RELEASES: readonly Release[] = Object.freeze([
  release("6.2", {
    capAlign8: false,
    unmapEmptyOk: false,
    mapNeedsRW: false,
    uptrOverflowFirst: false,
    ids31Bit: false,
    noIommuExtension: false,
    testCmdSize: 56,
    bindCreatesCompatIoas: true,
    mockDomainFlags: false,
    type1Overflow: false,
    type1Nesting: true,
    type1InfoCopy24: false,
    hwInfoPasid: false,
    hwInfoInputType: false,
    dirtyZeroLengthEinval: false,
    invalidateBounds: false,
    accessOkSignOnly: false,
    addReservedChecks: false,
    noIommuHidesType1: false,
  }),
  release("6.6", {
    capAlign8: true,
    unmapEmptyOk: false,
    mapNeedsRW: false,
    uptrOverflowFirst: false,
    ids31Bit: true,
    noIommuExtension: true,
    testCmdSize: 56,
    bindCreatesCompatIoas: false,
    mockDomainFlags: false,
    type1Overflow: false,
    type1Nesting: true,
    type1InfoCopy24: true,
    hwInfoPasid: false,
    hwInfoInputType: false,
    dirtyZeroLengthEinval: false,
    invalidateBounds: false,
    accessOkSignOnly: true,
    addReservedChecks: false,
    noIommuHidesType1: false,
  }),
  release("6.12", {
    capAlign8: true,
    unmapEmptyOk: false,
    mapNeedsRW: true,
    uptrOverflowFirst: false,
    ids31Bit: true,
    noIommuExtension: true,
    testCmdSize: 72,
    bindCreatesCompatIoas: false,
    mockDomainFlags: true,
    type1Overflow: false,
    type1Nesting: true,
    type1InfoCopy24: true,
    hwInfoPasid: false,
    hwInfoInputType: false,
    dirtyZeroLengthEinval: false,
    invalidateBounds: false,
    accessOkSignOnly: false,
    addReservedChecks: false,
    noIommuHidesType1: false,
  }),
  // The rig's kernel: a 6.12 stable release that carries the empty-unmap fix.
  release("6.12.117", {
    capAlign8: true,
    unmapEmptyOk: true,
    mapNeedsRW: true,
    uptrOverflowFirst: false,
    ids31Bit: true,
    noIommuExtension: true,
    testCmdSize: 72,
    bindCreatesCompatIoas: false,
    mockDomainFlags: true,
    type1Overflow: false,
    type1Nesting: true,
    type1InfoCopy24: true,
    hwInfoPasid: true,
    hwInfoInputType: false,
    dirtyZeroLengthEinval: true,
    invalidateBounds: true,
    accessOkSignOnly: false,
    addReservedChecks: true,
    noIommuHidesType1: true,
  }),
  release("6.18", {
    capAlign8: true,
    unmapEmptyOk: true,
    mapNeedsRW: true,
    uptrOverflowFirst: true,
    ids31Bit: true,
    noIommuExtension: true,
    testCmdSize: 72,
    bindCreatesCompatIoas: false,
    mockDomainFlags: true,
    type1Overflow: true,
    type1Nesting: false,
    type1InfoCopy24: true,
    hwInfoPasid: true,
    hwInfoInputType: true,
    dirtyZeroLengthEinval: false,
    invalidateBounds: false,
    accessOkSignOnly: false,
    addReservedChecks: false,
    noIommuHidesType1: false,
  }),
]);

/** The newest modelled release: the simulator's default. */
export const DEFAULT_RELEASE: Release = RELEASES[RELEASES.length - 1];

/** The release named exactly `version`, or undefined. */
export function findRelease(version: string): Release | undefined {
  return RELEASES.find((r) => r.version === version);
}

/** The numeric parts of a version: `"6.12.117"` → [6, 12, 117]. */
function versionParts(v: string): number[] {
  return v.split(".").map((x) => Number.parseInt(x, 10) || 0);
}

/** Whether release `r` is mainline `version` or later (`"6.7"`: 6.12 and 6.12.117 are). */
export function releaseAtLeast(r: Release, version: string): boolean {
  const a = versionParts(r.version);
  const b = versionParts(version);
  for (let i = 0; i < Math.max(a.length, b.length); i++) {
    const x = a[i] ?? 0;
    const y = b[i] ?? 0;
    if (x !== y) return x > y;
  }
  return true;
}
