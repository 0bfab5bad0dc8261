import { deepStrictEqual, strictEqual, throws } from "node:assert";
import { DEFAULT_PROFILE, findProfile, parseProfile, PROFILES } from "./profiles.ts";

Deno.test("profiles: the four built-in platforms validate", () => {
  deepStrictEqual([...PROFILES.keys()].sort(), ["amd-vi", "arm-smmuv3", "intel-vtd", "mock"]);
  strictEqual(findProfile(DEFAULT_PROFILE)?.name, "mock");
});

Deno.test("profiles: intel-vtd is the rig's vIOMMU", () => {
  const p = findProfile("intel-vtd")!;
  strictEqual(p.iommu.pgsizeBitmap, 0x40201000n);
  strictEqual(p.iommu.apertureLast, 0x7fffffffffn);
  deepStrictEqual(p.groups.map((g) => g.id), [3]);
  strictEqual(p.groups[0].devices[0].name, "0000:00:03.0");
});

Deno.test("profiles: invalid data is rejected", () => {
  const good = {
    name: "x",
    description: "",
    source: "",
    iommu: {
      driver: "d",
      pgsizeBitmap: 0x1000n,
      apertureStart: 0n,
      apertureLast: 0xffffn,
      cacheCoherency: true,
      enforceCacheCoherency: false,
      msiIsolated: true,
      reservedRegions: [],
    },
    groups: [{ id: 1, devices: [{ name: "a" }] }],
  };
  strictEqual(parseProfile(good).groups[0].devices[0].info.numRegions, 9);
  throws(() => parseProfile({ ...good, iommu: { ...good.iommu, apertureStart: 0x10000n } }));
  throws(() => parseProfile({ ...good, groups: [...good.groups, ...good.groups] }));
  throws(() =>
    parseProfile({
      ...good,
      iommu: {
        ...good.iommu,
        reservedRegions: [{ start: 0xffff_ffff_ffff_f000n, length: 0x2000n, type: "msi" }],
      },
    })
  );
});
