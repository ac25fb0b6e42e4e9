/**
 * A batch of events written straight to UTF-8 bytes, one buffer per batch, each event a `Buffer`
 * view of its own bytes. On Deno, `JSON.stringify` of a flow (2.5–4 µs) and then
 * `Buffer.from(text)` (two calls into the runtime and an allocation) were the generator's two
 * largest costs per event; writing the bytes here costs a fraction of that.
 *
 * `event` writes what `eventSerializer` writes for the same producer, byte for byte, for a flow
 * of the baseline's shape: the schema's keys, in its order, and no others (a test holds
 * `baselineFlow` to it). A text field that would need escaping, or a field of the wrong type,
 * sends that event through `JSON.stringify` instead. `json` writes a flow of any other shape (an
 * incident's) that way; `text` adds any other text (a malformed event) as it is.
 *
 * ```ts
 * const batch = new EventBytes("run-w0");
 * batch.event(0, Date.now(), baselineFlow(rng));
 * batch.text("{not json");
 * const values = batch.take(); // [Buffer, Buffer]; the next event starts a new buffer
 * ```
 * @module
 */

import { Buffer } from "node:buffer";
import { eventSerializer, type TelemetryEvent } from "./event.ts";

type Flow = Omit<TelemetryEvent, "producer_id" | "seq" | "ts_ms">;

const encoder = new TextEncoder();
const ascii = (text: string) => encoder.encode(text);

/** The constant text between values, in the schema's order (`eventSerializer`'s). */
const K = {
  ts: ascii(',"ts_ms":'),
  src_ip: ascii(',"src_ip":"'),
  dst_ip: ascii('","dst_ip":"'),
  src_port: ascii('","src_port":'),
  dst_port: ascii(',"dst_port":'),
  protocol: ascii(',"protocol":"'),
  bytes_out: ascii('","bytes_out":'),
  bytes_in: ascii(',"bytes_in":'),
  packets: ascii(',"packets":'),
  latency: ascii(',"latency_ms":'),
  tcp_flags: ascii(',"tcp_flags":"'),
  http_status: ascii('","http_status":'),
  action: ascii(',"action":"'),
  direction: ascii('","flow_direction":"'),
  account: ascii('","account_id":"'),
  vpc: ascii('","vpc_id":"'),
  interface: ascii('","interface_id":"'),
  region: ascii('","region":"'),
  end: ascii('"}'),
  null: ascii("null"),
};

const INITIAL_BYTES = 1 << 20;
/** Interfaces whose tails are kept (the baseline has a few thousand devices). */
const MAX_TAILS = 65_536;
/** `Uint8Array`'s own `set` (a copy of many bytes; a loop wins below a few dozen). */
const u8set = Uint8Array.prototype.set;

type Tail = {
  action: unknown;
  direction: unknown;
  account: unknown;
  vpc: unknown;
  region: unknown;
  bytes: Uint8Array;
};

/** Text `#string` writes as is: printable ASCII other than `"` and `\`, not too long. */
function plain(s: unknown): boolean {
  if (typeof s !== "string" || s.length > MAX_STRING) return false;
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if (c < 0x20 || c > 0x7e || c === 0x22 || c === 0x5c) return false;
  }
  return true;
}
/** Longest text field written as is (the baseline's longest is 21 characters). */
const MAX_STRING = 64;
/** Room for everything after the head: 10 strings, 8 numbers (at most 24 characters), keys. */
const MAX_FIELDS_BYTES = 10 * MAX_STRING + 8 * 24 + 512;

export class EventBytes {
  readonly #head: Uint8Array;
  readonly #serialize: (seq: number, tsMs: number, flow: Flow) => string;
  #buf = new Uint8Array(INITIAL_BYTES);
  #pos = 0;
  #ends: number[] = [];
  /** Set when a text field needs escaping: the event is then written by `JSON.stringify`. */
  #unsafe = false;
  #tsMs = Number.NaN;
  #tsBytes = ascii("null");
  /** The largest batch so far: the next buffer starts that large. */
  #high = INITIAL_BYTES;
  /** Per interface id, the last fields' bytes (see `#tail`). */
  readonly #tails = new Map<string, Tail>();

  constructor(producerId: string) {
    this.#head = ascii(`{"producer_id":${JSON.stringify(producerId)},"seq":`);
    this.#serialize = eventSerializer(producerId);
  }

  /** Events written since the last `take`. */
  get size(): number {
    return this.#ends.length;
  }

