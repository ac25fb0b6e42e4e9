/**
 * A worker of the scale bench (bench_scale.ts): tables its share of the
 * synthetic topic's partitions (_scale_source.ts) as the audit's workers table
 * theirs (_audit_worker.ts: parse, schema, both digests, written straight into
 * the table's shared columns), and answers what it wrote; or an error.
 * @module
 */

/// <reference lib="deno.worker" />

import type { PartitionRange } from "./_audit_read.ts";
import type { AuditReply } from "./_audit_worker.ts";
import { type ScaleShape, ScaleSource } from "./_scale_source.ts";
import { type TableSlab, TopicTableBuilder } from "./topic_table.ts";

export interface ScaleRequest {
  shape: ScaleShape;
  key: Uint8Array;
  partitions: PartitionRange[];
  slab: TableSlab;
}

self.onmessage = (e: MessageEvent<ScaleRequest>) => {
  try {
    const { shape, key, partitions, slab } = e.data;
    const source = new ScaleSource(shape);
    const builder = new TopicTableBuilder(key, slab);
    const encoder = new TextEncoder();
    let records = 0;
    for (const { partition: p, low, high } of partitions) {
      // As bytes, as the audit's records come from Kafka.
      for (let o = low; o < high; o++) builder.add(p, o, encoder.encode(source.line(p, o)));
      records += high - low;
    }
    self.postMessage({ report: builder.slabReport(), records } satisfies AuditReply);
  } catch (error) {
    const message = error instanceof Error ? `${error.name}: ${error.message}` : String(error);
    self.postMessage({ error: message } satisfies AuditReply);
  }
};
