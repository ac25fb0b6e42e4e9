/**
 * The Kafka wire protocol as far as the kafka proxy (kafka_proxy.ts) needs it:
 * frames (a 4-byte big-endian size, then that many bytes), the request header
 * (api key, api version, correlation id, client id), the correlation id of a
 * response, a reader and a writer of the protocol's primitive types, and the
 * rewrite of an ApiVersions answer that caps the versions of the APIs whose
 * error answers the proxy encodes (kafka_wire_errors.ts) at the highest
 * version it can encode. Every layout follows Kafka's message specs
 * (clients/src/main/resources/common/message/*.json).
 *
 * ```ts
 * import { FrameBuffer, requestHeader } from "./kafka_wire.ts";
 * const frames = new FrameBuffer();
 * for (const frame of frames.push(chunk)) console.log(requestHeader(frame).apiKey);
 * ```
 * @module
 */

/** The API keys the proxy knows by name. */
export const API_KEYS = {
  Produce: 0,
  Fetch: 1,
  Metadata: 3,
  OffsetCommit: 8,
  FindCoordinator: 10,
  ApiVersions: 18,
} as const;
export type ApiName = keyof typeof API_KEYS;

/** Names of the other APIs the pipeline's clients send, for the proxy's counts. */
const OTHER_APIS: Readonly<Record<number, string>> = {
  2: "ListOffsets",
  9: "OffsetFetch",
  11: "JoinGroup",
  12: "Heartbeat",
  13: "LeaveGroup",
  14: "SyncGroup",
  19: "CreateTopics",
  22: "InitProducerId",
  32: "DescribeConfigs",
  60: "DescribeCluster",
};

/** The name of an API key, or `api<N>` for one the proxy does not know by name. */
export function apiName(key: number): string {
  for (const [name, k] of Object.entries(API_KEYS)) if (k === key) return name;
  return OTHER_APIS[key] ?? `api${key}`;
}

/**
 * The highest version of each API whose answers the proxy encodes or rewrites: the highest
 * non-flexible one (kafkajs 2.2.4 sends at most Produce 7, Fetch 11, Metadata 6, OffsetCommit 5,
 * FindCoordinator 2; @platformatic/kafka takes the highest version the broker offers).
 */
export const VERSION_CAPS: Readonly<Record<number, number>> = {
  [API_KEYS.Produce]: 8,
  [API_KEYS.Fetch]: 11,
  [API_KEYS.Metadata]: 8,
  [API_KEYS.OffsetCommit]: 7,
  [API_KEYS.FindCoordinator]: 2,
};

/** Bytes that do not follow the protocol (a truncated field, a size out of bounds). */
export class WireError extends Error {
  override name = "WireError";
}

/** Largest frame accepted: Kafka's own `socket.request.max.bytes` (100 MiB). */
export const MAX_FRAME = 100 * 1024 * 1024;

/**
 * Cuts a byte stream into frames: `push` takes a chunk and returns the frames it completed
 * (each without its size prefix, in a fresh array of its own). Chunks wait in a list until
 * their frame is complete and are copied once then: a large frame arriving in small chunks
 * costs its size, not its size times its chunks (a 64 MiB frame in 64 KiB reads held the
 * proxy for 55 s when each read copied what was held).
 */
export class FrameBuffer {
  #chunks: Uint8Array[] = [];
  #length = 0;

  push(chunk: Uint8Array): Uint8Array[] {
    if (chunk.length > 0) {
      // A copy: callers read into one buffer again and again, and hand a view of it.
      this.#chunks.push(chunk.slice());
      this.#length += chunk.length;
    }
    const frames: Uint8Array[] = [];
    while (this.#length >= 4) {
      const head = this.#peek(4);
      const size = new DataView(head.buffer, head.byteOffset, 4).getInt32(0);
      if (size < 0 || size > MAX_FRAME) throw new WireError(`frame size ${size} out of bounds`);
      if (this.#length - 4 < size) break;
      this.#take(4);
      frames.push(this.#take(size));
    }
    return frames;
  }

  /** Bytes held back, waiting for the rest of their frame. */
  get pending(): number {
    return this.#length;
  }

  /** The first `n` bytes held (n <= what is held), without taking them. */
  #peek(n: number): Uint8Array {
    const first = this.#chunks[0];
    if (first.length >= n) return first.subarray(0, n);
    const out = new Uint8Array(n);
    let at = 0;
    for (const c of this.#chunks) {
      const part = c.subarray(0, n - at);
      out.set(part, at);
      at += part.length;
      if (at === n) break;
    }
    return out;
  }

  /** Takes the first `n` bytes held (n <= what is held) into a fresh array. */
  #take(n: number): Uint8Array {
    const out = new Uint8Array(n);
    let at = 0;
    while (at < n) {
      const c = this.#chunks[0];
      const part = c.subarray(0, n - at);
      out.set(part, at);
      at += part.length;
      if (part.length === c.length) this.#chunks.shift();
      else this.#chunks[0] = c.subarray(part.length);
    }
    this.#length -= n;
    return out;
  }
}

/** `body` with its 4-byte size in front: one frame on the wire. */
export function frame(body: Uint8Array): Uint8Array {
  const out = new Uint8Array(4 + body.length);
  new DataView(out.buffer).setInt32(0, body.length);
  out.set(body, 4);
  return out;
}

/** A request header: the same first fields in every version (v1, v2). */
export interface RequestHeader {
  apiKey: number;
  apiVersion: number;
  correlationId: number;
  clientId: string | null;
  /** Where the body starts, for the non-flexible versions (header v1: no tagged fields). */
  bodyOffset: number;
}

