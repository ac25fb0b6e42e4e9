import assert from "node:assert/strict";
import { type ElectionRound, electPreferred, stormSummary } from "./elect_preferred.ts";

const round = (moved: number, exit = 0): ElectionRound => ({
  round: 1,
  exit,
  moved,
  preferred: 6,
  partitions: 6,
});

Deno.test("stormSummary: elections, leader changes, idle and failed rounds", () => {
  assert.deepEqual(stormSummary([round(6), round(0, 1), round(4, 2)]), {
    elections: 3,
    leader_changes: 10,
    idle_rounds: 1,
    failed_elections: 1,
  });
  // Nothing moved at all: what the fault treats as no effect.
  assert.equal(stormSummary([round(0), round(0)]).leader_changes, 0);
});

Deno.test("elect_preferred params: defaults and bounds", () => {
  assert.deepEqual(electPreferred.params.parse({}), {
    count: 5,
    interval_ms: 5000,
    shuffle: true,
    topic: "network-telemetry",
  });
  assert.equal(electPreferred.params.safeParse({ count: 0 }).success, false);
  assert.equal(electPreferred.params.safeParse({ count: 101 }).success, false);
  assert.equal(electPreferred.params.safeParse({ interval_ms: -1 }).success, false);
  assert.equal(electPreferred.params.safeParse({ shuffle: "yes" }).success, false);
});
