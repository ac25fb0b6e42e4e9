import assert from "node:assert/strict";
import { Buffer } from "node:buffer";
import { EventBytes } from "./event_bytes.ts";
import { eventSerializer, TelemetryEvent } from "./event.ts";
import { baselineFlow } from "./traffic.ts";
import { Rng } from "./rng.ts";

const text = (b: Uint8Array) => new TextDecoder().decode(b);

Deno.test("EventBytes writes a baseline flow byte for byte as eventSerializer does", () => {
  const rng = new Rng("bytes");
  for (const pid of ["20261202T000000-abcdef-w3", 'r-"quoted"\\-w0', "caf\u00e9-w1"]) {
    const batch = new EventBytes(pid);
    const serialize = eventSerializer(pid);
    const expected: string[] = [];
    for (let i = 0; i < 5000; i++) {
      const flow = baselineFlow(rng);
      const seq = i * 7919;
      const ts = 1_764_000_000_000 + i;
      batch.event(seq, ts, flow);
      expected.push(serialize(seq, ts, flow));
    }
    const values = batch.take();
    assert.deepEqual(values.map(text), expected);
    assert.ok(values.every((v) => Buffer.isBuffer(v)));
    assert.equal(new Set(values.map((v) => v.buffer)).size, 1, "views of one buffer");
  }
});

Deno.test("the baseline's keys are the schema's, in its order (what EventBytes writes)", () => {
  const rng = new Rng(1);
  const schema = Object.keys(TelemetryEvent.shape).slice(3);
  for (let i = 0; i < 200; i++) assert.deepEqual(Object.keys(baselineFlow(rng)), schema);
});

Deno.test("EventBytes: odd values are written as JSON.stringify writes them", () => {
  const rng = new Rng(2);
  const base = baselineFlow(rng);
  const odd = [
    { ...base, vpc_id: 'vpc-"quoted"' },
    { ...base, region: "r\u00e9gion" },
    { ...base, interface_id: "eni-\n" },
    { ...base, tcp_flags: "x".repeat(500) },
    { ...base, latency_ms: 12.345678 },
    { ...base, latency_ms: 1e-7 },
    { ...base, bytes_out: -3 },
    { ...base, bytes_in: 2 ** 60 },
    { ...base, packets: Number.NaN },
    { ...base, http_status: null },
    { ...base, http_status: undefined as unknown as null },
    { ...base, src_port: -0 },
    // One interface whose other last fields change (its tail's bytes are kept per interface).
    { ...base },
    { ...base, region: "r-2" },
    { ...base },
    { ...base, action: "REJECT" as const, flow_direction: "ingress" as const },
    { ...base, account_id: '"' },
    { ...base, vpc_id: 7 as unknown as string },
    { ...base, interface_id: 7 as unknown as string },
    { ...base },
  ];
  const batch = new EventBytes("p-w0");
  const serialize = eventSerializer("p-w0");
  odd.forEach((flow, i) => batch.event(i, 5, flow));
  const values = batch.take().map(text);
  odd.forEach((flow, i) => {
    assert.equal(values[i], serialize(i, 5, flow), `odd value ${i}`);
    JSON.parse(values[i]);
  });
});

Deno.test("EventBytes: json and text between events, growth past the first buffer, a fresh buffer each take", () => {
  const rng = new Rng(3);
  const batch = new EventBytes("p-w0");
  const serialize = eventSerializer("p-w0");
  const expected: string[] = [];
  for (let i = 0; i < 6000; i++) {
    if (i % 1000 === 500) {
      const flow = { ...baselineFlow(rng), region: "r-1", account_id: "000000000000" };
      const reordered = Object.fromEntries(Object.entries(flow).reverse()) as typeof flow;
      batch.json(i, i, reordered);
      expected.push(serialize(i, i, reordered));
    }
    if (i % 1000 === 0) {
      const t = i === 3000 ? "\u{1f600}".repeat(200_000) : `{"broken": ${i}`;
      batch.text(t);
      expected.push(t);
    }
    const flow = baselineFlow(rng);
    batch.event(i, i, flow);
    expected.push(serialize(i, i, flow));
  }
  assert.equal(batch.size, expected.length);
  const first = batch.take();
  assert.deepEqual(first.map(text), expected);
  assert.equal(batch.size, 0);
  batch.event(1, 1, baselineFlow(rng));
  const second = batch.take();
  assert.equal(second.length, 1);
  assert.notEqual(second[0].buffer, first[0].buffer);
  assert.deepEqual(first.map(text), expected, "earlier views untouched");
  assert.deepEqual(batch.take(), []);
});
