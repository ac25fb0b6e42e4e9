/**
 * The local stack against real Kafka, MinIO, Redis and Toxiproxy: delivery,
 * fail-over after a leader SIGKILL, pause/resume, S3 objects, Redis locks and
 * Toxiproxy latency.
 */

import assert from "node:assert/strict";
import { gunzipSync, gzipSync } from "node:zlib";
import { Buffer } from "node:buffer";
import * as Minio from "minio";
import { Redis } from "ioredis";
import type { Admin, Kafka, Producer } from "kafkajs";
import { createTopicsAndWait, kafkaClient, topicPartitions } from "../pipeline/kafka.ts";
import { minioClientOptions } from "../pipeline/endpoints.ts";
import { kafkaBrokerIds } from "./probes.ts";
import { slow, testStack } from "./testing.ts";
import { waitFor } from "../lib/wait.ts";
import type { LocalStack } from "./local_stack.ts";

const uniq = () => `${Date.now().toString(36)}${Math.floor(Math.random() * 1e6).toString(36)}`;

async function createTopic(admin: Admin, topic: string, partitions: number) {
  await createTopicsAndWait(admin, {
    topics: [{ topic, numPartitions: partitions, replicationFactor: 3 }],
  });
}

/** Reads `topic` from the beginning until `expected` values are seen or `timeoutMs` passes. */
async function readAll(kafka: Kafka, topic: string, expected: number, timeoutMs = 60_000) {
  const consumer = kafka.consumer({ groupId: `read-${uniq()}` });
  const seen = new Map<string, number>();
  await consumer.connect();
  await consumer.subscribe({ topic, fromBeginning: true });
  let done!: () => void;
  const finished = new Promise<void>((resolve) => (done = resolve));
  await consumer.run({
    // deno-lint-ignore require-await
    eachBatch: async ({ batch }) => {
      for (const m of batch.messages) {
        const v = m.value!.toString();
        seen.set(v, (seen.get(v) ?? 0) + 1);
      }
      if (seen.size >= expected) done();
    },
  });
  await Promise.race([finished, new Promise((r) => setTimeout(r, timeoutMs))]);
  await consumer.disconnect();
  return seen;
}

async function leaderOf(admin: Admin, topic: string, partition = 0): Promise<number> {
  const partitions = await topicPartitions(admin, topic);
  return partitions.find((p) => p.partitionId === partition)!.leader;
}

async function timedSend(producer: Producer, topic: string): Promise<number> {
  const t0 = performance.now();
  await producer.send({ topic, acks: -1, messages: [{ value: "ping" }] });
  return performance.now() - t0;
}

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.floor(s.length / 2)];
}

