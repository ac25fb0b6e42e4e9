/**
 * The secret that keys a run's incident entities (pipeline/anomalies.ts,
 * `entityWalk`): derived from the harness's key and the run id, so the harness
 * (and whoever holds its key) gets the same one for a run, while a detector,
 * which sees the run id in every `producer_id` but never the key, cannot
 * predict which addresses the incidents take. It goes to the harness's own
 * generator in process and to the other generator processes in their
 * environment (`INCIDENT_ENTITY_SECRET`), never to a pipeline component.
 *
 * ```ts
 * import { entitySecret } from "./entity_secret.ts";
 * const secret = entitySecret("run-20261206-1"); // 64 hex digits
 * ```
 * @module
 */

import { deriveKey, loadHarnessKey } from "../lib/harness_key.ts";

/** The environment variable that hands the secret to a `deno task generate` process. */
export const ENTITY_SECRET_ENV = "INCIDENT_ENTITY_SECRET";

/** The run's entity secret, as hex: `deriveKey(key, "incident-entities", runId)`. */
export function entitySecret(runId: string, key: Uint8Array = loadHarnessKey()): string {
  return Array.from(
    deriveKey(key, "incident-entities", runId),
    (b) => b.toString(16).padStart(2, "0"),
  ).join("");
}
