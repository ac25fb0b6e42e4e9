import assert from "node:assert/strict";
import { Buffer } from "node:buffer";
import { crc32c, jsCRC32C, produceV9, Reader, readRecordsBatch } from "@platformatic/kafka";
import {
  BatchBuffers,
  batchCrc32c,
  PartitionBatch,
  produceRequestBody,
  RecordBatchError,
} from "./record_batch.ts";
import { EventBytes } from "./event_bytes.ts";
import { corrupt } from "./malformed.ts";
import { planIncident } from "./anomalies.ts";
import { baselineFlow } from "./traffic.ts";
import { Rng } from "./rng.ts";

const ascii = (s: string) => new TextEncoder().encode(s);

Deno.test("the CRC32C used matches the known vectors (RFC 3720 B.4, the check value)", () => {
  assert.equal(crc32c(Buffer.from("123456789")), 0xe3069283);
  assert.equal(crc32c(Buffer.alloc(32)), 0x8a9136aa);
  assert.equal(crc32c(Buffer.alloc(32, 0xff)), 0x62a8ab43);
  assert.equal(crc32c(Buffer.from(Array.from({ length: 32 }, (_, i) => i))), 0x46dd794e);
  assert.equal(crc32c(Buffer.from(Array.from({ length: 32 }, (_, i) => 31 - i))), 0x113fdb5c);
});

/** Every shape the generator sends: baseline events, incidents' JSON, malformed text. */
function generatorRecords(n: number, seed: string): { keys: Buffer[]; values: Buffer[] } {
  const rng = new Rng(seed);
  const bytes = new EventBytes("20261206T000000-abcdef-w1");
  const keys: Buffer[] = [];
  const { flows } = planIncident(rng, {
    id: "inc-0001",
    kind: "exfil",
    entity: "10.0.3.7",
    start_ms: 1_764_000_000_000,
    duration_ms: 2000,
    scheduled: true,
    baseline_eps: 100,
  });
  for (let seq = 0; seq < n; seq++) {
    const flow = seq % 5 === 1 && flows.length > 0
      ? flows[seq % flows.length].flow
      : baselineFlow(rng);
    if (seq % 17 === 3) {
      bytes.text(corrupt(rng, { producer_id: "p", seq, ts_ms: 1, ...flow }).raw);
    } else if (seq % 5 === 1) bytes.json(seq, 1_764_000_000_000 + seq, flow);
    else bytes.event(seq, 1_764_000_000_000 + seq, flow);
    keys.push(Buffer.from(flow.src_ip));
  }
  return { keys, values: bytes.take() };
}

/** The client's own Produce v9 body for the same records (a NumericMap-like of sequences). */
function clientBody(
  records: Array<{ partition: number; keys: Buffer[]; values: Buffer[]; sequence: number }>,
  producer: { producerId?: bigint; producerEpoch?: number; idempotent: boolean },
  ts: number,
): Buffer {
  const messages = records.flatMap((r) =>
    r.values.map((value, i) => ({
      topic: "network-telemetry",
      partition: r.partition,
      key: r.keys[i],
      value,
      headers: new Map(),
      timestamp: BigInt(ts),
    }))
  );
  const sequences = new Map(records.map((r) => [`network-telemetry:${r.partition}`, r.sequence]));
  const writer = produceV9.createRequest(-1, 30_000, messages, {
    producerId: producer.producerId,
    producerEpoch: producer.producerEpoch,
    sequences: producer.idempotent
      ? Object.assign(sequences, {
        getWithDefault: (k: string, d: number) => sequences.get(k) ?? d,
      })
      : undefined,
  } as never);
  return writer.buffer;
}

Deno.test("produceRequestBody writes the client's own bytes for every record shape the generator sends", () => {
  const ts = 1_764_999_999_123;
  for (const n of [1, 63, 64, 700]) {
    const a = generatorRecords(n, `a${n}`);
    const b = generatorRecords(Math.max(1, n >> 1), `b${n}`);
    // The client orders a request's partitions by number (its grouping's object keys).
    const parts = [
      { partition: 0, ...b, sequence: 17 },
      { partition: 4, ...a, sequence: 2_147_000_000 },
    ];
    for (const idempotent of [true, false]) {
      const producer = idempotent ? { producerId: 123456789012n, producerEpoch: 3 } : {};
      const ours = produceRequestBody({
        acks: -1,
        timeoutMs: 30_000,
        topic: "network-telemetry",
        timestampMs: ts,
        partitions: parts.map((p) => ({
          partition: p.partition,
          producerId: idempotent ? 123456789012n : -1n,
          producerEpoch: idempotent ? 3 : 0,
          baseSequence: idempotent ? p.sequence : 0,
          keys: p.keys,
          values: p.values,
        })),
      });
      assert.deepEqual(ours, clientBody(parts, { ...producer, idempotent }, ts), `n=${n}`);
    }
  }
});

