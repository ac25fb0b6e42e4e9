/**
 * Kafka's record batch (magic 2) and the body of a flexible Produce request (versions 9 to 11)
 * written straight into one buffer: the generator's lean encoder (lean_producer.ts). The Kafka
 * client's own encoder writes every record into a buffer of its own (a writer, a dynamic buffer
 * and 64-bit timestamps as BigInt per record), joins them, and copies the batch again for its
 * CRC; here every size is computed first and each key and value is copied once. The CRC32C is
 * the client's native one (`batchCrc32c`), called without the copy the client makes first.
 *
 * The generator itself goes further (`PartitionBatch`): it writes each event straight into its
 * partition's batch, in the buffer the request is sent from, and the request's fields around the
 * records at send time; `produceRequestBody` writes any other call of the lean client.
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
import { createRequire } from "node:module";
import { crc32c } from "@platformatic/kafka";

/** `Uint8Array`'s own `set`: copying from a `Buffer` through `Buffer#set` took twice as long. */
const u8set = Uint8Array.prototype.set;

/** "123456789", whose CRC32C is the check value 0xe3069283. */
const ascii9 = new Uint8Array([49, 50, 51, 52, 53, 54, 55, 56, 57]);

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
    view.setUint32(start + CRC_AT, batchCrc32c(buf.subarray(start + ATTRIBUTES_AT, pos)));
    buf[pos++] = 0; // partition's tagged fields
  }
  buf[pos++] = 0; // topic's tagged fields
  buf[pos++] = 0; // request's tagged fields
  if (pos !== total) throw new RecordBatchError(`wrote ${pos} bytes of ${total} (a bug)`);
  return Buffer.from(buf.buffer, 0, total);
}

/**
 * The CRC32C of `bytes`: the client's native implementation (`@node-rs/crc32`, which the client
 * itself loads) called on the bytes as they are; the client's own `crc32c` copies them into a
 * new array first (`new Uint8Array(data)`), which cost as much as the CRC itself. Without the
 * native module: the client's.
 */
export const batchCrc32c: (bytes: Uint8Array) => number = (() => {
  try {
    const require = createRequire(import.meta.resolve("@platformatic/kafka"));
    const native = require("@node-rs/crc32").crc32c as (bytes: Uint8Array) => number;
    if (native(ascii9) === 0xe3069283) return (bytes: Uint8Array) => native(bytes);
  } catch { /* the client's, below */ }
  return (bytes: Uint8Array) => crc32c(bytes as Buffer);
})();

/**
 * Bytes a Produce body needs before a one-partition batch: what `PartitionBatch#body` writes.
 * Flexible (versions 9 to 11): compact strings and arrays (varint lengths); older (3 to 8):
 * int16 string and int32 array and bytes lengths.
 */
function prefixBytes(topicBytes: number, batchBytes: number, flexible: boolean): number {
  if (!flexible) {
    // transactional_id null (2), acks (2), timeout (4), topics (4), name (2 + bytes),
    // partitions (4), partition (4), the batch's size (4)
    return 2 + 2 + 4 + 4 + 2 + topicBytes + 4 + 4 + 4;
  }
  // transactional_id null (1), acks (2), timeout (4), topics (1), name, partitions (1),
  // partition (4), the batch's size
  return 7 + 1 + uvarintSize(topicBytes + 1) + topicBytes + 1 + 4 + uvarintSize(batchBytes + 1);
}

/** Room left before a batch for the longest prefix of either layout. */
function prefixRoom(topicBytes: number): number {
  return Math.max(7 + 1 + 5 + topicBytes + 1 + 4 + 5, prefixBytes(topicBytes, 0, false));
}

/** Zigzag varint of a non-negative `n` (or -1) at `pos`; the end. */
function putVarint(buf: Uint8Array, pos: number, n: number): number {
  let z = ((n << 1) ^ (n >> 31)) >>> 0;
  while (z >= 0x80) {
    buf[pos++] = (z & 0x7f) | 0x80;
    z >>>= 7;
  }
  buf[pos++] = z;
  return pos;
}

/**
 * Buffers for `PartitionBatch`es, reused once a batch's send is over (`put`): a batch of the
 * generator's is about 600 KB, a new one per partition and batch was memory the collector had
 * to chase.
 */
export class BatchBuffers {
  readonly #free: Uint8Array[] = [];
  #size: number;

  constructor(initialBytes = 1 << 20) {
    this.#size = initialBytes;
  }

