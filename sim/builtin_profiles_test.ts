import { deepStrictEqual } from "node:assert";
import { BUILTIN, MOCK_DOMAIN } from "./builtin_profiles.ts";
import { IommuSchema, parseProfile } from "./profiles.ts";

// The built-in profiles are written out with every default (so that a simulator starts
// without loading zod); validating them must change nothing. When this fails after a new
// default in the profile schema, add that default to sim/builtin_profiles.ts.
for (const p of BUILTIN) {
  Deno.test(`builtin profiles: ${p.name} is what the profile schema makes of it`, () => {
    deepStrictEqual(p, parseProfile(p));
  });
}

Deno.test("builtin profiles: the mock domain is a valid IOMMU with its defaults", () => {
  deepStrictEqual({ ...MOCK_DOMAIN }, IommuSchema.parse(MOCK_DOMAIN));
});
