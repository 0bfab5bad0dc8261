/**
 * Reading the environment without ever asking for a permission: a variable whose access is
 * not granted reads as unset.
 *
 * @module
 */

/** The value of `name`, or undefined when it is unset or env access to it is not granted. */
export function readEnv(name: string): string | undefined {
  try {
    if (Deno.permissions.querySync({ name: "env", variable: name }).state !== "granted") {
      return undefined;
    }
    return Deno.env.get(name);
  } catch {
    return undefined;
  }
}
