/**
 * Waiting with a deadline and an `AbortSignal`, for the many "until healthy"
 * loops of the stacks.
 *
 * ```ts
 * import { waitFor } from "./wait.ts";
 * await waitFor(async () => await isUp(), { what: "redis PING", timeoutMs: 10_000 });
 * ```
 * @module
 */

export class TimeoutError extends Error {
  override name = "TimeoutError";
}

/** Thrown by a `waitFor` check to stop waiting at once (the thing awaited cannot happen). */
export class GiveUp extends Error {
  override name = "GiveUp";
}

export interface WaitOptions {
  /** What is awaited, for the error message. */
  what: string;
  /** Default 30000. */
  timeoutMs?: number;
  /** Default 200. */
  intervalMs?: number;
  /**
   * The longest one call of `check` may take: one that takes longer counts as a failed check
   * (CheckTimeoutError) and is left behind. Default: the time left until the deadline plus
   * 1 s, so that a check that hangs (a server that stopped answering) cannot hold the wait
   * past its deadline.
   */
  checkTimeoutMs?: number;
  signal?: AbortSignal;
}

/** A call of a `waitFor` check that took longer than its `checkTimeoutMs`. */
export class CheckTimeoutError extends Error {
  override name = "CheckTimeoutError";
}

/**
 * `check()`, but rejected with CheckTimeoutError after `ms`, or with the signal's reason when it
 * aborts; a call left behind has its outcome ignored.
 */
export function boundedCheck<T>(
  check: () => Promise<T> | T,
  ms: number,
  signal?: AbortSignal,
): Promise<T> {
  return new Promise<T>((resolve, reject) => {
    const done = () => {
      clearTimeout(timer);
      signal?.removeEventListener("abort", onAbort);
    };
    const onAbort = () => (done(), reject(signal?.reason));
    const timer = setTimeout(() => {
      done();
      reject(new CheckTimeoutError(`a check took longer than ${Math.round(ms)} ms`));
    }, ms);
    signal?.addEventListener("abort", onAbort, { once: true });
    Promise.resolve().then(check).then(
      (value) => (done(), resolve(value)),
      (error) => (done(), reject(error)),
    );
  });
}

/** Sleeps `ms`, or less when `signal` aborts (then throws its reason). */
export function sleep(ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise((resolve, reject) => {
    if (signal?.aborted) return reject(signal.reason);
    const timer = setTimeout(() => {
      signal?.removeEventListener("abort", onAbort);
      resolve();
    }, ms);
    const onAbort = () => {
      clearTimeout(timer);
      reject(signal?.reason);
    };
    signal?.addEventListener("abort", onAbort, { once: true });
  });
}

/**
 * Calls `check` until it returns a truthy value (returned) or the time is up
 * (throws `TimeoutError` naming `what` and the last error `check` threw).
 */
export async function waitFor<T>(
  check: () => Promise<T | undefined | false> | T | undefined | false,
  options: WaitOptions,
): Promise<T> {
  const timeoutMs = options.timeoutMs ?? 30_000;
  const deadline = performance.now() + timeoutMs;
  let lastError: unknown;
  while (true) {
    options.signal?.throwIfAborted();
    try {
      const limit = options.checkTimeoutMs ?? Math.max(0, deadline - performance.now()) + 1000;
      const value = await boundedCheck(check, limit, options.signal);
      if (value) return value;
    } catch (error) {
      options.signal?.throwIfAborted();
      if (error instanceof GiveUp) throw error;
      lastError = error;
    }
    if (performance.now() >= deadline) {
      const why = lastError instanceof Error ? `: ${lastError.message}` : "";
      throw new TimeoutError(`Timed out after ${timeoutMs} ms waiting for ${options.what}${why}`, {
        cause: lastError,
      });
    }
    await sleep(options.intervalMs ?? 200, options.signal);
  }
}

/** True when something accepts TCP connections on host:port. */
export async function tcpOpen(port: number, host = "127.0.0.1"): Promise<boolean> {
  try {
    const conn = await Deno.connect({ hostname: host, port });
    conn.close();
    return true;
  } catch {
    return false;
  }
}

/** True when nothing listens on host:port (we could bind it ourselves). */
export function portFree(port: number, host = "127.0.0.1"): boolean {
  try {
    const listener = Deno.listen({ hostname: host, port });
    listener.close();
    return true;
  } catch {
    return false;
  }
}
