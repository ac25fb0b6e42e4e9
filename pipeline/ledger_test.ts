import assert from "node:assert/strict";
import { Ledger, LedgerFormatError } from "./ledger.ts";

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

Deno.test("Ledger.parse says what is wrong with a bad ledger", () => {
  assert.throws(() => Ledger.parse("{"), LedgerFormatError);
  assert.throws(() => Ledger.parse('{"version":2}'), LedgerFormatError);
  assert.throws(
    () =>
      Ledger.parse(JSON.stringify({
        version: 1,
        run_id: "r",
        producers: { p: { acked: [[3, 1]] } },
      })),
    /producer p: bad acked ranges/,
  );
});
