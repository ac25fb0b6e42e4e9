import assert from "node:assert/strict";
import { Batcher, batchKey, parseBatchKey } from "./batcher.ts";

const rec = (offset: number, ok = true) => ({ offset, line: `{"o":${offset}}`, ok });

Deno.test("Batcher flushes on count, on bytes and on age (fake time)", async (t) => {
  await t.step("count", () => {
    const b = new Batcher({ maxEvents: 3, maxAgeMs: 1000 });
    assert.equal(b.add(0, rec(10), 0), undefined);
    assert.equal(b.add(0, rec(11, false), 1), undefined);
    const full = b.add(0, rec(12), 2)!;
    assert.deepEqual([full.firstOffset, full.lastOffset, full.valid.length, full.invalid.length], [
      10,
      12,
      2,
      1,
    ]);
    assert.deepEqual(b.partitions(), []);
  });
  await t.step("bytes", () => {
    // Each line is `{"o":N}` (7 bytes) plus a newline: 8 bytes.
    const b = new Batcher({ maxEvents: 1000, maxBytes: 16 });
    assert.equal(b.add(1, rec(0), 0), undefined);
    const full = b.add(1, rec(1), 0);
    assert.equal(full?.bytes, 16);
  });
  await t.step("age: only batches whose oldest record is old enough", () => {
    const b = new Batcher({ maxEvents: 1000, maxAgeMs: 2000 });
    b.add(0, rec(0), 0);
    b.add(1, rec(0), 1500);
    b.add(0, rec(1), 1900);
    assert.deepEqual(b.due(1999), []);
    const due = b.due(2000);
    assert.deepEqual(due.map((x) => x.partition), [0]);
    assert.deepEqual(b.partitions(), [1]);
    assert.deepEqual(b.due(3500).map((x) => x.partition), [1]);
  });
  await t.step("offsets must increase within a partition", () => {
    const b = new Batcher();
    b.add(0, rec(5), 0);
    assert.throws(() => b.add(0, rec(5), 0), RangeError);
  });
});

Deno.test("batch keys are a function of the offset range and parse back", () => {
  const key = batchKey("events", "network-telemetry", 3, 1200, 4199);
  assert.equal(
    key,
    "events/network-telemetry/partition=3/part-3-00000000000000001200-00000000000000004199.ndjson.gz",
  );
  assert.deepEqual(parseBatchKey(key), {
    kind: "events",
    topic: "network-telemetry",
    partition: 3,
    firstOffset: 1200,
    lastOffset: 4199,
  });
  assert.equal(parseBatchKey("events/t/partition=1/part-2-0-1.ndjson.gz"), undefined);
  const dlq = batchKey("dlq", "t", 0, 0, 9);
  assert.equal(parseBatchKey(dlq)?.kind, "dlq");
});

Deno.test("Batcher.firstOffset()/lastOffset() tell where the open batch starts and ends (to spot a rewound fetch)", () => {
  const b = new Batcher({ maxEvents: 10 });
  assert.equal(b.lastOffset(3), undefined);
  assert.equal(b.firstOffset(3), undefined);
  b.add(3, { offset: 40, line: "{}", ok: true }, 0);
  b.add(3, { offset: 41, line: "{}", ok: true }, 0);
  assert.equal(b.lastOffset(3), 41);
  assert.equal(b.firstOffset(3), 40);
  b.drop(3);
  assert.equal(b.lastOffset(3), undefined);
  b.add(3, { offset: 20, line: "{}", ok: true }, 0); // after a drop, an earlier offset is fine
  assert.equal(b.lastOffset(3), 20);
});
