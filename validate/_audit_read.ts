/**
 * Reading one partition of a topic for the audit (kafka_audit.ts), on the
 * coordinator's thread or on a worker's (_audit_worker.ts): plain Fetch
 * requests to the partition's leader (`@platformatic/kafka`), from its log
 * start to the high watermark seen at the audit's start, each record tabled as
 * it is decoded. A leader that moved or a fetch that failed is retried on fresh
 * metadata until the deadline; a partition that stops advancing is an
 * `AuditReadError` naming where it stopped, never a table with a hole.
 *
 * ```ts
 * import { auditConsumer, readPartition } from "./_audit_read.ts";
 * import { TopicTableBuilder } from "./topic_table.ts";
 * const consumer = auditConsumer(["127.0.0.1:29111"], {});
 * const builder = new TopicTableBuilder();
 * await readPartition(consumer, "t", { partition: 0, low: 0, high: 10 }, builder, {
 *   deadline: Date.now() + 60_000,
 * });
 * ```
 * @module
 */

import { Consumer } from "@platformatic/kafka";
import { type KafkaSecurity, platformaticSecurity } from "../pipeline/kafka_security.ts";
import { quietConnectionErrors } from "../pipeline/quiet_connections.ts";
import { sleep } from "../lib/wait.ts";
import { sessionOf, type TopicTableBuilder } from "./topic_table.ts";
import { leanFetch, LeanRecords, walkBatches } from "./_audit_fetch.ts";

/** A record batch as the client decodes it (Fetch versions the lean parser does not read). */
interface FetchedBatch {
  firstOffset: bigint;
  lastOffsetDelta: number;
  producerId: bigint;
  producerEpoch: number;
  records: { offsetDelta: number; value: Uint8Array | null }[];
}

/** A partition the audit did not read to its end before the deadline. */
export class AuditReadError extends Error {
  override name = "AuditReadError";
}

/** Bytes asked of one partition per fetch, and of a whole response. */
const PARTITION_BYTES = 4 << 20;
const RESPONSE_BYTES = 8 << 20;

/** A partition to read: its log start and the high watermark read at the audit's start. */
export interface PartitionRange {
  partition: number;
  low: number;
  high: number;
}

/**
 * A consumer that joins no group (fetches need none), its Fetch answers' records kept as
 * bytes and walked in place (_audit_fetch.ts); `lean` false: decoded by the client (the
 * reference the lean Fetch is tested against).
 */
export function auditConsumer(
  brokers: readonly string[],
  security: KafkaSecurity,
  lean = true,
): Consumer {
  // A broker killed while it authenticates a connection: the client emits the failure again
  // with no listener left, thrown as an Uncaught Error on stderr (quiet_connections.ts).
  const consumer = quietConnectionErrors(
    new Consumer({
      groupId: `audit-${crypto.randomUUID()}`, // never joined
      clientId: "audit",
      bootstrapBrokers: [...brokers],
      retries: 5,
      retryDelay: 250,
      ...platformaticSecurity(security),
    }),
  );
  return lean ? leanFetch(consumer) : consumer;
}

/**
 * Reads `range` into `builder`; returns the records tabled. `deadline`: wall-clock ms
 * (`Date.now()`, the same on every thread).
 */
export async function readPartition(
  consumer: Consumer,
  topic: string,
  range: PartitionRange,
  builder: TopicTableBuilder,
  options: { deadline: number },
): Promise<number> {
  const { partition: p, high: end } = range;
  let next = range.low;
  let fresh = false;
  let lastError = "";
  let records = 0;
  while (next < end) {
    if (Date.now() > options.deadline) {
      throw new AuditReadError(
        `audit of ${topic} timed out: partition ${p} read up to offset ${next} of ${end}` +
          (lastError ? ` (last error: ${lastError})` : ""),
      );
    }
    let batches: unknown;
    try {
      const meta = await consumer.metadata({ topics: [topic], forceUpdate: fresh });
      const t = meta.topics.get(topic);
      if (!t) throw new Error(`the audit found no topic ${topic}`);
      const leader = t.partitions[p]?.leader ?? -1;
      if (leader < 0) throw new Error(`partition ${p} has no leader`);
      const res = await consumer.fetch({
        node: leader,
        maxBytes: RESPONSE_BYTES,
        topics: [{
          topicId: t.id,
          partitions: [{
            partition: p,
            currentLeaderEpoch: -1,
            fetchOffset: BigInt(next),
            lastFetchedEpoch: -1,
            partitionMaxBytes: PARTITION_BYTES,
          }],
        }],
      });
      const part = res.responses[0]?.partitions.find((x) => x.partitionIndex === p);
      if (!part) throw new Error(`no answer for partition ${p}`);
      if (part.errorCode !== 0) throw new Error(`error code ${part.errorCode}`);
      batches = (part.records as unknown) ?? [];
    } catch (error) {
      // A moved leader, a broker restarting: asked again on fresh metadata.
      lastError = (error as Error).message;
      fresh = true;
      await sleep(250);
      continue;
    }
    fresh = false;
    const before = next;
    if (batches instanceof LeanRecords) {
      const sink = (offset: number, buf: Uint8Array, start: number, stop: number, s: number) => {
        builder.addBytes(p, offset, buf, start, stop, s);
        records++;
      };
      next = walkBatches(batches.bytes, next, end, sink, `${topic} partition ${p}`);
    } else {for (const batch of batches as FetchedBatch[]) {
        const first = Number(batch.firstOffset);
        const session = sessionOf(batch.producerId, batch.producerEpoch);
        for (const r of batch.records) {
          const offset = first + r.offsetDelta;
          if (offset < next || offset >= end) continue;
          builder.add(p, offset, r.value, session);
          records++;
        }
        next = Math.max(next, first + batch.lastOffsetDelta + 1);
      }}
    if (next === before) await sleep(100); // nothing new yet: asked again, until the deadline
  }
  return records;
}
