/**
 * Opening a backend by name. Both are loaded by dynamic import: the simulator path never
 * loads the FFI code (so it needs no --allow-ffi), and the kernel backend is only loaded when
 * asked for.
 *
 * @module
 */

import type { BackendName, Kernel } from "../uapi/kernel.ts";

/** Options of {@link openBackend}. */
export interface BackendOptions {
  /** Simulator platform profile. */
  profile?: string;
  /** Simulator kernel release (`6.12.117`). */
  release?: string;
  /** What serves the simulator's /dev/vfio/vfio (default `iommufd`). */
  container?: "iommufd" | "legacy";
}

/** The backends by name, as functions that create a fresh one. */
export const backends: Readonly<Record<BackendName, (o?: BackendOptions) => Promise<Kernel>>> = {
  async sim(o: BackendOptions = {}): Promise<Kernel> {
    // sim/kernel.ts rather than sim/mod.ts (createSimKernel is `new SimKernel`): sim/mod.ts
    // also exports the profile schema, which would load zod.
    const { SimKernel } = await import("../sim/kernel.ts");
    return new SimKernel({ profile: o.profile, release: o.release, container: o.container });
  },
  async kernel(): Promise<Kernel> {
    const { createFfiKernel } = await import("../ffi/mod.ts");
    return createFfiKernel();
  },
};

/**
 * Create backend `name`. Throws an Error with a one-line message for an unknown name, an
 * unknown simulator profile or release, or a kernel backend that cannot start.
 */
export async function openBackend(name: string, o: BackendOptions = {}): Promise<Kernel> {
  if (name !== "sim" && name !== "kernel") {
    throw new Error(`unknown backend '${name}' (sim or kernel)`);
  }
  if (name === "kernel" && (o.profile || o.release || o.container)) {
    throw new Error(
      "--profile, --kernel-version and --container are simulator options (--backend sim)",
    );
  }
  try {
    return await backends[name](o);
  } catch (e) {
    const msg = (e as Error)?.message ?? String(e);
    throw new Error(name === "kernel" ? `kernel backend: ${msg}` : `simulator: ${msg}`);
  }
}
