import assert from "node:assert/strict";
import { entityWalk } from "../pipeline/anomalies.ts";
import { entitySecret } from "./entity_secret.ts";

const KEY_A = new Uint8Array(32).fill(1);
const KEY_B = new Uint8Array(32).fill(2);

Deno.test("entitySecret: the harness key and the run id, not the run id alone", () => {
  const runId = "20261206T063000-abcdef";
  const a = entitySecret(runId, KEY_A);
  assert.match(a, /^[0-9a-f]{64}$/);
  assert.equal(entitySecret(runId, KEY_A), a, "the same key and run: the same secret");
  assert.notEqual(entitySecret("another-run", KEY_A), a);
  assert.notEqual(entitySecret(runId, KEY_B), a, "another harness key: another secret");
  // A detector that knows the run id (every producer_id carries it) cannot walk the entities.
  const take = (secret: string) =>
    Array.from({ length: 8 }, (_, n) => entityWalk("src_ip", secret)(n));
  assert.notDeepEqual(take(runId), take(a));
  assert.notDeepEqual(take(entitySecret(runId, KEY_B)), take(a));
});
