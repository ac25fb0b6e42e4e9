import assert from "node:assert/strict";
import { batchKey } from "../../pipeline/batcher.ts";
import { checkDurability, type CommitEvidence, type StoredRange } from "../../validate/commits.ts";
import { addPartitions, untaken } from "./add_partitions.ts";

Deno.test("untaken: the partitions a group has not been assigned", () => {
  assert.deepEqual(untaken([0, 1, 2, 3, 4], [0, 1, 2]), [3, 4]);
  assert.deepEqual(untaken([0, 1, 2], [2, 0, 1]), []);
  assert.deepEqual(untaken([0, 1], []), [0, 1]);
});

Deno.test("add_partitions params: defaults and bounds", () => {
  assert.deepEqual(addPartitions.params.parse({}), {
    count: 3,
    topic: "network-telemetry",
    groups: ["telemetry-sink", "telemetry-detector"],
    taken_within_ms: 60_000,
  });
  assert.equal(addPartitions.params.safeParse({ count: 0 }).success, false);
  assert.equal(addPartitions.params.safeParse({ count: 65 }).success, false);
  assert.equal(addPartitions.params.safeParse({ groups: [""] }).success, false);
  assert.deepEqual(addPartitions.params.parse({ groups: [] }).groups, []);
});

// The durability check with a partition that did not exist at the start: it is judged like
// the others from the audit's bounds at the end and the commits sampled once it appeared.
const T = 1_800_000_000_000;
const obj = (p: number, first: number, last: number, at: number): StoredRange => ({
  key: batchKey("events", "network-telemetry", p, first, last),
  partition: p,
  first,
  last,
  last_modified_ms: T + at,
});
const commits = (list: [number, number, number][]): CommitEvidence => ({
  samples: list.map(([at, partition, offset]) => ({ at_ms: T + at, partition, offset })),
  end: { end_ms: T + 100_000, reads: 100, failed: 0, final: true },
  malformed: [],
});
const ends = [
  { partition: 0, low: 0, high: 100 },
  { partition: 1, low: 0, high: 50 }, // added mid-run: first sampled at 30 s
];

Deno.test("checkDurability: a partition added mid-run, stored and committed, passes", () => {
  const d = checkDurability(
    commits([[0, 0, -1], [2000, 0, 100], [30_000, 1, -1], [41_000, 1, 50]]),
    [obj(0, 0, 99, 1000), obj(1, 0, 49, 40_000)],
    ends,
  );
  assert.equal(d.verdict, "pass", d.reasons.join("; "));
  assert.equal(d.commits, 2);
});

Deno.test("checkDurability: a partition added mid-run that was never committed fails", () => {
  const d = checkDurability(
    commits([[0, 0, -1], [2000, 0, 100]]),
    [obj(0, 0, 99, 1000), obj(1, 0, 49, 40_000)],
    ends,
  );
  assert.equal(d.verdict, "fail");
  assert.match(d.reasons.join(), /partition 1: nothing committed \(it holds offsets 0\.\.49\)/);
});

Deno.test("checkDurability: a new partition committed before it was stored fails", () => {
  const d = checkDurability(
    commits([[0, 0, -1], [2000, 0, 100], [30_000, 1, 50]]),
    [obj(0, 0, 99, 1000), obj(1, 0, 49, 40_000)],
    ends,
  );
  assert.equal(d.verdict, "fail");
  assert.match(d.reasons.join(), /committed before stored: 1 commits on 1 partitions/);
});