/** The header of a request frame (its size prefix removed). */
export function requestHeader(f: Uint8Array): RequestHeader {
  const r = new Reader(f);
  const apiKey = r.int16();
  const apiVersion = r.int16();
  const correlationId = r.int32();
  const clientId = r.nullableString();
  return { apiKey, apiVersion, correlationId, clientId, bodyOffset: r.offset };
}

/** The correlation id of a response frame (its first field in every header version). */
export function responseCorrelationId(f: Uint8Array): number {
  if (f.length < 4) throw new WireError(`response of ${f.length} bytes has no correlation id`);
  return new DataView(f.buffer, f.byteOffset, 4).getInt32(0);
}

/** Reads the protocol's primitive types, big-endian, failing on a truncated field. */
export class Reader {
  readonly #view: DataView;
  readonly #bytes: Uint8Array;
  offset: number;

  constructor(bytes: Uint8Array, offset = 0) {
    this.#bytes = bytes;
    this.#view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
    this.offset = offset;
  }

  #need(n: number): number {
    if (n < 0 || this.offset + n > this.#bytes.length) {
      throw new WireError(
        `need ${n} bytes at offset ${this.offset} of ${this.#bytes.length}`,
      );
    }
    const at = this.offset;
    this.offset += n;
    return at;
  }

  int8(): number {
    return this.#view.getInt8(this.#need(1));
  }
  int16(): number {
    return this.#view.getInt16(this.#need(2));
  }
  int32(): number {
    return this.#view.getInt32(this.#need(4));
  }
  int64(): bigint {
    return this.#view.getBigInt64(this.#need(8));
  }
  skip(n: number): void {
    this.#need(n);
  }
  /** An unsigned varint (the compact types and tagged fields of flexible versions). */
  uvarint(): number {
    let value = 0;
    for (let shift = 0; shift < 35; shift += 7) {
      const b = this.#bytes[this.#need(1)];
      value |= (b & 0x7f) << shift;
      if ((b & 0x80) === 0) return value >>> 0;
    }
    throw new WireError(`varint longer than 5 bytes at offset ${this.offset}`);
  }
  string(): string {
    const s = this.nullableString();
    if (s === null) throw new WireError(`null where a string is required at ${this.offset}`);
    return s;
  }
  nullableString(): string | null {
    const n = this.int16();
    if (n < 0) return null;
    return new TextDecoder().decode(this.#bytes.subarray(this.#need(n), this.offset));
  }
  /** Skips NULLABLE_BYTES (int32 size, -1: null) and returns its size. */
  skipBytes(): number {
    const n = this.int32();
    if (n > 0) this.#need(n);
    return n;
  }
  /** An array's length (int32, -1: null, as 0). */
  arrayLength(): number {
    return Math.max(0, this.int32());
  }
  /** Skips a flexible version's tagged fields. */
  skipTaggedFields(): void {
    const count = this.uvarint();
    for (let i = 0; i < count; i++) {
      this.uvarint();
      this.#need(this.uvarint());
    }
  }
}

/** Writes the protocol's primitive types, big-endian. */
export class Writer {
  #buf = new Uint8Array(256);
  #view = new DataView(this.#buf.buffer);
  #at = 0;

  #room(n: number): number {
    if (this.#at + n > this.#buf.length) {
      const next = new Uint8Array(Math.max(this.#buf.length * 2, this.#at + n));
      next.set(this.#buf.subarray(0, this.#at));
      this.#buf = next;
      this.#view = new DataView(next.buffer);
    }
    const at = this.#at;
    this.#at += n;
    return at;
  }

  int8(v: number): this {
    this.#view.setInt8(this.#room(1), v);
    return this;
  }
  int16(v: number): this {
    this.#view.setInt16(this.#room(2), v);
    return this;
  }
  int32(v: number): this {
    this.#view.setInt32(this.#room(4), v);
    return this;
  }
  int64(v: bigint): this {
    this.#view.setBigInt64(this.#room(8), v);
    return this;
  }
  string(s: string | null): this {
    if (s === null) return this.int16(-1);
    const bytes = new TextEncoder().encode(s);
    this.int16(bytes.length);
    this.#buf.set(bytes, this.#room(bytes.length));
    return this;
  }
  /** An array: its int32 length, then each item written by `each`. */
  array<T>(items: readonly T[], each: (w: this, item: T) => void): this {
    this.int32(items.length);
    for (const item of items) each(this, item);
    return this;
  }
  bytes(): Uint8Array {
    return this.#buf.slice(0, this.#at);
  }
}

/**
 * Caps, in place, the max versions an ApiVersions response body (`f`: the response frame,
 * header included; ApiVersions answers always have header v0) offers for the APIs in `caps`,
 * when the cap is not below the min version. `version` is the request's: v3 and later are
 * flexible (a compact array, tagged fields after each entry). Returns what it capped, as
 * `{apiKey: [was, now]}`; an answer with an error code is left alone.
 */
export function capApiVersions(
  f: Uint8Array,
  version: number,
  caps: Readonly<Record<number, number>> = VERSION_CAPS,
): Record<number, [number, number]> {
  const r = new Reader(f, 4);
  const view = new DataView(f.buffer, f.byteOffset, f.byteLength);
  const capped: Record<number, [number, number]> = {};
  if (r.int16() !== 0) return capped;
  const flexible = version >= 3;
  const n = flexible ? r.uvarint() - 1 : r.int32();
  for (let i = 0; i < n; i++) {
    const key = r.int16();
    const min = r.int16();
    const maxAt = r.offset;
    const max = r.int16();
    if (flexible) r.skipTaggedFields();
    const cap = caps[key];
    if (cap !== undefined && max > cap && cap >= min) {
      view.setInt16(maxAt, cap);
      capped[key] = [max, cap];
    }
  }
  return capped;
}