Deno.test("produceRequestBody's batches decode to the records, sequences and producer given", () => {
  const { keys, values } = generatorRecords(300, "decode");
  keys[5] = null as unknown as Buffer; // a record without a key
  values[6] = Buffer.alloc(20_000, 0x61); // a value whose length takes three varint bytes
  values[7] = Buffer.alloc(0);
  const body = produceRequestBody({
    acks: 1,
    timeoutMs: 1234,
    topic: "t",
    timestampMs: 1_700_000_000_000,
    partitions: [{
      partition: 9,
      producerId: 42n,
      producerEpoch: 1,
      baseSequence: 1000,
      keys,
      values,
    }],
  });
  const r = Reader.from(body);
  assert.equal(r.readNullableString(), null);
  assert.equal(r.readInt16(), 1);
  assert.equal(r.readInt32(), 1234);
  assert.equal(r.readUnsignedVarInt(), 2);
  assert.equal(r.readString(), "t");
  assert.equal(r.readUnsignedVarInt(), 2);
  assert.equal(r.readInt32(), 9);
  const size = r.readUnsignedVarInt() - 1;
  const start = r.position;
  const batch = readRecordsBatch(r);
  assert.equal(r.position - start, size);
  assert.equal(batch.magic, 2);
  assert.equal(batch.producerId, 42n);
  assert.equal(batch.producerEpoch, 1);
  assert.equal(batch.firstSequence, 1000);
  assert.equal(batch.lastOffsetDelta, 299);
  assert.equal(batch.firstTimestamp, 1_700_000_000_000n);
  assert.equal(batch.crc, jsCRC32C(body.subarray(start + 21, start + size)));
  assert.equal(batch.records.length, 300);
  batch.records.forEach((rec, i) => {
    assert.equal(rec.offsetDelta, i);
    assert.equal(rec.timestampDelta, 0n);
    assert.deepEqual(rec.value, values[i], `value ${i}`);
    if (i === 5) assert.ok(rec.key === null || rec.key.length === 0);
    else assert.deepEqual(rec.key, keys[i]);
    assert.equal(rec.headers.length, 0);
  });
  assert.equal(r.readTaggedFields !== undefined, true);
  assert.equal(r.remaining, 3); // the partition's, topic's and request's tagged fields
});

Deno.test("produceRequestBody refuses a partition without records or with keys and values apart", () => {
  const base = { acks: -1 as const, timeoutMs: 1, topic: "t", timestampMs: 0 };
  const p = { partition: 0, producerId: -1n, producerEpoch: 0, baseSequence: 0 };
  assert.throws(
    () => produceRequestBody({ ...base, partitions: [{ ...p, keys: [], values: [] }] }),
    RecordBatchError,
  );
  assert.throws(
    () =>
      produceRequestBody({
        ...base,
        partitions: [{ ...p, keys: [null], values: [ascii("a"), ascii("b")] }],
      }),
    RecordBatchError,
  );
});

Deno.test("batchCrc32c matches the known vectors and the client's CRC, on views too", () => {
  assert.equal(batchCrc32c(ascii("123456789")), 0xe3069283);
  assert.equal(batchCrc32c(new Uint8Array(32)), 0x8a9136aa);
  assert.equal(batchCrc32c(new Uint8Array(32).fill(0xff)), 0x62a8ab43);
  const big = Uint8Array.from({ length: 100_003 }, (_, i) => (i * 131) >> 3);
  const view = big.subarray(7, 90_001);
  assert.equal(batchCrc32c(view), jsCRC32C(Buffer.from(view)));
  assert.equal(batchCrc32c(view), crc32c(Buffer.from(view)));
});

/** `keys` and `values` written into a `PartitionBatch` of `partition`, as the generator does. */
function built(
  partition: number,
  keys: ReadonlyArray<Uint8Array | null>,
  values: ReadonlyArray<Uint8Array>,
  buf = new Uint8Array(64),
): PartitionBatch {
  const b = new PartitionBatch("network-telemetry", partition, buf);
  values.forEach((value, i) => {
    b.reserve(value.length);
    const at = b.begin(keys[i]);
    b.buf.set(value, at);
    b.end(at + value.length, 1000 + i);
  });
  return b;
}

