/**
 * The audit's lean Fetch (_audit_read.ts): the partitions' record batches of a
 * Fetch answer kept as the answer's bytes (`LeanRecords`) instead of decoded
 * into an object per record (the client's `readRecordsBatches`: BigInt
 * timestamps, a Buffer per key and value, headers arrays), then walked in
 * place (`walkBatches`): each record handed on as (offset, value bytes range
 * of the answer's buffer), no object per record.
 *
 * How: as the lean producer (pipeline/lean_producer.ts), the consumer's API
 * lookup (a method of the client's base class, keyed by a private symbol
 * found by its description) answers `Fetch` with the client's own request
 * writer and a response parser of ours, for the flexible versions 12 to 17;
 * any other version (a proxy that caps the versions) is the client's,
 * unchanged, and its decoded batches are read as before. Everything else
 * stays the client's: sessions, errors, retries, the read_committed filter. A
 * partition whose answer lists aborted transactions is decoded by the client
 * (its read_committed filter needs its batch objects).
 *
 * The walk reads message format v2 (magic 2): baseOffset int64, length int32,
 * leader epoch, magic, crc, attributes int16 (bits 0-2 the codec), lastOffsetDelta,
 * two timestamps, producer id int64, epoch int16, base sequence, count int32,
 * then the records (varint length, attributes, timestamp delta, offset delta,
 * key, value, headers). A compressed batch is decoded by the client's
 * `readRecordsBatch` (gzip, snappy, lz4, zstd). A batch of another magic, or
 * a record whose fields do not fill its length exactly, or records that do
 * not fill their batch, is an `AuditDecodeError` naming the batch's offset,
 * never skipped. A batch cut at the end of the answer (the broker's size
 * limit) is left for the next fetch, as the client leaves it.
 * @module
 */

import { Buffer } from "node:buffer";
import {
  Consumer,
  createAPI,
  fetchV12,
  fetchV13,
  fetchV14,
  fetchV15,
  fetchV16,
  fetchV17,
  Reader,
  readKnownTaggedFields,
  readRecordsBatch,
  readRecordsBatches,
  ResponseError,
} from "@platformatic/kafka";

/** A record batch could not be read: where, and why. */
export class AuditDecodeError extends Error {
  override name = "AuditDecodeError";
}

/** A partition's record batches as the answer holds them (the lean Fetch's `records`). */
export class LeanRecords {
  constructor(readonly bytes: Uint8Array) {}
}

/**
 * Where a walk hands its records: `value` is `buf[start, end)` (`start` -1: a null value);
 * `session`: the batch's producer id and epoch as topic_table.ts `sessionOf` makes them.
 */
export type RecordSink = (
  offset: number,
  buf: Uint8Array,
  start: number,
  end: number,
  session: number,
) => void;

const BATCH_HEAD = 12; // baseOffset + length
/** Bytes of a batch's header after its length: epoch 4, magic 1, crc 4, ... count 4. */
const HEADER_AFTER_LENGTH = 49;

/** A producer session as one number (as topic_table.ts `sessionOf`). */
function session(idHi: number, idLo: number, epoch: number): number {
  const id = idHi * 4294967296 + idLo;
  return id < 0 ? -1 : id * 65536 + (epoch & 0xffff);
}

/**
 * Walks the record batches in `bytes`, handing `sink` each record from offset `next` up to
 * `limit` (excluded; earlier and later ones are skipped, as a batch holds records before the
 * offset asked for); returns `next` moved past every whole batch (its base offset +
 * lastOffsetDelta + 1). `where` names the partition in errors.
 */
