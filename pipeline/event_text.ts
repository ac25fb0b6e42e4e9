/**
 * The fast path of the sink's and the detector's validation: one regular
 * expression for an event's canonical text, the exact text the generator
 * writes (`eventSerializer`, event_bytes.ts): the schema's keys in its order,
 * no whitespace, no escapes, integers without sign, fraction or exponent. A
 * text that matches is valid JSON the `TelemetryEvent` schema accepts, so the
 * sink needs neither `JSON.parse` nor the schema for it (V8's compiled regular
 * expression reads it in a fraction of their time), and the detector reads the
 * fields its rules use straight from it.
 *
 * Anything else (another key order, spaces, escapes, an exponent, a corrupt
 * record) does not match and goes to `parseEvent`, which decides: the fast
 * path may say "not canonical" where the schema says yes, never "valid" where
 * it says no, and the values it reads equal `JSON.parse`'s
 * (event_text_test.ts checks both on the generator's events, every
 * corruption of malformed.ts and thousands of mutations).
 *
 * ```ts
 * import { isCanonicalEvent, readCanonicalFlow } from "./event_text.ts";
 * isCanonicalEvent('{"producer_id":"r-w0","seq":0,…}'); // true
 * readCanonicalFlow('{"producer_id":"r-w0","seq":0,…}')?.src_ip; // "10.0.3.7"
 * ```
 * @module
 */

import { parseEvent, TelemetryEvent } from "./event.ts";

/** The fields of an event the detector's windows and rules use. */
export type WindowedFlow = Pick<
  TelemetryEvent,
  | "ts_ms"
  | "src_ip"
  | "dst_ip"
  | "dst_port"
  | "protocol"
  | "bytes_out"
  | "latency_ms"
  | "tcp_flags"
  | "http_status"
>;

/** A JSON string's content of 1 to `max` UTF-16 units: no quote, backslash or control character. */
const text = (max: number) => `"[^"\\\\\\u0000-\\u001f]{1,${max}}"`;
/** A safe integer ≥ 0 (at most 15 digits: below 2^53), as JSON.stringify writes it. */
const COUNT = "(?:0|[1-9]\\d{0,14})";
const OCTET = "(?:25[0-5]|2[0-4]\\d|1\\d\\d|[1-9]\\d|\\d)";
const IPV4 = `"${OCTET}(?:\\.${OCTET}){3}"`;
const PORT = "(?:6553[0-5]|655[0-2]\\d|65[0-4]\\d\\d|6[0-4]\\d{3}|[1-5]\\d{4}|[1-9]\\d{0,3}|0)";
const FLAG = "(?:SYN|ACK|FIN|RST|PSH|URG)";

/** Each key of the schema, in its order, and the text of a valid value. */
export const CANONICAL_VALUES: Readonly<Record<keyof TelemetryEvent, string>> = {
  producer_id: text(128),
  seq: COUNT,
  ts_ms: "[1-9]\\d{0,14}",
  src_ip: IPV4,
  dst_ip: IPV4,
  src_port: PORT,
  dst_port: PORT,
  protocol: '"(?:TCP|UDP|ICMP)"',
  bytes_out: COUNT,
  bytes_in: COUNT,
  packets: COUNT,
  // Any finite number ≥ 0 is valid; these digits always are.
  latency_ms: `${COUNT}(?:\\.\\d{1,17})?`,
  tcp_flags: `"(?:${FLAG}(?:,${FLAG})*)?"`,
  http_status: "(?:null|[1-5]\\d\\d)",
  action: '"(?:ACCEPT|REJECT)"',
  flow_direction: '"(?:ingress|egress)"',
  account_id: '"\\d{12}"',
  vpc_id: text(64),
  interface_id: text(64),
  region: text(32),
};

const KEYS = Object.keys(TelemetryEvent.shape) as (keyof TelemetryEvent)[];

/** The canonical text's pattern. */
const CANONICAL = new RegExp(
  `^\\{${KEYS.map((key) => `"${key}":${CANONICAL_VALUES[key]}`).join(",")}\\}$`,
);

/** True only when `raw` is the canonical text of an event the schema accepts. */
export function isCanonicalEvent(raw: string): boolean {
  return CANONICAL.test(raw);
}

/**
 * The fields the detector uses, when `raw` is canonical (else undefined: ask `parseEvent`).
 * Once the pattern matched, the keys follow each other in the schema's order with nothing
 * between them and their values, so each value starts right after the previous one's key.
 */
export function readCanonicalFlow(raw: string): WindowedFlow | undefined {
  if (!CANONICAL.test(raw)) return undefined;
  // producer_id holds no quote: the first `,"ts_ms":` is the key.
  const r = new Reader(raw, raw.indexOf(',"ts_ms":'));
  const ts_ms = r.integer(',"ts_ms":');
  const src_ip = r.text(',"src_ip":');
  const dst_ip = r.text(',"dst_ip":');
  r.integer(',"src_port":');
  const dst_port = r.integer(',"dst_port":');
  const protocol = r.text(',"protocol":') as TelemetryEvent["protocol"];
  const bytes_out = r.integer(',"bytes_out":');
  r.integer(',"bytes_in":');
  r.integer(',"packets":');
  const latency_ms = Number(r.raw(',"latency_ms":'));
  const tcp_flags = r.text(',"tcp_flags":');
  const status = r.raw(',"http_status":');
  const http_status = status === "null" ? null : Number(status);
  return {
    ts_ms,
    src_ip,
    dst_ip,
    dst_port,
    protocol,
    bytes_out,
    latency_ms,
    tcp_flags,
    http_status,
  };
}

/** Reads the values of a canonical text one after the other, each after its key. */
class Reader {
  #at: number;
  readonly #s: string;

  constructor(source: string, at: number) {
    this.#s = source;
    this.#at = at;
  }

  /** A string's content (no quote nor escape in a canonical text). */
  text(key: string): string {
    const start = this.#at + key.length + 1;
    this.#at = this.#s.indexOf('"', start);
    const value = this.#s.slice(start, this.#at);
    this.#at++;
    return value;
  }

  /** An integer's digits, at most 15 of them (exact in a double). */
  integer(key: string): number {
    let i = this.#at + key.length;
    let n = 0;
    for (let c = this.#s.charCodeAt(i); c >= 48 && c <= 57; c = this.#s.charCodeAt(++i)) {
      n = n * 10 + (c - 48);
    }
    this.#at = i;
    return n;
  }

  /** A number or null as written (up to the next comma). */
  raw(key: string): string {
    const start = this.#at + key.length;
    this.#at = this.#s.indexOf(",", start);
    return this.#s.slice(start, this.#at);
  }
}

/** The detector's reading of one record: the fields its rules use, or why it is invalid. */
export function readFlow(raw: string): WindowedFlow | string {
  const flow = readCanonicalFlow(raw);
  if (flow) return flow;
  const parsed = parseEvent(raw);
  return parsed.ok ? parsed.event : parsed.reason;
}
