/**
 * The Kafka audit: reads a topic end to end (a fresh consumer group, from the
 * log start up to the high watermarks seen at the start) into a topic table
 * (topic_table.ts): every record's place, identity, validity and digests. The
 * topic is the ground truth for the sink; compared with the ledger, it also
 * tells "acknowledged but never in Kafka".
 *
 * ```ts
 * import { auditTopic } from "./kafka_audit.ts";
 * const { table } = await auditTopic(kafka, "network-telemetry");
 * table.size; // records in the topic
 * ```
 * @module
 */

import type { Kafka } from "kafkajs";
import { newSeed } from "./digest.ts";
import { type TopicTable, TopicTableBuilder } from "./topic_table.ts";

export interface KafkaAudit {
  table: TopicTable;
  records: number;
  /** How long reading and tabling took. */
  took_ms: number;
}

export async function auditTopic(
  kafka: Kafka,
  topic: string,
  options: { timeoutMs?: number; seed?: number } = {},
): Promise<KafkaAudit> {
  const t0 = performance.now();
  const builder = new TopicTableBuilder(options.seed ?? newSeed());
  const admin = kafka.admin();
  await admin.connect();
  const highs = new Map<number, number>();
  try {
    for (const p of await admin.fetchTopicOffsets(topic)) {
      highs.set(p.partition, Number(p.high));
      builder.setBounds(p.partition, Number(p.low), Number(p.high));
    }
  } finally {
    await admin.disconnect();
  }
  let records = 0;
  const remaining = new Set([...highs].filter(([, h]) => h > 0).map(([p]) => p));
  if (remaining.size > 0) {
    const consumer = kafka.consumer({
      groupId: `audit-${crypto.randomUUID()}`,
      maxBytesPerPartition: 4 << 20,
    });
    await consumer.connect();
    await consumer.subscribe({ topic, fromBeginning: true });
    const done = Promise.withResolvers<void>();
    await consumer.run({
      partitionsConsumedConcurrently: 8,
      // deno-lint-ignore require-await
      eachBatch: async ({ batch }) => {
        const high = highs.get(batch.partition) ?? 0;
        for (const m of batch.messages) {
          const offset = Number(m.offset);
          if (offset >= high) break;
          builder.add(batch.partition, offset, m.value ?? null);
          records++;
        }
        if (Number(batch.lastOffset()) >= high - 1) {
          remaining.delete(batch.partition);
          if (remaining.size === 0) done.resolve();
        }
      },
    });
    const timer = setTimeout(
      () =>
        done.reject(
          new Error(`audit of ${topic} timed out with ${remaining.size} partitions unread`),
        ),
      options.timeoutMs ?? 300_000,
    );
    try {
      await done.promise;
    } finally {
      clearTimeout(timer);
      await consumer.disconnect();
    }
  }
  const table = builder.finish();
  return { table, records, took_ms: Math.round(performance.now() - t0) };
}
