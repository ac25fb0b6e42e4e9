/**
 * kafkajs rejects the requests it abandoned on a connection that a fault
 * stalled, reset or killed when that connection finally closes, with nobody
 * awaiting them. Those rejections are the fault doing its job: unhandled, they
 * would end the harness with exit 1 in the middle of a run (or of its cleanup
 * after Ctrl-C). `tolerateAbandonedRequests` keeps them from doing so and
 * reports each to `log`; any other unhandled rejection still ends the process
 * (exit 3 under `runMain`: lib/exit_codes.ts), except once `signal` has aborted: an interrupted run is cleaning up and exits
 * 3 whatever a dying connection throws.
 *
 * ```ts
 * import { tolerateAbandonedRequests } from "./rejections.ts";
 * const stop = tolerateAbandonedRequests({ log: console.log });
 * try {
 *   await Promise.resolve(); // the run
 * } finally {
 *   stop();
 * }
 * ```
 * @module
 */

import { tolerateRejections } from "../lib/exit_codes.ts";

const ABANDONED =
  /^KafkaJS(ConnectionClosedError|ConnectionError|RequestTimeoutError|NumberOfRetriesExceeded)$/;

/** True for the rejections kafkajs leaves behind on a connection a fault broke. */
function isAbandonedRequest(reason: unknown): boolean {
  const name = (reason as Error | undefined)?.name ?? "";
  return ABANDONED.test(name);
}

/** Installs the tolerance (lib/exit_codes.ts); returns the function that removes it. */
export function tolerateAbandonedRequests(
  options: { log: (message: string) => void; signal?: AbortSignal },
): () => void {
  return tolerateRejections((reason) => {
    const error = reason as Error | undefined;
    if (isAbandonedRequest(error)) {
      options.log(`ignored an abandoned kafkajs request: ${error?.name}: ${error?.message}`);
      return true;
    }
    if (options.signal?.aborted) {
      options.log(`ignored a rejection while interrupted: ${String(error?.stack ?? error)}`);
      return true;
    }
    return false;
  });
}
