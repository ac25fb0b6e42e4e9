import assert from "node:assert/strict";
import { summarizeHealth } from "./kafka_health.ts";

Deno.test("summarizeHealth: under-replicated, offline and the smallest ISR", () => {
  const healthy = { leader: 1, replicas: [1, 2, 3], isr: [1, 2, 3] };
  assert.deepEqual(summarizeHealth([healthy, healthy], 2), {
    under_replicated: 0,
    offline_partitions: 0,
    min_isr: 3,
    controller: 2,
  });
  // A broker down: its partitions shrink their ISR; one partition lost its leader.
  assert.deepEqual(
    summarizeHealth([
      healthy,
      { leader: 2, replicas: [1, 2, 3], isr: [2, 3] },
      { leader: -1, replicas: [1, 2, 3], isr: [1] },
    ], null),
    { under_replicated: 2, offline_partitions: 1, min_isr: 1, controller: null },
  );
  // A leader that is not in the ISR cannot serve: offline.
  assert.equal(
    summarizeHealth([{ leader: 3, replicas: [1, 2, 3], isr: [1, 2] }], 1).offline_partitions,
    1,
  );
  assert.equal(summarizeHealth([], 1).min_isr, 0, "no partition: nothing in sync");
});
