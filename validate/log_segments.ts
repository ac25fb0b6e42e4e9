/**
 * A reader of Kafka's log segment files (`<log dir>/<topic>-<partition>/<base offset>.log`),
 * for the blame of lost records (blame.ts): what each broker's own log holds, read from its
 * disk after the run, whatever the leader serves.
 *
 * A segment is a run of record batches in Kafka's message format v2: baseOffset (int64),
 * batchLength (int32, the bytes after it), partitionLeaderEpoch (int32), magic (int8, 2), crc
 * (uint32, CRC-32C of everything after it), attributes (int16: bits 0-2 the compression codec,
 * 3 the timestamp type, 4 transactional, 5 control), lastOffsetDelta (int32), baseTimestamp and
 * maxTimestamp (int64), producerId (int64), producerEpoch (int16), baseSequence (int32), the
 * record count (int32), then the records (compressed together when a codec is set), each with
 * zigzag varint fields: length, attributes (int8), timestampDelta, offsetDelta, key, value,
 * headers.
 *
 * The built-in generator sends uncompressed batches (pipeline/producer_client.ts sets no
 * codec); gzip is read with node:zlib, and snappy, lz4 and zstd with the codecs
 * `@platformatic/kafka` already carries. A batch whose codec cannot be read here is a named
 * finding (`unreadable`), never a crash. A torn or corrupt tail (after a power loss: a batch
 * cut short, zeros, a CRC that does not match) ends the reading of that segment with a note,
 * as Kafka's own recovery would truncate it there.
 *
 * ```ts
 * import { decodeSegment } from "./log_segments.ts";
 * const summary = decodeSegment(await Deno.readFile("00000000000000000000.log"), (record) => {
 *   record.offset; record.value; // Uint8Array | null
 * });
 * summary.stopped; // null when read to its end, else where and why it stopped
 * ```
 * @module
 */

import { gunzipSync } from "node:zlib";
import { Buffer } from "node:buffer";
import { join } from "node:path";
import { compressionsAlgorithms, crc32c } from "@platformatic/kafka";
import { eventIdentity } from "./identity.ts";

/** Kafka's compression codecs, by their attribute bits (0-4). */
export const CODECS = ["none", "gzip", "snappy", "lz4", "zstd"] as const;
export type Codec = typeof CODECS[number] | `codec ${number}`;

/** A record batch's header (message format v2). */
export interface BatchHeader {
  /** Byte position of the batch in its segment. */
  position: number;
  baseOffset: number;
  /** batchLength: the bytes after the length field. */
  length: number;
  leaderEpoch: number;
  magic: number;
  crc: number;
  attributes: number;
  compression: Codec;
  timestampType: "create" | "log_append";
  transactional: boolean;
  control: boolean;
  lastOffsetDelta: number;
  baseTimestamp: number;
  maxTimestamp: number;
  producerId: number;
  producerEpoch: number;
  baseSequence: number;
  /** Records the header announces. */
  count: number;
}

export interface LogRecord {
  offset: number;
  timestamp: number;
  key: Uint8Array | null;
  value: Uint8Array | null;
  headers: { key: string; value: Uint8Array | null }[];
}

/** What reading one segment gave. */
export interface SegmentSummary {
  file: string;
  bytes: number;
  batches: number;
  /** Records handed to the visitor (control batches' records are not). */
  records: number;
  controlBatches: number;
  firstOffset: number | null;
  lastOffset: number | null;
  /** Where and why reading stopped before the file's end (a torn or corrupt tail); null: none. */
  stopped: string | null;
  /** Batches whose records could not be read (a codec not readable here, a damaged payload). */
  unreadable: string[];
}

/** The header's bytes after baseOffset and batchLength (49), and the whole header (61). */
const HEADER_REST = 49;
const HEADER = 61;
/** Unreadable batches described per segment (the rest are counted). */
const MAX_NOTES = 5;

/** A read past the end of a batch's bytes, or a field out of its range. */
class Truncated extends Error {
  override name = "Truncated";
}

/** Reads zigzag varints and byte strings from a batch's records. */
class Reader {
  pos = 0;
  constructor(readonly bytes: Uint8Array) {}

