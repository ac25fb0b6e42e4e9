/**
 * The WebAssembly fast path (_wasm_canonical.ts) against _canonical_bytes.ts's `readCanonical`
 * (itself held to the slow path by canonical_bytes_test.ts, which also runs the table builder,
 * and so this scan, against `parseEvent`): the same answer, producer_id, seq and canonical form
 * on the generator's events, malformed.ts's corruptions, every prefix of an event (the rest of
 * the buffer after its end), tens of thousands of mutations; its digests are digest.ts's
 * reference SipHash of the raw bytes and of the canonical form.
 */

import assert from "node:assert/strict";
import { generatorFlows } from "../pipeline/_event_fixtures.ts";
import { eventSerializer, type TelemetryEvent } from "../pipeline/event.ts";
import { corrupt, MALFORMED_KINDS } from "../pipeline/malformed.ts";
import { Rng } from "../pipeline/rng.ts";
import { type CanonicalRead, readCanonical } from "./_canonical_bytes.ts";
import { CANON_WORD, RAW_WORD, WasmCanonical } from "./_wasm_canonical.ts";
import { randomAuditKey, sipHash128 } from "./digest.ts";

const enc = new TextEncoder();
const dec = new TextDecoder();

function realTexts(): string[] {
  const flows = generatorFlows("wasm-canonical-test");
  const serialize = eventSerializer("20261206T154200-ab12cd-w3");
  return flows.map((flow, seq) => serialize(seq, 1.7e12 + seq, flow));
}

const key = randomAuditKey();
const scanner = new WasmCanonical(key);
const read: CanonicalRead = { idStart: 0, idEnd: 0, idHash: 0, seq: 0, canonLength: 0 };
let referenceChecks = 0;
const words = (b: Uint8Array) => [...new Uint32Array(b.buffer, b.byteOffset, 4)];

/**
 * Asserts the scan of `buf[start, end)` is readCanonical's (and its digests the reference's);
 * returns whether it took the value.
 */
function same(buf: Uint8Array, start: number, end: number): boolean {
  const out = new Uint8Array(2 * (end - start) + 16);
  const js = readCanonical(buf, start, end, out, 0, read);
  const wasm = scanner.scan(buf, start, end);
  const what = () => dec.decode(buf.subarray(start, end));
  assert.equal(wasm, js, `scan ${wasm}, readCanonical ${js}: ${what()}`);
  if (!js) return false;
  assert.equal(scanner.idStart, read.idStart, what());
  assert.equal(scanner.idEnd, read.idEnd, what());
  assert.equal(scanner.idHash, read.idHash, what());
  assert.equal(scanner.seq, read.seq, what());
  const form = out.subarray(0, read.canonLength);
  assert.deepEqual(scanner.canonical(), form, what());
  if (referenceChecks++ > 3000) return true; // (the BigInt reference is slow)
  const w = scanner.words;
  assert.deepEqual(
    [...w.subarray(RAW_WORD, RAW_WORD + 4)],
    words(sipHash128(key.subarray(0, 16), buf.subarray(start, end))),
  );
  assert.deepEqual(
    [...w.subarray(CANON_WORD, CANON_WORD + 4)],
    words(sipHash128(key.subarray(16), form)),
  );
  return true;
}

/** `text` alone, and inside a larger buffer (bytes before, and its own text again after). */
function sameText(text: string | Uint8Array): boolean {
  const v = typeof text === "string" ? enc.encode(text) : text;
  const taken = same(v, 0, v.length);
  const buf = new Uint8Array(v.length * 2 + 9);
  buf.fill(0x30, 0, 9);
  buf.set(v, 9);
  buf.set(v, 9 + v.length);
  assert.equal(same(buf, 9, 9 + v.length), taken);
  return taken;
}

Deno.test("the generator's events: taken, as readCanonical reads them", () => {
  const texts = realTexts();
  for (const t of texts) assert.ok(sameText(t), t);
});

Deno.test("every corruption of malformed.ts: as readCanonical reads it", () => {
  const rng = new Rng("wasm-canonical-malformed");
  for (const raw of realTexts().slice(0, 300)) {
    const event = JSON.parse(raw) as TelemetryEvent;
    for (const kind of MALFORMED_KINDS) sameText(corrupt(rng, event, kind).raw);
  }
});

Deno.test("every prefix of an event, the rest of it after the end: never taken", () => {
  for (const t of realTexts().slice(0, 40)) {
    const v = enc.encode(t);
    for (let end = 0; end < v.length; end++) assert.equal(same(v, 0, end), false);
    // Garbage from a longer value left in the module's memory does not count either.
    for (let end = v.length - 30; end < v.length; end++) {
      scanner.scan(v, 0, v.length);
      assert.equal(same(v, 0, end), false);
    }
  }
});

