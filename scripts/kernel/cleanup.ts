/**
 * The lane's temporary folders, removed however the lane ends. A `finally` does not run when
 * SIGINT or SIGTERM ends the process, so a lane stopped with ^C or `kill` used to leave its
 * random walks behind in /tmp.
 *
 * @module
 */

const SIGNALS = [["SIGINT", 130], ["SIGTERM", 143]] as const;

/**
 * Run `work`, then remove `dir` (when given): when `work` settles, or on SIGINT/SIGTERM, after
 * which the process exits as a shell reports that signal (130, 143).
 */
export async function removedAfter<T>(dir: string | undefined, work: () => Promise<T>): Promise<T> {
  if (dir === undefined) return await work();
  const remove = () => {
    try {
      Deno.removeSync(dir, { recursive: true });
    } catch {
      // Already gone.
    }
  };
  const handlers = SIGNALS.map(([signal, status]) => {
    const handler = () => {
      remove();
      Deno.exit(status);
    };
    Deno.addSignalListener(signal, handler);
    return [signal, handler] as const;
  });
  try {
    return await work();
  } finally {
    for (const [signal, handler] of handlers) Deno.removeSignalListener(signal, handler);
    remove();
  }
}
