/**
 * The audit's fast path (_canonical_bytes.ts, topic_table.ts `addBytes`) against the slow one
 * (decode, `parseEvent`, `eventIdentity`, the digests of digest.ts): every column of a tabled
 * record the same, on the generator's events, every corruption of malformed.ts, each field at
 * and past its rule's edges and thousands of mutations; the fast path never takes what the
 * schema refuses, and takes every event the generator writes.
 */

import assert from "node:assert/strict";
import { generatorFlows } from "../pipeline/_event_fixtures.ts";
import { eventSerializer, parseEvent, type TelemetryEvent } from "../pipeline/event.ts";
import { corrupt, MALFORMED_KINDS } from "../pipeline/malformed.ts";
import { Rng } from "../pipeline/rng.ts";
import { DIGEST_WORDS, MALFORMED, TopicTableBuilder, VALID } from "./topic_table.ts";
import { type CanonicalRead, readCanonical } from "./_canonical_bytes.ts";
import { canonicalForm, Digester, randomAuditKey } from "./digest.ts";
import { eventIdentity } from "./identity.ts";

const enc = new TextEncoder();
const dec = new TextDecoder();

function realTexts(): string[] {
  const flows = generatorFlows("canonical-bytes-test");
  const serialize = eventSerializer("20261206T154200-ab12cd-w3");
  return flows.map((flow, seq) => serialize(seq, 1.7e12 + seq, flow));
}

/** What the slow path tables for `bytes` (the audit before the fast path). */
function slowRow(digests: Digester, bytes: Uint8Array) {
  const text = dec.decode(bytes);
  const parsed = parseEvent(text);
  const id = parsed.ok ? parsed.event : eventIdentity(text);
  const has = id.producer_id !== undefined && id.seq !== undefined;
  const raw = new Uint32Array(DIGEST_WORDS);
  const canon = new Uint32Array(DIGEST_WORDS);
  digests.raw(bytes, raw, 0);
  if (parsed.ok) digests.canonical(parsed.event, canon, 0);
  return {
    producer: has ? id.producer_id : null,
    seq: has ? id.seq : -1,
    len: bytes.length,
    raw: [...raw],
    canon: [...canon],
    kind: parsed.ok ? VALID : MALFORMED,
  };
}

const read: CanonicalRead = { idStart: 0, idEnd: 0, idHash: 0, seq: 0, canonLength: 0 };

/** Whether the fast path takes `bytes`; when it does, its canonical form is digest.ts's. */
function fastTakes(bytes: Uint8Array): boolean {
  const out = new Uint8Array(2 * bytes.length + 16);
  // Read from inside a larger buffer, as from a Fetch answer.
  const buf = new Uint8Array(bytes.length + 10);
  buf.set(bytes, 7);
  if (!readCanonical(buf, 7, 7 + bytes.length, out, 3, read)) return false;
  const parsed = parseEvent(dec.decode(bytes));
  assert.ok(parsed.ok, `the fast path took what the schema refuses: ${dec.decode(bytes)}`);
  assert.equal(
    dec.decode(out.subarray(3, 3 + read.canonLength)),
    dec.decode(canonicalForm(parsed.event)),
  );
  assert.equal(dec.decode(buf.subarray(read.idStart, read.idEnd)), parsed.event.producer_id);
  assert.equal(read.seq, parsed.event.seq);
  return true;
}

/**
 * Tables `texts` through the builder (its fast path where it applies) and asserts every
 * record's columns are the slow path's; returns how many the fast path took.
 */
function assertSameRows(texts: readonly (string | Uint8Array)[]): number {
  const key = randomAuditKey();
  const digests = new Digester(key);
  const b = new TopicTableBuilder(key);
  const values = texts.map((t) => typeof t === "string" ? enc.encode(t) : t);
  // Half by `add`, half in place from a shared buffer (`addBytes`, as the lean Fetch hands them).
  values.forEach((v, i) => {
    if (i % 2 === 0) b.add(0, i, v, 77);
    else {
      const buf = new Uint8Array(v.length + 5);
      buf.set(v, 5);
      b.addBytes(0, i, buf, 5, 5 + v.length, 77);
    }
  });
  b.setBounds(0, 0, values.length);
  const d = b.finish().data;
  let fast = 0;
  values.forEach((v, r) => {
    if (fastTakes(v)) fast++;
    const got = {
      producer: d.producer[r] < 0 ? null : d.producers[d.producer[r]],
      seq: d.seq[r],
      len: d.len[r],
      raw: [...d.raw.subarray(r * DIGEST_WORDS, (r + 1) * DIGEST_WORDS)],
      canon: [...d.canon.subarray(r * DIGEST_WORDS, (r + 1) * DIGEST_WORDS)],
      kind: d.kind[r],
    };
    assert.deepEqual(got, slowRow(digests, v), dec.decode(v));
    assert.equal(d.session[r], 77);
  });
  return fast;
}

Deno.test("the fast path takes every event the generator writes, tabled as the slow path", () => {
  const texts = realTexts();
  assert.equal(assertSameRows(texts), texts.length);
});

Deno.test("every corruption of malformed.ts: not taken, tabled as the slow path", () => {
  const rng = new Rng("canonical-bytes-malformed");
  const bad: string[] = [];
  for (const raw of realTexts().slice(0, 300)) {
    const event = JSON.parse(raw) as TelemetryEvent;
    for (const kind of MALFORMED_KINDS) bad.push(corrupt(rng, event, kind).raw);
  }
  assert.equal(assertSameRows(bad), 0);
});

