/**
 * The log segment reader against synthetic segments: batches written here byte by byte (and by
 * `@platformatic/kafka`'s own batch writer, for every codec), then cut, zeroed and flipped as a
 * power loss leaves them: the reader stops with a note, never throws. Segments written by a
 * real broker are read in chaos/blame_test.ts.
 */

import assert from "node:assert/strict";
import { Buffer } from "node:buffer";
import { join } from "node:path";
import { gzipSync } from "node:zlib";
import { crc32c, createRecordsBatch } from "@platformatic/kafka";
import {
  type BatchHeader,
  decodeSegment,
  type LogRecord,
  searchLogs,
  valueIdentity,
} from "./log_segments.ts";

const enc = new TextEncoder();

/** A zigzag varint. */
function varint(n: number): number[] {
  let z = n >= 0 ? n * 2 : -n * 2 - 1;
  const out: number[] = [];
  while (z >= 128) {
    out.push((z % 128) | 0x80);
    z = Math.floor(z / 128);
  }
  out.push(z);
  return out;
}

const field = (b: Uint8Array | null) => (b === null ? varint(-1) : [...varint(b.length), ...b]);

interface BatchSpec {
  baseOffset: number;
  values: (string | null)[];
  codec?: number;
  control?: boolean;
  transactional?: boolean;
  leaderEpoch?: number;
  producerId?: number;
  baseSequence?: number;
  timestamp?: number;
}

/** One v2 batch, as a broker writes it to a segment. */
function batch(s: BatchSpec): Uint8Array {
  const ts = s.timestamp ?? 1_700_000_000_000;
  const records: number[] = [];
  s.values.forEach((v, i) => {
    const body = [
      0, // attributes
      ...varint(i * 3), // timestampDelta
      ...varint(i), // offsetDelta
      ...field(enc.encode(`k${i}`)),
      ...field(v === null ? null : enc.encode(v)),
      ...varint(1), // one header
      ...field(enc.encode("h")),
      ...field(enc.encode("x")),
    ];
    records.push(...varint(body.length), ...body);
  });
  let payload = new Uint8Array(records);
  const codec = s.codec ?? 0;
  if (codec === 1) payload = new Uint8Array(gzipSync(payload));
  const attributes = codec | (s.transactional ? 0x10 : 0) | (s.control ? 0x20 : 0);
  const out = new Uint8Array(61 + payload.length);
  const v = new DataView(out.buffer);
  v.setBigInt64(0, BigInt(s.baseOffset));
  v.setInt32(8, out.length - 12);
  v.setInt32(12, s.leaderEpoch ?? 3);
  v.setInt8(16, 2);
  v.setInt16(21, attributes);
  v.setInt32(23, s.values.length - 1);
  v.setBigInt64(27, BigInt(ts));
  v.setBigInt64(35, BigInt(ts + 3 * (s.values.length - 1)));
  v.setBigInt64(43, BigInt(s.producerId ?? 7));
  v.setInt16(51, 0);
  v.setInt32(53, s.baseSequence ?? 0);
  v.setInt32(57, s.values.length);
  out.set(payload, 61);
  v.setUint32(17, crc32c(out.subarray(21)) >>> 0);
  return out;
}

const concat = (...parts: Uint8Array[]) => {
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  let at = 0;
  for (const p of parts) {
    out.set(p, at);
    at += p.length;
  }
  return out;
};

const event = (pid: string, seq: number) => `{"producer_id":"${pid}","seq":${seq},"ts_ms":1}`;

function read(bytes: Uint8Array) {
  const seen: { record: LogRecord; batch: BatchHeader }[] = [];
  const summary = decodeSegment(bytes, (record, batch) => seen.push({ record, batch }));
  return {
    seen,
    summary,
    values: seen.map((s) => s.record.value && new TextDecoder().decode(s.record.value)),
  };
}

const firstBatch = batch({ baseOffset: 0, values: [event("a", 0), event("a", 1), event("a", 2)] });
const segment = concat(
  firstBatch,
  batch({ baseOffset: 3, values: [event("b", 0)], codec: 1, producerId: 9, baseSequence: 4 }),
  batch({ baseOffset: 4, values: ["x"], control: true, transactional: true }),
  batch({ baseOffset: 5, values: [event("a", 3), null] }),
);

