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
import {
  BASELINE_DESTINATIONS,
  BASELINE_PROTOCOLS,
  BASELINE_TCP_FLAGS,
  type BaselineChoice,
  DEVICE_IPS,
  flowOf,
  newBaselineChoice,
} from "./traffic.ts";

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

/**
 * Texts to copy into events, packed in one buffer and copied four bytes at a time through
 * `DataView`s: a byte loop over the ~250 bytes of text in an event was a quarter of this path's
 * time, and a buffer per text (4,000 devices' of them) spread what each event reads over memory
 * the caches did not hold (the copy of a device's last fields was half of the writer's time).
 */
class Texts {
  readonly bytes: Uint8Array;
  readonly view: DataView;
  /** Text `i`: `length[i]` bytes from `start[i]`. */
  readonly start: Int32Array;
  readonly length: Int32Array;

  constructor(texts: readonly string[]) {
    const encoded = texts.map(ascii);
    this.start = new Int32Array(texts.length);
    this.length = new Int32Array(texts.length);
    let total = 0;
    encoded.forEach((e, i) => {
      this.start[i] = total;
      this.length[i] = e.length;
      total += e.length;
    });
    // Room to read a last word past the end.
    this.bytes = new Uint8Array(total + 4);
    encoded.forEach((e, i) => this.bytes.set(e, this.start[i]));
    this.view = new DataView(this.bytes.buffer);
  }

  /** Text `i` at `pos` of `buf` (whose view is `view`); the end. */
  put(i: number, buf: Uint8Array, view: DataView, pos: number): number {
    const from = this.view;
    const start = this.start[i];
    const n = this.length[i];
    const words = n & ~3;
    let k = 0;
    for (; k < words; k += 4) view.setInt32(pos + k, from.getInt32(start + k, true), true);
    const bytes = this.bytes;
    for (; k < n; k++) buf[pos + k] = bytes[start + k];
    return pos + n;
  }
}

/**
 * A baseline event's bytes written straight from the traffic model's choice (`baselineChoice`),
 * no flow object in between: the lean client's hot path (generator_loop.ts writes each event
 * into its partition's record batch). The text is `eventSerializer`'s for `flowOf(choice)`, byte
 * for byte (a test holds it over many events): every text is made once, from the traffic
 * model's own tables, through `JSON.stringify`; only the numbers are written per event.
 *
 * ```ts
 * const writer = new BaselineBytes("run-w0");
 * const c = baselineChoice(rng, newBaselineChoice());
 * const end = writer.write(buf, pos, seq, Date.now(), c); // buf has writer.maxBytes of room at pos
 * ```
 */
export class BaselineBytes {
  /** Most bytes one event takes. */
  readonly maxBytes: number;
  /** Per device: its address and the key before the destination's (`DEVICE_IPS`). */
  readonly #devices: Texts;
  /** Per destination: its address and the key before the source port (`BASELINE_DESTINATIONS`). */
  readonly #destinations: Texts;
  /**
   * Per device: its last fields (from `,"action":` to the end) after what every device's have
   * in common (`FIXED.tail`).
   */
  readonly #tails: Texts;
  /** Every other text, by the indexes below (ports' added as they come). */
  #fixed: Texts;
  /** The time's text (from `,"ts_ms":` to the source address), made once per time. */
  #ts: Texts = new Texts([""]);
  #tsMs = Number.NaN;
  readonly #fixedTexts: string[];
  /** Per destination port and protocol, its text's index in `#fixed` (from `,"dst_port":`). */
  readonly #ports = new Map<number, number>();
  /** The buffer last written to, and a view of it. */
  #buf: Uint8Array | undefined;
  #view: DataView = new DataView(new ArrayBuffer(0));

  constructor(producerId: string) {
    const json = (x: unknown) => JSON.stringify(x);
    const c = newBaselineChoice();
    const tails = DEVICE_IPS.map((_, device) => {
      const f = flowOf(Object.assign(c, { device }));
      const tail = {
        action: f.action,
        flow_direction: f.flow_direction,
        account_id: f.account_id,
        vpc_id: f.vpc_id,
        interface_id: f.interface_id,
        region: f.region,
      };
      return `,${json(tail).slice(1)}`;
    });
    let common = tails[0].length;
    for (const t of tails) {
      let i = 0;
      while (i < common && t.charCodeAt(i) === tails[0].charCodeAt(i)) i++;
      common = i;
    }
    this.#devices = new Texts(DEVICE_IPS.map((ip) => `${json(ip).slice(1)},"dst_ip":"`));
    this.#destinations = new Texts(
      BASELINE_DESTINATIONS.map((ip) => `${json(ip).slice(1)},"src_port":`),
    );
    this.#tails = new Texts(tails.map((t) => t.slice(common)));
    this.#fixedTexts = [];
    this.#fixedTexts[HEAD] = `{"producer_id":${json(producerId)},"seq":`;
    this.#fixedTexts[BYTES_IN] = ',"bytes_in":';
    this.#fixedTexts[PACKETS] = ',"packets":';
    this.#fixedTexts[LATENCY] = ',"latency_ms":';
    this.#fixedTexts[NULL] = "null";
    this.#fixedTexts[TAIL] = tails[0].slice(0, common);
    BASELINE_TCP_FLAGS.forEach((f, i) => {
      this.#fixedTexts[FLAGS + i] = `,"tcp_flags":${json(f)},"http_status":`;
    });
    this.#fixed = new Texts(this.#fixedTexts);
    const longest = (t: Texts) => Math.max(...t.length);
    // Every fixed text at most once; numbers: 7 of at most 16 digits, the latency's 4
    // characters; the time's text (a number and 20 characters); a port's (two numbers and 40).
    this.maxBytes = this.#fixed.bytes.length + longest(this.#devices) +
      longest(this.#destinations) + longest(this.#tails) + 7 * 16 + 4 + 40 + 80;
  }

