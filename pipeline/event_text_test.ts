/**
 * The canonical text's fast path against `parseEvent`: it never calls valid what the schema
 * refuses, it takes the events the pipeline carries, its values equal `JSON.parse`'s, and the
 * sink's and the detector's decisions on every malformed record are `parseEvent`'s.
 */

import assert from "node:assert/strict";
import { generatorFlows } from "./_event_fixtures.ts";
import { eventSerializer, parseEvent, TelemetryEvent } from "./event.ts";
import {
  CANONICAL_VALUES,
  isCanonicalEvent,
  readCanonicalFlow,
  readFlow,
  type WindowedFlow,
} from "./event_text.ts";
import { corrupt, MALFORMED_KINDS } from "./malformed.ts";
import { Rng } from "./rng.ts";
import { validateLines } from "./sink_codec.ts";

/** The generator's events as it writes them: baseline flows and every incident's. */
function realTexts(): string[] {
  const flows = generatorFlows("event-text-test");
  const serialize = eventSerializer("r1-w0");
  return flows.map((flow, seq) => serialize(seq, 1.7e12 + seq, flow));
}

const FLOW_KEYS: (keyof WindowedFlow)[] = [
  "ts_ms",
  "src_ip",
  "dst_ip",
  "dst_port",
  "protocol",
  "bytes_out",
  "latency_ms",
  "tcp_flags",
  "http_status",
];
const pick = (e: TelemetryEvent) => Object.fromEntries(FLOW_KEYS.map((k) => [k, e[k]]));

/** The fast path on `raw` agrees with `parseEvent`: what it accepts is valid, read the same. */
function assertAgrees(raw: string): boolean {
  const full = parseEvent(raw);
  const fast = isCanonicalEvent(raw);
  const flow = readCanonicalFlow(raw);
  assert.equal(flow !== undefined, fast, `test and exec differ on ${JSON.stringify(raw)}`);
  if (fast) {
    assert.ok(full.ok, `the fast path took what the schema refuses: ${JSON.stringify(raw)}`);
    assert.deepEqual(flow, pick(full.event), raw);
  }
  // The sink's decision (and its DLQ record) and the detector's are parseEvent's.
  const invalid = validateLines([raw]);
  if (full.ok) assert.deepEqual(invalid, [], raw);
  else {
    const { ok: _, ...why } = full;
    assert.deepEqual(invalid, [{ index: 0, ...why }], raw);
  }
  const read = readFlow(raw);
  if (full.ok) assert.deepEqual(pick(read as TelemetryEvent), pick(full.event), raw);
  else assert.equal(read, full.reason, raw);
  return fast;
}

Deno.test("the canonical text has the schema's keys in its order", () => {
  assert.deepEqual(Object.keys(CANONICAL_VALUES), Object.keys(TelemetryEvent.shape));
});

Deno.test("the fast path takes every event the generator writes, read as JSON.parse reads it", () => {
  for (const raw of realTexts()) {
    assert.ok(isCanonicalEvent(raw), `not canonical: ${raw}`);
    assertAgrees(raw);
    // JSON.stringify of the whole event is the same text.
    assert.ok(isCanonicalEvent(JSON.stringify(JSON.parse(raw))));
  }
});

Deno.test("the sink and the detector decide every malformed record as parseEvent does", () => {
  const rng = new Rng("malformed");
  let n = 0;
  for (const raw of realTexts().slice(0, 600)) {
    const event = JSON.parse(raw) as TelemetryEvent;
    for (const kind of MALFORMED_KINDS) {
      const bad = corrupt(rng, event, kind).raw;
      assert.equal(assertAgrees(bad), false, `${kind} taken as canonical: ${bad}`);
      assert.equal(parseEvent(bad).ok, false, `${kind} is valid: ${bad}`);
      n++;
    }
  }
  assert.equal(n, 600 * MALFORMED_KINDS.length);
});

