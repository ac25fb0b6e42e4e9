import assert from "node:assert/strict";
import { BatchBook, Ledger, LedgerFormatError } from "./ledger.ts";

Deno.test("Ledger round-trips through JSON as compact ranges", () => {
  const ledger = new Ledger({ run_id: "r1", topic: "t", seed: 7, started_at_ms: 1 });
  for (let s = 0; s < 10_000; s++) ledger.attempt("r1-w0", s);
  ledger.ack("r1-w0", 0, 4999);
  ledger.unknown("r1-w0", 5000, 5099);
  ledger.ack("r1-w0", 5100, 9999);
  ledger.malformed("r1-w0", 17);
  ledger.fail("r1-w1", 3);
  ledger.incident({
    id: "i1",
    kind: "exfil",
    entity: "10.64.0.1",
    start_ms: 5,
    end_ms: 9,
    events: 3,
    scheduled: true,
  });
  const json = JSON.stringify(ledger);
  assert.ok(json.length < 600, `compact: ${json.length} bytes`);
  const back = Ledger.parse(json);
  assert.deepEqual(back.toJSON(), ledger.toJSON());
  assert.deepEqual(back.totals(), {
    attempted: 10_000,
    acked: 9_900,
    failed: 1,
    unknown: 100,
    malformed: 1,
  });
  assert.deepEqual(back.producer("r1-w0").acked.ranges(), [[0, 4999], [5100, 9999]]);
});

Deno.test("Ledger times its first acknowledgement, and keeps it through JSON", async () => {
  const ledger = new Ledger({ run_id: "r1", topic: "t", seed: 7 });
  ledger.attempt("r1-w0", 0, 9);
  assert.equal(ledger.meta.first_ack_at_ms, undefined);
  const before = Date.now();
  ledger.ack("r1-w0", 0, 4);
  const first = ledger.meta.first_ack_at_ms!;
  assert.ok(first >= before && first <= Date.now());
  await new Promise((r) => setTimeout(r, 5));
  ledger.ack("r1-w0", 5, 9);
  assert.equal(ledger.meta.first_ack_at_ms, first, "only the first is timed");
  assert.equal(Ledger.parse(JSON.stringify(ledger)).meta.first_ack_at_ms, first);
});

Deno.test("Ledger.parse says what is wrong with a bad ledger", () => {
  assert.throws(() => Ledger.parse("{"), LedgerFormatError);
  assert.throws(() => Ledger.parse('{"version":2}'), LedgerFormatError);
  assert.throws(
    () =>
      Ledger.parse(JSON.stringify({
        version: 1,
        run_id: "r",
        topic: "t",
        seed: 1,
        producers: { p: { acked: [[3, 1]] } },
      })),
    /producers\.p\.acked\.0: lo is above hi/,
  );
  const valid = { version: 1, run_id: "r", topic: "t", seed: 1, producers: {} };
  for (
    const [bad, says] of [
      [{ ...valid, producers: { p: { acked: [[0, 2 ** 53]] } } }, /producers\.p\.acked\.0\.1/],
      [{ ...valid, producers: { p: { acked: "0-9" } } }, /producers\.p\.acked/],
      [{ ...valid, producers: [] }, /producers/],
      [{ ...valid, started_at_ms: 1e16 }, /started_at_ms/],
      [
        { ...valid, incidents: [{ id: "i", kind: "exfil", entity: "e" }] },
        /incidents\.0\.start_ms/,
      ],
      [{ ...valid, incidents: {} }, /incidents/],
    ] as const
  ) {
    assert.throws(
      () => Ledger.parse(JSON.stringify(bad)),
      (e: Error) => e instanceof LedgerFormatError && says.test(e.message),
      JSON.stringify(bad),
    );
  }
});

/** Seqs `first..last` dealt round-robin into `n` groups (as partitions interleave them). */
function deal(first: number, last: number, n: number): number[][] {
  const groups: number[][] = Array.from({ length: n }, () => []);
  for (let s = first; s <= last; s++) groups[s % n].push(s);
  return groups;
}