  /** A buffer of at least the largest size a batch reached. */
  get(): Uint8Array {
    return this.#free.pop() ?? new Uint8Array(this.#size);
  }

  /** `buf` may be handed out again (its batch's send settled: nothing reads it any more). */
  put(buf: Uint8Array): void {
    if (buf.length > this.#size) {
      this.#size = buf.length;
      this.#free.length = 0;
    }
    if (buf.length === this.#size && this.#free.length < 16) this.#free.push(buf);
  }
}

/**
 * One partition's records written as they are made, into the buffer their Produce request is
 * sent from (`partitionBatchBody` fills the batch header and the request's fields around them
 * at send time): each event's bytes are written once and copied only by the connection. Every
 * record is as `produceRequestBody` writes it (attributes 0, timestamp delta 0, its index as
 * offset delta, no headers): a test holds the two to the same bytes.
 *
 * ```ts
 * const b = new PartitionBatch("network-telemetry", 2, buffers.get());
 * b.reserve(writer.maxBytes);
 * const at = b.begin(keyBytes);
 * b.end(writer.write(b.buf, at, seq, ts, choice), seq);
 * ```
 */
export class PartitionBatch {
  readonly topic: string;
  readonly partition: number;
  /** The records' seqs, ascending. */
  readonly seqs: number[] = [];
  /** The buffer the records are in (`reserve` may replace it). */
  buf: Uint8Array;
  /** Records so far. */
  count = 0;
  /** The Produce timestamp of every record, set at the first send (a retry sends the same). */
  timestampMs: number | undefined;
  readonly #topicBytes: Uint8Array;
  readonly #batchAt: number;
  #pos: number;
  #recordAt = 0;
  #valueLengthAt = 0;

  constructor(topic: string, partition: number, buf: Uint8Array) {
    this.topic = topic;
    this.partition = partition;
    this.#topicBytes = Buffer.from(topic, "utf-8");
    this.#batchAt = prefixRoom(this.#topicBytes.length);
    this.buf = buf;
    this.#pos = this.#batchAt + BATCH_HEADER;
    this.reserve(0);
  }

  /** Bytes of the batch so far (its header and records). */
  get bytes(): number {
    return this.#pos - this.#batchAt;
  }

