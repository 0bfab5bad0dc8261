import { deepStrictEqual } from "node:assert/strict";
import { checkKconfig, mergeKconfig, parseKconfig } from "./kconfig.ts";

Deno.test("parseKconfig reads set, unset and string values; later lines win", () => {
  const s = parseKconfig(
    '# comment\nCONFIG_A=y\n# CONFIG_B is not set\nCONFIG_C="x y"\nCONFIG_A=n\n',
  );
  deepStrictEqual([...s], [["CONFIG_A", "n"], ["CONFIG_B", null], ["CONFIG_C", '"x y"']]);
});

Deno.test("mergeKconfig replaces the base's lines for every fragment symbol", () => {
  const base = "CONFIG_A=y\n# CONFIG_B is not set\nCONFIG_C=y\n# CONFIG_D is not set\n";
  const merged = mergeKconfig(base, ["CONFIG_B=y\n# CONFIG_C is not set\n", "CONFIG_E=8\n"]);
  deepStrictEqual([...parseKconfig(merged)], [
    ["CONFIG_A", "y"],
    ["CONFIG_D", null],
    ["CONFIG_B", "y"],
    ["CONFIG_C", null],
    ["CONFIG_E", "8"],
  ]);
});

Deno.test("a later fragment overrides an earlier one", () => {
  const merged = mergeKconfig("", ["CONFIG_X=y\n", "# CONFIG_X is not set\n"]);
  deepStrictEqual([...parseKconfig(merged)], [["CONFIG_X", null]]);
});

Deno.test("checkKconfig reports what olddefconfig dropped or changed", () => {
  const final = "CONFIG_A=y\nCONFIG_B=y\n# CONFIG_C is not set\n";
  deepStrictEqual(
    checkKconfig(final, ["CONFIG_A=y\n# CONFIG_C is not set\n# CONFIG_Z is not set\n"]),
    [],
  );
  deepStrictEqual(checkKconfig(final, ["CONFIG_C=y\nCONFIG_Q=y\n# CONFIG_B is not set\n"]), [
    "want CONFIG_C=y, have # CONFIG_C is not set",
    "want CONFIG_Q=y, have absent",
    "want # CONFIG_B is not set, have CONFIG_B=y",
  ]);
});

Deno.test("the lane's fragments ask for what the variants need", async () => {
  const read = (f: string) => Deno.readTextFile(new URL(`./config/${f}`, import.meta.url));
  const base = parseKconfig(await read("base.config"));
  const wanted = ["IOMMUFD", "IOMMUFD_TEST", "VFIO_PCI", "INTEL_IOMMU", "AMD_IOMMU", "IRQ_REMAP"];
  for (const sym of [...wanted, "9P_FS"]) {
    deepStrictEqual(base.get(`CONFIG_${sym}`), "y", sym);
  }
  const compat = parseKconfig(await read("iommufd-compat.config"));
  deepStrictEqual(compat.get("CONFIG_IOMMUFD_VFIO_CONTAINER"), "y");
  deepStrictEqual(compat.get("CONFIG_VFIO_CONTAINER"), null);
  const legacy = parseKconfig(await read("legacy.config"));
  deepStrictEqual(legacy.get("CONFIG_VFIO_CONTAINER"), "y");
  deepStrictEqual(legacy.get("CONFIG_VFIO_IOMMU_TYPE1"), "y");
  deepStrictEqual(legacy.get("CONFIG_IOMMUFD_VFIO_CONTAINER"), null);
});
