/**
 * The Redis guard's finding and its reading of replies, without Redis (the
 * guard against a real Redis: redis_guard_redis_test.ts).
 */

import assert from "node:assert/strict";
import { busyFinding, type BusyIncident, isBusy } from "./redis_guard.ts";

function incident(ended_by: BusyIncident["ended_by"], blocked_ms: number): BusyIncident {
  return {
    busy_at_ms: 1_700_000_000_000,
    blocked_ms,
    ended_by,
    answer:
      "BUSY Redis is busy running a script. You can only call SCRIPT KILL or SHUTDOWN NOSAVE.",
    kill_answers: ["+OK"],
  };
}

Deno.test("isBusy: BUSY only, not BUSYKEY, BUSYGROUP, other errors or no answer", () => {
  assert.ok(isBusy({ type: "-", text: "BUSY Redis is busy running a script." }));
  assert.ok(!isBusy({ type: "-", text: "BUSYKEY Target key name already exists." }));
  assert.ok(!isBusy({ type: "-", text: "BUSYGROUP Consumer Group name already exists" }));
  assert.ok(!isBusy({ type: "-", text: "LOADING Redis is loading the dataset in memory" }));
  assert.ok(!isBusy({ type: "+", text: "BUSY " }));
  assert.ok(!isBusy(undefined));
});

Deno.test("busyFinding: none without a block the pipeline is blamed for", () => {
  assert.equal(busyFinding([]), undefined);
  // A script that ended by itself before the guard could end it is only recorded.
  assert.equal(busyFinding([incident("by itself", 1200)]), undefined);
});

Deno.test("busyFinding: one block, its length and how it was ended", () => {
  assert.equal(
    busyFinding([incident("SCRIPT KILL", 4230)]),
    "the pipeline blocked Redis with a script for 4.2 s (Redis answered BUSY to the harness; " +
      "ended by SCRIPT KILL)",
  );
  assert.match(
    busyFinding([incident("restart", 1000)])!,
    /a restart of Redis .*SCRIPT KILL could not/,
  );
  assert.match(
    busyFinding([incident("not ended", 1000)])!,
    /for 1\.0 s \(Redis answered BUSY to the harness; not ended by the harness\)$/,
  );
});

Deno.test("busyFinding: several blocks, summed, the longest named, each way of ending once", () => {
  const finding = busyFinding([
    incident("SCRIPT KILL", 1500),
    incident("by itself", 9000),
    incident("FUNCTION KILL", 2500),
    incident("SCRIPT KILL", 1000),
  ]);
  assert.equal(
    finding,
    "the pipeline blocked Redis with scripts 3 times, 5.0 s in all, the longest 2.5 s " +
      "(Redis answered BUSY to the harness; ended by SCRIPT KILL, FUNCTION KILL)",
  );
});
