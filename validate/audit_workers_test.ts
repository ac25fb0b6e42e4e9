/**
 * The parallel audit's parts without Kafka: partitions dealt to workers by
 * size, shards from several builders merged into the very table one builder
 * makes (whatever order the records came in), a shard that would leave a
 * table inconsistent refused, and a worker that fails, crashes or falls
 * silent failing the audit with a clear error, never hanging it.
 */

import assert from "node:assert/strict";
import { randomAuditKey } from "./digest.ts";
import { AuditWorkerError, inWorkers, partitionGroups, workerCount } from "./kafka_audit.ts";
import type { AuditRequest } from "./_audit_worker.ts";
import { syntheticRun } from "./_synthetic.ts";
import { TopicTable, TopicTableBuilder } from "./topic_table.ts";
import { sessionOf, tableSlab } from "./topic_table.ts";

/** Every column of a table, record by record, with producers by name. */
function rows(t: TopicTable) {
  const d = t.data;
  const out = [];
  for (let r = 0; r < t.size; r++) {
    out.push([
      d.partition[r],
      d.offset[r],
      d.producer[r] < 0 ? null : d.producers[d.producer[r]],
      d.seq[r],
      d.session[r],
      d.len[r],
      [...d.raw.subarray(r * 4, r * 4 + 4)],
      [...d.canon.subarray(r * 4, r * 4 + 4)],
      d.kind[r],
      d.next[r],
    ]);
  }
  return { rows: out, partitions: d.partitions, producers: d.producers, bySeq: d.bySeq };
}

Deno.test("workerCount: one per core, at most one per partition, a bad count refused", () => {
  assert.equal(workerCount(4, 6), 4);
  assert.equal(workerCount(8, 3), 3);
  assert.equal(workerCount(undefined, 1), 1);
  assert.equal(workerCount(2, 0), 1);
  assert.throws(() => workerCount(0, 3), /whole number ≥ 1, got 0/);
  assert.throws(() => workerCount(1.5, 3), RangeError);
});

Deno.test("partitionGroups: every partition once, the big ones spread", () => {
  const ranges = [10, 1000, 5, 990, 20, 0].map((n, p) => ({ partition: p, low: 0, high: n }));
  const groups = partitionGroups(ranges, 2);
  assert.deepEqual(groups.flat().map((r) => r.partition).sort(), [0, 1, 2, 3, 4, 5]);
  const loads = groups.map((g) => g.reduce((s, r) => s + r.high - r.low, 0));
  assert.ok(Math.max(...loads) <= 1015, `loads ${loads}`);
  const withBig = (p: number) => groups.findIndex((g) => g.some((r) => r.partition === p));
  assert.notEqual(withBig(1), withBig(3), "the two big partitions on two workers");
  assert.equal(partitionGroups(ranges.slice(0, 1), 4).length, 1, "no empty group");
});

Deno.test("shards of several builders make the table one builder makes", () => {
  const key = randomAuditKey();
  const run = syntheticRun({ producers: 3, perProducer: 400, partitions: 4, malformedEvery: 37 });
  // A retry: a record appended again later in another partition (a `next` across shards).
  const retry = run.records.find((r) => r.partition === 0 && r.valid)!;
  const records = [...run.records, {
    partition: 3,
    offset: run.records.filter((r) => r.partition === 3).length,
    value: retry.value,
    valid: true,
  }];
  const session = (p: number) => sessionOf(1000 + p, 1);
  const one = new TopicTableBuilder(key);
  for (const r of records) one.add(r.partition, r.offset, r.value, session(r.partition));
  // Two "workers", partitions {0, 2} and {1, 3}, fed in reverse partition order.
  const workers = [[2, 0], [3, 1]].map((mine) => {
    const b = new TopicTableBuilder(key);
    for (const p of mine) {
      for (const r of records.filter((x) => x.partition === p)) {
        b.add(r.partition, r.offset, r.value, session(p));
      }
    }
    return b.shard();
  });
  const merged = new TopicTableBuilder(key);
  for (const shard of workers.reverse()) merged.absorb(shard);
  for (const b of [one, merged]) {
    for (let p = 0; p < 4; p++) {
      b.setBounds(p, 0, records.filter((r) => r.partition === p).length);
    }
  }
  const a = one.finish();
  const b = merged.finish();
  assert.equal(b.size, records.length);
  assert.deepEqual(rows(b), rows(a));
  assert.notEqual(b.data.next[b.at(0, retry.offset)], -1, "the retry is chained");
  assert.deepEqual(b.data.producers, [...b.data.producers].sort(), "producers in name order");
});