  /** Room for a record of up to `valueBytes` (and a key of up to 64) from the next `begin`. */
  reserve(valueBytes: number): void {
    // record length, attributes, timestamp and offset deltas, key, value length, headers; the
    // request's three tagged fields after the last record.
    const need = this.#pos + valueBytes + 5 + 2 + 5 + 5 + 64 + 5 + 1 + 3;
    if (need <= this.buf.length) return;
    const grown = new Uint8Array(Math.max(need, this.buf.length * 2));
    u8set.call(grown, this.buf.subarray(0, this.#pos));
    this.buf = grown;
  }

  /**
   * Starts a record of `key` (at most 64 bytes; null for none); its value goes at the returned
   * position, then `end`. `reserve` first.
   */
  begin(key: Uint8Array | null): number {
    const buf = this.buf;
    this.#recordAt = this.#pos;
    // Its length and its value's take two bytes (values of 64 to 8191 bytes): `end` moves the
    // bytes when they do not.
    let p = this.#pos + 2;
    buf[p++] = 0; // attributes
    buf[p++] = 0; // timestamp delta
    p = putVarint(buf, p, this.count);
    if (key === null) p = putVarint(buf, p, -1);
    else {
      if (key.length > 64) throw new RecordBatchError(`a key of ${key.length} bytes (64 at most)`);
      p = putVarint(buf, p, key.length);
      for (let i = 0; i < key.length; i++) buf[p + i] = key[i];
      p += key.length;
    }
    this.#valueLengthAt = p;
    return p + 2;
  }

  /** Ends the record `begin` started, its value ending at `valueEnd`, for event `seq`. */
  end(valueEnd: number, seq: number): void {
    const buf = this.buf;
    const lengthAt = this.#valueLengthAt;
    const value = valueEnd - lengthAt - 2;
    if (value < 0) throw new RecordBatchError(`a value ending before it starts (${value} bytes)`);
    let end = valueEnd;
    const valueSize = varintSize(value);
    if (valueSize !== 2) {
      buf.copyWithin(lengthAt + valueSize, lengthAt + 2, end);
      end += valueSize - 2;
    }
    putVarint(buf, lengthAt, value);
    buf[end++] = 0; // no headers
    const at = this.#recordAt;
    const body = end - at - 2;
    const bodySize = varintSize(body);
    if (bodySize !== 2) {
      buf.copyWithin(at + bodySize, at + 2, end);
      end += bodySize - 2;
    }
    putVarint(buf, at, body);
    this.#pos = end;
    this.count++;
    this.seqs.push(seq);
  }

  /**
   * The Produce request's body for this batch alone, written around the records in their buffer
   * (no copy of them): header, CRC and the request's fields, for `version` 9 to 11 (flexible) or
   * 3 to 8 (the kafka proxy in a `kafka_error` run caps Produce at 8). Written again for a retry
   * (the same bytes, unless the producer, its sequence or the version changed).
   */
  body(r: {
    version: number;
    acks: -1 | 0 | 1;
    timeoutMs: number;
    timestampMs: number;
    producerId: bigint;
    producerEpoch: number;
    baseSequence: number;
  }): Buffer {
    if (r.version < 3 || r.version > 11) {
      throw new RecordBatchError(`Produce v${r.version} (3 to 11 are written)`);
    }
    if (this.count === 0) throw new RecordBatchError(`partition ${this.partition}: no records`);
    const buf = this.buf;
    const view = new DataView(buf.buffer, buf.byteOffset, buf.byteLength);
    const at = this.#batchAt;
    const end = this.#pos;
    const batch = end - at;
    view.setInt32(at, 0); // base offset (int64) 0
    view.setInt32(at + 4, 0);
    view.setInt32(at + LENGTH_AT, batch - 12);
    view.setInt32(at + 12, 0); // partition leader epoch
    buf[at + 16] = 2; // magic
    view.setInt16(at + ATTRIBUTES_AT, 0);
    view.setInt32(at + 23, this.count - 1); // last offset delta
    const tsHigh = Math.floor(r.timestampMs / 0x100000000);
    const tsLow = r.timestampMs >>> 0;
    view.setUint32(at + 27, tsHigh); // base timestamp
    view.setUint32(at + 31, tsLow);
    view.setUint32(at + 35, tsHigh); // max timestamp
    view.setUint32(at + 39, tsLow);
    view.setBigInt64(at + 43, r.producerId);
    view.setInt16(at + 51, r.producerEpoch);
    view.setInt32(at + 53, r.baseSequence);
    view.setInt32(at + 57, this.count);
    view.setUint32(at + CRC_AT, batchCrc32c(buf.subarray(at + ATTRIBUTES_AT, end)));
    const flexible = r.version >= 9;
    const topic = this.#topicBytes;
    const start = at - prefixBytes(topic.length, batch, flexible);
    let p = start;
    if (!flexible) {
      view.setInt16(p, -1); // transactional_id: null
      view.setInt16(p + 2, r.acks);
      view.setInt32(p + 4, r.timeoutMs);
      view.setInt32(p + 8, 1); // one topic
      view.setInt16(p + 12, topic.length);
      p += 14;
      u8set.call(buf, topic, p);
      p += topic.length;
      view.setInt32(p, 1); // one partition
      view.setInt32(p + 4, this.partition);
      view.setInt32(p + 8, batch);
      p += 12;
      if (p !== at) throw new RecordBatchError(`a prefix of ${p - start} bytes (a bug)`);
      return Buffer.from(buf.buffer, buf.byteOffset + start, end - start);
    }
    buf[end] = 0; // partition's tagged fields
    buf[end + 1] = 0; // topic's
    buf[end + 2] = 0; // request's
    const uvarint = (n: number) => {
      while (n >= 0x80) {
        buf[p++] = (n & 0x7f) | 0x80;
        n >>>= 7;
      }
      buf[p++] = n;
    };
    buf[p++] = 0; // transactional_id: null
    view.setInt16(p, r.acks);
    view.setInt32(p + 2, r.timeoutMs);
    p += 6;
    uvarint(2); // one topic
    uvarint(topic.length + 1);
    u8set.call(buf, topic, p);
    p += topic.length;
    uvarint(2); // one partition
    view.setInt32(p, this.partition);
    p += 4;
    uvarint(batch + 1);
    if (p !== at) throw new RecordBatchError(`a prefix of ${p - start} bytes (a bug)`);
    return Buffer.from(buf.buffer, buf.byteOffset + start, end + 3 - start);
  }
}
