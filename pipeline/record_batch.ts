/**
 * Kafka's record batch (magic 2) and the body of a flexible Produce request (versions 9 to 11)
 * written straight into one buffer: the generator's lean encoder (lean_producer.ts). The Kafka
 * client's own encoder writes every record into a buffer of its own (a writer, a dynamic buffer
 * and 64-bit timestamps as BigInt per record), joins them, and copies the batch again for its
 * CRC; here every size is computed first and each key and value is copied once. The CRC32C is
 * the client's (WebAssembly; a slicing-by-8 one in TypeScript ran at less than half its speed).
 *
 * Layouts follow Kafka's message specs (ProduceRequest.json) and the record format
 * (DefaultRecordBatch / DefaultRecord): every record has attributes 0, the batch's timestamp
 * (delta 0), its index as offset delta, no headers. For the same records the bytes are the
 * client's (`@platformatic/kafka`'s `produceV9.createRequest`), byte for byte: a test holds it.
 *
 * ```ts
 * const body = produceRequestBody({
 *   acks: -1, timeoutMs: 30_000, topic: "network-telemetry", timestampMs: Date.now(),
 *   partitions: [{ partition: 2, producerId: 7n, producerEpoch: 0, baseSequence: 0,
 *     keys: [key], values: [value] }],
 * });
 * ```
 * @module
 */

import { Buffer } from "node:buffer";
import { crc32c } from "@platformatic/kafka";

/** `Uint8Array`'s own `set`: copying from a `Buffer` through `Buffer#set` took twice as long. */
const u8set = Uint8Array.prototype.set;

/** Bytes of `n` (a non-negative int32) as an unsigned varint. */
function uvarintSize(n: number): number {
  return n < 0x80 ? 1 : n < 0x4000 ? 2 : n < 0x200000 ? 3 : n < 0x10000000 ? 4 : 5;
}

/** Bytes of `n` (an int32) as a zigzag varint. */
function varintSize(n: number): number {
  return uvarintSize(((n << 1) ^ (n >> 31)) >>> 0);
}

/** One partition's records of a Produce request. */
export interface PartitionRecords {
  partition: number;
  /** The idempotent producer's id, or -1 (epoch and sequence then 0, as the client writes). */
  producerId: bigint;
  producerEpoch: number;
  /** The sequence of the first record (the partition's next, for an idempotent producer). */
  baseSequence: number;
  /** One per record: its key's bytes, or null. */
  keys: ReadonlyArray<Uint8Array | null | undefined>;
  /** One per record, as many as `keys`. */
  values: ReadonlyArray<Uint8Array>;
}

export interface ProduceRequestBody {
  acks: -1 | 0 | 1;
  timeoutMs: number;
  topic: string;
  /** Every record's timestamp (CreateTime), ms since the epoch. */
  timestampMs: number;
  partitions: readonly PartitionRecords[];
}

/** Record batch header: base offset (8) to the record count (4), both included. */
const BATCH_HEADER = 61;
/** From the start of a batch: where its length, CRC and attributes are. */
const LENGTH_AT = 8;
const CRC_AT = 17;
const ATTRIBUTES_AT = 21;

/** A record batch or request the encoder refuses (a size out of the protocol's range). */
export class RecordBatchError extends Error {
  override name = "RecordBatchError";
}

/** Bytes of one partition's record batch, with its records' sizes in `sizes` (appended). */
function batchSize(p: PartitionRecords, sizes: number[]): number {
  const n = p.values.length;
  if (n === 0 || p.keys.length !== n) {
    throw new RecordBatchError(
      `partition ${p.partition}: ${n} values and ${p.keys.length} keys (need as many, at least one)`,
    );
  }
  let bytes = BATCH_HEADER;
  for (let i = 0; i < n; i++) {
    const key = p.keys[i];
    const value = p.values[i];
    // attributes (1), timestamp delta 0 (1), offset delta, key, value, header count 0 (1)
    const body = 3 + varintSize(i) +
      (key == null ? 1 : varintSize(key.length) + key.length) +
      varintSize(value.length) + value.length;
    sizes.push(body);
    bytes += varintSize(body) + body;
  }
  return bytes;
}