Deno.test("builders writing one slab on their own make the table one builder makes", () => {
  const key = randomAuditKey();
  const run = syntheticRun({ producers: 3, perProducer: 300, partitions: 4, malformedEvery: 29 });
  // Gaps: every 10th offset of partition 0 without a record (a transaction marker) and 3 more
  // at its end, so the partitions after it move down; partition 1 from a log start of 5;
  // partition 7 read from an empty range.
  const records = run.records.map((r) => ({
    ...r,
    offset: r.partition === 0
      ? r.offset + Math.floor(r.offset / 9)
      : r.partition === 1
      ? r.offset + 5
      : r.offset,
  }));
  const ranges = [0, 1, 2].map((p) => ({
    partition: p,
    low: p === 1 ? 5 : 0,
    high: records.filter((r) => r.partition === p).at(-1)!.offset + 1 + (p === 0 ? 3 : 0),
  })).concat([{ partition: 7, low: 40, high: 40 }]);
  const one = new TopicTableBuilder(key);
  for (const r of ranges) one.setBounds(r.partition, r.low, r.high);
  for (const r of records) if (r.partition < 3) one.add(r.partition, r.offset, r.value, 3);
  const slab = tableSlab(ranges)!;
  const coordinator = new TopicTableBuilder(key, slab);
  const reports = [[2], [1, 0]].map((mine) => {
    const worker = new TopicTableBuilder(key, slab); // as on another thread: the slab is shared
    for (const r of records) {
      if (mine.includes(r.partition)) worker.add(r.partition, r.offset, r.value, 3);
    }
    return worker.slabReport();
  });
  for (const report of reports) coordinator.adopt(report);
  const a = one.finish();
  const b = coordinator.finish();
  assert.equal(b.size, records.filter((r) => r.partition < 3).length);
  assert.deepEqual(rows(b), rows(a));
  assert.equal(b.bounds(7)?.count, 0);
  // The file round-trips: the table's columns are views of the slab.
  assert.deepEqual(rows(TopicTable.decode(b.encode(), key)), rows(b));
});