Deno.test("each field at and past its rule's edges: never valid where the schema says no", () => {
  const base = JSON.parse(realTexts()[0]) as Record<string, unknown>;
  const long = (n: number) => "x".repeat(n);
  const variants: Record<string, unknown[]> = {
    producer_id: ["", long(128), long(129), 'a"b', "a\\b", "a\nb", "é", 7, null],
    seq: [0, -1, 1.5, -0, 2 ** 53, 2 ** 53 - 1, 1e15, 1e15 - 1, "1", null],
    ts_ms: [1, 0, -5, 1.2e12 + 0.5, 1e21, "1700000000000"],
    src_ip: ["10.0.0.1", "256.0.0.1", "10.0.0", "010.0.0.1", "10.0.0.1 ", "::1", "", 1],
    dst_ip: ["0.0.0.0", "255.255.255.255", "1.2.3.4.5", "a.b.c.d", "249.250.251.199"],
    src_port: [0, 9, 10, 99, 100, 999, 1000, 9999, 10000, 59999, 60000, 64999, 65000, 65499],
    dst_port: [65500, 65529, 65530, 65535, 65536, 65540, 65600, 66000, 70000, -1, 80.5, "80"],
    protocol: ["TCP", "UDP", "ICMP", "tcp", "SCTP", ""],
    bytes_out: [0, -1, 1e21, 3.5, 123456789012345, 1234567890123456],
    bytes_in: [0, -1, "9"],
    packets: [0, -2, null],
    latency_ms: [0, 0.1, 1e-7, 12.345678901234567, -0.1, 1e300, "12", null],
    tcp_flags: ["", "SYN", "SYN,ACK", "SYN,", ",SYN", "syn", "SYN ACK", "RST,RST", 1],
    http_status: [null, 100, 599, 99, 600, 200.5, "200"],
    action: ["ACCEPT", "REJECT", "DROP", "accept"],
    flow_direction: ["ingress", "egress", "both"],
    account_id: ["123456789012", "12345678901", "1234567890123", "12345678901a", 123456789012],
    vpc_id: ["", long(64), long(65), "\u0001"],
    interface_id: ["", long(65)],
    region: ["", long(32), long(33)],
  };
  let fast = 0;
  for (const [field, values] of Object.entries(variants)) {
    for (const value of values) {
      if (assertAgrees(JSON.stringify({ ...base, [field]: value }))) fast++;
    }
    const { [field]: _, ...missing } = base;
    assertAgrees(JSON.stringify(missing));
    // Another key order: valid, left to parseEvent.
    const { [field]: moved, ...rest } = base;
    assert.equal(assertAgrees(JSON.stringify({ ...rest, [field]: moved })), field === "region");
  }
  assertAgrees(JSON.stringify({ ...base, extra: 1 }));
  assertAgrees(JSON.stringify(base).replace("{", '{"__proto__":{"x":1},'));
  assertAgrees(JSON.stringify(base, null, 1));
  assertAgrees(JSON.stringify(base) + "\n");
  assertAgrees(JSON.stringify(base).replace('"seq":', '"seq": '));
  assertAgrees(JSON.stringify(base).replace('"r1-w0"', '"r1\\u002dw0"'));
  assert.ok(fast >= 40, `${fast} variants taken by the fast path`);
});

Deno.test("8,000 one-character mutations: the fast path never takes an invalid one", () => {
  const rng = new Rng("mutations");
  const texts = realTexts();
  const chars = ['"', "\\", ",", ":", "{", "}", "-", ".", "e", "0", "9", " ", "\u0000", "é", "A"];
  let taken = 0;
  for (let n = 0; n < 8000; n++) {
    const raw = texts[rng.int(0, texts.length - 1)];
    const at = rng.int(0, raw.length - 1);
    const c = chars[rng.int(0, chars.length - 1)];
    const mode = rng.int(0, 2);
    const mutated = mode === 0
      ? raw.slice(0, at) + raw.slice(at + 1)
      : mode === 1
      ? raw.slice(0, at) + c + raw.slice(at)
      : raw.slice(0, at) + c + raw.slice(at + 1);
    if (assertAgrees(mutated)) taken++;
  }
  assert.ok(taken > 400, `${taken} mutations still canonical (digits, names)`);
});
