import assert from "node:assert/strict";
import { grownPartitions, PartitionWatch } from "./generator_partitions.ts";

Deno.test("partition watch: a larger count is adopted once it settled, never a smaller one", () => {
  const w = new PartitionWatch(6, 6000);
  assert.equal(w.observe(6, 0), 6);
  assert.equal(w.observe(9, 1000), 6, "seen, not settled");
  assert.equal(w.observe(9, 5000), 6);
  assert.equal(w.observe(9, 7000), 9, "settled");
  assert.equal(w.observe(4, 8000), 9, "partitions never go away");
  assert.equal(w.observe(Number.NaN, 8000), 9);
  assert.equal(w.observe(12, 9000), 9);
  assert.equal(w.observe(13, 14_000), 9, "another count starts its own wait");
  assert.equal(w.observe(13, 20_000), 13);
  assert.equal(w.current, 13);
  const now = new PartitionWatch(6, 0);
  assert.equal(now.observe(9, 0), 9, "no settle time: at once");
});

Deno.test("grown partitions: new entries numbered on, with a leader", () => {
  const six = grownPartitions([], 6);
  assert.deepEqual(six.map((p) => p.partitionId), [0, 1, 2, 3, 4, 5]);
  const nine = grownPartitions(six, 9);
  assert.equal(nine.length, 9);
  assert.ok(nine.every((p) => p.leader >= 0));
  assert.equal(six.length, 6, "not changed in place");
  assert.equal(grownPartitions(nine, 3).length, 9);
});