Deno.test("PartitionBatch writes produceRequestBody's bytes (so the client's) for every record shape", () => {
  const ts = 1_764_999_999_123;
  for (const n of [1, 63, 64, 700]) {
    const { keys, values } = generatorRecords(n, `pb${n}`);
    for (const idempotent of [true, false]) {
      const producer = {
        producerId: idempotent ? 123456789012n : -1n,
        producerEpoch: idempotent ? 3 : 0,
        baseSequence: idempotent ? 2_147_000_000 : 0,
      };
      const b = built(4, keys, values);
      const ours = b.body({
        version: 9,
        acks: -1,
        timeoutMs: 30_000,
        timestampMs: ts,
        ...producer,
      });
      const theirs = produceRequestBody({
        acks: -1,
        timeoutMs: 30_000,
        topic: "network-telemetry",
        timestampMs: ts,
        partitions: [{ partition: 4, ...producer, keys, values }],
      });
      assert.deepEqual(ours, theirs, `n=${n} idempotent=${idempotent}`);
      assert.deepEqual(b.seqs, values.map((_, i) => 1000 + i));
      assert.equal(b.count, n);
    }
  }
});

Deno.test("PartitionBatch: values and records whose lengths are not two varint bytes, no key", () => {
  const values = [
    ascii(""),
    ascii("x"),
    new Uint8Array(63).fill(0x61), // 1-byte value length
    new Uint8Array(64).fill(0x62), // 2 bytes
    new Uint8Array(8191).fill(0x63), // 2 bytes, a 3-byte record length
    new Uint8Array(8192).fill(0x64), // 3 bytes
    new Uint8Array(1_100_000).fill(0x65), // 4 bytes, past the first buffer many times
    ascii('{"seq":1}'),
  ];
  const keys = values.map((_, i) => (i % 3 === 1 ? null : ascii(`10.0.0.${i}`)));
  const r = { version: 11, acks: 1 as const, timeoutMs: 5, timestampMs: 1_700_000_000_000 };
  const producer = { producerId: 42n, producerEpoch: 1, baseSequence: 7 };
  const b = built(0, keys, values);
  const body = b.body({ ...r, ...producer });
  assert.deepEqual(
    body,
    produceRequestBody({
      ...r,
      topic: "network-telemetry",
      partitions: [{ partition: 0, ...producer, keys, values }],
    }),
  );
  // Read back with the client's decoder.
  const reader = Reader.from(body);
  reader.readNullableString();
  reader.readInt16();
  reader.readInt32();
  reader.readUnsignedVarInt();
  assert.equal(reader.readString(), "network-telemetry");
  reader.readUnsignedVarInt();
  assert.equal(reader.readInt32(), 0);
  reader.readUnsignedVarInt();
  const batch = readRecordsBatch(reader);
  assert.equal(batch.firstSequence, 7);
  assert.equal(batch.records.length, values.length);
  batch.records.forEach((rec, i) => {
    assert.deepEqual(new Uint8Array(rec.value ?? []), values[i], `value ${i}`);
    assert.equal(rec.offsetDelta, i);
  });
});

Deno.test("PartitionBatch: a body again is the same bytes, or the new producer's; errors", () => {
  const { keys, values } = generatorRecords(300, "again");
  const b = built(2, keys, values);
  const r = { version: 10, acks: -1 as const, timeoutMs: 30_000, timestampMs: 1_764_000_000_000 };
  const first = Buffer.from(b.body({ ...r, producerId: 5n, producerEpoch: 0, baseSequence: 90 }));
  assert.deepEqual(b.body({ ...r, producerId: 5n, producerEpoch: 0, baseSequence: 90 }), first);
  const recovered = b.body({ ...r, producerId: 6n, producerEpoch: 0, baseSequence: 0 });
  assert.notDeepEqual(recovered, first);
  assert.deepEqual(
    recovered,
    produceRequestBody({
      ...r,
      topic: "network-telemetry",
      partitions: [{
        partition: 2,
        producerId: 6n,
        producerEpoch: 0,
        baseSequence: 0,
        keys,
        values,
      }],
    }),
  );
  const empty = new PartitionBatch("t", 0, new Uint8Array(16));
  assert.throws(
    () => empty.body({ ...r, producerId: -1n, producerEpoch: 0, baseSequence: 0 }),
    RecordBatchError,
  );
  const long = new PartitionBatch("t", 0, new Uint8Array(1024));
  assert.throws(() => long.begin(new Uint8Array(65)), RecordBatchError);
});

Deno.test("BatchBuffers hands back buffers put back, of the largest size seen", () => {
  const pool = new BatchBuffers(1000);
  const a = pool.get();
  assert.equal(a.length, 1000);
  pool.put(a);
  assert.equal(pool.get(), a);
  const big = new Uint8Array(5000);
  pool.put(a);
  pool.put(big); // larger: the smaller ones are dropped
  assert.equal(pool.get(), big);
  assert.equal(pool.get().length, 5000);
  pool.put(new Uint8Array(1000)); // smaller than the size now: not kept
  assert.notEqual(pool.get().length, 1000);
});