export function walkBatches(
  bytes: Uint8Array,
  next: number,
  limit: number,
  sink: RecordSink,
  where = "a partition",
): number {
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  let at = 0;
  const n = bytes.length;
  while (n - at >= BATCH_HEAD) {
    const length = view.getInt32(at + 8);
    if (n - at - BATCH_HEAD < length) break; // cut by the size limit: the next fetch reads it
    const base = view.getInt32(at) * 4294967296 + view.getUint32(at + 4);
    const end = at + BATCH_HEAD + length;
    const fail = (why: string): never => {
      throw new AuditDecodeError(`${where}: the record batch at offset ${base} ${why}`);
    };
    if (length < HEADER_AFTER_LENGTH) fail(`is ${length} bytes long, shorter than its header`);
    const magic = bytes[at + 16];
    if (magic !== 2) fail(`has magic ${magic} (only message format v2 is read)`);
    const attributes = view.getInt16(at + 21);
    const lastDelta = view.getInt32(at + 23);
    const s = session(view.getInt32(at + 43), view.getUint32(at + 47), view.getInt16(at + 51));
    const count = view.getInt32(at + 57);
    if (count < 0) fail(`announces ${count} records`);
    if ((attributes & 7) !== 0) {
      // Compressed: the client's decoder (it decompresses), its records handed on as values.
      let batch;
      try {
        const view = Buffer.from(bytes.buffer, bytes.byteOffset + at, end - at);
        batch = readRecordsBatch(Reader.from(view));
      } catch (error) {
        fail(`cannot be decompressed (${(error as Error).message})`);
      }
      for (const r of batch!.records) {
        const offset = base + r.offsetDelta;
        if (offset < next || offset >= limit) continue;
        const v = r.value as Uint8Array | null;
        if (v === null) sink(offset, bytes, -1, -1, s);
        else sink(offset, v, 0, v.length, s);
      }
    } else {
      let p = at + BATCH_HEAD + HEADER_AFTER_LENGTH;
      // Each varint is decoded in line, on purpose: this loop runs once per record of the
      // audit, and a reader returning a value and a position allocated or cost a call a field.
      for (let i = 0; i < count; i++) {
        const bad = (why: string) => fail(`has a record (${i} of ${count}) ${why}`);
        // length (zigzag varint)
        let u = 0, shift = 0, b;
        do {
          if (p >= end) return bad("cut short");
          b = bytes[p++];
          u |= (b & 0x7f) << shift;
          shift += 7;
        } while (b & 0x80 && shift < 35);
        if (b & 0x80) bad("with an overlong varint");
        const len = (u >>> 1) ^ -(u & 1);
        const stop = p + len;
        if (len < 0 || stop > end) bad(`of length ${len}, past its batch`);
        p++; // attributes
        // timestamp delta (zigzag varlong): skipped
        do {
          if (p >= stop) return bad("cut short");
          b = bytes[p++];
        } while (b & 0x80);
        // offset delta
        u = 0, shift = 0;
        do {
          if (p >= stop) return bad("cut short");
          b = bytes[p++];
          u |= (b & 0x7f) << shift;
          shift += 7;
        } while (b & 0x80 && shift < 35);
        const delta = (u >>> 1) ^ -(u & 1);
        // key: skipped
        u = 0, shift = 0;
        do {
          if (p >= stop) return bad("cut short");
          b = bytes[p++];
          u |= (b & 0x7f) << shift;
          shift += 7;
        } while (b & 0x80 && shift < 35);
        const keyLen = (u >>> 1) ^ -(u & 1);
        if (keyLen > 0) p += keyLen;
        else if (keyLen < -1) bad(`with a key of length ${keyLen}`);
        // value
        u = 0, shift = 0;
        do {
          if (p >= stop) return bad("cut short");
          b = bytes[p++];
          u |= (b & 0x7f) << shift;
          shift += 7;
        } while (b & 0x80 && shift < 35);
        const valueLen = (u >>> 1) ^ -(u & 1);
        const vStart = p;
        if (valueLen > 0) p += valueLen;
        else if (valueLen < -1) bad(`with a value of length ${valueLen}`);
        if (p > stop) bad("whose value runs past its end");
        // headers: each a key and a value, skipped
        u = 0, shift = 0;
        do {
          if (p >= stop) return bad("cut short");
          b = bytes[p++];
          u |= (b & 0x7f) << shift;
          shift += 7;
        } while (b & 0x80 && shift < 35);
        const headers = (u >>> 1) ^ -(u & 1);
        if (headers < -1) bad(`with ${headers} headers`);
        for (let h = 0; h < headers * 2; h++) {
          u = 0, shift = 0;
          do {
            if (p >= stop) return bad("cut short");
            b = bytes[p++];
            u |= (b & 0x7f) << shift;
            shift += 7;
          } while (b & 0x80 && shift < 35);
          const l = (u >>> 1) ^ -(u & 1);
          if (l > 0) p += l;
          else if (l < -1) bad(`with a header of length ${l}`);
        }
        if (p !== stop) bad(`whose fields take ${p - (stop - len)} of its ${len} bytes`);
        const offset = base + delta;
        if (offset < next || offset >= limit) continue;
        if (valueLen === -1) sink(offset, bytes, -1, -1, s);
        else sink(offset, bytes, vStart, vStart + valueLen, s);
      }
      if (p !== end) fail(`holds ${end - p} bytes after its ${count} records`);
    }
    next = Math.max(next, base + lastDelta + 1);
    at = end;
  }
  return next;
}

type ParseResponse = (
  correlationId: number,
  apiKey: number,
  apiVersion: number,
  reader: Reader,
) => unknown;
type FetchApi = ((...args: unknown[]) => void) & { key: number; version: number };
type GetApi = (name: string, callback: (error: Error | null, api?: FetchApi) => void) => void;

const REQUESTS: Record<number, { createRequest: (...args: never[]) => unknown }> = {
  12: fetchV12,
  13: fetchV13,
  14: fetchV14,
  15: fetchV15,
  16: fetchV16,
  17: fetchV17,
};

