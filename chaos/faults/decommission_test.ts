import assert from "node:assert/strict";
import { decommission, missingFromIsr, registeredList } from "./decommission.ts";
import { stackProblems } from "./mod.ts";

Deno.test("missingFromIsr: partitions holding a replica on the broker but not in sync", () => {
  const topics = [
    {
      name: "t",
      partitions: [
        { partitionId: 0, replicas: [1, 2, 3], isr: [1, 3] },
        { partitionId: 1, replicas: [1, 3], isr: [1, 3] }, // no replica on 2: nothing owed
        { partitionId: 2, replicas: [2, 3, 1], isr: [3, 2, 1] },
      ],
    },
    { name: "__consumer_offsets", partitions: [{ partitionId: 7, replicas: [2], isr: [] }] },
  ];
  assert.deepEqual(missingFromIsr(topics, 2), ["t/0", "__consumer_offsets/7"]);
  assert.deepEqual(missingFromIsr(topics, 1), []);
});

Deno.test("registeredList: ids, fenced ones marked", () => {
  assert.deepEqual(
    registeredList([{ id: 1, state: "unfenced" }, { id: 2, state: "fenced" }]),
    [1, "2 (fenced)"],
  );
});

Deno.test("decommission: one broker only, refused before the run otherwise", () => {
  assert.deepEqual(stackProblems([{ kind: "decommission", target: "broker:2" }], "local"), []);
  assert.deepEqual(
    stackProblems(
      [{ kind: "decommission", target: "broker:leader(network-telemetry,0)" }],
      "docker",
    ),
    [],
  );
  assert.match(
    stackProblems([{ kind: "decommission", target: "all-brokers" }], "local")[0],
    /^faults\.0: decommission removes one broker/,
  );
  assert.deepEqual(decommission.params.parse({}), { back_within_ms: 120_000 });
  assert.equal(decommission.params.safeParse({ back_within_ms: 5 }).success, false);
});
