/**
 * Progress lines for the kernel lane. Everything goes to stderr so that stdout stays free
 * for results (transcript differences, the final verdict).
 *
 * @module
 */

const started = performance.now();

/** Seconds since this process loaded the module, with one decimal. */
export function elapsed(): string {
  return ((performance.now() - started) / 1000).toFixed(1);
}

/** Print one progress line: `[kernel +12.3s] message`. */
export function progress(message: string): void {
  console.error(`[kernel +${elapsed()}s] ${message}`);
}

/**
 * Await `work`, printing `label ... Ns` every `everyMs` while it runs, then
 * `label done in Ns`. `detail` may add context to each heartbeat (e.g. a build log's last line).
 */
export async function withHeartbeat<T>(
  label: string,
  work: Promise<T>,
  detail: () => string = () => "",
  everyMs = 30_000,
): Promise<T> {
  const t0 = performance.now();
  const secs = () => Math.round((performance.now() - t0) / 1000);
  progress(`${label} ...`);
  const timer = setInterval(() => {
    const extra = detail();
    progress(`${label} ... ${secs()}s${extra ? ` (${extra})` : ""}`);
  }, everyMs);
  try {
    const result = await work;
    progress(`${label} done in ${secs()}s`);
    return result;
  } finally {
    clearInterval(timer);
  }
}
