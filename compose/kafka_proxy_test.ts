import assert from "node:assert/strict";
import { KafkaProxy } from "./kafka_proxy.ts";
import { KafkaProxyControl } from "./kafka_proxy_control.ts";
import type { KafkaProxyMode } from "./kafka_proxy_mode.ts";
import { frame, FrameBuffer, responseCorrelationId, Writer } from "./kafka_wire.ts";
import { ERROR_CODES } from "./kafka_wire_errors.ts";
import { bytes, serveFakeBroker } from "./kafka_wire_testing.ts";

/** A fake broker: answers every request (but a Produce with acks 0) after `delayMs`. */
function fakeBroker(delayMs = 0) {
  const seen: number[] = []; // correlation ids of the requests that reached it
  const broker = serveFakeBroker((f, conn) => {
    const view = new DataView(f.buffer, f.byteOffset);
    const key = view.getInt16(0);
    const id = view.getInt32(4);
    seen.push(id);
    if (key === 0 && f[f.length - 1] === 0) return; // acks 0 (the last byte here)
    const body = key === 18
      ? new Writer().int16(0).array(
        [[0, 3, 11], [12, 0, 4]],
        (w, [k, a, b]) => void w.int16(k).int16(a).int16(b),
      ).int32(0).bytes()
      : new Uint8Array([0xab, 0xcd]);
    const answer = new Uint8Array([...bytes(["i32", id]), ...body]);
    setTimeout(() => conn.write(frame(answer)).catch(() => {}), delayMs);
  });
  return { ...broker, seen };
}

/** A request frame of `key`/`version` with correlation id `id`; a Produce with `acks`. */
function req(key: number, version: number, id: number, acks = -1): Uint8Array {
  const head = bytes(["i16", key], ["i16", version], ["i32", id], ["str", "t"]);
  const body = key === 0
    ? bytes(
      ["str", null],
      ["i16", acks],
      ["i32", 1000],
      ["i32", 1],
      ["str", "x"],
      ["i32", 1],
      [
        "i32",
        3,
      ],
      ["i32", 1],
      ["i8", acks === 0 ? 0 : 1],
    )
    : key === 1
    ? bytes(
      ["i32", -1],
      ["i32", 100],
      ["i32", 1],
      ["i32", 1000],
      ["i8", 0],
      ["i32", 0],
      [
        "i32",
        -1,
      ],
      ["i32", 1],
      ["str", "x"],
      ["i32", 1],
      ["i32", 3],
      ["i32", -1],
      ["i64", 0n],
      ["i64", -1n],
      [
        "i32",
        1000,
      ],
      ["i32", 0],
      ["str", ""],
    )
    : new Uint8Array(0);
  return frame(new Uint8Array([...head, ...body]));
}

/** A client connection that reads answers as they come, each with the time it came. */
async function client(port: number) {
  const conn = await Deno.connect({ hostname: "127.0.0.1", port });
  const answers: { id: number; f: Uint8Array; at: number }[] = [];
  const frames = new FrameBuffer();
  (async () => {
    const buf = new Uint8Array(65536);
    for (;;) {
      const n = await conn.read(buf).catch(() => null);
      if (n === null) return;
      for (const f of frames.push(buf.subarray(0, n))) {
        answers.push({ id: responseCorrelationId(f), f, at: Date.now() });
      }
    }
  })();
  return {
    answers,
    send: (f: Uint8Array) => conn.write(f),
    async until(n: number, ms = 2000) {
      const end = Date.now() + ms;
      while (answers.length < n && Date.now() < end) await new Promise((r) => setTimeout(r, 10));
      return answers;
    },
    close: () => conn.close(),
  };
}

async function withProxy(
  fn: (
    p: KafkaProxy,
    b: ReturnType<typeof fakeBroker>,
    c: Awaited<ReturnType<typeof client>>,
  ) => Promise<void>,
  brokerDelayMs = 0,
) {
  const broker = fakeBroker(brokerDelayMs);
  const proxy = new KafkaProxy([{ broker: 1, listen: 0, upstream: broker.port }], {
    log: () => {},
  });
  proxy.serve();
  const c = await client(proxy.bound.get(1)!);
  try {
    await fn(proxy, broker, c);
  } finally {
    c.close();
    await proxy.close();
    broker.close();
  }
}

const mode = (m: Partial<KafkaProxyMode>): KafkaProxyMode => ({
  mode: "error",
  brokers: [1],
  apis: ["Produce"],
  code: "NOT_LEADER_OR_FOLLOWER",
  share: 1,
  ...m,
});

Deno.test("KafkaProxy passes answers through untouched but ApiVersions, capped", async () => {
  await withProxy(async (proxy, broker, c) => {
    await c.send(req(18, 2, 1));
    await c.send(req(0, 7, 2));
    const [versions, produce] = await c.until(2);
    // Produce 3..11 offered as 3..8; Heartbeat untouched.
    assert.deepEqual(
      [...versions.f],
      [...bytes(
        ["i32", 1],
        ["i16", 0],
        ["i32", 2],
        ["i16", 0],
        ["i16", 3],
        ["i16", 8],
        [
          "i16",
          12,
        ],
        ["i16", 0],
        ["i16", 4],
        ["i32", 0],
      )],
    );
    assert.deepEqual([...produce.f], [0, 0, 0, 2, 0xab, 0xcd]);
    assert.deepEqual(broker.seen, [1, 2]);
    assert.equal(proxy.counts[1].capped, 1);
    assert.deepEqual(proxy.counts[1].requests, { ApiVersions: 1, Produce: 1 });
  });
});

