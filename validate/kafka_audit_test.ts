/**
 * The audit against real Kafka: every record of every partition tabled in its
 * place (valid events, a malformed record, an empty value), the same table
 * read on three workers and on one thread, the same table read through the
 * lean Fetch and through the client's decoder (gzip batches, keys and headers
 * among them), and the same table when the leader of a partition is killed in
 * the middle of the read.
 */

import assert from "node:assert/strict";
import { heal, slow, testStack } from "../compose/testing.ts";
import { createTopicsAndWait, kafkaClient, topicPartitions } from "../pipeline/kafka.ts";
import { randomAuditKey } from "./digest.ts";
import { auditTopic } from "./kafka_audit.ts";
import { auditConsumer, readPartition } from "./_audit_read.ts";
import { MALFORMED, TopicTableBuilder, VALID } from "./topic_table.ts";
import { securityFor } from "../pipeline/kafka_security.ts";
import { CompressionTypes } from "kafkajs";
import { Rng } from "../pipeline/rng.ts";
import { baselineFlow } from "../pipeline/traffic.ts";

Deno.test(
  { name: "audit: every record in its place, also across a leader's death", ...slow },
  async () => {
    const { stack, release } = await testStack();
    const brokers = stack.endpoints.kafka.bootstrap.split(",");
    const kafka = kafkaClient(brokers, "audit-test");
    const admin = kafka.admin();
    await admin.connect();
    const topic = `audit-${Date.now().toString(36)}`;
    try {
      await createTopicsAndWait(admin, {
        topics: [{ topic, numPartitions: 3, replicationFactor: 3 }],
      });
      const producer = kafka.producer({ idempotent: true, maxInFlightRequests: 1 });
      await producer.connect();
      const rng = new Rng("audit-test");
      const event = (seq: number) =>
        JSON.stringify({
          producer_id: "audit-w0",
          seq,
          ts_ms: 1_700_000_000_000,
          ...baselineFlow(rng),
        });
      const N = 30_000;
      for (let lo = 0; lo < N; lo += 1000) {
        await producer.send({
          topic,
          acks: -1,
          messages: Array.from({ length: 1000 }, (_, i) => ({
            partition: (lo + i) % 3,
            value: lo + i === 7 ? '{"producer_id":"audit-w0","seq":7,' : event(lo + i),
          })),
        });
      }
      await producer.send({ topic, acks: -1, messages: [{ partition: 0, value: null }] });
      // Compressed batches, keys and headers: the lean Fetch hands these to the client's decoder.
      const C = 600;
      await producer.send({
        topic,
        acks: -1,
        compression: CompressionTypes.GZIP,
        messages: Array.from({ length: C }, (_, i) => ({
          partition: i % 3,
          key: i % 2 ? `k${i}` : null,
          headers: i % 3 ? { h: `v${i}` } : undefined,
          value: event(N + i),
        })),
      });
      await producer.send({
        topic,
        acks: -1,
        messages: [{ partition: 1, key: "k", headers: { a: "1", b: "2" }, value: event(N + C) }],
      });
      await producer.disconnect();

      const key = randomAuditKey();
      const a = await auditTopic(brokers, topic, { key, workers: 3 });
      const M = N + 1 + C + 1;
      assert.equal(a.workers, 3);
      // The start before the first record (the workers' modules) is part of the audit's time.
      assert.ok(a.startup_ms! > 0 && a.startup_ms! < a.took_ms, `startup ${a.startup_ms} ms`);
      assert.equal(a.records, M);
      // One thread makes the very same table (same key): every column, byte for byte.
      const serial = await auditTopic(brokers, topic, { key, workers: 1 });
      assert.equal(serial.workers, 1);
      assert.ok(serial.startup_ms! >= 0 && serial.startup_ms! <= serial.took_ms);
      assert.deepEqual(
        serial.table.data,
        a.table.data,
        "the parallel audit's table is the serial one's",
      );
      assert.equal(a.table.size, M);
      // The client's own decoder makes the very same table (every batch, compressed or not).
      const reference = new TopicTableBuilder(key);
      const plain = auditConsumer(brokers, securityFor(brokers), false);
      try {
        for (const p of [0, 1, 2]) {
          const b = a.table.bounds(p)!;
          reference.setBounds(p, b.low, b.high);
          await readPartition(plain, topic, { partition: p, low: b.low, high: b.high }, reference, {
            deadline: Date.now() + 60_000,
          });
        }
      } finally {
        await plain.close();
      }
      assert.deepEqual(reference.finish().data, a.table.data, "the lean Fetch reads as the client");
      const d = a.table.data;
      const kinds = { valid: 0, malformed: 0 };
      for (let r = 0; r < a.table.size; r++) {
        if (d.kind[r] === VALID) kinds.valid++;
        if (d.kind[r] === MALFORMED) kinds.malformed++;
      }
      assert.deepEqual(
        kinds,
        { valid: N - 1 + C + 1, malformed: 2 },
        "the truncated one and the empty one",
      );
      for (const p of [0, 1, 2]) assert.notEqual(a.table.at(p, 0), -1);

      // The leader of partition 0 dies while the audit reads: the audit waits for a new one.
      const leader = (await topicPartitions(admin, topic))[0].leader;
      const audit = auditTopic(brokers, topic);
      await stack.broker(leader).kill();
      const b = await audit;
      assert.equal(b.table.size, M, `after the death of broker ${leader}`);
      console.log(
        `audit: ${a.took_ms} ms on ${a.workers} workers, ${serial.took_ms} ms on one thread; ` +
          `${b.took_ms} ms (${b.workers} workers) with broker ${leader} killed`,
      );
    } finally {
      await admin.disconnect().catch(() => {});
      await heal(stack);
      await release();
    }
  },
);