Deno.test("fields at their edges and 40,000 mutations: as readCanonical reads them", () => {
  const base = JSON.parse(realTexts()[0]) as Record<string, unknown>;
  const edges: Record<string, unknown[]> = {
    producer_id: ["", "x".repeat(128), "x".repeat(129), "a\u007fb", "a\u001fb", "a b", "é"],
    seq: [0, 9, 10, 123456789012345, 1234567890123456, -1, 1.5],
    ts_ms: [0, 1, 999999999999999, 1e15],
    src_ip: ["0.0.0.0", "255.255.255.255", "256.1.1.1", "01.1.1.1", "1.1.1", "1.1.1.1.1"],
    src_port: [0, 65535, 65536, 99999, 100000, "01"],
    dst_port: [1, 10, 100, 1000, 10000],
    latency_ms: [0, 0.5, 0.000001, 0.0000015, 1e-7, 123456789012345, 1234567890123456, 1.25],
    tcp_flags: ["", "SYN", "SYN,ACK,FIN,RST,PSH,URG", "SYN,", "XYZ"],
    http_status: [null, 100, 599, 600, 99, 1000],
    account_id: ["000000000000", "12345678901", "1234567890123"],
    vpc_id: ["x", "x".repeat(64), "x".repeat(65)],
    region: ["x", "x".repeat(32), "x".repeat(33)],
  };
  for (const [field, values] of Object.entries(edges)) {
    for (const value of values) sameText(JSON.stringify({ ...base, [field]: value }));
  }
  for (const t of ["", "{", "{}", "null", '{"producer_id":"a"}']) sameText(t);
  const rng = new Rng("wasm-canonical-mutations");
  const texts = realTexts();
  const chars = ['"', "\\", ",", ":", "{", "}", "-", ".", "e", "0", "1", "9", " ", "\u0000", "é"];
  let taken = 0;
  for (let i = 0; i < 40_000; i++) {
    let t = texts[rng.int(0, texts.length - 1)];
    for (let m = rng.int(1, 3); m > 0; m--) {
      const at = rng.int(0, t.length - 1);
      const c = chars[rng.int(0, chars.length - 1)];
      const mode = rng.int(0, 2);
      t = mode === 0
        ? t.slice(0, at) + t.slice(at + 1)
        : mode === 1
        ? t.slice(0, at) + c + t.slice(at)
        : t.slice(0, at) + c + t.slice(at + 1);
    }
    if (sameText(t)) taken++;
  }
  assert.ok(taken > 1000, `${taken} mutations still canonical`);
});

Deno.test("a value larger than the module's memory grows it; the next values read as before", () => {
  const texts = realTexts().slice(0, 50);
  const base = JSON.parse(texts[0]) as Record<string, unknown>;
  const big = enc.encode(JSON.stringify({ ...base, vpc_id: "v".repeat(300_000) }));
  const fresh = new WasmCanonical(key);
  const v = enc.encode(texts[1]);
  assert.ok(fresh.scan(v, 0, v.length));
  assert.equal(fresh.scan(big, 0, big.length), false);
  for (const t of texts) assert.ok(sameText(t));
  const b = enc.encode(texts[2]);
  assert.ok(fresh.scan(b, 0, b.length));
  assert.equal(fresh.seq, (JSON.parse(texts[2]) as { seq: number }).seq);
  const out = new Uint8Array(2 * b.length);
  assert.ok(readCanonical(b, 0, b.length, out, 0, read));
  assert.deepEqual(fresh.canonical(), out.subarray(0, read.canonLength));
});

Deno.test("every byte of the strings, replaced or inserted, or the value cut there: as readCanonical", () => {
  const t = realTexts()[3];
  const chars = ['"', "\\", "\u0000", "\u001f", " ", "\u007f", "é", "\u0080", "a"];
  let taken = 0;
  for (const field of ["vpc_id", "interface_id", "region"]) {
    const from = t.indexOf(`"${field}":"`) + field.length + 4; // its first byte
    const to = t.indexOf('"', from); // its closing quote
    for (let at = from - 1; at <= to; at++) {
      for (const c of chars) {
        if (sameText(t.slice(0, at) + c + t.slice(at))) taken++;
        if (sameText(t.slice(0, at) + c + t.slice(at + 1))) taken++;
      }
      // The value cut short there (its end inside a word).
      const v = enc.encode(t);
      assert.equal(same(v, 0, at), false);
    }
  }
  assert.ok(taken > 300, `${taken} still canonical`);
});
