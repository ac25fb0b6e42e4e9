/**
 * The order check against crafted topics: in order it passes; a seq that goes
 * backwards within a partition and producer session fails with its offsets;
 * a duplicate (the same record appended again) is no reorder, the same seq
 * with other bytes is; producers interleaved and sessions are told apart;
 * `allowReorder` reports without failing; the completeness check carries it;
 * the session survives the audit file.
 */

import assert from "node:assert/strict";
import { eventSerializer } from "../pipeline/event.ts";
import { Rng } from "../pipeline/rng.ts";
import { baselineFlow } from "../pipeline/traffic.ts";
import { checkOrder, orderFigures, reorderLines } from "./order.ts";
import { randomAuditKey } from "./digest.ts";
import { sessionOf, TopicTable, TopicTableBuilder } from "./topic_table.ts";
import { checkCompleteness } from "./completeness.ts";
import { checkStore } from "./store_check.ts";
import { gz, memoryStore, syntheticRun, TOPIC } from "./_synthetic.ts";
import { batchKey } from "../pipeline/batcher.ts";

/** A record of a crafted topic: partition, producer, seq, session (default 7), a variant of bytes. */
type R = [partition: number, producer: string, seq: number, session?: number, variant?: number];

function table(records: R[], key = randomAuditKey()): TopicTable {
  const b = new TopicTableBuilder(key);
  const offsets = new Map<number, number>();
  const rng = new Rng("order");
  const flows = new Map<string, ReturnType<typeof baselineFlow>>();
  for (const [p, pid, seq, session = 7, variant = 0] of records) {
    const id = `${pid}/${seq}/${variant}`;
    if (!flows.has(id)) flows.set(id, baselineFlow(rng));
    const offset = offsets.get(p) ?? 0;
    offsets.set(p, offset + 1);
    b.add(p, offset, eventSerializer(pid)(seq, 1_700_000_000_000 + seq, flows.get(id)!), session);
  }
  return b.finish();
}

Deno.test("checkOrder: each producer's seqs in order per partition pass", () => {
  const o = checkOrder(table([
    [0, "w0", 0],
    [1, "w0", 1],
    [0, "w1", 0],
    [0, "w0", 2],
    [1, "w1", 1],
    [0, "w0", 5], // gaps are other checks' business
    [0, "w1", 9],
  ]));
  assert.equal(o.verdict, "pass");
  assert.equal(o.reordered, 0);
  assert.equal(o.checked, 7);
  assert.deepEqual(o.reasons, []);
});

Deno.test("checkOrder: a seq that goes backwards fails, with partition, offsets and seqs", () => {
  const o = checkOrder(table([
    [0, "w0", 0],
    [0, "w0", 2],
    [0, "w0", 1], // offset 2, after seq 2 at offset 1
    [0, "w0", 3],
  ]));
  assert.equal(o.verdict, "fail");
  assert.equal(o.reordered, 1);
  assert.deepEqual(o.examples, [{
    partition: 0,
    offset: 2,
    producer_id: "w0",
    session: 7,
    seq: 1,
    after: { offset: 1, seq: 2 },
  }]);
  assert.match(o.reasons[0], /1 records reordered .*w0 seq 1 at partition 0 offset 2, after seq 2/);
  assert.match(orderFigures(o), /reordered 1/);
  assert.match(reorderLines(o)[0], /partition 0 offset 2: w0 seq 1/);
});

Deno.test("checkOrder: a whole batch appended after a later one counts each record", () => {
  const o = checkOrder(table([
    [2, "w0", 10],
    [2, "w0", 11],
    [2, "w0", 12],
    [2, "w0", 4],
    [2, "w0", 5],
    [2, "w0", 13],
  ]));
  assert.equal(o.reordered, 2);
  assert.deepEqual(o.examples.map((e) => [e.offset, e.seq, e.after.seq]), [[3, 4, 12], [4, 5, 12]]);
});