Deno.test("decodeSegment: every field of v2 batches and their records", () => {
  const { seen, summary, values } = read(segment);
  assert.equal(summary.stopped, null);
  assert.deepEqual(summary.unreadable, []);
  assert.equal(summary.batches, 4);
  assert.equal(summary.controlBatches, 1);
  assert.equal(summary.records, 6); // the control record is not handed on
  assert.equal(summary.firstOffset, 0);
  assert.equal(summary.lastOffset, 6);
  assert.deepEqual(seen.map((s) => s.record.offset), [0, 1, 2, 3, 5, 6]);
  assert.deepEqual(values.slice(0, 5), [
    event("a", 0),
    event("a", 1),
    event("a", 2),
    event("b", 0),
    event("a", 3),
  ]);
  assert.equal(seen[5].record.value, null);
  const first = seen[0];
  assert.equal(first.batch.magic, 2);
  assert.equal(first.batch.leaderEpoch, 3);
  assert.equal(first.batch.compression, "none");
  assert.equal(first.batch.lastOffsetDelta, 2);
  assert.equal(first.batch.producerId, 7);
  assert.equal(first.batch.count, 3);
  assert.equal(seen[2].record.timestamp, 1_700_000_000_006);
  assert.equal(new TextDecoder().decode(seen[1].record.key!), "k1");
  assert.equal(seen[1].record.headers[0].key, "h");
  const gz = seen[3].batch;
  assert.equal(gz.compression, "gzip");
  assert.equal(gz.producerId, 9);
  assert.equal(gz.baseSequence, 4);
  assert.equal(gz.position, seen[2].batch.length + 12); // the second batch, after the first
});

Deno.test("decodeSegment: batches written by @platformatic/kafka, every codec", async (t) => {
  for (const compression of ["none", "gzip", "snappy", "lz4", "zstd"] as const) {
    await t.step(compression, () => {
      const messages = [0, 1, 2].map((seq) => ({
        topic: "t",
        key: Buffer.from(`k${seq}`),
        value: Buffer.from(event("p", seq)),
      }));
      const bytes = new Uint8Array(createRecordsBatch(messages, { compression }).buffer);
      const { summary, values, seen } = read(bytes);
      assert.equal(summary.stopped, null, compression);
      assert.deepEqual(summary.unreadable, []);
      assert.equal(seen[0].batch.compression, compression);
      assert.deepEqual(values, [event("p", 0), event("p", 1), event("p", 2)]);
    });
  }
});

Deno.test("decodeSegment: torn and corrupt tails stop the reading with a note", async (t) => {
  const whole = segment.length;
  const cases: [string, Uint8Array, RegExp, number][] = [
    ["cut inside the last batch", segment.subarray(0, whole - 5), /torn tail.*announces/, 4],
    ["cut inside a batch header", segment.subarray(0, whole - 60), /torn tail/, 4],
    ["cut before the length field", concat(segment, new Uint8Array([1, 2, 3])), /torn tail/, 6],
    ["zeros after the last batch", concat(segment, new Uint8Array(4096)), /zero bytes/, 6],
    [
      "a flipped byte in a record",
      (() => {
        const b = segment.slice();
        b[70] ^= 0xff;
        return b;
      })(),
      /fails its CRC/,
      0,
    ],
    ["garbage for a length", concat(segment, new Uint8Array(20).fill(0xee)), /corrupt tail/, 6],
    [
      "an unknown magic",
      (() => {
        const b = concat(segment, firstBatch);
        b[whole + 16] = 9;
        return b;
      })(),
      /magic 9/,
      6,
    ],
  ];
  for (const [name, bytes, stopped, records] of cases) {
    await t.step(name, () => {
      const { summary } = read(bytes);
      assert.match(summary.stopped ?? "", stopped);
      assert.equal(summary.records, records);
    });
  }
  await t.step("nothing at all", () => {
    const { summary } = read(new Uint8Array(0));
    assert.equal(summary.stopped, null);
    assert.equal(summary.batches, 0);
  });
});