  /** The event `{producer_id, seq, ts_ms, ...flow}` as `eventSerializer` writes it. */
  event(seq: number, tsMs: number, f: Flow): void {
    const start = this.#pos;
    this.#reserve(this.#head.length + MAX_FIELDS_BYTES);
    this.#unsafe = false;
    this.#put(this.#head);
    this.#number(seq);
    this.#put(K.ts);
    if (tsMs !== this.#tsMs) {
      // A batch's events mostly share their time: its digits are made once.
      this.#tsMs = tsMs;
      this.#tsBytes = ascii(Number.isFinite(tsMs) ? String(tsMs) : "null");
    }
    this.#put(this.#tsBytes);
    this.#put(K.src_ip);
    this.#string(f.src_ip);
    this.#put(K.dst_ip);
    this.#string(f.dst_ip);
    this.#put(K.src_port);
    this.#number(f.src_port);
    this.#put(K.dst_port);
    this.#number(f.dst_port);
    this.#put(K.protocol);
    this.#string(f.protocol);
    this.#put(K.bytes_out);
    this.#number(f.bytes_out);
    this.#put(K.bytes_in);
    this.#number(f.bytes_in);
    this.#put(K.packets);
    this.#number(f.packets);
    this.#put(K.latency);
    this.#number(f.latency_ms);
    this.#put(K.tcp_flags);
    this.#string(f.tcp_flags);
    this.#put(K.http_status);
    if (f.http_status === null) this.#put(K.null);
    else this.#number(f.http_status);
    const tail = this.#tail(f);
    if (tail) {
      u8set.call(this.#buf, tail, this.#pos);
      this.#pos += tail.length;
    } else {
      this.#put(K.action);
      this.#string(f.action);
      this.#put(K.direction);
      this.#string(f.flow_direction);
      this.#put(K.account);
      this.#string(f.account_id);
      this.#put(K.vpc);
      this.#string(f.vpc_id);
      this.#put(K.interface);
      this.#string(f.interface_id);
      this.#put(K.region);
      this.#string(f.region);
      this.#put(K.end);
    }
    if (this.#unsafe) {
      this.#pos = start;
      this.json(seq, tsMs, f);
      return;
    }
    this.#ends.push(this.#pos);
  }

  /** The same event through `eventSerializer` (`JSON.stringify`): for a flow of any shape. */
  json(seq: number, tsMs: number, f: Flow): void {
    this.text(this.#serialize(seq, tsMs, f));
  }

  /** Any text, as UTF-8. */
  text(text: string): void {
    // UTF-8 takes at most 3 bytes per UTF-16 code unit.
    this.#reserve(text.length * 3);
    const { written } = encoder.encodeInto(text, this.#buf.subarray(this.#pos));
    this.#pos += written;
    this.#ends.push(this.#pos);
  }

  /** The events written since the last `take`, in order, as views of one buffer; starts anew. */
  take(): Buffer[] {
    const out = new Array<Buffer>(this.#ends.length);
    const ab = this.#buf.buffer;
    let start = 0;
    for (let i = 0; i < out.length; i++) {
      out[i] = Buffer.from(ab, start, this.#ends[i] - start);
      start = this.#ends[i];
    }
    this.#high = Math.max(this.#high, this.#pos);
    // The views keep this buffer; the next batch writes to a new one.
    this.#buf = new Uint8Array(this.#high + 4096);
    this.#pos = 0;
    this.#ends = [];
    return out;
  }

  /**
   * The bytes from `,"action":` to the end of an event whose last six fields are these, made once
   * per interface (they are a device's, and the rest constants): about a third of an event,
   * written field by field before. Undefined when a field would need escaping (or is no text).
   */
  #tail(f: Flow): Uint8Array | undefined {
    const iface = f.interface_id;
    if (typeof iface !== "string") return undefined;
    const t = this.#tails.get(iface);
    if (
      t && t.action === f.action && t.direction === f.flow_direction &&
      t.account === f.account_id && t.vpc === f.vpc_id && t.region === f.region
    ) return t.bytes;
    const fields = [f.action, f.flow_direction, f.account_id, f.vpc_id, iface, f.region];
    if (!fields.every(plain)) return undefined;
    const text =
      `,"action":"${f.action}","flow_direction":"${f.flow_direction}","account_id":"${f.account_id}","vpc_id":"${f.vpc_id}","interface_id":"${iface}","region":"${f.region}"}`;
    if (this.#tails.size >= MAX_TAILS) this.#tails.clear();
    const bytes = ascii(text);
    this.#tails.set(iface, {
      action: f.action,
      direction: f.flow_direction,
      account: f.account_id,
      vpc: f.vpc_id,
      region: f.region,
      bytes,
    });
    return bytes;
  }

  #reserve(bytes: number): void {
    if (this.#pos + bytes <= this.#buf.length) return;
    const grown = new Uint8Array(Math.max(this.#buf.length * 2, this.#pos + bytes));
    grown.set(this.#buf.subarray(0, this.#pos));
    this.#buf = grown;
  }

  #put(bytes: Uint8Array): void {
    // A loop: TypedArray#set costs more than copying a dozen bytes.
    const buf = this.#buf;
    let pos = this.#pos;
    for (let i = 0; i < bytes.length; i++) buf[pos++] = bytes[i];
    this.#pos = pos;
  }

  /** A string of printable ASCII other than `"` and `\`, as is; anything else marks the event. */
  #string(s: string): void {
    const buf = this.#buf;
    let pos = this.#pos;
    if (typeof s !== "string" || s.length > MAX_STRING) {
      this.#unsafe = true;
      return;
    }
    for (let i = 0; i < s.length; i++) {
      const c = s.charCodeAt(i);
      if (c < 0x20 || c > 0x7e || c === 0x22 || c === 0x5c) this.#unsafe = true;
      buf[pos++] = c;
    }
    this.#pos = pos;
  }

  /** A number as `JSON.stringify` writes it; a non-negative integer digit by digit. */
  #number(n: number): void {
    if (typeof n !== "number") {
      this.#unsafe = true;
      return;
    }
    if (!Number.isSafeInteger(n) || n < 0) {
      this.#string(Number.isFinite(n) ? String(n) : "null");
      return;
    }
    const buf = this.#buf;
    let digits = 1;
    for (let x = n; x >= 10; x = Math.floor(x / 10)) digits++;
    let pos = this.#pos + digits;
    this.#pos = pos;
    let x = n;
    do {
      const q = Math.floor(x / 10);
      buf[--pos] = 48 + x - q * 10;
      x = q;
    } while (x > 0);
  }
}