/**
 * The body of a Produce request (versions 9 to 11: one topic, its partitions, tagged fields
 * empty), record batches and CRCs included, in one buffer.
 */
export function produceRequestBody(r: ProduceRequestBody): Buffer {
  const topic = Buffer.from(r.topic, "utf-8");
  const sizes: number[] = [];
  const batches = r.partitions.map((p) => batchSize(p, sizes));
  // transactional_id null (1), acks (2), timeout (4), topics (1 + name + partitions + tags)
  let total = 7 + uvarintSize(2) + uvarintSize(topic.length + 1) + topic.length +
    uvarintSize(r.partitions.length + 1) + 1 + 1;
  for (const b of batches) total += 4 + uvarintSize(b + 1) + b + 1;
  const buf = new Uint8Array(total);
  const view = new DataView(buf.buffer);
  let pos = 0;
  const uvarint = (n: number) => {
    while (n >= 0x80) {
      buf[pos++] = (n & 0x7f) | 0x80;
      n >>>= 7;
    }
    buf[pos++] = n;
  };
  const varint = (n: number) => uvarint(((n << 1) ^ (n >> 31)) >>> 0);
  const copy = (bytes: Uint8Array) => {
    const len = bytes.length;
    if (len > 32) u8set.call(buf, bytes, pos);
    else for (let i = 0; i < len; i++) buf[pos + i] = bytes[i];
    pos += len;
  };
  buf[pos++] = 0; // transactional_id: null
  view.setInt16(pos, r.acks);
  view.setInt32(pos + 2, r.timeoutMs);
  pos += 6;
  uvarint(2); // one topic
  uvarint(topic.length + 1);
  copy(topic);
  uvarint(r.partitions.length + 1);
  const tsHigh = Math.floor(r.timestampMs / 0x100000000);
  const tsLow = r.timestampMs >>> 0;
  let s = 0;
  for (let k = 0; k < r.partitions.length; k++) {
    const p = r.partitions[k];
    const n = p.values.length;
    view.setInt32(pos, p.partition);
    pos += 4;
    uvarint(batches[k] + 1);
    const start = pos;
    view.setInt32(pos, 0); // base offset (int64) 0
    view.setInt32(pos + 4, 0);
    view.setInt32(pos + LENGTH_AT, batches[k] - 12);
    view.setInt32(pos + 12, 0); // partition leader epoch (the client's 0; the leader sets it)
    buf[pos + 16] = 2; // magic
    view.setInt16(pos + ATTRIBUTES_AT, 0);
    view.setInt32(pos + 23, n - 1); // last offset delta
    view.setUint32(pos + 27, tsHigh); // base timestamp
    view.setUint32(pos + 31, tsLow);
    view.setUint32(pos + 35, tsHigh); // max timestamp
    view.setUint32(pos + 39, tsLow);
    view.setBigInt64(pos + 43, p.producerId);
    view.setInt16(pos + 51, p.producerEpoch);
    view.setInt32(pos + 53, p.baseSequence);
    view.setInt32(pos + 57, n);
    pos += BATCH_HEADER;
    for (let i = 0; i < n; i++) {
      varint(sizes[s++]);
      buf[pos++] = 0; // attributes
      buf[pos++] = 0; // timestamp delta
      varint(i);
      const key = p.keys[i];
      if (key == null) varint(-1);
      else {
        varint(key.length);
        copy(key);
      }
      const value = p.values[i];
      varint(value.length);
      copy(value);
      buf[pos++] = 0; // no headers
    }
    view.setUint32(start + CRC_AT, crc32c(buf.subarray(start + ATTRIBUTES_AT, pos) as Buffer));
    buf[pos++] = 0; // partition's tagged fields
  }
  buf[pos++] = 0; // topic's tagged fields
  buf[pos++] = 0; // request's tagged fields
  if (pos !== total) throw new RecordBatchError(`wrote ${pos} bytes of ${total} (a bug)`);
  return Buffer.from(buf.buffer, 0, total);
}