Deno.test("decodeSegment: an unreadable codec or payload is a finding, the rest is read", () => {
  const odd = batch({ baseOffset: 3, values: [event("z", 0)], codec: 6 });
  const bad = batch({ baseOffset: 4, values: [event("z", 1)], codec: 1 });
  // A gzip batch whose payload is not gzip (the CRC made to match): said, skipped.
  bad.set(enc.encode("not gzip at all"), 61);
  new DataView(bad.buffer).setUint32(17, crc32c(bad.subarray(21)) >>> 0);
  const bytes = concat(firstBatch, odd, bad, batch({ baseOffset: 5, values: ["y"] }));
  const { summary } = read(bytes);
  assert.equal(summary.stopped, null);
  assert.equal(summary.unreadable.length, 2);
  assert.match(summary.unreadable[0], /compressed with codec 6, not readable here/);
  assert.match(summary.unreadable[1], /compressed with gzip, which did not decompress/);
  assert.equal(summary.records, 4);
});

Deno.test("decodeSegment: records that overrun their batch are a finding", () => {
  const b = batch({ baseOffset: 0, values: [event("a", 0)] });
  b[61] = 0x7e; // the first record's length: 63 bytes, more than there are
  new DataView(b.buffer).setUint32(17, crc32c(b.subarray(21)) >>> 0);
  const { summary } = read(b);
  assert.equal(summary.records, 0);
  assert.match(summary.unreadable[0], /records are damaged/);
});

Deno.test("valueIdentity: the generator's layout, a long value, and none", () => {
  assert.deepEqual(valueIdentity(enc.encode(event("r1-w0", 42))), {
    producer_id: "r1-w0",
    seq: 42,
  });
  const long = `{"pad":"${"x".repeat(400)}","producer_id":"r1-w2","seq":7}`;
  assert.deepEqual(valueIdentity(enc.encode(long)), { producer_id: "r1-w2", seq: 7 });
  assert.deepEqual(valueIdentity(null), {});
  assert.equal(valueIdentity(enc.encode("garbage")).producer_id, undefined);
});

Deno.test("searchLogs: finds wanted records in every broker's partitions, notes the rest", async () => {
  const root = await Deno.makeTempDir({ prefix: "log-segments-" });
  try {
    const b1 = join(root, "b1");
    const b2 = join(root, "b2");
    await Deno.mkdir(join(b1, "t-0"), { recursive: true });
    await Deno.mkdir(join(b1, "t-1"), { recursive: true });
    await Deno.mkdir(join(b1, "t-x-0"), { recursive: true }); // another topic
    await Deno.mkdir(join(b2, "t-0"), { recursive: true });
    await Deno.writeFile(join(b1, "t-0", "00000000000000000000.log"), segment);
    await Deno.writeFile(
      join(b1, "t-1", "00000000000000000000.log.deleted"),
      batch({ baseOffset: 0, values: [event("a", 9)] }),
    );
    await Deno.writeFile(
      join(b1, "t-x-0", "00000000000000000000.log"),
      batch({ baseOffset: 0, values: [event("a", 1)] }),
    );
    await Deno.writeFile(
      join(b2, "t-0", "00000000000000000000.log"),
      segment.subarray(0, firstBatch.length + 30),
    );
    const found = await searchLogs(
      [
        { broker: "kafka-1", dir: b1 },
        { broker: "kafka-2", dir: b2 },
        { broker: "kafka-3", dir: join(root, "gone") },
      ],
      "t",
      (pid, seq) => pid === "a" && seq % 3 !== 2,
    );
    const seen = found.sightings.map((s) =>
      `${s.broker} ${s.producer_id}/${s.seq} p${s.partition}@${s.offset}${
        s.deleted ? " deleted" : ""
      }`
    );
    assert.deepEqual(seen, [
      "kafka-1 a/0 p0@0",
      "kafka-1 a/1 p0@1",
      "kafka-1 a/3 p0@5",
      "kafka-1 a/9 p1@0 deleted",
      "kafka-2 a/0 p0@0",
      "kafka-2 a/1 p0@1",
    ]);
    assert.deepEqual(found.reads.map((r) => [r.broker, r.partitions, r.segments]), [
      ["kafka-1", 2, 2],
      ["kafka-2", 1, 1],
      ["kafka-3", 0, 0],
    ]);
    assert.match(found.reads[1].notes[0], /t-0\/00000000000000000000.log: a torn tail/);
    assert.match(found.reads[2].notes[0], /could not be read/);
  } finally {
    await Deno.remove(root, { recursive: true });
  }
});
