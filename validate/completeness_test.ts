import assert from "node:assert/strict";
import { Ledger } from "../pipeline/ledger.ts";
import { RangeSet } from "../pipeline/range_set.ts";
import { checkCompleteness } from "./completeness.ts";
import type { FoundSeqs, StoreScan } from "./store_scan.ts";

/** A ledger where p0 attempted and got acks for 0..999; 10..12 malformed. */
function ledger(): Ledger {
  const l = new Ledger({ run_id: "r", topic: "t", seed: 1 });
  l.attempt("p0", 0, 999);
  l.ack("p0", 0, 999);
  for (const s of [10, 11, 12]) l.malformed("p0", s);
  return l;
}

function found(values: number[], dups: number[] = []): FoundSeqs {
  return { seqs: RangeSet.from(values), duplicates: new Map(dups.map((d) => [d, 1])) };
}

function scan(events: number[], dlq: number[], dups: number[] = []): StoreScan {
  return {
    events: new Map([["p0", found(events, dups)]]),
    dlq: new Map([["p0", found(dlq)]]),
    objects: { events: 1, dlq: 1 },
    unreadable: 0,
  };
}

const range = (a: number, b: number) => Array.from({ length: b - a + 1 }, (_, i) => a + i);
const valid = range(0, 999).filter((s) => s < 10 || s > 12);

Deno.test("completeness: everything where it belongs passes", () => {
  const r = checkCompleteness(ledger(), scan(valid, [10, 11, 12]));
  assert.equal(r.verdict, "pass", r.reasons.join("; "));
  assert.equal(r.lost, 0);
  assert.equal(r.dlq_expected, 3);
  assert.equal(r.dlq_found, 3);
});

Deno.test("completeness: a missing acknowledged seq fails and is named", () => {
  const r = checkCompleteness(ledger(), scan(valid.filter((s) => s !== 500), [10, 11, 12]));
  assert.equal(r.verdict, "fail");
  assert.equal(r.lost, 1);
  assert.deepEqual(r.lost_sample, { p0: [500] });
});

Deno.test("completeness: a malformed seq missing from dlq/ is lost", () => {
  const r = checkCompleteness(ledger(), scan(valid, [10, 12]));
  assert.equal(r.verdict, "fail");
  assert.deepEqual(r.lost_sample, { p0: [11] });
});

Deno.test("completeness: a malformed seq in events/ fails", () => {
  const r = checkCompleteness(ledger(), scan([...valid, 11], [10, 11, 12]));
  assert.equal(r.verdict, "fail");
  assert.equal(r.malformed_in_events, 1);
});

Deno.test("completeness: a stored seq never attempted is unexpected", () => {
  const r = checkCompleteness(ledger(), scan([...valid, 5000], [10, 11, 12]));
  assert.equal(r.verdict, "fail");
  assert.deepEqual(r.unexpected_sample, { p0: [5000] });
});

Deno.test("completeness: an unknown producer in the store is unexpected", () => {
  const s = scan(valid, [10, 11, 12]);
  s.events.set("ghost", found([1, 2]));
  const r = checkCompleteness(ledger(), s);
  assert.equal(r.verdict, "fail");
  assert.deepEqual(r.unexpected_sample, { ghost: [1, 2] });
});

Deno.test("completeness: duplicates fail unless the scenario allows them", () => {
  const s = scan(valid, [10, 11, 12], [7, 8]);
  assert.equal(checkCompleteness(ledger(), s).verdict, "fail");
  assert.equal(checkCompleteness(ledger(), s, { maxDuplicates: 2 }).verdict, "pass");
});

Deno.test("completeness: unknown seqs found are recovered, missing ones are fine", () => {
  const l = new Ledger({ run_id: "r", topic: "t", seed: 1 });
  l.attempt("p0", 0, 99);
  l.ack("p0", 0, 49);
  l.unknown("p0", 50, 99);
  const r = checkCompleteness(l, scan(range(0, 69), []));
  assert.equal(r.verdict, "pass", r.reasons.join("; "));
  assert.equal(r.recovered, 20);
  assert.equal(r.unknown, 50);
});

Deno.test("completeness: a late ack wins over unknown", () => {
  const l = new Ledger({ run_id: "r", topic: "t", seed: 1 });
  l.attempt("p0", 0, 9);
  l.unknown("p0", 0, 9);
  l.ack("p0", 0, 9);
  const r = checkCompleteness(l, scan(range(0, 4), []));
  assert.equal(r.verdict, "fail", "acked seqs 5..9 are lost, unknown does not excuse them");
  assert.equal(r.lost, 5);
});

Deno.test("completeness: too few acknowledged events is unknown, never pass", () => {
  const r = checkCompleteness(ledger(), scan(valid, [10, 11, 12]), { minAcked: 10_000 });
  assert.equal(r.verdict, "unknown");
  const empty = new Ledger({ run_id: "r", topic: "t", seed: 1 });
  assert.equal(checkCompleteness(empty, scan([], [])).verdict, "unknown");
});

Deno.test("completeness: a Kafka audit tells lost before Kafka from lost by the sink", () => {
  const stored = valid.filter((s) => s !== 500 && s !== 600);
  const inKafka = new Map([["p0", RangeSet.from(range(0, 999).filter((s) => s !== 500))]]);
  const r = checkCompleteness(ledger(), scan(stored, [10, 11, 12]), { inKafka });
  assert.equal(r.verdict, "fail");
  assert.equal(r.lost_before_kafka, 1);
  assert.equal(r.lost_by_sink, 1);
  assert.match(r.reasons[0], /1 never reached the topic, 1 lost by the sink/);
});

Deno.test("completeness: a Kafka audit splits duplicates into already in Kafka and by the sink", () => {
  const s = scan(valid, [10, 11, 12], [7, 8, 9]);
  const r = checkCompleteness(ledger(), s, {
    inKafka: new Map([["p0", RangeSet.from(range(0, 999))]]),
    kafkaDuplicates: new Map([["p0", new Map([[7, 1], [8, 1]])]]), // a producer retry wrote 7, 8 twice
  });
  assert.equal(r.duplicates, 3);
  assert.equal(r.duplicates_in_kafka, 2);
  assert.equal(r.duplicates_by_sink, 1);
  assert.equal(r.verdict, "fail");
  assert.match(r.reasons.join(), /3 duplicates in the store \(2 already in Kafka, 1 by the sink\)/);
  const noAudit = checkCompleteness(ledger(), s);
  assert.equal(noAudit.duplicates_by_sink, null);
});

Deno.test("completeness: a valid event filed in dlq/ is misfiled, not lost, and fails", () => {
  const r = checkCompleteness(ledger(), scan(valid.filter((s) => s !== 500), [10, 11, 12, 500]));
  assert.equal(r.lost, 0);
  assert.equal(r.valid_in_dlq, 1);
  assert.equal(r.verdict, "fail");
  assert.match(r.reasons.join(), /1 events valid per the ledger were filed in dlq\/ \(p0: 500\)/);
});
