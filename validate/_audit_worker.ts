/**
 * A worker of the parallel audit (kafka_audit.ts): reads and tables its share
 * of a topic's partitions with a Kafka client of its own (record batches
 * decoded, events parsed and digested on this thread), writing the records
 * straight into the table's shared columns (topic_table.ts `TableSlab`) and
 * answering what it wrote (`SlabReport`); without a slab (a topic too sparse
 * for one) it sends its columns back as a shard, buffers transferred, not
 * copied. Or an error naming where a partition stopped.
 * @module
 */

/// <reference lib="deno.worker" />

import type { KafkaSecurity } from "../pipeline/kafka_security.ts";
import { auditConsumer, type PartitionRange, readPartition } from "./_audit_read.ts";
import {
  shardBuffers,
  type SlabReport,
  type TableShard,
  type TableSlab,
  TopicTableBuilder,
} from "./topic_table.ts";

export interface AuditRequest {
  brokers: string[];
  topic: string;
  security: KafkaSecurity;
  key: Uint8Array;
  partitions: PartitionRange[];
  /** The table's shared columns (shared, not copied); none: the records come back as a shard. */
  slab?: TableSlab;
  /** Wall-clock ms (`Date.now()`). */
  deadline: number;
}

export interface AuditReply {
  report?: SlabReport;
  shard?: TableShard;
  records?: number;
  /** When this worker began reading, its modules loaded (epoch ms, fractional). */
  began?: number;
  error?: string;
}

self.onmessage = async (e: MessageEvent<AuditRequest>) => {
  const { brokers, topic, security, key, partitions, slab, deadline } = e.data;
  const began = performance.timeOrigin + performance.now();
  try {
    const builder = new TopicTableBuilder(key, slab);
    const consumer = auditConsumer(brokers, security);
    let records = 0;
    try {
      // Its partitions read side by side, as the one-thread audit reads them all.
      const counts = await Promise.all(
        partitions.map((range) => readPartition(consumer, topic, range, builder, { deadline })),
      );
      records = counts.reduce((s, c) => s + c, 0);
    } finally {
      await consumer.close().catch(() => {});
    }
    if (slab) {
      self.postMessage({ report: builder.slabReport(), records, began } satisfies AuditReply);
    } else {
      const shard = builder.shard();
      self.postMessage({ shard, records, began } satisfies AuditReply, shardBuffers(shard));
    }
  } catch (error) {
    const message = error instanceof Error ? `${error.name}: ${error.message}` : String(error);
    self.postMessage({ error: message } satisfies AuditReply);
  }
};
