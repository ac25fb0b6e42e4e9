import assert from "node:assert/strict";
import {
  planReassignment,
  reassign,
  reassignmentJson,
  ReassignPlanError,
  stillMoving,
} from "./reassign.ts";

const RF3 = [
  { partition: 0, replicas: [1, 2, 3] },
  { partition: 1, replicas: [2, 3, 1] },
  { partition: 2, replicas: [3, 1, 2] },
];

Deno.test("planReassignment: shift moves every replica to the next broker of the ring", async (t) => {
  await t.step("fewer replicas than brokers: data moves to a new broker", () => {
    const plan = planReassignment("shift", [
      { partition: 0, replicas: [1, 2, 3] },
      { partition: 1, replicas: [4, 1, 2] },
    ], { brokers: [1, 2, 3, 4] });
    assert.deepEqual([...plan], [[0, [2, 3, 4]], [1, [1, 2, 3]]]);
  });
  await t.step("as many replicas as brokers: the same set, another order", () => {
    const plan = planReassignment("shift", RF3, { brokers: [3, 1, 2] });
    assert.deepEqual(plan.get(0), [2, 3, 1]);
    for (const [p, r] of plan) {
      assert.deepEqual([...r].sort(), [1, 2, 3], `partition ${p}`);
    }
  });
});

Deno.test("planReassignment: reorder rotates each list, never its set", () => {
  const plan = planReassignment("reorder", RF3, { brokers: [1, 2, 3] });
  assert.deepEqual([...plan], [[0, [2, 3, 1]], [1, [3, 1, 2]], [2, [1, 2, 3]]]);
});

Deno.test("planReassignment: evacuate moves the target's replicas to the least loaded others", () => {
  const plan = planReassignment("evacuate", [
    { partition: 0, replicas: [1, 2, 3] },
    { partition: 1, replicas: [2, 4, 1] },
    { partition: 2, replicas: [3, 1, 2] },
    { partition: 3, replicas: [4, 1, 3] },
  ], { brokers: [1, 2, 3, 4, 5], evacuate: [3] });
  // Partition 1 keeps its list (no replica on 3): only what changes is planned.
  assert.deepEqual([...plan.keys()], [0, 2, 3]);
  for (const r of plan.values()) {
    assert.ok(!r.includes(3), `still on broker 3: ${r}`);
    assert.equal(new Set(r).size, r.length, `a broker twice: ${r}`);
  }
  // Broker 5 had nothing: it takes the first moved replica, then the load spreads.
  assert.deepEqual(plan.get(0), [1, 2, 5]);
});

Deno.test("planReassignment: refuses what it cannot plan, saying why", async (t) => {
  await t.step("evacuate with as many replicas as brokers", () => {
    assert.throws(
      () => planReassignment("evacuate", RF3, { brokers: [1, 2, 3], evacuate: [2] }),
      (e: Error) =>
        e instanceof ReassignPlanError &&
        /no broker left to take broker 2's replica/.test(e.message),
    );
  });
  await t.step("evacuate without a broker to evacuate", () => {
    assert.throws(
      () => planReassignment("evacuate", RF3, { brokers: [1, 2, 3] }),
      ReassignPlanError,
    );
  });
  await t.step("nothing to move (one replica, reorder)", () => {
    assert.throws(
      () => planReassignment("reorder", [{ partition: 0, replicas: [1] }], { brokers: [1, 2] }),
      /moves no replica/,
    );
  });
});

Deno.test("reassignmentJson: Kafka's reassignment file", () => {
  assert.deepEqual(JSON.parse(reassignmentJson("t", new Map([[2, [1, 3]]]))), {
    version: 1,
    partitions: [{ topic: "t", partition: 2, replicas: [1, 3] }],
  });
});

Deno.test("stillMoving: done only when each list is the planned one and wholly in sync", () => {
  const plan = new Map([[0, [2, 3, 4]], [1, [1, 2, 3]]]);
  const state = (partition: number, replicas: number[], isr: number[]) => ({
    partition,
    leader: replicas[0],
    replicas,
    isr,
  });
  // Mid-move: the union of old and new.
  assert.deepEqual(
    stillMoving([state(0, [2, 3, 4, 1], [1, 2, 3]), state(1, [1, 2, 3], [1, 2, 3])], plan),
    [0],
  );
  // The planned list, but a new replica not yet in sync.
  assert.deepEqual(
    stillMoving([state(0, [2, 3, 4], [2, 3]), state(1, [1, 2, 3], [1, 2, 3])], plan),
    [
      0,
    ],
  );
  // A partition missing from the metadata is not done either.
  assert.deepEqual(stillMoving([state(0, [2, 3, 4], [2, 3, 4])], plan), [1]);
  assert.deepEqual(
    stillMoving([state(0, [2, 3, 4], [4, 3, 2]), state(1, [1, 2, 3], [3, 1, 2])], plan),
    [],
  );
});

Deno.test("reassign params: defaults, the mode enum, the bound", () => {
  assert.deepEqual(reassign.params.parse({}), {
    mode: "shift",
    topic: "network-telemetry",
    complete_within_ms: 120_000,
  });
  assert.equal(reassign.params.safeParse({ mode: "scatter" }).success, false);
  assert.equal(reassign.params.safeParse({ complete_within_ms: 10 }).success, false);
  assert.equal(reassign.params.safeParse({ topic: "" }).success, false);
  assert.equal(reassign.params.safeParse({ brokers: [1] }).success, false);
  assert.equal(reassign.oneShot, true);
});
