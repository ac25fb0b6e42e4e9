/**
 * The lean client's batch: every event in its key's partition's record batch, as the client's
 * decoder reads it back: the same values, keys and seqs as written, baseline events as
 * `eventSerializer` writes them; a partition past the byte cap goes on in a batch of its own.
 */

import assert from "node:assert/strict";
import { Buffer } from "node:buffer";
import { Reader, readRecordsBatch } from "@platformatic/kafka";
import { LeanBatch, type RecordKey } from "./lean_batch.ts";
import { BatchBuffers, type PartitionBatch } from "./record_batch.ts";
import { eventSerializer } from "./event.ts";
import { Rng } from "./rng.ts";
import { baselineChoice, DEVICE_IPS, flowOf, newBaselineChoice } from "./traffic.ts";

const PID = "20261206T000000-abcdef-w2";

/** The records of a batch's Produce body: [key, value] as text. */
function records(b: PartitionBatch): Array<[string, string]> {
  const r = Reader.from(
    b.body({
      version: 9,
      acks: -1,
      timeoutMs: 1,
      timestampMs: 1,
      producerId: 1n,
      producerEpoch: 0,
      baseSequence: 0,
    }),
  );
  r.readNullableString();
  r.readInt16();
  r.readInt32();
  r.readUnsignedVarInt();
  r.readString();
  r.readUnsignedVarInt();
  assert.equal(r.readInt32(), b.partition);
  r.readUnsignedVarInt();
  return readRecordsBatch(r).records.map((rec) => [
    Buffer.from(rec.key ?? []).toString(),
    Buffer.from(rec.value ?? []).toString(),
  ]);
}

const keyOf = (ip: string): RecordKey => ({
  bytes: Buffer.from(ip),
  partition: Number(ip.split(".")[3]) % 6,
});

Deno.test("LeanBatch: each event in its partition's batch, in seq order, as written", () => {
  const rng = new Rng("lean-batch");
  const c = newBaselineChoice();
  const serialize = eventSerializer(PID);
  const batch = new LeanBatch("network-telemetry", PID, new BatchBuffers(4096), 896 * 1024);
  const want = new Map<number, Array<[number, string, string]>>();
  for (let seq = 0; seq < 5000; seq++) {
    let key: RecordKey;
    let text: string;
    if (seq % 97 === 5) {
      key = keyOf("10.0.3.7");
      text = seq % 2 ? `{"broken": ${seq}` : "\u{1f600}".repeat(seq % 300);
      batch.text(seq, text, key);
    } else {
      baselineChoice(rng, c);
      key = keyOf(DEVICE_IPS[c.device]);
      batch.baseline(seq, 1_764_000_000_000 + (seq >> 4), c, key);
      text = serialize(seq, 1_764_000_000_000 + (seq >> 4), flowOf(c));
    }
    if (!want.has(key.partition)) want.set(key.partition, []);
    want.get(key.partition)!.push([seq, Buffer.from(key.bytes).toString(), text]);
  }
  assert.equal(batch.size, 5000);
  const batches = batch.take();
  assert.equal(batch.size, 0);
  assert.deepEqual(batches.map((b) => b.partition).sort(), [...want.keys()].sort());
  for (const b of batches) {
    const w = want.get(b.partition)!;
    assert.deepEqual(b.seqs, w.map(([seq]) => seq));
    assert.deepEqual(records(b), w.map(([, key, text]) => [key, text]));
  }
  assert.deepEqual(batch.take(), []);
});

Deno.test("LeanBatch: a partition's records past the byte cap go on in a batch of their own", () => {
  const rng = new Rng("cap");
  const c = newBaselineChoice();
  const cap = 64 * 1024;
  const batch = new LeanBatch("t", PID, new BatchBuffers(1024), cap);
  const key = keyOf("10.0.0.1");
  const n = 1000; // ~450 KB on one partition
  for (let seq = 0; seq < n; seq++) batch.baseline(seq, 5, baselineChoice(rng, c), key);
  batch.text(n, "y".repeat(3 * cap), key); // larger than the cap: alone
  batch.baseline(n + 1, 5, baselineChoice(rng, c), key);
  const batches = batch.take();
  assert.ok(batches.length >= 8, `${batches.length} batches`);
  for (const b of batches) {
    assert.equal(b.partition, 1);
    if (!b.seqs.includes(n)) assert.ok(b.bytes <= cap, `${b.bytes} bytes > ${cap}`);
  }
  assert.deepEqual(batches.find((b) => b.seqs.includes(n))!.seqs, [n]);
  assert.deepEqual(batches.flatMap((b) => b.seqs), Array.from({ length: n + 2 }, (_, i) => i));
});
