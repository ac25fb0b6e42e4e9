import assert from "node:assert/strict";
import {
  leaderChanges,
  leaderTable,
  parseEndpoints,
  replicaTable,
  toolSaid,
} from "./kafka_admin.ts";

Deno.test("parseEndpoints: the brokers of kafka-cluster.sh list-endpoints, fenced or not", () => {
  const out = [
    "ID         HOST         PORT        RACK        STATE       ENDPOINT_TYPE",
    "1          127.0.0.1    25311       null        unfenced    broker",
    "2          127.0.0.1    25321       null        fenced      broker",
    "3          127.0.0.1    25331       null        unfenced    broker",
    "3          127.0.0.1    25332       null        unfenced    broker",
  ].join("\n");
  assert.deepEqual(parseEndpoints(out), [
    { id: 1, state: "unfenced" },
    { id: 2, state: "fenced" },
    { id: 3, state: "unfenced" },
  ]);
  assert.deepEqual(parseEndpoints("ID HOST PORT RACK STATE ENDPOINT_TYPE\n"), []);
  assert.throws(() => parseEndpoints("Error: connection refused"), /no table: Error/);
});

Deno.test("leaderChanges: the partitions whose leader moved", () => {
  assert.deepEqual(leaderChanges({ 0: 1, 1: 2, 2: 3 }, { 0: 2, 1: 2, 2: 1, 3: 1 }), ["0", "2"]);
  assert.deepEqual(leaderChanges({ 0: 1 }, { 0: 1 }), []);
});

Deno.test("replicaTable, leaderTable, toolSaid: evidence in small shapes", () => {
  const states = [{ partition: 0, leader: 2, replicas: [2, 1], isr: [2] }];
  assert.deepEqual(replicaTable(states), { 0: [2, 1] });
  assert.deepEqual(leaderTable(states), { 0: 2 });
  assert.equal(toolSaid("\n a \n\n b \n c\n", 2), "b / c");
});
