/**
 * The completeness checker against broken stores: every way a sink (or a
 * pipeline written to get points) can be wrong must say `fail`, never pass,
 * crash or `unknown`. Each case tampers with a synthetic run that passes.
 */

import assert from "node:assert/strict";
import { batchKey, parseBatchKey } from "../pipeline/batcher.ts";
import { eventSerializer } from "../pipeline/event.ts";
import { Ledger } from "../pipeline/ledger.ts";
import { RangeSet } from "../pipeline/range_set.ts";
import { Rng } from "../pipeline/rng.ts";
import { baselineFlow } from "../pipeline/traffic.ts";
import { checkCompleteness, type CompletenessOptions } from "./completeness.ts";
import { gz, linesOf, memoryStore, syntheticRun, TOPIC } from "./_synthetic.ts";
import { checkStore } from "./store_check.ts";
import { TopicTableBuilder } from "./topic_table.ts";

type Run = ReturnType<typeof syntheticRun>;

async function check(run: Run, options: CompletenessOptions = {}) {
  const stored = await checkStore(memoryStore(run.objects), TOPIC, run.table, { workers: 1 });
  return checkCompleteness(run.ledger, run.table, stored, options);
}

const fresh = () => syntheticRun({ malformedEvery: 37 });
const eventKeys = (run: Run) => [...run.objects.keys()].filter((k) => k.startsWith("events/"));
const dlqKeys = (run: Run) => [...run.objects.keys()].filter((k) => k.startsWith("dlq/"));
const edit = (run: Run, key: string, fn: (lines: string[]) => string[]) =>
  run.objects.set(key, gz(fn(linesOf(run.objects.get(key)!))));

Deno.test("checkCompleteness: the untouched synthetic run passes", async () => {
  const r = await check(fresh());
  assert.deepEqual(r.reasons, []);
  assert.equal(r.verdict, "pass");
  assert.equal(r.found, r.in_topic);
  assert.ok(r.dlq_expected > 0);
  assert.equal(r.dlq_found, r.dlq_expected);
});