Deno.test("each field at and past its rule's edges: the same columns as the slow path", () => {
  const base = JSON.parse(realTexts()[0]) as Record<string, unknown>;
  const long = (n: number) => "x".repeat(n);
  const variants: Record<string, unknown[]> = {
    producer_id: ["", long(128), long(129), 'a"b', "a\\b", "a\nb", "é", "a\u007fb", 7, null],
    // (Seqs stay small: the table indexes every seq up to the largest.)
    seq: [0, -1, 1.5, -0, 9_999_999, "1", null],
    ts_ms: [1, 0, -5, 1.2e12 + 0.5, 1e21, "1700000000000"],
    src_ip: ["10.0.0.1", "256.0.0.1", "10.0.0", "010.0.0.1", "10.0.0.1 ", "::1", "", 1],
    dst_ip: ["0.0.0.0", "255.255.255.255", "1.2.3.4.5", "a.b.c.d", "249.250.251.199", "1.2.3.1000"],
    src_port: [0, 9, 10, 99, 100, 999, 1000, 9999, 10000, 59999, 60000, 64999, 65000, 65499],
    dst_port: [65500, 65529, 65530, 65535, 65536, 65540, 65600, 66000, 70000, -1, 80.5, "80"],
    protocol: ["TCP", "UDP", "ICMP", "tcp", "SCTP", ""],
    bytes_out: [0, -1, 1e21, 3.5, 123456789012345, 1234567890123456],
    bytes_in: [0, -1, "9"],
    packets: [0, -2, null],
    latency_ms: [
      0,
      0.1,
      0.000001,
      0.0000012,
      1e-7,
      12.345678901234567,
      123456789012.345,
      1234567890123.456,
      0.1 + 0.2,
      -0.1,
      1e300,
      "12",
      null,
    ],
    tcp_flags: ["", "SYN", "SYN,ACK", "SYN,", ",SYN", "syn", "SYN ACK", "RST,RST", "SY", 1],
    http_status: [null, 100, 599, 99, 600, 200.5, "200", 1000],
    action: ["ACCEPT", "REJECT", "DROP", "accept"],
    flow_direction: ["ingress", "egress", "both"],
    account_id: ["123456789012", "12345678901", "1234567890123", "12345678901a", 123456789012],
    vpc_id: ["", long(64), long(65), "\u0001", "vpc-é"],
    interface_id: ["", long(64), long(65)],
    region: ["", long(32), long(33)],
  };
  const texts: string[] = [];
  for (const [field, values] of Object.entries(variants)) {
    for (const value of values) texts.push(JSON.stringify({ ...base, [field]: value }));
    const { [field]: _, ...missing } = base;
    texts.push(JSON.stringify(missing));
    const { [field]: moved, ...rest } = base;
    texts.push(JSON.stringify({ ...rest, [field]: moved }));
  }
  const t = JSON.stringify(base);
  texts.push(
    JSON.stringify({ ...base, extra: 1 }),
    t.replace("{", '{"__proto__":{"x":1},'),
    JSON.stringify(base, null, 1),
    t + "\n",
    " " + t,
    t.replace('"seq":', '"seq": '),
    t.replace(/"latency_ms":[^,]*/, '"latency_ms":12.50'),
    t.replace(/"latency_ms":[^,]*/, '"latency_ms":0.0000001'),
    t.replace(/"latency_ms":[^,]*/, '"latency_ms":1.0'),
    t.replace(/"latency_ms":[^,]*/, '"latency_ms":007'),
    t.replace(/"latency_ms":[^,]*/, '"latency_ms":1.'),
    t.replace(/"latency_ms":[^,]*/, '"latency_ms":1e3'),
    t.replace(/"seq":\d+/, '"seq":0123'),
    "",
    "{}",
    "null",
    t.slice(0, -1),
    t + "}",
  );
  const fast = assertSameRows(texts);
  assert.ok(fast >= 50, `${fast} variants taken by the fast path`);
  // Bytes that are not UTF-8 (the slow path decodes them with replacement characters).
  const raw = enc.encode(t);
  const broken = raw.slice();
  broken[raw.indexOf(enc.encode("vpc_id")[0], 200) + 12] = 0xff;
  assert.equal(assertSameRows([broken, Uint8Array.of(0xc3), new Uint8Array(0)]), 0);
});

Deno.test("10,000 one-byte mutations: the same columns as the slow path", () => {
  const rng = new Rng("canonical-bytes-mutations");
  const texts = realTexts();
  const chars = ['"', "\\", ",", ":", "{", "}", "-", ".", "e", "0", "9", " ", "\u0000", "é", "A"];
  const mutated: string[] = [];
  for (let n = 0; n < 10_000; n++) {
    const raw = texts[rng.int(0, texts.length - 1)];
    const at = rng.int(0, raw.length - 1);
    const c = chars[rng.int(0, chars.length - 1)];
    const mode = rng.int(0, 2);
    mutated.push(
      mode === 0
        ? raw.slice(0, at) + raw.slice(at + 1)
        : mode === 1
        ? raw.slice(0, at) + c + raw.slice(at)
        : raw.slice(0, at) + c + raw.slice(at + 1),
    );
  }
  const fast = assertSameRows(mutated);
  assert.ok(fast > 500, `${fast} mutations still canonical (digits, names)`);
});

Deno.test("producers told apart by their bytes: the same names as the slow path", () => {
  const texts: string[] = [];
  // Names of one length and one hash bucket at most apart, interleaved.
  for (let i = 0; i < 200; i++) {
    const serialize = eventSerializer(`p-${String.fromCharCode(65 + (i % 7))}${i % 3}`);
    const flow = JSON.parse(realTexts()[i]);
    delete flow.producer_id, delete flow.seq, delete flow.ts_ms;
    texts.push(serialize(i, 1.7e12 + i, flow));
  }
  assert.equal(assertSameRows(texts), texts.length);
});
