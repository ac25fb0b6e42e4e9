/**
 * The object check against objects no sink should write: huge (one 512 MiB
 * line, or more than the bound once decompressed), a line longer than a line
 * may be, binary garbage, not gzip, empty. Each is a named finding, the check
 * goes on, and the run fails; none is an exception or an out-of-memory.
 */

import assert from "node:assert/strict";
import { gzipSync } from "node:zlib";
import { batchKey } from "../pipeline/batcher.ts";
import { checkCompleteness } from "./completeness.ts";
import { checkObject, MAX_LINE_BYTES, MAX_OBJECT_BYTES, newFindings } from "./object_check.ts";
import { gz, memoryStore, syntheticRun, TOPIC } from "./_synthetic.ts";
import { checkStore } from "./store_check.ts";

/** `copies` gzip members of `chunk` one after the other: one stream of copies × chunk bytes. */
function repeated(chunk: Uint8Array, copies: number): Uint8Array {
  const member = gzipSync(chunk, { level: 1 });
  const out = new Uint8Array(member.length * copies);
  for (let i = 0; i < copies; i++) out.set(member, i * member.length);
  return out;
}

/** Lines counted into the per-record counters. */
const held = (a: Uint16Array) => a.reduce((s, n) => s + n, 0);

const eventsKey = (run: ReturnType<typeof syntheticRun>) =>
  [...run.objects.keys()].find((k) => k.startsWith("events/"))!;

Deno.test("checkObject: a 512 MiB line is a corrupt object, not a crash", () => {
  const run = syntheticRun();
  const f = newFindings();
  const t0 = performance.now();
  checkObject(eventsKey(run), repeated(new Uint8Array(1 << 20).fill(97), 512), run.table, f);
  assert.equal(f.counts.corrupt_object, 1);
  assert.match(f.samples.corrupt_object[0], /more than 256 MiB once decompressed/);
  assert.ok(performance.now() - t0 < 30_000);
  assert.ok(MAX_OBJECT_BYTES < 512 << 20);
});

Deno.test("checkObject: a line longer than the bound is unreadable, the other lines are read", () => {
  const run = syntheticRun();
  const key = eventsKey(run);
  const long = '{"producer_id":"synthetic-w0","seq":0,' + "x".repeat(MAX_LINE_BYTES) + "}";
  const f = newFindings();
  checkObject(key, gz([long, '{"producer_id":"synthetic-w0","seq":1}']), run.table, f);
  assert.equal(f.counts.unreadable, 1);
  assert.match(f.samples.unreadable[0], /line 1: \d+ bytes, more than a line may hold \(8 MiB\)/);
  assert.equal(f.lines, 2);
  assert.equal(held(f.heldEvents), 1, "line 2 was read: it names a record");
});

Deno.test("checkObject: binary garbage, not gzip, an empty object: named findings", async (t) => {
  const run = syntheticRun();
  const key = eventsKey(run);
  const garbage = crypto.getRandomValues(new Uint8Array(65536));
  await t.step("binary garbage in gzip: unreadable lines", () => {
    const f = newFindings();
    checkObject(key, gzipSync(garbage), run.table, f);
    assert.equal(f.counts.corrupt_object, 0);
    assert.ok(f.counts.unreadable > 0);
    assert.equal(held(f.heldEvents), 0);
  });
  await t.step("not gzip: a corrupt object", () => {
    const f = newFindings();
    checkObject(key, garbage, run.table, f);
    assert.equal(f.counts.corrupt_object, 1);
    assert.match(f.samples.corrupt_object[0], /not gzip/);
  });
  await t.step("truncated gzip: a corrupt object", () => {
    const f = newFindings();
    const whole = run.objects.get(key)!;
    checkObject(key, whole.subarray(0, whole.length >> 1), run.table, f);
    assert.equal(f.counts.corrupt_object, 1);
  });
  await t.step("0 bytes: a corrupt object, said empty", () => {
    const f = newFindings();
    checkObject(key, new Uint8Array(), run.table, f);
    assert.equal(f.counts.corrupt_object, 1);
    assert.match(f.samples.corrupt_object[0], /empty/);
  });
  await t.step("gzip of nothing: no lines (its records are lost)", () => {
    const f = newFindings();
    checkObject(key, gzipSync(new Uint8Array()), run.table, f);
    assert.equal(f.lines, 0);
    assert.equal(f.counts.corrupt_object, 0);
  });
});

Deno.test("checkStore + checkCompleteness: each bad object fails the run, naming it", async () => {
  const bad: [string, Uint8Array, RegExp][] = [
    ["huge", repeated(new Uint8Array(1 << 20).fill(10), 300), /could not be read.*MiB/],
    ["garbage", gzipSync(crypto.getRandomValues(new Uint8Array(4096))), /name no record/],
    ["not gzip", crypto.getRandomValues(new Uint8Array(100)), /could not be read/],
    ["empty", new Uint8Array(), /could not be read.*empty/],
  ];
  for (const [what, bytes, reason] of bad) {
    const run = syntheticRun();
    const key = eventsKey(run);
    run.objects.set(key, bytes);
    const stored = await checkStore(memoryStore(run.objects), TOPIC, run.table, { workers: 1 });
    const r = checkCompleteness(run.ledger, run.table, stored);
    assert.equal(r.verdict, "fail", what);
    assert.ok(r.reasons.some((x) => reason.test(x)), `${what}: ${r.reasons.join("; ")}`);
    assert.ok(r.lost > 0, what);
  }
  // A batch name of the layout holding garbage also fails through the workers' path.
  const run = syntheticRun({ perProducer: 2000, batch: 50 });
  run.objects.set(batchKey("events", TOPIC, 0, 0, 49), new Uint8Array([1, 2, 3]));
  const stored = await checkStore(memoryStore(run.objects), TOPIC, run.table, { workers: 1 });
  assert.equal(stored.findings.counts.corrupt_object, 1);
});
