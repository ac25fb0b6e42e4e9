/**
 * The Kafka audit: reads a topic end to end (a fresh consumer group, from the
 * beginning up to the high watermarks seen at the start) and collects the
 * (producer_id, seq) pairs in it. Compared with the ledger and the store, it
 * tells "acknowledged but never in Kafka" from "in Kafka but lost by the sink".
 *
 * ```ts
 * import { auditTopic } from "./kafka_audit.ts";
 * const inKafka = await auditTopic(kafka, "network-telemetry");
 * inKafka.get("r1-w0")?.size;
 * ```
 * @module
 */

import type { Kafka } from "kafkajs";
import type { RangeSet } from "../pipeline/range_set.ts";
import { eventIdentity, Seqs } from "./store_scan.ts";

export interface KafkaAudit {
  seqs: Map<string, RangeSet>;
  /** Seqs in the topic more than once (a producer's retries without idempotence), with extra copies. */
  duplicates: Map<string, Map<number, number>>;
  records: number;
  unreadable: number;
}

export async function auditTopic(
  kafka: Kafka,
  topic: string,
  options: { timeoutMs?: number } = {},
): Promise<KafkaAudit> {
  const admin = kafka.admin();
  await admin.connect();
  const highs = new Map<number, number>();
  try {
    for (const p of await admin.fetchTopicOffsets(topic)) highs.set(p.partition, Number(p.high));
  } finally {
    await admin.disconnect();
  }
  const audit: KafkaAudit = { seqs: new Map(), duplicates: new Map(), records: 0, unreadable: 0 };
  // Gathered in typed arrays and sorted once (see store_scan.ts): a producer's seqs are
  // scattered over every partition.
  const gathered = new Map<string, Seqs>();
  const remaining = new Set([...highs].filter(([, h]) => h > 0).map(([p]) => p));
  if (remaining.size === 0) return audit;
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
        if (Number(m.offset) >= high) break;
        const { producer_id, seq } = eventIdentity(m.value?.toString() ?? "");
        audit.records++;
        if (producer_id === undefined || seq === undefined) {
          audit.unreadable++;
          continue;
        }
        let seqs = gathered.get(producer_id);
        if (!seqs) gathered.set(producer_id, seqs = new Seqs());
        seqs.push(seq);
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
  for (const [producer, seqs] of gathered) {
    const found = seqs.found();
    audit.seqs.set(producer, found.seqs);
    if (found.duplicates.size) audit.duplicates.set(producer, found.duplicates);
  }
  return audit;
}
