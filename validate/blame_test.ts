/**
 * The blame of lost records with made-up inputs: each class alone, mixtures, logs that could
 * not be read, bounded examples; and `lostRecords` against completeness.ts on a synthetic run
 * with records taken out of the topic and the store.
 */

import assert from "node:assert/strict";
import { RangeSet } from "../pipeline/range_set.ts";
import { blame, blameLines, type LostRecords, lostRecords } from "./blame.ts";
import { checkCompleteness } from "./completeness.ts";
import type { LogSearch, Sighting } from "./log_segments.ts";
import { memoryStore, syntheticRun, TOPIC } from "./_synthetic.ts";
import { checkStore } from "./store_check.ts";
import { TopicTableBuilder } from "./topic_table.ts";

const lost = (
  before: Record<string, [number, number][]>,
  notStored = 0,
): LostRecords => ({
  beforeKafka: new Map(Object.entries(before).map(([p, r]) => [p, RangeSet.fromRanges(r)])),
  notStored: {
    count: notStored,
    examples: Array.from(
      { length: Math.min(notStored, 10) },
      (_, i) => ({ producer_id: "w9", seq: i, partition: 1, offset: 100 + i }),
    ),
  },
});

const read = (broker: string, segments = 1) => ({
  broker,
  dir: `/data/${broker}/log`,
  partitions: 6,
  segments,
  records: 1000,
  notes: [],
});

const search = (sightings: Sighting[], reads = [read("kafka-1"), read("kafka-2")]): LogSearch => ({
  sightings,
  reads,
  dropped: 0,
});

const at = (producer_id: string, seq: number, broker: string, partition = 0, offset = seq) => ({
  producer_id,
  seq,
  broker,
  partition,
  offset,
});

Deno.test("blame: nothing on any log is never_in_topic", () => {
  const b = blame(lost({ w0: [[5, 9]] }), search([]));
  assert.equal(b.lost, 5);
  assert.deepEqual(b.counts, {
    never_in_topic: 5,
    on_replica_not_leader: 0,
    in_topic_not_stored: 0,
  });
  assert.deepEqual(b.examples.never_in_topic[0], { producer_id: "w0", seq: 5 });
  assert.equal(b.unavailable, null);
  assert.equal(b.logs.length, 2);
});

Deno.test("blame: on a broker's log is on_replica_not_leader, naming broker, partition, offset", () => {
  const b = blame(
    lost({ w0: [[5, 6]] }),
    search([
      at("w0", 5, "kafka-2", 3, 120),
      at("w0", 6, "kafka-2", 3, 121),
      at("w0", 6, "kafka-3", 3, 121),
    ]),
  );
  assert.deepEqual(b.counts, {
    never_in_topic: 0,
    on_replica_not_leader: 2,
    in_topic_not_stored: 0,
  });
  assert.deepEqual(b.by_broker, { "kafka-2": 2, "kafka-3": 1 });
  assert.deepEqual(b.examples.on_replica_not_leader[1].on, [
    { broker: "kafka-2", partition: 3, offset: 121 },
    { broker: "kafka-3", partition: 3, offset: 121 },
  ]);
  assert.match(
    blameLines(b)[0],
    /2 on a broker's log.*w0 seq 5 on kafka-2 \(partition 3 offset 120\)/,
  );
  assert.match(blameLines(b).at(-1)!, /kafka-2 \(2\), kafka-3 \(1\)/);
});

Deno.test("blame: in the topic and not stored is in_topic_not_stored", () => {
  const b = blame(lost({}, 3), search([]));
  assert.deepEqual(b.counts, {
    never_in_topic: 0,
    on_replica_not_leader: 0,
    in_topic_not_stored: 3,
  });
  assert.equal(b.lost, 3);
  assert.match(
    blameLines(b)[0],
    /^3 in the topic, not in the store: e.g. w9 seq 0 \(partition 1 offset 100\)/,
  );
});