Deno.test("Ledger.merge: the ledgers of one run's generators as one, or what they share", () => {
  const part = (producer: string, incident: string, start: number) => {
    const l = new Ledger({ run_id: "r1", topic: "t", seed: 1, started_at_ms: start });
    l.attempt(producer, 0, 99);
    l.ack(producer, 0, 98);
    l.unknown(producer, 99);
    l.incident({ id: incident } as Parameters<Ledger["incident"]>[0]);
    l.meta.ended_at_ms = start + 1000;
    return l;
  };
  const a = part("r1-w0", "inc-0001", 5000);
  const b = part("r1-w4", "inc-o4-0001", 4000);
  const merged = Ledger.merge([a, b]);
  assert.deepEqual(merged.totals(), {
    attempted: 200,
    acked: 198,
    failed: 0,
    unknown: 2,
    malformed: 0,
  });
  assert.deepEqual(merged.incidents.map((i) => i.id), ["inc-0001", "inc-o4-0001"]);
  assert.equal(merged.meta.started_at_ms, 4000);
  assert.equal(merged.meta.ended_at_ms, 6000);
  assert.equal(a.totals().attempted, 100, "the parts are left as they were");
  assert.throws(
    () => Ledger.merge([a, part("r1-w0", "inc-x", 0)]),
    (e: Error) =>
      e instanceof LedgerFormatError && /r1-w0 is in two ledgers.*--worker-offset/.test(e.message),
  );
  assert.throws(() => Ledger.merge([a, part("r1-w9", "inc-0001", 0)]), /inc-0001 is in two/);
  const other = new Ledger({ run_id: "r2", topic: "t", seed: 1 });
  assert.throws(() => Ledger.merge([a, other]), /run r2 .* cannot join run r1/);
});

Deno.test("BatchBook writes a batch whose groups were all acknowledged as one range", () => {
  const ledger = new Ledger({ run_id: "r", topic: "t", seed: 1 });
  const groups = deal(100, 1099, 6);
  const book = new BatchBook(ledger, "r-w0", 100, 1099, groups.length);
  for (const g of groups.slice(0, 5)) book.record("ack", g);
  // Nothing is acknowledged before every group is.
  assert.equal(ledger.producers.get("r-w0")?.acked.size ?? 0, 0);
  book.record("ack", groups[5]);
  assert.deepEqual(ledger.producer("r-w0").acked.ranges(), [[100, 1099]]);
});

Deno.test("BatchBook: a failed or timed-out group leaves the others' acks exact", () => {
  const ledger = new Ledger({ run_id: "r", topic: "t", seed: 1 });
  const groups = deal(0, 599, 3);
  const book = new BatchBook(ledger, "r-w0", 0, 599, 3);
  book.record("ack", groups[0]);
  book.record("fail", groups[1]);
  book.record("unknown", groups[2]);
  const p = ledger.producer("r-w0");
  assert.deepEqual([...p.acked.values()], groups[0]);
  assert.deepEqual([...p.failed.values()], groups[1]);
  assert.deepEqual([...p.unknown.values()], groups[2]);
  // A late ack of the timed-out group is recorded too (acked wins in the validator).
  book.record("ack", groups[2]);
  assert.equal(p.acked.size, 400);
  assert.ok(p.acked.has(599) && !p.acked.has(1));
});

Deno.test("BatchBook: acks after a timeout are written one group at a time", () => {
  const ledger = new Ledger({ run_id: "r", topic: "t", seed: 1 });
  const groups = deal(0, 9, 2);
  const book = new BatchBook(ledger, "r-w0", 0, 9, 2);
  book.record("unknown", groups[0]);
  book.record("ack", groups[1]);
  assert.deepEqual(ledger.producer("r-w0").acked.ranges(), [[1, 1], [3, 3], [5, 5], [7, 7], [
    9,
    9,
  ]]);
  assert.deepEqual(ledger.producer("r-w0").unknown.ranges(), [[0, 0], [2, 2], [4, 4], [6, 6], [
    8,
    8,
  ]]);
});