  byte(): number {
    if (this.pos >= this.bytes.length) throw new Truncated(`past the end at byte ${this.pos}`);
    return this.bytes[this.pos++];
  }

  /** A zigzag varint of up to 64 bits, as a number (exact up to 2^53). */
  varlong(): number {
    let n = 0;
    let scale = 1;
    for (let i = 0; i < 10; i++) {
      const b = this.byte();
      n += (b & 0x7f) * scale;
      if ((b & 0x80) === 0) return n % 2 === 0 ? n / 2 : -(n + 1) / 2;
      scale *= 128;
    }
    throw new Truncated(`a varint longer than 10 bytes at byte ${this.pos}`);
  }

  /** A zigzag varint's byte string of that length; -1: null. */
  bytesOf(): Uint8Array | null {
    const n = this.varlong();
    if (n < 0) return null;
    if (this.pos + n > this.bytes.length) {
      throw new Truncated(`a field of ${n} bytes at byte ${this.pos}, ${this.bytes.length} there`);
    }
    const out = this.bytes.subarray(this.pos, this.pos + n);
    this.pos += n;
    return out;
  }
}

const decoder = new TextDecoder();

/** The records of a batch's (decompressed) payload. */
export function decodeRecords(payload: Uint8Array, batch: BatchHeader): LogRecord[] {
  const r = new Reader(payload);
  const out: LogRecord[] = [];
  for (let i = 0; i < batch.count; i++) {
    const length = r.varlong();
    const end = r.pos + length;
    if (length < 0 || end > payload.length) {
      throw new Truncated(
        `record ${i} of ${length} bytes at byte ${r.pos}, ${payload.length} there`,
      );
    }
    r.byte(); // attributes: unused
    const timestamp = batch.baseTimestamp + r.varlong();
    const offset = batch.baseOffset + r.varlong();
    const key = r.bytesOf();
    const value = r.bytesOf();
    const headerCount = r.varlong();
    const headers: LogRecord["headers"] = [];
    for (let h = 0; h < headerCount; h++) {
      const k = r.bytesOf();
      headers.push({ key: k ? decoder.decode(k) : "", value: r.bytesOf() });
    }
    if (r.pos !== end) throw new Truncated(`record ${i} ends at byte ${r.pos}, not ${end}`);
    out.push({ offset, timestamp, key, value, headers });
  }
  return out;
}

/** The header of the batch at `at` (its bytes checked to be there). */
function header(view: DataView, at: number): BatchHeader {
  const attributes = view.getInt16(at + 21);
  const codec = attributes & 0x7;
  return {
    position: at,
    baseOffset: Number(view.getBigInt64(at)),
    length: view.getInt32(at + 8),
    leaderEpoch: view.getInt32(at + 12),
    magic: view.getInt8(at + 16),
    crc: view.getUint32(at + 17),
    attributes,
    compression: CODECS[codec] ?? `codec ${codec}`,
    timestampType: attributes & 0x8 ? "log_append" : "create",
    transactional: (attributes & 0x10) !== 0,
    control: (attributes & 0x20) !== 0,
    lastOffsetDelta: view.getInt32(at + 23),
    baseTimestamp: Number(view.getBigInt64(at + 27)),
    maxTimestamp: Number(view.getBigInt64(at + 35)),
    producerId: Number(view.getBigInt64(at + 43)),
    producerEpoch: view.getInt16(at + 51),
    baseSequence: view.getInt32(at + 53),
    count: view.getInt32(at + 57),
  };
}

/** The batch's records decompressed; a string: why they cannot be read here. */
function payloadOf(batch: BatchHeader, raw: Uint8Array): Uint8Array | string {
  const c = batch.compression;
  if (c === "none") return raw;
  try {
    if (c === "gzip") return gunzipSync(raw);
    const codec = (compressionsAlgorithms as Record<string, {
      decompressSync(data: Buffer): Uint8Array;
      available?: boolean;
    }>)[c];
    if (!codec || codec.available === false) return `compressed with ${c}, not readable here`;
    return codec.decompressSync(Buffer.from(raw.buffer, raw.byteOffset, raw.byteLength));
  } catch (error) {
    return `compressed with ${c}, which did not decompress: ${(error as Error).message}`;
  }
}