Deno.test("a slab takes only its ranges, and adopt refuses a report that lies", () => {
  const key = randomAuditKey();
  const v = (seq: number) => `{"producer_id":"x-w0","seq":${seq},"ts_ms":1,"src_ip":"10.0.0.1"}`;
  const slab = () => tableSlab([{ partition: 0, low: 10, high: 13 }])!;
  const b = new TopicTableBuilder(key, slab());
  assert.throws(() => b.add(0, 9, v(0)), /offset 9 outside 10 to 12/);
  assert.throws(() => b.add(1, 0, v(0)), /partition 1 is not in the table's slab/);
  assert.throws(() => b.setBounds(0, 0, 13), /bounds are its slab's/);
  assert.equal(tableSlab([{ partition: 0, low: 0, high: 2 ** 29 }]), undefined, "too sparse");
  const s = slab();
  const w = new TopicTableBuilder(key, s);
  w.add(0, 10, v(0));
  w.add(0, 12, v(1));
  const report = w.slabReport();
  assert.throws(
    () => new TopicTableBuilder(key, s).adopt({ ...report, counts: [[0, 4]] }),
    /4 records in its region/,
  );
  assert.throws(
    () => new TopicTableBuilder(key, s).adopt({ ...report, counts: [[0, 3]] }),
    /record 2 at offset 0, out of order/,
  );
  assert.throws(
    () => new TopicTableBuilder(key, s).adopt({ ...report, counts: [[3, 1]] }),
    /partition 3 is not in the table's slab/,
  );
  assert.throws(
    () => new TopicTableBuilder(key, s).adopt({ ...report, producers: [] }),
    /names producer 0/,
  );
  const twice = new TopicTableBuilder(key, s);
  twice.adopt(report);
  assert.throws(() => twice.adopt(report), /partition 0 adopted twice/);
  assert.equal(new TopicTableBuilder(key, s).adopt(report), undefined);
});

Deno.test("absorb refuses a shard that would break the table", () => {
  const key = randomAuditKey();
  const v = (seq: number) => `{"producer_id":"x-w0","seq":${seq},"ts_ms":1,"src_ip":"10.0.0.1"}`;
  const shardOf = (offsets: number[]) => {
    const b = new TopicTableBuilder(key);
    offsets.forEach((o, i) => b.add(0, o, v(i)));
    return b.shard();
  };
  const target = new TopicTableBuilder(key);
  target.absorb(shardOf([5, 6]));
  assert.throws(() => target.absorb(shardOf([6, 7])), /offset 6 after 6 \(not increasing\)/);
  const short = shardOf([10, 11]);
  short.partitions[0].seq = short.partitions[0].seq.subarray(0, 1);
  assert.throws(() => target.absorb(short), /columns of different lengths/);
  const stranger = shardOf([12]);
  stranger.partitions[0].producer[0] = 7;
  assert.throws(() => target.absorb(stranger), /names a producer it does not list/);
});

const request = (partitions: AuditRequest["partitions"]): AuditRequest => ({
  brokers: ["127.0.0.1:1"], // nobody listens: every fetch fails
  topic: "t",
  security: {},
  key: randomAuditKey(),
  partitions,
  deadline: Date.now() + 1500,
});

Deno.test("inWorkers: a worker that cannot read its partition fails the audit, naming where", async () => {
  const t0 = Date.now();
  await assert.rejects(
    inWorkers([[{ partition: 0, low: 0, high: 5 }], [{ partition: 1, low: 3, high: 9 }]], request, {
      deadline: Date.now() + 1500,
    }),
    (e: Error) => {
      assert.ok(e instanceof AuditWorkerError, `${e.name}: ${e.message}`);
      assert.match(
        e.message,
        /worker for partitions (0|1) failed: AuditReadError: audit of t timed out: partition (0|1) read up to offset (0|3) of (5|9)/,
      );
      return true;
    },
  );
  assert.ok(Date.now() - t0 < 30_000, "not a hang");
});

Deno.test("inWorkers: a worker that crashes or falls silent fails the audit", async () => {
  const crash = `data:application/javascript,${encodeURIComponent("throw new Error('boom')")}`;
  await assert.rejects(
    inWorkers([[{ partition: 2, low: 0, high: 1 }]], request, {
      deadline: Date.now() + 1000,
      workerUrl: crash,
    }),
    /the audit worker for partitions 2 crashed: .*boom/,
  );
  const mute = `data:application/javascript,${encodeURIComponent("self.onmessage = () => {}")}`;
  const t0 = Date.now();
  await assert.rejects(
    inWorkers([[{ partition: 0, low: 0, high: 1 }]], request, {
      deadline: Date.now() + 200,
      graceMs: 300,
      workerUrl: mute,
    }),
    /an audit worker gave no answer 0.3 s past the audit's deadline/,
  );
  assert.ok(Date.now() - t0 < 5000);
  const liar = `data:application/javascript,${
    encodeURIComponent("self.onmessage = () => self.postMessage({})")
  }`;
  await assert.rejects(
    inWorkers([[{ partition: 4, low: 0, high: 1 }]], request, {
      deadline: Date.now() + 1000,
      workerUrl: liar,
    }),
    /the audit worker for partitions 4 sent no table/,
  );
});