  /** Writes the event `{producer_id, seq, ts_ms, ...flowOf(c)}` at `pos`; returns its end. */
  write(buf: Uint8Array, pos: number, seq: number, tsMs: number, c: BaselineChoice): number {
    if (buf !== this.#buf) {
      this.#buf = buf;
      this.#view = new DataView(buf.buffer, buf.byteOffset, buf.byteLength);
    }
    const view = this.#view;
    if (tsMs !== this.#tsMs) {
      // A batch's events share their time: its text is made once.
      this.#tsMs = tsMs;
      this.#ts = new Texts([`,"ts_ms":${tsMs},"src_ip":"`]);
    }
    const port = this.#port(c.dst_port, c.protocol); // (may add a text to `#fixed`)
    const fixed = this.#fixed;
    pos = fixed.put(HEAD, buf, view, pos);
    pos = writeUint(buf, pos, seq);
    pos = this.#ts.put(0, buf, view, pos);
    pos = this.#devices.put(c.device, buf, view, pos);
    pos = this.#destinations.put(c.dst, buf, view, pos);
    pos = writeUint(buf, pos, c.src_port);
    pos = fixed.put(port, buf, view, pos);
    pos = writeUint(buf, pos, c.bytes_out);
    pos = fixed.put(BYTES_IN, buf, view, pos);
    pos = writeUint(buf, pos, c.bytes_in);
    pos = fixed.put(PACKETS, buf, view, pos);
    pos = writeUint(buf, pos, c.packets);
    pos = fixed.put(LATENCY, buf, view, pos);
    const tenths = c.latencyTenths;
    const whole = (tenths / 10) | 0;
    pos = writeUint(buf, pos, whole);
    if (tenths !== whole * 10) {
      buf[pos++] = 0x2e; // "."
      buf[pos++] = 48 + tenths - whole * 10;
    }
    pos = fixed.put(FLAGS + c.tcpFlags, buf, view, pos);
    pos = c.http_status < 0 ? fixed.put(NULL, buf, view, pos) : writeUint(buf, pos, c.http_status);
    pos = fixed.put(TAIL, buf, view, pos);
    return this.#tails.put(c.device, buf, view, pos);
  }

  /** The index of the text from `,"dst_port":` to the key before the bytes out. */
  #port(port: number, protocol: number): number {
    const key = port * 4 + protocol;
    let i = this.#ports.get(key);
    if (i === undefined) {
      const name = JSON.stringify(BASELINE_PROTOCOLS[protocol]);
      i = this.#fixedTexts.length;
      this.#fixedTexts.push(`,"dst_port":${port},"protocol":${name},"bytes_out":`);
      this.#fixed = new Texts(this.#fixedTexts);
      this.#ports.set(key, i);
    }
    return i;
  }
}

/** Indexes of `BaselineBytes`'s fixed texts (ports' follow). */
const HEAD = 0, BYTES_IN = 1, PACKETS = 2, LATENCY = 3, NULL = 4, TAIL = 5, FLAGS = 6;

/** A non-negative safe integer's digits at `pos`; the end. */
function writeUint(buf: Uint8Array, pos: number, n: number): number {
  if (n < 10) {
    buf[pos] = 48 + n;
    return pos + 1;
  }
  if (n > 0x7fffffff) {
    const text = String(n);
    for (let i = 0; i < text.length; i++) buf[pos + i] = text.charCodeAt(i);
    return pos + text.length;
  }
  const digits = n < 100
    ? 2
    : n < 1000
    ? 3
    : n < 10000
    ? 4
    : n < 100000
    ? 5
    : n < 1000000
    ? 6
    : n < 10000000
    ? 7
    : n < 100000000
    ? 8
    : n < 1000000000
    ? 9
    : 10;
  const end = pos + digits;
  let p = end;
  do {
    const q = (n / 10) | 0;
    buf[--p] = 48 + n - q * 10;
    n = q;
  } while (n > 0);
  return end;
}
