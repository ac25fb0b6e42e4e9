import assert from "node:assert/strict";
import {
  API_KEYS,
  apiName,
  capApiVersions,
  frame,
  FrameBuffer,
  Reader,
  requestHeader,
  responseCorrelationId,
  WireError,
  Writer,
} from "./kafka_wire.ts";
import { bytes } from "./kafka_wire_testing.ts";

Deno.test("FrameBuffer cuts a stream into frames, across chunks and several in one", () => {
  const a = frame(new Uint8Array([1, 2, 3]));
  const b = frame(new Uint8Array([9]));
  const stream = new Uint8Array([...a, ...b, ...frame(new Uint8Array(0))]);
  const frames = new FrameBuffer();
  assert.deepEqual(frames.push(stream.subarray(0, 2)), []);
  assert.deepEqual(frames.push(stream.subarray(2, 6)), []);
  assert.equal(frames.pending, 6);
  const out = frames.push(stream.subarray(6));
  assert.deepEqual(out.map((f) => [...f]), [[1, 2, 3], [9], []]);
  assert.equal(frames.pending, 0);
});

Deno.test("FrameBuffer: a large frame in small chunks, its size prefix split across them", () => {
  const body = new Uint8Array(2 * 1024 * 1024).map((_, i) => i % 251);
  const stream = new Uint8Array([...frame(new Uint8Array([7])), ...frame(body), 0, 0]);
  const frames = new FrameBuffer();
  const out: Uint8Array[] = [];
  // 64 KiB reads, shifted by 3 so the second frame's size straddles two of them
  out.push(...frames.push(stream.subarray(0, 3)));
  for (let at = 3; at < stream.length; at += 65536) {
    out.push(...frames.push(stream.subarray(at, Math.min(at + 65536, stream.length))));
  }
  assert.equal(out.length, 2);
  assert.deepEqual([...out[0]], [7]);
  assert.equal(out[1].length, body.length);
  assert.ok(out[1].every((v, i) => v === i % 251));
  assert.equal(out[1].byteOffset, 0, "a fresh array of its own");
  assert.equal(frames.pending, 2, "the next frame's first bytes wait");
});

Deno.test("FrameBuffer keeps what it holds when the caller reuses its read buffer", () => {
  const stream = new Uint8Array([
    ...frame(new Uint8Array([1, 2, 3, 4, 5])),
    ...frame(new Uint8Array([6])),
  ]);
  const frames = new FrameBuffer();
  const buf = new Uint8Array(4);
  const out: Uint8Array[] = [];
  for (let at = 0; at < stream.length; at += 4) {
    const n = Math.min(4, stream.length - at);
    buf.set(stream.subarray(at, at + n));
    out.push(...frames.push(buf.subarray(0, n)));
    buf.fill(0xee); // the next read overwrites it
  }
  assert.deepEqual(out.map((f) => [...f]), [[1, 2, 3, 4, 5], [6]]);
});

Deno.test("FrameBuffer refuses a negative or huge size", () => {
  assert.throws(() => new FrameBuffer().push(bytes(["i32", -5])), WireError);
  assert.throws(() => new FrameBuffer().push(bytes(["i32", 0x7fffffff])), WireError);
  assert.throws(() => new FrameBuffer().push(bytes(["i32", 100 * 1024 * 1024 + 1])), WireError);
});

Deno.test("requestHeader() reads api key, version, correlation id and client id", () => {
  const f = bytes(["i16", 0], ["i16", 7], ["i32", 42], ["str", "gen-w0"], ["i32", 1]);
  assert.deepEqual(requestHeader(f), {
    apiKey: 0,
    apiVersion: 7,
    correlationId: 42,
    clientId: "gen-w0",
    bodyOffset: 16,
  });
  const nullId = requestHeader(bytes(["i16", 18], ["i16", 3], ["i32", -1], ["str", null]));
  assert.equal(nullId.clientId, null);
  assert.equal(nullId.bodyOffset, 10);
  assert.throws(() => requestHeader(bytes(["i16", 0], ["i16", 7])), WireError);
  assert.equal(responseCorrelationId(bytes(["i32", 77], ["i16", 0])), 77);
  assert.throws(() => responseCorrelationId(new Uint8Array(2)), WireError);
  assert.equal(apiName(API_KEYS.OffsetCommit), "OffsetCommit");
  assert.equal(apiName(99), "api99");
  assert.equal(apiName(22), "InitProducerId");
});

Deno.test("Reader and Writer agree on every primitive; Reader refuses a truncated field", () => {
  const w = new Writer().int8(-2).int16(-300).int32(70000).int64(-5n).string("añ").string(null)
    .array([1, 2], (w, n) => void w.int32(n));
  const r = new Reader(w.bytes());
  assert.equal(r.int8(), -2);
  assert.equal(r.int16(), -300);
  assert.equal(r.int32(), 70000);
  assert.equal(r.int64(), -5n);
  assert.equal(r.string(), "añ");
  assert.equal(r.nullableString(), null);
  assert.equal(r.arrayLength(), 2);
  assert.deepEqual([r.int32(), r.int32()], [1, 2]);
  assert.throws(() => r.int8(), WireError);
  assert.equal(new Reader(new Uint8Array([0x96, 0x01])).uvarint(), 150);
});

/** An ApiVersions answer (header included) offering Produce 3..11, Fetch 4..17, Heartbeat 0..4. */
function apiVersionsAnswer(version: number): Uint8Array {
  const entries: [number, number, number][] = [[0, 3, 11], [1, 4, 17], [12, 0, 4]];
  if (version >= 3) {
    return bytes(
      ["i32", 5],
      ["i16", 0],
      ["uv", entries.length + 1],
      ...entries.flatMap(([k, min, max]): [string, number][] => [
        ["i16", k],
        ["i16", min],
        ["i16", max],
        ["uv", 0],
      ]),
      ["i32", 0],
      ["uv", 0],
    );
  }
  return bytes(
    ["i32", 5],
    ["i16", 0],
    ["i32", entries.length],
    ...entries.flatMap(([k, min, max]): [string, number][] => [
      ["i16", k],
      ["i16", min],
      ["i16", max],
    ]),
    ["i32", 0],
  );
}

Deno.test("capApiVersions() caps Produce and Fetch in place, v2 and flexible v3 alike", async (t) => {
  for (const version of [2, 3]) {
    await t.step(`v${version}`, () => {
      const f = apiVersionsAnswer(version);
      const length = f.length;
      assert.deepEqual(capApiVersions(f, version), { 0: [11, 8], 1: [17, 11] });
      assert.equal(f.length, length);
      const want = apiVersionsAnswer(version);
      // Produce's max at entry 0, Fetch's at entry 1: rewritten; Heartbeat untouched.
      const first = version >= 3 ? 7 : 10;
      const stride = version >= 3 ? 7 : 6;
      new DataView(want.buffer).setInt16(first + 4, 8);
      new DataView(want.buffer).setInt16(first + stride + 4, 11);
      assert.deepEqual([...f], [...want]);
    });
  }
  await t.step("a cap under the min, and an error answer, are left alone", () => {
    const f = apiVersionsAnswer(2);
    assert.deepEqual(capApiVersions(f, 2, { 0: 2 }), {});
    const error = bytes(["i32", 5], ["i16", 35], ["i32", 0], ["i32", 0]);
    assert.deepEqual(capApiVersions(error, 2), {});
  });
});