Deno.test("blame: a mixture is split by class, in producer and seq order", () => {
  const b = blame(
    lost({ w1: [[0, 3]], w0: [[10, 11], [20, 20]] }, 2),
    search([
      at("w1", 2, "kafka-1"),
      at("w0", 11, "kafka-2"),
      { ...at("w0", 20, "kafka-1"), deleted: true },
      at("w0", 99, "kafka-1"), // not lost: ignored
      at("w7", 1, "kafka-1"), // another producer: ignored
    ]),
  );
  assert.equal(b.lost, 9);
  assert.deepEqual(b.counts, {
    never_in_topic: 4,
    on_replica_not_leader: 3,
    in_topic_not_stored: 2,
  });
  assert.deepEqual(
    b.examples.never_in_topic.map((e) => `${e.producer_id}/${e.seq}`),
    ["w0/10", "w1/0", "w1/1", "w1/3"],
  );
  assert.deepEqual(
    b.examples.on_replica_not_leader.map((e) => `${e.producer_id}/${e.seq}`),
    ["w0/11", "w0/20", "w1/2"],
  );
  assert.equal(b.examples.on_replica_not_leader[1].on?.[0].deleted, true);
  assert.match(blameLines(b).join("\n"), /a deleted segment/);
  assert.match(
    blameLines(b)[0],
    /^4 acknowledged and on no broker's log: e\.g\. w0 seq 10; w1 seqs 0, 1, 3$/,
  );
  assert.equal(
    b.counts.never_in_topic + b.counts.on_replica_not_leader + b.counts.in_topic_not_stored,
    b.lost,
  );
});

Deno.test("blame: examples are bounded, counts are not", () => {
  const sightings = Array.from({ length: 500 }, (_, i) => at("w0", 1000 + i, "kafka-1"));
  const b = blame(lost({ w0: [[0, 1499]] }, 50), search(sightings), { examples: 4 });
  assert.deepEqual(b.counts, {
    never_in_topic: 1000,
    on_replica_not_leader: 500,
    in_topic_not_stored: 50,
  });
  for (const c of ["never_in_topic", "on_replica_not_leader", "in_topic_not_stored"] as const) {
    assert.equal(b.examples[c].length, 4, c);
  }
  assert.equal(JSON.stringify(b).length < 5000, true);
});

Deno.test("blame: logs that could not be read leave the records unattributed, with why", () => {
  const b = blame(lost({ w0: [[0, 9]] }, 1), { unavailable: "the stack is external" });
  assert.equal(b.unavailable, "the stack is external");
  assert.equal(b.unattributed, 10);
  assert.deepEqual(b.counts, {
    never_in_topic: 0,
    on_replica_not_leader: 0,
    in_topic_not_stored: 1,
  });
  assert.match(
    blameLines(b).at(-1)!,
    /10 acknowledged and not in the topic, not attributed: the stack is external/,
  );
});

Deno.test("blame: a broker whose log was not read is said, dropped sightings too", () => {
  const b = blame(lost({ w0: [[0, 1]] }), {
    sightings: [],
    reads: [read("kafka-1"), read("kafka-2", 0)],
    dropped: 7,
  });
  assert.equal(b.counts.never_in_topic, 2);
  assert.match(b.notes.join("\n"), /7 places of lost records/);
  assert.match(b.notes.join("\n"), /no segment of the topic was read on kafka-2/);
});

Deno.test("lostRecords: the lost records completeness counts, by class", async () => {
  const run = syntheticRun({ producers: 2, perProducer: 200, partitions: 2, batch: 50 });
  // The topic as the audit read it, without three acknowledged records of synthetic-w0.
  const gone = new Set(["synthetic-w0 5", "synthetic-w0 6", "synthetic-w0 150"]);
  const b = new TopicTableBuilder(run.table.data.key);
  const bounds = new Map<number, number>();
  for (const r of run.records) {
    const id = JSON.parse(r.value) as { producer_id: string; seq: number };
    bounds.set(r.partition, Math.max(bounds.get(r.partition) ?? 0, r.offset + 1));
    if (!gone.has(`${id.producer_id} ${id.seq}`)) b.add(r.partition, r.offset, r.value);
  }
  for (const [p, high] of bounds) b.setBounds(p, 0, high);
  const table = b.finish();
  // The store without one object: records in the topic, not stored.
  const objects = new Map(run.objects);
  const key = [...objects.keys()].find((k) => k.startsWith("events/"))!;
  objects.delete(key);
  const stored = await checkStore(memoryStore(objects), TOPIC, table, { workers: 1 });
  const c = checkCompleteness(run.ledger, table, stored);
  const l = lostRecords(run.ledger, table, stored);
  assert.deepEqual([...l.beforeKafka.keys()], ["synthetic-w0"]);
  assert.deepEqual(l.beforeKafka.get("synthetic-w0")!.ranges(), [[5, 6], [150, 150]]);
  assert.equal(l.notStored.count, c.lost_by_sink);
  assert.ok(l.notStored.count > 0);
  assert.equal(l.notStored.examples[0].partition !== undefined, true);
  const result = blame(l, search([at("synthetic-w0", 150, "kafka-3", 1, 77)]));
  assert.equal(result.lost, c.lost);
  assert.deepEqual(result.counts, {
    never_in_topic: 2,
    on_replica_not_leader: 1,
    in_topic_not_stored: c.lost_by_sink,
  });
});