Deno.test("checkOrder: the same seq twice in one idempotent session fails, with both offsets", () => {
  const dup = checkOrder(table([
    [0, "w0", 0],
    [0, "w0", 1],
    [0, "w0", 1], // a retry appended again, right after
    [0, "w0", 2],
    [0, "w0", 0], // a retry of an earlier batch appended again, later
    [0, "w0", 3],
  ]));
  assert.equal(dup.verdict, "fail");
  assert.equal(dup.reordered, 0); // a duplicate, not a reorder
  assert.equal(dup.duplicated, 2);
  assert.deepEqual(dup.duplicate_examples, [
    { partition: 0, offset: 2, producer_id: "w0", session: 7, seq: 1, first: { offset: 1 } },
    { partition: 0, offset: 4, producer_id: "w0", session: 7, seq: 0, first: { offset: 0 } },
  ]);
  assert.match(
    dup.reasons[0],
    /2 records appended twice within their partition and idempotent producer session \(e\.g\. w0 seq 1 at partition 0 offsets 1 and 2\)/,
  );
  assert.match(orderFigures(dup), /appended twice in one session 2/);
  assert.match(
    reorderLines(dup)[0],
    /partition 0 offset 2: w0 seq 1 \(session 7\) again, first at offset 1/,
  );
  // Idempotence off (no session): copies are expected, counted by completeness only.
  const off = checkOrder(table([[0, "w0", 0, -1], [0, "w0", 1, -1], [0, "w0", 1, -1]]));
  assert.equal(off.verdict, "pass");
  assert.equal(off.duplicated, 0);
  // A copy from another session (the abandoned producer's retry) is neither.
  const other = checkOrder(table([[0, "w0", 0, 1], [0, "w0", 1, 1], [0, "w0", 1, 2]]));
  assert.equal(other.verdict, "pass");
  assert.equal(other.duplicated, 0);
  // The same seq in another partition is no duplicate of this one.
  assert.equal(checkOrder(table([[0, "w0", 1], [1, "w0", 1]])).duplicated, 0);
  // allowReorder reports it and passes.
  const allowed = checkOrder(table([[0, "w0", 1], [0, "w0", 1]]), { allowReorder: true });
  assert.equal(allowed.verdict, "pass");
  assert.equal(allowed.duplicated, 1);
  assert.match(allowed.reasons[0], /allowed by the scenario/);
});

Deno.test("checkOrder: the same seq with other bytes is a finding, in a session or not", () => {
  const reused = checkOrder(table([
    [0, "w0", 0],
    [0, "w0", 1],
    [0, "w0", 0, 7, 1], // seq 0 again, other bytes: a generator reusing seqs
  ]));
  assert.equal(reused.verdict, "fail");
  assert.equal(reused.duplicated, 1);
  const unsessioned = checkOrder(table([
    [0, "w0", 0, -1],
    [0, "w0", 1, -1],
    [0, "w0", 0, -1, 1],
  ]));
  assert.equal(unsessioned.verdict, "fail");
  assert.equal(unsessioned.reordered, 1);
  // A copy in another partition does not excuse a backwards seq in this one.
  const elsewhere = checkOrder(table([
    [1, "w0", 0],
    [0, "w0", 1],
    [0, "w0", 0],
  ]));
  assert.equal(elsewhere.reordered, 1);
});

Deno.test("checkOrder: producers interleaved are each held to their own order", () => {
  const ok = checkOrder(table([
    [0, "w0", 5],
    [0, "w1", 0],
    [0, "w2", 3],
    [0, "w0", 6],
    [0, "w1", 1],
    [0, "w2", 4],
  ]));
  assert.equal(ok.reordered, 0);
  const bad = checkOrder(table([
    [0, "w0", 5],
    [0, "w1", 0],
    [0, "w1", 2],
    [0, "w0", 6],
    [0, "w1", 1], // only w1 went backwards
    [0, "w0", 7],
  ]));
  assert.equal(bad.reordered, 1);
  assert.equal(bad.examples[0].producer_id, "w1");
  // Partitions are checked apart: a lower seq in another partition is no reorder.
  assert.equal(checkOrder(table([[0, "w0", 9], [1, "w0", 1]])).reordered, 0);
});

Deno.test("checkOrder: sessions are compared apart; records without one are one session", () => {
  // The abandoned producer (session 1) lands its retry after the new one's (session 2) records.
  const late = checkOrder(table([
    [0, "w0", 0, 1],
    [0, "w0", 10, 2],
    [0, "w0", 11, 2],
    [0, "w0", 3, 1],
  ]));
  assert.equal(late.verdict, "pass");
  assert.equal(late.reordered, 0);
  // Within session 2 a step back still counts, whatever session 1 did.
  assert.equal(
    checkOrder(table([[0, "w0", 0, 1], [0, "w0", 10, 2], [0, "w0", 9, 2]])).reordered,
    1,
  );
  // Idempotence off: no session, all one: stricter, never looser.
  const none = checkOrder(table([[0, "w0", 0, -1], [0, "w0", 2, -1], [0, "w0", 1, -1]]));
  assert.equal(none.reordered, 1);
  assert.equal(none.without_session, 3);
});

Deno.test("checkOrder: allowReorder reports the reorders and passes", () => {
  const o = checkOrder(table([[0, "w0", 2, -1], [0, "w0", 1, -1]]), { allowReorder: true });
  assert.equal(o.verdict, "pass");
  assert.equal(o.reordered, 1);
  assert.equal(o.allowed, true);
  assert.match(o.reasons[0], /allowed by the scenario/);
});

