import assert from "node:assert/strict";
import { Buffer } from "node:buffer";
import { BaselineBytes, EventBytes } from "./event_bytes.ts";
import { eventSerializer, parseEvent, TelemetryEvent } from "./event.ts";
import { baselineChoice, baselineFlow, flowOf, newBaselineChoice } from "./traffic.ts";
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

Deno.test("baselineChoice draws what baselineFlow draws: flowOf gives the same flows", () => {
  for (const seed of ["choice", "bench/w0", 7]) {
    const a = new Rng(seed);
    const b = new Rng(seed);
    const c = newBaselineChoice();
    for (let i = 0; i < 20_000; i++) {
      const flow = baselineFlow(a);
      assert.deepEqual(flowOf(baselineChoice(b, c)), flow, `${seed}: flow ${i}`);
      assert.deepEqual(Object.keys(flowOf(c)), Object.keys(flow));
    }
    assert.equal(a.next(), b.next(), "the same draws, no more");
  }
});

Deno.test("BaselineBytes writes a choice byte for byte as eventSerializer writes its flow", () => {
  const rng = new Rng("baseline-bytes");
  const c = newBaselineChoice();
  const buf = new Uint8Array(1 << 16);
  for (const pid of ["20261202T000000-abcdef-w3", 'r-"quoted"\\-w0', "caf\u00e9-w1"]) {
    const writer = new BaselineBytes(pid);
    const serialize = eventSerializer(pid);
    let pos = 3;
    let longest = 0;
    for (let i = 0; i < 40_000; i++) {
      baselineChoice(rng, c);
      // Seqs of every width, past 2^31 too; the time changes every few events.
      const seq = i % 11 === 0 ? 2 ** 31 + i * 104_729 : i % 7 === 0 ? i % 10 : i * 7919;
      const ts = 1_764_000_000_000 + (i >> 3);
      if (pos + writer.maxBytes > buf.length) pos = 3;
      const end = writer.write(buf, pos, seq, ts, c);
      const want = serialize(seq, ts, flowOf(c));
      assert.equal(text(buf.subarray(pos, end)), want, `${pid}: event ${i}`);
      longest = Math.max(longest, end - pos);
      pos = end;
    }
    assert.ok(longest <= writer.maxBytes, `${longest} bytes > maxBytes ${writer.maxBytes}`);
  }
  // What the sink accepts: the schema's event.
  const writer = new BaselineBytes("run-w0");
  const end = writer.write(buf, 0, 12, 1_764_000_000_000, baselineChoice(rng, c));
  const parsed = parseEvent(text(buf.subarray(0, end)));
  assert.ok(parsed.ok);
  assert.deepEqual(parsed.event, {
    producer_id: "run-w0",
    seq: 12,
    ts_ms: 1_764_000_000_000,
    ...flowOf(c),
  });
});

Deno.test("BaselineBytes: latencies in tenths are written as JSON.stringify writes the number", () => {
  const writer = new BaselineBytes("p-w0");
  const serialize = eventSerializer("p-w0");
  const c = baselineChoice(new Rng(5), newBaselineChoice());
  const buf = new Uint8Array(4096);
  for (let tenths = 100; tenths <= 500; tenths++) {
    c.latencyTenths = tenths;
    for (const http of [-1, 200, 503]) {
      c.http_status = http;
      const end = writer.write(buf, 0, 0, 1, c);
      assert.equal(text(buf.subarray(0, end)), serialize(0, 1, flowOf(c)), `${tenths}, ${http}`);
    }
  }
});