const allZero = (b: Uint8Array) => b.every((x) => x === 0);

/**
 * Reads the batches of a segment's bytes, handing every record (but control records) to
 * `visit`. Never throws on the bytes: a torn or corrupt tail stops the reading with a note
 * (`stopped`), a batch whose records cannot be read is noted (`unreadable`) and skipped.
 */
export function decodeSegment(
  bytes: Uint8Array,
  visit: (record: LogRecord, batch: BatchHeader) => void,
  options: { file?: string } = {},
): SegmentSummary {
  const s: SegmentSummary = {
    file: options.file ?? "(bytes)",
    bytes: bytes.length,
    batches: 0,
    records: 0,
    controlBatches: 0,
    firstOffset: null,
    lastOffset: null,
    stopped: null,
    unreadable: [],
  };
  let skipped = 0;
  const note = (text: string) => {
    if (s.unreadable.length < MAX_NOTES) s.unreadable.push(text);
    else skipped++;
  };
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  let at = 0;
  while (at < bytes.length) {
    const left = bytes.length - at;
    const rest = bytes.subarray(at);
    if (left < 12) {
      s.stopped = allZero(rest)
        ? `${left} zero bytes at the end (position ${at}): a torn tail`
        : `a torn tail: ${left} bytes at position ${at}, too few for a batch header`;
      break;
    }
    const length = view.getInt32(at + 8);
    if (length < HEADER_REST) {
      s.stopped = allZero(rest)
        ? `${left} zero bytes from position ${at} to the end: a torn tail`
        : `a corrupt tail: a batch length of ${length} at position ${at}`;
      break;
    }
    if (12 + length > left) {
      s.stopped = `a torn tail: the batch at position ${at} announces ${
        12 + length
      } bytes, ${left} are there`;
      break;
    }
    const magic = view.getInt8(at + 16);
    if (magic !== 2) {
      if (magic === 0 || magic === 1) {
        note(`the batch at position ${at} is of message format v${magic} (only v2 is read)`);
        at += 12 + length;
        continue;
      }
      s.stopped = `a corrupt tail: magic ${magic} at position ${at}`;
      break;
    }
    const b = header(view, at);
    const end = at + 12 + length;
    const crc = crc32c(bytes.subarray(at + 21, end)) >>> 0;
    if (crc !== b.crc) {
      s.stopped = `a corrupt tail: the batch at position ${at} (offset ${b.baseOffset}) fails ` +
        `its CRC (${crc.toString(16)}, header says ${b.crc.toString(16)})`;
      break;
    }
    s.batches++;
    s.firstOffset ??= b.baseOffset;
    s.lastOffset = b.baseOffset + b.lastOffsetDelta;
    at = end;
    if (b.control) {
      s.controlBatches++;
      continue;
    }
    const where = `the batch at position ${b.position} (offsets ${b.baseOffset}-${s.lastOffset})`;
    const payload = payloadOf(b, bytes.subarray(b.position + HEADER, end));
    if (typeof payload === "string") {
      note(`${where}: ${payload}`);
      continue;
    }
    let records: LogRecord[];
    try {
      records = decodeRecords(payload, b);
    } catch (error) {
      if (!(error instanceof Truncated)) throw error;
      note(`${where}: its records are damaged (${error.message})`);
      continue;
    }
    for (const r of records) visit(r, b);
    s.records += records.length;
  }
  if (skipped) s.unreadable.push(`and ${skipped} more unreadable batches`);
  return s;
}

/** The identity (producer_id, seq) of a record's value, read from its first bytes when it can. */
export function valueIdentity(value: Uint8Array | null): { producer_id?: string; seq?: number } {
  if (!value) return {};
  const head = eventIdentity(decoder.decode(value.subarray(0, 256)));
  if (head.producer_id !== undefined || value.length <= 256) return head;
  return eventIdentity(decoder.decode(value));
}

/** A broker's log dir as this host reads it. */
export interface BrokerLog {
  /** The node's name (`kafka-2`). */
  broker: string;
  dir: string;
}