Deno.test("KafkaProxy error mode answers a Produce itself, in order behind a pending answer", async () => {
  await withProxy(async (proxy, broker, c) => {
    await c.send(req(1, 11, 1)); // a Fetch the broker answers 100 ms later
    proxy.setMode(mode({}));
    await c.send(req(0, 7, 2));
    const answers = await c.until(2);
    assert.deepEqual(answers.map((a) => a.id), [1, 2]);
    assert.deepEqual(broker.seen, [1]); // the Produce never reached the broker
    // The answer: one topic "x", partition 3, NOT_LEADER_OR_FOLLOWER.
    const produce = answers[1].f;
    assert.equal(new DataView(produce.buffer).getInt16(4 + 4 + 3 + 4 + 4), 6);
    assert.deepEqual(proxy.counts[1].errors, { "Produce/NOT_LEADER_OR_FOLLOWER": 1 });
  }, 100);
});

Deno.test("KafkaProxy error mode on Fetch, share 0 and another broker act on nothing", async () => {
  await withProxy(async (proxy, broker, c) => {
    proxy.setMode(mode({ apis: ["Fetch"], code: "REQUEST_TIMED_OUT", share: 0 }));
    await c.send(req(1, 11, 1));
    await c.until(1);
    proxy.setMode(mode({ apis: ["Fetch"], code: "REQUEST_TIMED_OUT", brokers: [2] }));
    await c.send(req(1, 11, 2));
    await c.until(2);
    proxy.setMode(mode({ apis: ["Fetch"], code: "REQUEST_TIMED_OUT" }));
    await c.send(req(1, 11, 3));
    const answers = await c.until(3);
    assert.deepEqual(answers.map((a) => a.id), [1, 2, 3]);
    assert.deepEqual(broker.seen, [1, 2]);
    assert.equal(answers[2].f.length > 6, true);
    assert.deepEqual(proxy.counts[1].errors, { "Fetch/REQUEST_TIMED_OUT": 1 });
  });
});

Deno.test("KafkaProxy drop_answer forwards a Produce and drops its answer only", async () => {
  await withProxy(async (proxy, broker, c) => {
    proxy.setMode(mode({ mode: "drop_answer", code: undefined }));
    await c.send(req(0, 7, 1));
    await c.send(req(3, 8, 2)); // Metadata: not dropped
    const answers = await c.until(2, 500);
    assert.deepEqual(answers.map((a) => a.id), [2]);
    assert.deepEqual(broker.seen, [1, 2]); // the write happened
    assert.deepEqual(proxy.counts[1].dropped, { Produce: 1 });
    // A Produce with acks 0 has no answer to drop: forwarded, nothing waited for.
    await c.send(req(0, 7, 3, 0));
    await c.send(req(3, 8, 4));
    assert.deepEqual((await c.until(2)).map((a) => a.id), [2, 4]);
    assert.deepEqual(proxy.counts[1].dropped, { Produce: 1 });
  });
});

Deno.test("KafkaProxy delay holds one API's answers back, and what follows them", async () => {
  await withProxy(async (proxy, _broker, c) => {
    proxy.setMode(mode({ mode: "delay", apis: ["Fetch"], code: undefined, delayMs: 300 }));
    const start = Date.now();
    await c.send(req(0, 7, 1));
    await c.send(req(1, 11, 2));
    await c.send(req(0, 7, 3));
    const answers = await c.until(3);
    assert.deepEqual(answers.map((a) => a.id), [1, 2, 3]);
    assert.ok(answers[0].at - start < 250, `produce took ${answers[0].at - start} ms`);
    assert.ok(answers[1].at - start >= 290, `fetch took ${answers[1].at - start} ms`);
    assert.ok(answers[2].at >= answers[1].at);
    assert.deepEqual(proxy.counts[1].delayed, { Fetch: 1 });
  });
});

Deno.test("KafkaProxy control API: set, refuse an invalid mode with its problems, clear", async () => {
  const proxy = new KafkaProxy([{ broker: 1, listen: 0, upstream: 1 }], { log: () => {} });
  const probe = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const port = probe.addr.port;
  probe.close();
  proxy.serve(port);
  try {
    const control = new KafkaProxyControl(`http://127.0.0.1:${port}`);
    assert.equal((await control.state()).mode, null);
    await control.set(mode({ share: 0.5 }));
    assert.equal((await control.state()).mode?.share, 0.5);
    await assert.rejects(
      () => control.set(mode({ apis: ["Metadata"], code: "NOT_LEADER_OR_FOLLOWER" })),
      /Metadata is never answered NOT_LEADER_OR_FOLLOWER/,
    );
    await assert.rejects(() => control.set(mode({ mode: "drop_answer", apis: ["Fetch"] })));
    assert.equal((await control.state()).mode?.share, 0.5); // the invalid ones changed nothing
    assert.equal((await control.clear()).mode, null);
  } finally {
    await proxy.close();
  }
});

Deno.test("error codes the proxy answers are Kafka's", () => {
  assert.deepEqual(ERROR_CODES, {
    LEADER_NOT_AVAILABLE: 5,
    NOT_LEADER_OR_FOLLOWER: 6,
    REQUEST_TIMED_OUT: 7,
    COORDINATOR_NOT_AVAILABLE: 15,
    NOT_ENOUGH_REPLICAS: 19,
  });
});

Deno.test("KafkaProxy forwards a version above its caps untouched, and counts it", async () => {
  await withProxy(async (proxy, broker, c) => {
    proxy.setMode(mode({}));
    await c.send(req(0, 9, 1)); // Produce v9 (flexible): not encoded
    const [answer] = await c.until(1);
    assert.deepEqual([...answer.f], [0, 0, 0, 1, 0xab, 0xcd]);
    assert.deepEqual(broker.seen, [1]);
    assert.deepEqual(proxy.counts[1].untouched, { Produce: 1 });
    assert.deepEqual(proxy.counts[1].errors, {});
  });
});