Deno.test({ name: "local stack: real Kafka, MinIO, Redis and Toxiproxy", ...slow }, async (t) => {
  const { stack, release } = await testStack();
  const kafka = kafkaClient(stack.endpoints.kafka.bootstrap.split(","), "stack-test");
  const admin = kafka.admin();
  await admin.connect();
  try {
    await t.step("metadata lists 3 brokers through the proxies", async () => {
      assert.deepEqual(await kafkaBrokerIds(stack.endpoints.kafka.bootstrap.split(",")), [1, 2, 3]);
    });

    await t.step("50,000 messages with acks=all and idempotence are all read back", async () => {
      const topic = `roundtrip-${uniq()}`;
      await createTopic(admin, topic, 6);
      const producer = kafka.producer({ idempotent: true, maxInFlightRequests: 1 });
      await producer.connect();
      const total = 50_000;
      const batch = 1000;
      const sends: Promise<unknown>[] = [];
      for (let start = 0; start < total; start += batch) {
        const messages = Array.from({ length: batch }, (_, i) => ({
          key: String((start + i) % 97),
          value: String(start + i),
        }));
        sends.push(producer.send({ topic, acks: -1, messages }));
        if (sends.length >= 4) await Promise.all(sends.splice(0));
      }
      await Promise.all(sends);
      await producer.disconnect();
      const seen = await readAll(kafka, topic, total);
      assert.deepEqual(seen.size, total);
      for (let i = 0; i < total; i++) assert.ok(seen.has(String(i)), `message ${i} missing`);
    });

    await t.step(
      "SIGKILL of a partition leader: producing carries on, no ack is lost",
      async () => {
        await killLeaderWhileProducing(stack, kafka, admin);
      },
    );

    await t.step("pause fences a broker, resume brings it back", async () => {
      const node = stack.broker(3);
      await node.pause();
      assert.deepEqual(node.state(), "paused");
      const bootstrap = stack.endpoints.kafka.bootstrap.split(",").slice(0, 2);
      await waitFor(async () => !(await kafkaBrokerIds(bootstrap)).includes(3), {
        what: "the controller to fence paused broker 3",
        timeoutMs: 60_000,
        intervalMs: 500,
      });
      await node.resume();
      assert.deepEqual(node.state(), "running");
      await waitFor(async () => (await kafkaBrokerIds(bootstrap)).includes(3), {
        what: "broker 3 to come back",
        timeoutMs: 60_000,
        intervalMs: 500,
      });
    });

    await t.step("MinIO: put and get a gzip object", async () => {
      const client = new Minio.Client(minioClientOptions(stack.endpoints.s3));
      const key = `test/${uniq()}.ndjson.gz`;
      const body = Array.from({ length: 1000 }, (_, i) => JSON.stringify({ seq: i })).join("\n");
      const gz = gzipSync(Buffer.from(body));
      await client.putObject(stack.endpoints.s3.bucket, key, gz, gz.length, {
        "Content-Type": "application/x-ndjson",
        "Content-Encoding": "gzip",
      });
      const stream = await client.getObject(stack.endpoints.s3.bucket, key);
      const chunks: Uint8Array[] = [];
      for await (const chunk of stream) chunks.push(chunk as Uint8Array);
      assert.deepEqual(gunzipSync(Buffer.concat(chunks)).toString(), body);
      await client.removeObject(stack.endpoints.s3.bucket, key);
    });

    await t.step("Redis: SET NX PX takes a lock once", async () => {
      const redis = new Redis(stack.endpoints.redis.url, { lazyConnect: true });
      await redis.connect();
      try {
        const key = `lock:${uniq()}`;
        assert.deepEqual(await redis.set(key, "a", "PX", 5000, "NX"), "OK");
        assert.deepEqual(await redis.set(key, "b", "PX", 5000, "NX"), null);
        assert.deepEqual(await redis.get(key), "a");
        const ttl = await redis.pttl(key);
        assert.ok(ttl > 0 && ttl <= 5000, `pttl ${ttl}`);
      } finally {
        redis.disconnect();
      }
    });

    await t.step(
      "Toxiproxy: 200 ms latency raises produce round trips, removal restores",
      async () => {
        const topic = `latency-${uniq()}`;
        await createTopic(admin, topic, 1);
        const producer = kafka.producer({ idempotent: true, maxInFlightRequests: 1 });
        await producer.connect();
        try {
          const leader = await leaderOf(admin, topic);
          const proxy = stack.brokerProxies(leader).client;
          for (let i = 0; i < 5; i++) await timedSend(producer, topic); // warm up
          const sample = async () => {
            const xs: number[] = [];
            for (let i = 0; i < 15; i++) xs.push(await timedSend(producer, topic));
            return xs;
          };
          const before = median(await sample());
          await stack.toxiproxy.addToxic(proxy, {
            name: "latency",
            type: "latency",
            attributes: { latency: 200, jitter: 0 },
          });
          const withToxic = await sample();
          const during = median(withToxic);
          await stack.toxiproxy.removeToxic(proxy, "latency");
          const after = median(await sample());
          console.log(
            `produce rtt median: before ${before.toFixed(1)} ms, with 200 ms toxic ${
              during.toFixed(1)
            } ms, after ${after.toFixed(1)} ms`,
          );
          // Every round trip carries the full 200 ms; the medians differ by it, give or take
          // the few ms of noise in the acks=all replication wait of the baseline.
          assert.ok(
            Math.min(...withToxic) >= 200,
            `a round trip took ${Math.min(...withToxic)} ms`,
          );
          assert.ok(during - before >= 190, `round trip rose by ${during - before} ms only`);
          assert.ok(after < before + 100, `round trip did not come back: ${after} ms`);
        } finally {
          await producer.disconnect();
        }
      },
    );
  } finally {
    await admin.disconnect();
    await release();
  }
});

async function killLeaderWhileProducing(stack: LocalStack, kafka: Kafka, admin: Admin) {
  const topic = `failover-${uniq()}`;
  await createTopic(admin, topic, 1);
  const leader = await leaderOf(admin, topic);
  const producer = kafka.producer({
    idempotent: true,
    maxInFlightRequests: 1,
    retry: { initialRetryTime: 100, maxRetryTime: 1000, retries: 60 },
  });
  await producer.connect();
  const acked = new Set<string>();
  let failed = 0;
  let next = 0;
  let killedAt = -1;
  const started = performance.now();
  while (performance.now() - started < 40_000) {
    const values = Array.from({ length: 50 }, () => String(next++));
    try {
      await producer.send({ topic, acks: -1, messages: values.map((value) => ({ value })) });
      for (const v of values) acked.add(v);
    } catch {
      failed += values.length; // unknown outcome: may or may not be in the log
    }
    if (killedAt < 0 && acked.size >= 2000) {
      await stack.broker(leader).kill();
      killedAt = next;
    }
    if (killedAt >= 0 && next - killedAt >= 3000) break;
  }
  await producer.disconnect();
  const newLeader = await leaderOf(admin, topic);
  const afterKill = [...acked].filter((v) => Number(v) >= killedAt).length;
  console.log(
    `killed leader ${leader} at seq ${killedAt}; new leader ${newLeader}; ` +
      `acked ${acked.size}, unknown ${failed}, acked after kill ${afterKill}`,
  );
  assert.ok(killedAt > 0, "the leader was never killed");
  assert.ok(newLeader !== leader, `leader did not move from ${leader}`);
  assert.ok(afterKill > 0, "the producer did not carry on after the fail-over");
  await stack.broker(leader).start();
  const seen = await readAll(kafka, topic, acked.size);
  const lost = [...acked].filter((v) => !seen.has(v));
  assert.deepEqual(lost.length, 0, `lost acknowledged messages: ${lost.slice(0, 10).join(", ")}`);
}
