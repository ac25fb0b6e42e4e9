/**
 * The store check against a decompression bomb: a store of many small gzip
 * objects of one line repeated (or one object of very many lines) holds far
 * more lines than the topic. The check reads at most its budget (4× the
 * topic's records in lines, a bound in bytes), counts into per-record
 * counters, stops, and fails the store with one `corrupt_object` finding;
 * it never throws and never grows with the store.
 */

import assert from "node:assert/strict";
import { gzipSync } from "node:zlib";
import { checkCompleteness } from "./completeness.ts";
import { checkObject, LINES_PER_RECORD, newBudget, newFindings } from "./object_check.ts";
import { linesOf, memoryStore, syntheticRun, TOPIC } from "./_synthetic.ts";
import { checkStore } from "./store_check.ts";
import { serveStore } from "../compose/store_server.ts";
import { slow } from "../compose/testing.ts";
import { objectStore } from "../pipeline/store.ts";

const encoder = new TextEncoder();

function run() {
  return syntheticRun({ producers: 2, perProducer: 300, partitions: 2, batch: 50 });
}

/**
 * One gzip object of `line` `copies` times (a multiple of 1000): gzip members of 1000 lines one
 * after the other, one stream once decompressed, highly compressible.
 */
function bomb(line: string, copies: number): Uint8Array {
  const member = gzipSync(encoder.encode((line + "\n").repeat(1000)), { level: 9 });
  const n = Math.ceil(copies / 1000);
  const out = new Uint8Array(member.length * n);
  for (let i = 0; i < n; i++) out.set(member, i * member.length);
  return out;
}

Deno.test("checkStore: many small gzip objects of repeated lines stop at the budget, fail", async () => {
  const r = run();
  const objects = new Map(r.objects);
  const events = [...objects.keys()].filter((k) => k.startsWith("events/"));
  for (const k of events) objects.set(k, bomb(linesOf(objects.get(k)!)[0], 200_000));
  const store = memoryStore(objects);
  const fetched: string[] = [];
  const get = store.getBytes.bind(store);
  store.getBytes = (key: string, max?: number) => {
    fetched.push(key);
    return get(key, max);
  };
  const maxLines = LINES_PER_RECORD * r.table.size + 1024;
  const stored = await checkStore(store, TOPIC, r.table, { workers: 1 });
  assert.ok(events.length >= 12, `${events.length} bomb objects`);
  assert.ok(stored.findings.lines <= maxLines, `${stored.findings.lines} lines read`);
  assert.ok(fetched.length < events.length, `${fetched.length} of ${events.length} fetched`);
  assert.equal(stored.findings.counts.corrupt_object, 1);
  assert.match(stored.findings.samples.corrupt_object[0], /far more lines than the topic/);
  assert.ok(Math.max(...stored.inEvents) <= 65535);
  assert.equal(stored.inEvents.length, r.table.size);
  const c = checkCompleteness(r.ledger, r.table, stored);
  assert.equal(c.verdict, "fail");
  assert.ok(c.corrupt_objects > 0);
  assert.ok(c.reasons.some((s) => s.includes("far more lines than the topic")), c.reasons.join());
});

Deno.test("checkObject: one object of half a million lines reads at most the budget", () => {
  const r = run();
  const key = [...r.objects.keys()].find((k) => k.startsWith("events/"))!;
  const line = linesOf(r.objects.get(key)!)[0];
  const f = newFindings();
  checkObject(key, bomb(line, 500_000), r.table, f);
  assert.ok(f.lines <= LINES_PER_RECORD * r.table.size + 1024, `${f.lines} lines read`);
  assert.equal(f.counts.corrupt_object, 1);
  assert.match(f.samples.corrupt_object[0], /more than \d+ lines for 600 records/);
  assert.equal(f.heldEvents.length, r.table.size, "counters sized by the topic");
  assert.ok(f.heldEvents.some((n) => n > 1000), "the repeated line is counted");
  // Over budget, the next object is not read at all.
  const lines = f.lines;
  checkObject(key, r.objects.get(key)!, r.table, f);
  assert.equal(f.lines, lines);
  assert.equal(f.counts.corrupt_object, 1, "the budget is one finding");
});

Deno.test("checkObject: more bytes than the budget once decompressed is the finding", () => {
  const r = run();
  const key = [...r.objects.keys()].find((k) => k.startsWith("events/"))!;
  const budget = { ...newBudget(r.table), maxKiB: 64 };
  const f = newFindings(0, budget);
  checkObject(key, bomb("x".repeat(1000), 100), r.table, f);
  assert.equal(f.lines, 0, "nothing read");
  assert.match(f.samples.corrupt_object[0], /far more lines than the topic \(more than 64 KiB/);
});

Deno.test("checkStore: an object the check cannot take is a finding, never a throw", async () => {
  const r = run();
  const objects = new Map(r.objects);
  const key = [...objects.keys()].find((k) => k.startsWith("dlq/") || k.startsWith("events/"))!;
  const store = memoryStore(objects);
  const get = store.getBytes.bind(store);
  // Not a Uint8Array: whatever checkObject does with it, checkStore must not throw.
  store.getBytes = (k: string, max?: number) =>
    k === key ? Promise.resolve({ length: 3 } as unknown as Uint8Array) : get(k, max);
  const stored = await checkStore(store, TOPIC, r.table, { workers: 1 });
  assert.ok(stored.findings.counts.corrupt_object >= 1);
  assert.equal(checkCompleteness(r.ledger, r.table, stored).verdict, "fail");
});

Deno.test(
  {
    name: "checkStore: the workers share one budget over a real MinIO, and fail the bomb",
    ...slow,
  },
  async () => {
    const dir = await Deno.makeTempDir({ prefix: "store-bomb-" });
    const server = await serveStore(dir);
    try {
      const store = objectStore(server.s3);
      await store.client.makeBucket(store.bucket);
      const r = syntheticRun({ producers: 2, perProducer: 300, partitions: 2, batch: 25 });
      for (const [key, bytes] of r.objects) {
        const line = key.startsWith("events/") ? linesOf(bytes)[0] : undefined;
        await store.putBytes(key, line ? bomb(line, 200_000) : bytes, "application/gzip");
      }
      const stored = await checkStore(store, TOPIC, r.table, { workers: 2 });
      assert.ok(stored.objects.events >= 16, `${stored.objects.events} bomb objects`);
      // Each worker may finish the line it was on when the other crossed the budget.
      assert.ok(stored.findings.lines <= LINES_PER_RECORD * r.table.size + 1024 + 2);
      assert.equal(stored.findings.counts.corrupt_object, 1);
      assert.match(stored.findings.samples.corrupt_object[0], /far more lines than the topic/);
      assert.equal(checkCompleteness(r.ledger, r.table, stored).verdict, "fail");
    } finally {
      await server.stop();
      await Deno.remove(dir, { recursive: true }).catch(() => {});
    }
  },
);