Deno.test("checkCompleteness: tampered stores fail, naming what is wrong", async (t) => {
  const cases: [string, (run: Run) => void, (r: Awaited<ReturnType<typeof check>>) => void][] = [
    ["a batch's objects deleted: lost by the sink, and a gap", (run) => {
      const k = eventKeys(run)[1];
      run.objects.delete(k);
      run.objects.delete(k.replace("events/", "dlq/").replace(".ndjson.gz", ".jsonl.gz"));
    }, (r) => {
      assert.ok(r.lost_by_sink > 0);
      assert.ok(r.gaps.length > 0);
    }],
    ["an events object deleted, its dlq sibling kept", (run) => {
      run.objects.delete(eventKeys(run)[1]);
    }, (r) => assert.ok(r.lost_by_sink > 0)],
    ["a line duplicated inside an object", (run) => {
      edit(run, eventKeys(run)[0], (l) => [...l, l[0]]);
    }, (r) => assert.equal(r.duplicates, 1)],
    ["an object copied under a name outside the layout", (run) => {
      const k = eventKeys(run)[0];
      run.objects.set(k.replace("part-", "copy-of-part-"), run.objects.get(k)!);
    }, (r) => assert.equal(r.foreign_objects.length, 1)],
    [
      "dlq objects named as contract v1 did (.ndjson.gz): foreign, and the finding says so",
      (run) => {
        for (const k of dlqKeys(run)) {
          run.objects.set(k.replace(".jsonl.gz", ".ndjson.gz"), run.objects.get(k)!);
          run.objects.delete(k);
        }
      },
      (r) => {
        const n = r.foreign_objects.length;
        assert.ok(n > 1);
        assert.deepEqual(r.foreign_earlier?.map((e) => [e.version, e.objects]), [[1, n]]);
        assert.ok(
          r.reasons.some((x) =>
            x.startsWith(
              `${n} foreign objects: dlq objects named \`.ndjson.gz\` (contract v1); ` +
                "this contract (v2) wants `.jsonl.gz` (e.g. dlq/",
            )
          ),
          r.reasons.join("; "),
        );
        assert.equal(r.lost_by_sink, r.dlq_expected); // and their records count as not stored
      },
    ],
    ["a contract-v1 dlq name among other foreign objects", (run) => {
      const k = dlqKeys(run)[0];
      run.objects.set(k.replace(".jsonl.gz", ".ndjson.gz"), run.objects.get(k)!);
      run.objects.set(k.replace("part-", "copy-of-part-"), run.objects.get(k)!);
    }, (r) => {
      assert.equal(r.foreign_objects.length, 2);
      assert.ok(
        r.reasons.some((x) =>
          x.startsWith("2 foreign objects under events/ or dlq/ (outside the layout): ") &&
          x.endsWith(
            "; 1 of them are dlq objects named `.ndjson.gz` (contract v1); this " +
              "contract (v2) wants `.jsonl.gz`",
          )
        ),
        r.reasons.join("; "),
      );
    }],
    ["an object re-cut over an overlapping range", (run) => {
      const k = parseBatchKey(eventKeys(run)[0])!;
      const lines = linesOf(run.objects.get(eventKeys(run)[0])!).slice(10);
      run.objects.set(
        batchKey("events", TOPIC, k.partition, k.firstOffset + 10, k.lastOffset),
        gz(lines),
      );
    }, (r) => {
      assert.ok(r.duplicates > 0);
      assert.ok(r.overlap_offsets > 0);
      assert.equal(r.overlaps.length, 1);
    }],
    ["only producer_id and seq stored", (run) => {
      for (const k of eventKeys(run)) {
        edit(run, k, (l) =>
          l.map((line) => {
            const e = JSON.parse(line);
            return JSON.stringify({ producer_id: e.producer_id, seq: e.seq });
          }));
      }
    }, (r) => assert.ok(r.not_an_event > 0)],
    ["a field of one event changed", (run) => {
      edit(run, eventKeys(run)[2], (l) => {
        const e = JSON.parse(l[3]);
        e.bytes_out += 1;
        return [...l.slice(0, 3), JSON.stringify(e), ...l.slice(4)];
      });
    }, (r) => assert.equal(r.altered, 1)],
    ["an event fabricated (never in the topic)", (run) => {
      edit(run, eventKeys(run)[0], (l) => {
        const e = JSON.parse(l[0]);
        return [...l, JSON.stringify({ ...e, seq: 99_999 })];
      });
    }, (r) => assert.equal(r.unexpected, 1)],
    ["a line moved to another partition's object", (run) => {
      const [a, b] = [eventKeys(run)[0], eventKeys(run).at(-1)!];
      const moved = linesOf(run.objects.get(a)!)[0];
      edit(run, a, (l) => l.slice(1));
      edit(run, b, (l) => [...l, moved]);
    }, (r) => assert.equal(r.misplaced, 1)],
    ["a valid event filed in dlq/ as well", (run) => {
      const k = parseBatchKey(eventKeys(run)[0])!;
      const line = linesOf(run.objects.get(eventKeys(run)[0])!)[0];
      const offset = run.records.find((x) => x.value === line)!.offset;
      const key = batchKey("dlq", TOPIC, k.partition, k.firstOffset, k.lastOffset);
      const dlq = run.objects.has(key) ? linesOf(run.objects.get(key)!) : [];
      run.objects.set(
        key,
        gz([...dlq, JSON.stringify({ partition: k.partition, offset, raw: line })]),
      );
    }, (r) => {
      assert.equal(r.valid_in_dlq, 1);
      assert.equal(r.duplicates, 1);
    }],
    ["a malformed record filed in events/", (run) => {
      const k = dlqKeys(run)[0];
      const entry = JSON.parse(linesOf(run.objects.get(k)!)[0]);
      const events = k.replace("dlq/", "events/").replace(".jsonl.gz", ".ndjson.gz");
      edit(run, k, (l) => l.slice(1));
      edit(run, events, (l) => [...l, entry.raw]);
    }, (r) => assert.equal(r.malformed_in_events, 1)],
    ["a dlq record whose raw value was changed", (run) => {
      edit(run, dlqKeys(run)[0], (l) => {
        const e = JSON.parse(l[0]);
        return [JSON.stringify({ ...e, raw: e.raw + " " }), ...l.slice(1)];
      });
    }, (r) => assert.equal(r.altered, 1)],
    ["a corrupt gzip object", (run) => {
      run.objects.set(eventKeys(run)[0], new TextEncoder().encode("not gzip at all"));
    }, (r) => {
      assert.equal(r.corrupt_objects, 1);
      assert.match(r.samples.corrupt_object[0], /part-/);
    }],
    ["an unreadable line", (run) => {
      edit(run, eventKeys(run)[0], (l) => [...l, "{nonsense"]);
    }, (r) => assert.equal(r.unreadable, 1)],
    ["a dlq line without a place", (run) => {
      edit(run, dlqKeys(run)[0], (l) => [...l, "null"]);
    }, (r) => assert.equal(r.unreadable, 1)],
    ["every object emptied", (run) => {
      for (const k of [...run.objects.keys()]) run.objects.set(k, gz([]));
    }, (r) => assert.equal(r.lost_by_sink, r.in_topic)],
    ["an object naming offsets past the topic's end", (run) => {
      const k = parseBatchKey(eventKeys(run).at(-1)!)!;
      run.objects.set(
        batchKey("events", TOPIC, k.partition, k.lastOffset + 1, k.lastOffset + 50),
        gz([]),
      );
    }, (r) => assert.ok(r.reasons.some((x) => x.includes("past the topic's end")))],
  ];
  for (const [name, tamper, expect] of cases) {
    await t.step(name, async () => {
      const run = fresh();
      tamper(run);
      const r = await check(run);
      assert.equal(r.verdict, "fail", `${name}: ${r.verdict} ${r.reasons.join("; ")}`);
      expect(r);
    });
  }
});