/**
 * The Fetch answer of versions 12 to 17, as the client's parsers read it, except that each
 * partition's records are a `LeanRecords` (the answer's bytes, not copied), null when the
 * answer holds none (as the client's), or the client's batches when the partition lists
 * aborted transactions (its read_committed filter reads them).
 */
export function leanFetchParser(version: number): ParseResponse {
  return (_correlationId, apiKey, apiVersion, reader) => {
    const errors: [string, [number, null]][] = [];
    const throttleTimeMs = reader.readInt32();
    const errorCode = reader.readInt16();
    if (errorCode !== 0) errors.push([version >= 16 ? "" : "/", [errorCode, null]]);
    const response: { nodeEndpoints?: unknown[] } & Record<string, unknown> = {
      throttleTimeMs,
      errorCode,
      sessionId: reader.readInt32(),
      ...(version >= 16 ? { nodeEndpoints: [] } : {}),
      responses: reader.readArray((r: Reader, i: number) => ({
        topicId: version >= 13 ? r.readUUID() : r.readString(),
        partitions: r.readArray(
          (r: Reader, j: number) => {
            const partition = {
              partitionIndex: r.readInt32(),
              errorCode: r.readInt16(),
              highWatermark: r.readInt64(),
              lastStableOffset: r.readInt64(),
              logStartOffset: r.readInt64(),
              divergingEpoch: { epoch: -1, endOffset: -1n },
              currentLeader: { leaderId: -1, leaderEpoch: -1 },
              snapshotId: { endOffset: -1n, epoch: -1 },
              abortedTransactions: r.readNullableArray((r: Reader) => ({
                producerId: r.readInt64(),
                firstOffset: r.readInt64(),
              })),
              preferredReadReplica: r.readInt32(),
              records: [] as unknown,
            };
            if (partition.errorCode !== 0) {
              errors.push([`/responses/${i}/partitions/${j}`, [partition.errorCode, null]]);
            }
            let size = r.readUnsignedVarInt();
            if (size === 0) partition.records = null;
            if (size > 1) {
              size--;
              // One Buffer (a view when the answer arrived in one chunk, else a copy).
              const bytes = r.buffer.slice(r.position, r.position + size);
              partition.records = partition.abortedTransactions?.length
                ? readRecordsBatches(Reader.from(r.buffer.subarray(r.position, r.position + size)))
                : new LeanRecords(bytes);
              r.skip(size);
            }
            readKnownTaggedFields(r, {
              0: (r: Reader) => {
                partition.divergingEpoch = { epoch: r.readInt32(), endOffset: r.readInt64() };
              },
              1: (r: Reader) => {
                partition.currentLeader = { leaderId: r.readInt32(), leaderEpoch: r.readInt32() };
              },
              2: (r: Reader) => {
                partition.snapshotId = { endOffset: r.readInt64(), epoch: r.readInt32() };
              },
            });
            return partition;
          },
          true,
          false,
        ),
      })),
    };
    readKnownTaggedFields(
      reader,
      version < 16 ? {} : {
        0: (r: Reader) => {
          response.nodeEndpoints = r.readArray((r: Reader) => ({
            nodeId: r.readInt32(),
            host: r.readString(),
            port: r.readInt32(),
            rack: r.readNullableString(),
          }));
        },
      },
    );
    if (errors.length) {
      throw new ResponseError(apiKey, apiVersion, Object.fromEntries(errors), response);
    }
    return response;
  };
}

/** The symbol the client's base class keys its API lookup by. */
const GET_API = (() => {
  for (let o = Consumer.prototype; o; o = Object.getPrototypeOf(o)) {
    const s = Object.getOwnPropertySymbols(o).find((s) =>
      s.description === "plt.kafka.base.getApi"
    );
    if (s) return s;
  }
  return undefined;
})();

/**
 * `consumer`, its Fetch answered by the lean parser at versions 12 to 17 (see the module doc);
 * returned unchanged (the client's decoding) when the client has no API lookup to hook.
 */
export function leanFetch<C extends Consumer>(consumer: C): C {
  const self = consumer as unknown as Record<symbol, GetApi>;
  const getApi = GET_API && self[GET_API];
  if (!GET_API || typeof getApi !== "function") return consumer;
  const lean = new Map<number, FetchApi>();
  self[GET_API] = (name, callback) =>
    getApi.call(consumer, name, (error, api) => {
      if (error || name !== "Fetch" || !api || !REQUESTS[api.version]) {
        return callback(error, api);
      }
      let mine = lean.get(api.version);
      if (!mine) {
        mine = createAPI(
          1,
          api.version,
          REQUESTS[api.version].createRequest as never,
          leanFetchParser(api.version) as never,
        ) as unknown as FetchApi;
        lean.set(api.version, mine);
      }
      callback(null, mine);
    });
  return consumer;
}
