/**
 * The detector's path after its watermark, without a stack: a fake Kafka
 * consumer feeds batches, a fake Redis takes locks, the harness's webhook
 * receiver takes the deliveries. A batch that moves the watermark past a
 * window's end fires it at once (not at the next timer tick), and each
 * delivery carries the alert's timeline.
 */

import assert from "node:assert/strict";
import { Buffer } from "node:buffer";
import type { Redis } from "ioredis";
import type { Kafka } from "kafkajs";
import { waitFor } from "../lib/wait.ts";
import type { Alert } from "./alert.ts";
import { Detector } from "./detector.ts";
import type { TelemetryEvent } from "./event.ts";
import { WebhookReceiver } from "./webhook_receiver.ts";

// deno-lint-ignore no-explicit-any
type EachBatch = (payload: any) => Promise<void>;

/** A consumer that runs nothing by itself: the test calls `eachBatch`. */
function fakeKafka() {
  let eachBatch: EachBatch | undefined;
  const consumer = {
    events: { GROUP_JOIN: "group_join", CRASH: "crash" },
    on: () => () => {},
    connect: () => Promise.resolve(),
    subscribe: () => Promise.resolve(),
    run: (config: { eachBatch: EachBatch }) => {
      eachBatch = config.eachBatch;
      return Promise.resolve();
    },
    disconnect: () => Promise.resolve(),
    commitOffsets: () => Promise.resolve(),
  };
  let offset = 0;
  const send = (partition: number, events: TelemetryEvent[]) =>
    eachBatch!({
      batch: {
        partition,
        messages: events.map((e) => ({ value: Buffer.from(JSON.stringify(e)) })),
        lastOffset: () => String(offset += events.length),
      },
    });
  return { kafka: { consumer: () => consumer } as unknown as Kafka, send };
}

/** The lock-and-outbox script, in memory. */
function fakeRedis() {
  const locks = new Set<string>();
  return {
    on: () => {},
    connect: () => Promise.resolve(),
    disconnect: () => {},
    eval: (_script: string, _n: number, lock: string) => {
      if (locks.has(lock)) return Promise.resolve(0);
      locks.add(lock);
      return Promise.resolve(1);
    },
    hgetall: () => Promise.resolve({}),
    hdel: () => Promise.resolve(1),
  } as unknown as Redis;
}

let seq = 0;
function event(ts: number, src: string, bytes: number): TelemetryEvent {
  return {
    producer_id: "t-w0",
    seq: seq++,
    ts_ms: ts,
    src_ip: src,
    dst_ip: "10.0.0.2",
    src_port: 40000,
    dst_port: 443,
    protocol: "TCP",
    bytes_out: bytes,
    bytes_in: 0,
    packets: 1,
    latency_ms: 1,
    tcp_flags: "ACK",
    http_status: null,
    action: "ACCEPT",
    flow_direction: "egress",
    account_id: "123456789012",
    vpc_id: "vpc-1",
    interface_id: "eni-1",
    region: "eu-west-1",
  };
}

Deno.test("detector: a window fires as its watermark passes, its steps in the delivery", async () => {
  const receiver = new WebhookReceiver({});
  const { kafka, send } = fakeKafka();
  const detector = new Detector({
    brokers: [],
    redisUrl: "redis://unused",
    webhookUrl: receiver.url,
    kafka,
    redis: fakeRedis(),
    earlyAlerts: false,
    windows: { sizeMs: 2000, slideMs: 1000, outOfOrderMs: 100, idleMs: 60_000 },
    thresholds: { exfilBytes: 1000 },
  });
  try {
    await detector.start();
    const t0 = Math.floor(Date.now() / 1000) * 1000 - 60_000; // old event time: no wall-clock wait
    await send(0, [event(t0 + 500, "10.64.0.9", 5000)]);
    await send(0, [event(t0 + 900, "10.1.1.1", 1)]); // watermark t0 + 800
    assert.equal(receiver.deliveries().length, 0, "no window has closed");
    // The watermark passes t0 + 1000, the end of the first window holding the event,
    // [t0 - 1000, t0 + 1000): it fires within this batch.
    const passed = Date.now();
    await send(0, [event(t0 + 1100, "10.1.1.1", 1)]);
    await waitFor(() => receiver.deliveries().length > 0, {
      what: "a delivery",
      timeoutMs: 5000,
      intervalMs: 10,
    });
    const a = receiver.deliveries()[0].body as Alert;
    assert.equal(a.rule, "exfil");
    assert.equal(a.window_start_ms, t0 - 1000);
    assert.equal(a.early, false);
    assert.ok(a.watermark_passed_at_ms! >= passed, "the watermark passed with the last batch");
    assert.ok(
      a.fired_at_ms - a.watermark_passed_at_ms! < 100,
      `fired ${a.fired_at_ms - a.watermark_passed_at_ms!} ms after the watermark: not at once`,
    );
    assert.ok(a.locked_at_ms! >= a.fired_at_ms);
    assert.equal(a.attempt, 1);
    assert.ok(a.attempt_at_ms! >= a.locked_at_ms!);
    assert.equal(a.attempts, undefined, "a first attempt has no earlier one");
  } finally {
    await detector.stop();
    await receiver.stop();
  }
});