Deno.test("checkCompleteness: a re-serialized event is the same event", async () => {
  const run = fresh();
  for (const k of eventKeys(run)) {
    edit(run, k, (l) =>
      l.map((line) => {
        const e = JSON.parse(line);
        const reordered = Object.fromEntries(Object.entries(e).reverse());
        return JSON.stringify(reordered, null, 0).replaceAll('":', '": ');
      }).reverse());
  }
  const r = await check(run);
  assert.deepEqual(r.reasons, []);
});

Deno.test("checkCompleteness: what the topic holds must be stored, whatever the ledger says", async () => {
  const run = fresh();
  // The generator never heard back about seqs 0..49 of w0 (timeouts), but Kafka has them.
  const p = run.ledger.producers.get("synthetic-w0")!;
  p.acked = p.acked.difference(p.attempted.intersection(rangeSet(0, 49)));
  p.unknown = rangeSet(0, 49);
  const first = run.records.filter((r) => r.value.includes('"synthetic-w0","seq":')).slice(0, 50);
  for (const k of eventKeys(run)) {
    edit(run, k, (l) => l.filter((line) => !first.some((r) => r.value === line)));
  }
  const r = await check(run);
  assert.equal(r.verdict, "fail");
  assert.ok(r.lost_by_sink >= 45, `lost by sink ${r.lost_by_sink}`);
  assert.equal(r.lost_before_kafka, 0);
});

Deno.test("checkCompleteness: acknowledged and never in the topic is lost before Kafka", async () => {
  const run = fresh();
  run.ledger.attempt("synthetic-w0", 300, 309);
  run.ledger.ack("synthetic-w0", 300, 309);
  const r = await check(run);
  assert.equal(r.verdict, "fail");
  assert.equal(r.lost_before_kafka, 10);
  assert.deepEqual(r.lost_sample["synthetic-w0"], [
    300,
    301,
    302,
    303,
    304,
    305,
    306,
    307,
    308,
    309,
  ]);
});

Deno.test("checkCompleteness: too many unknown sends or too few acks is unknown, not pass", async () => {
  const run = fresh();
  run.ledger.unknown("synthetic-w1", 400, 599);
  run.ledger.attempt("synthetic-w1", 400, 599);
  const r = await check(run);
  assert.equal(r.verdict, "unknown");
  assert.match(r.reasons[0], /ended unknown/);
  assert.equal((await check(run, { maxUnknownShare: 0.5 })).verdict, "pass");
  assert.equal((await check(fresh(), { minAcked: 10_000 })).verdict, "unknown");
});

Deno.test("checkCompleteness: duplicates within the bound pass", async () => {
  const run = fresh();
  edit(run, eventKeys(run)[0], (l) => [...l, l[0], l[1]]);
  assert.equal((await check(run)).verdict, "fail");
  assert.equal((await check(run, { maxDuplicates: 2 })).verdict, "pass");
});

Deno.test("checkCompleteness: a producer's retry in the topic is not the sink's duplicate", async () => {
  const run = fresh();
  const b = new TopicTableBuilder();
  const last = new Map<number, number>();
  for (const r of run.records) {
    b.add(r.partition, r.offset, r.value);
    last.set(r.partition, r.offset);
  }
  // The topic holds the first record of partition 0 a second time, at its end.
  const again = run.records.find((r) => r.partition === 0)!;
  const offset = last.get(0)! + 1;
  b.add(0, offset, again.value);
  for (const [p, o] of last) b.setBounds(p, 0, (p === 0 ? offset : o) + 1);
  run.table = b.finish();
  run.objects.set(batchKey("events", TOPIC, 0, offset, offset), gz([again.value]));
  const r = await check(run);
  assert.deepEqual(r.reasons, []);
  assert.equal(r.duplicates_in_kafka, 1);
});

function rangeSet(lo: number, hi: number): RangeSet {
  const s = new RangeSet();
  s.addRange(lo, hi);
  return s;
}