/** Where a broker's log holds a record. */
export interface Sighting {
  producer_id: string;
  seq: number;
  broker: string;
  partition: number;
  offset: number;
  /** In a segment Kafka had already deleted (`.log.deleted`, waiting for its removal). */
  deleted?: boolean;
}

/** What was read of one broker's log. */
export interface BrokerRead {
  broker: string;
  dir: string;
  partitions: number;
  segments: number;
  records: number;
  /** Torn tails, unreadable batches, files that went while being read. */
  notes: string[];
}

export interface LogSearch {
  sightings: Sighting[];
  reads: BrokerRead[];
  /** Sightings past the bound that were not kept. */
  dropped: number;
}

/** Sightings kept, at most (each lost record can be on every replica). */
const MAX_SIGHTINGS = 200_000;
/** Notes kept per broker. */
const MAX_BROKER_NOTES = 20;

/** `<base offset>.log` and `.log.deleted` files of a partition's folder, in offset order. */
async function segmentFiles(dir: string): Promise<{ name: string; deleted: boolean }[]> {
  const files: { name: string; deleted: boolean }[] = [];
  for await (const e of Deno.readDir(dir)) {
    if (!e.isFile) continue;
    if (/^\d+\.log$/.test(e.name)) files.push({ name: e.name, deleted: false });
    else if (/^\d+\.log\.deleted$/.test(e.name)) files.push({ name: e.name, deleted: true });
  }
  return files.sort((a, b) => a.name.localeCompare(b.name));
}

/**
 * Reads the segments of `topic` in every broker's log dir and keeps where each record that
 * `wanted(producer_id, seq)` accepts is found. Never throws on what it reads: a log dir or a
 * file that cannot be read is a note of its broker.
 */
export async function searchLogs(
  logs: readonly BrokerLog[],
  topic: string,
  wanted: (producerId: string, seq: number) => boolean,
): Promise<LogSearch> {
  const out: LogSearch = { sightings: [], reads: [], dropped: 0 };
  for (const log of logs) {
    const read: BrokerRead = {
      broker: log.broker,
      dir: log.dir,
      partitions: 0,
      segments: 0,
      records: 0,
      notes: [],
    };
    out.reads.push(read);
    const note = (text: string) => {
      if (read.notes.length < MAX_BROKER_NOTES) read.notes.push(text);
    };
    let entries: string[];
    try {
      entries = [];
      for await (const e of Deno.readDir(log.dir)) {
        const p = e.name.startsWith(`${topic}-`) ? e.name.slice(topic.length + 1) : "";
        if (e.isDirectory && /^\d+$/.test(p)) entries.push(e.name);
      }
    } catch (error) {
      note(`the log dir ${log.dir} could not be read: ${(error as Error).message}`);
      continue;
    }
    for (const name of entries.sort()) {
      const partition = Number(name.slice(topic.length + 1));
      read.partitions++;
      let files: { name: string; deleted: boolean }[];
      try {
        files = await segmentFiles(join(log.dir, name));
      } catch (error) {
        note(`${name} could not be listed: ${(error as Error).message}`);
        continue;
      }
      for (const f of files) {
        let bytes: Uint8Array;
        try {
          bytes = await Deno.readFile(join(log.dir, name, f.name));
        } catch (error) {
          note(`${name}/${f.name} could not be read: ${(error as Error).message}`);
          continue;
        }
        read.segments++;
        const summary = decodeSegment(bytes, (record) => {
          const id = valueIdentity(record.value);
          if (id.producer_id === undefined || id.seq === undefined) return;
          if (!wanted(id.producer_id, id.seq)) return;
          if (out.sightings.length >= MAX_SIGHTINGS) {
            out.dropped++;
            return;
          }
          out.sightings.push({
            producer_id: id.producer_id,
            seq: id.seq,
            broker: log.broker,
            partition,
            offset: record.offset,
            ...(f.deleted ? { deleted: true } : {}),
          });
        }, { file: `${name}/${f.name}` });
        read.records += summary.records;
        if (summary.stopped) note(`${summary.file}: ${summary.stopped}`);
        for (const u of summary.unreadable) note(`${summary.file}: ${u}`);
      }
    }
  }
  return out;
}