Deno.test("checkOrder: the session survives the audit file", () => {
  const key = randomAuditKey();
  const t = table([[0, "w0", 0, sessionOf(5n, 1)], [0, "w0", 2, sessionOf(5n, 1)], [
    0,
    "w0",
    1,
    sessionOf(5n, 1),
  ]], key);
  const back = TopicTable.decode(t.encode(), key);
  assert.deepEqual(back.data.session, t.data.session);
  assert.equal(checkOrder(back).reordered, 1);
  assert.equal(sessionOf(-1n, -1), -1);
  assert.notEqual(sessionOf(5n, 1), sessionOf(5n, 2));
  assert.notEqual(sessionOf(5n, 1), sessionOf(6n, 1));
});

Deno.test("checkCompleteness: a topic with a reorder fails with `reordered`", async () => {
  const run = syntheticRun({});
  const stored = await checkStore(memoryStore(run.objects), TOPIC, run.table, { workers: 1 });
  const before = checkCompleteness(run.ledger, run.table, stored);
  assert.equal(before.verdict, "pass");
  assert.equal(before.reordered?.reordered, 0);
  // The same records with two of one producer's records swapped in partition 0 (topic and store
  // alike: only the order is wrong).
  const swapped = [...run.records];
  const p0 = swapped.map((r, i) => [r, i] as const).filter(([r]) => r.partition === 0);
  const [[a, i], [b, j]] = [p0[3], p0[4]];
  swapped[i] = { ...b, offset: a.offset };
  swapped[j] = { ...a, offset: b.offset };
  const builder = new TopicTableBuilder();
  for (let p = 0; p < 3; p++) {
    builder.setBounds(p, 0, run.records.filter((r) => r.partition === p).length);
  }
  for (const r of swapped) builder.add(r.partition, r.offset, r.value);
  const t = builder.finish();
  const objects = syntheticObjects(swapped);
  const s2 = await checkStore(memoryStore(objects), TOPIC, t, { workers: 1 });
  const after = checkCompleteness(run.ledger, t, s2);
  assert.equal(after.verdict, "fail");
  assert.equal(after.reordered?.reordered, 1);
  assert.equal(after.reasons.length, 1, after.reasons.join("; "));
  assert.match(after.reasons[0], /records reordered/);
  const allowed = checkCompleteness(run.ledger, t, s2, { allowReorder: true });
  assert.equal(allowed.verdict, "pass");
  assert.equal(allowed.reordered?.reordered, 1);
});

Deno.test("checkCompleteness: a record Kafka appended twice in one session fails the run", async () => {
  const run = syntheticRun({});
  // The topic holds one record of partition 0 twice (a retry appended again, at the end), each
  // offset stored once: nothing lost or stored twice, and still a broken promise of idempotence.
  const p0 = run.records.filter((r) => r.partition === 0);
  const copy = { ...p0[5], offset: p0.length };
  const records = [...run.records, copy];
  const builder = new TopicTableBuilder();
  for (let p = 0; p < 3; p++) {
    builder.setBounds(p, 0, records.filter((r) => r.partition === p).length);
  }
  for (const r of records) builder.add(r.partition, r.offset, r.value, 42);
  const t = builder.finish();
  const stored = await checkStore(memoryStore(syntheticObjects(records)), TOPIC, t, { workers: 1 });
  const c = checkCompleteness(run.ledger, t, stored);
  assert.equal(c.duplicates_in_kafka, 1); // counted there, failing nothing by itself
  assert.equal(c.verdict, "fail");
  assert.equal(c.reordered?.duplicated, 1);
  assert.deepEqual(c.reordered?.duplicate_examples?.[0].first, { offset: p0[5].offset });
  assert.equal(c.reordered?.duplicate_examples?.[0].offset, p0.length);
  assert.equal(c.reasons.length, 1, c.reasons.join("; "));
  assert.match(
    c.reasons[0],
    /appended twice within their partition and idempotent producer session/,
  );
});

/** The store a correct sink makes of these (valid) records: objects of 100 per partition. */
function syntheticObjects(records: ReturnType<typeof syntheticRun>["records"]) {
  const objects = new Map<string, Uint8Array>();
  for (let p = 0; p < 3; p++) {
    const mine = records.filter((r) => r.partition === p).sort((x, y) => x.offset - y.offset);
    for (let i = 0; i < mine.length; i += 100) {
      const part = mine.slice(i, i + 100);
      objects.set(
        batchKey("events", TOPIC, p, part[0].offset, part.at(-1)!.offset),
        gz(part.map((r) => r.value)),
      );
    }
  }
  return objects;
}