Deno.test("checkCompleteness: stored records never attempted are unexpected; stored unknowns are recovered", async () => {
  const run = fresh();
  const p = run.ledger.producers.get("synthetic-w1")!;
  p.attempted = p.attempted.difference(rangeSet(0, 9));
  p.acked = p.acked.difference(rangeSet(0, 19));
  p.unknown = rangeSet(10, 19);
  const r = await check(run);
  assert.equal(r.verdict, "fail");
  assert.equal(r.unexpected, 10);
  assert.equal(r.recovered, 10);
  assert.match(r.samples.unexpected[0], /synthetic-w1 seq 0 .*never attempted/);
});

/**
 * A non-idempotent producer's retry that Kafka holds twice, at offsets 2 and 3 of one
 * partition: both copies are records of the topic, and a sink that stores both in one
 * object (its range 0..4 covers both) stored every record once.
 */
function retryRun(store: (values: string[]) => Record<string, string[]>) {
  const pid = "retry-w0";
  const serialize = eventSerializer(pid);
  const rng = new Rng("retry");
  const ledger = new Ledger({ run_id: "retry", topic: TOPIC, seed: "1" });
  ledger.attempt(pid, 0, 3);
  ledger.ack(pid, 0, 3);
  const values = [0, 1, 2, 3].map((seq) =>
    serialize(seq, 1_700_000_000_000 + seq, baselineFlow(rng))
  );
  const topic = [values[0], values[1], values[2], values[2], values[3]]; // seq 2 at offsets 2 and 3
  const b = new TopicTableBuilder();
  topic.forEach((v, offset) => b.add(0, offset, v));
  b.setBounds(0, 0, topic.length);
  const objects = new Map<string, Uint8Array>();
  for (const [range, lines] of Object.entries(store(values))) {
    const [first, last] = range.split("-").map(Number);
    objects.set(batchKey("events", TOPIC, 0, first, last), gz(lines));
  }
  return { ledger, table: b.finish(), objects, records: [] } as Run;
}

Deno.test("checkCompleteness: both copies of a producer's retry in one object are stored, not lost", async () => {
  const r = await check(retryRun((v) => ({ "0-4": [v[0], v[1], v[2], v[2], v[3]] })));
  assert.deepEqual(r.reasons, []);
  assert.equal(r.verdict, "pass");
  assert.equal(r.found, 5);
  assert.equal(r.lost, 0);
  assert.equal(r.duplicates, 0);
  assert.equal(r.duplicates_in_kafka, 1);
  // Any order inside the object.
  const shuffled = await check(retryRun((v) => ({ "0-4": [v[2], v[3], v[0], v[2], v[1]] })));
  assert.deepEqual(shuffled.reasons, []);
  // Each copy in its own object.
  const split = await check(retryRun((v) => ({ "0-2": [v[0], v[1], v[2]], "3-4": [v[2], v[3]] })));
  assert.deepEqual(split.reasons, []);
  assert.equal(split.duplicates_in_kafka, 1);
});

Deno.test("checkCompleteness: a producer's retry stored once, or too often, still fails", async (t) => {
  await t.step("one copy stored, the object's range covering both: the other is lost", async () => {
    const r = await check(retryRun((v) => ({ "0-4": [v[0], v[1], v[2], v[3]] })));
    assert.equal(r.verdict, "fail");
    assert.equal(r.lost_by_sink, 1);
    assert.equal(r.duplicates, 0);
    assert.match(r.samples.lost_by_sink[0], /retry-w0 seq 2 \(partition 0 offset 3\)/);
  });
  await t.step(
    "both copies stored in the first object, none in the second: lost and doubled",
    async () => {
      const r = await check(retryRun((v) => ({ "0-2": [v[0], v[1], v[2], v[2]], "3-4": [v[3]] })));
      assert.equal(r.verdict, "fail");
      assert.equal(r.lost_by_sink, 1);
      assert.equal(r.duplicates, 1);
    },
  );
  await t.step("three copies of a retry held twice: one duplicate", async () => {
    const r = await check(retryRun((v) => ({ "0-4": [v[0], v[1], v[2], v[2], v[2], v[3]] })));
    assert.equal(r.verdict, "fail");
    assert.equal(r.lost, 0);
    assert.equal(r.duplicates, 1);
  });
  await t.step("a record held once and stored twice: one duplicate", async () => {
    const r = await check(retryRun((v) => ({ "0-4": [v[0], v[1], v[1], v[2], v[2], v[3]] })));
    assert.equal(r.verdict, "fail");
    assert.equal(r.lost, 0);
    assert.equal(r.duplicates, 1);
    assert.match(r.samples.duplicates[0], /retry-w0 seq 1 .*stored 2 times/);
  });
});
