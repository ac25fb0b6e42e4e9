/**
 * The Kafka audit: reads a topic end to end (every partition from its log
 * start up to the high watermark seen at the start) into a topic table
 * (topic_table.ts): every record's place, identity, validity and digests. The
 * topic is the ground truth for the sink; compared with the ledger, it also
 * tells "acknowledged but never in Kafka".
 *
 * It reads with plain Fetch requests to each partition's leader
 * (`@platformatic/kafka`, _audit_read.ts), no consumer group: no group to join
 * or leave; the answers' record batches are walked in place, no object per
 * record (_audit_fetch.ts), and an event in the generator's layout is checked
 * and digested from its bytes (_canonical_bytes.ts). Tabling a record still
 * costs about 2 µs of CPU (4 µs through `JSON.parse`), so the partitions are
 * read on every core: one worker per core
 * (`navigator.hardwareConcurrency`, at most one per partition), each with a
 * Kafka client of its own, reading, decoding and tabling its share of the
 * partitions and handing its columns back without a copy (_audit_worker.ts);
 * the table they make is the one a single thread makes (`workers: 1`). A
 * leader that moved or a fetch that failed is retried on fresh metadata until
 * `timeoutMs`; a partition that stops advancing is an error naming where it
 * stopped, never a table with a hole; a worker that fails or falls silent fails
 * the audit (`AuditWorkerError`), never hangs it.
 *
 * The records' digests are keyed with the run's audit key (digest.ts
 * `auditKey`, from the harness's key and the run's id), which the run folder
 * never holds; without one (a table kept in memory only) the key is random.
 *
 * ```ts
 * import { auditTopic } from "./kafka_audit.ts";
 * const { table } = await auditTopic(["127.0.0.1:29111"], "network-telemetry");
 * table.size; // records in the topic
 * ```
 * @module
 */

import { type KafkaSecurity, securityFor } from "../pipeline/kafka_security.ts";
import { waitFor } from "../lib/wait.ts";
import { randomAuditKey } from "./digest.ts";
import { auditConsumer, type PartitionRange, readPartition } from "./_audit_read.ts";
import type { AuditReply, AuditRequest } from "./_audit_worker.ts";
import {
  type SlabReport,
  type TableShard,
  tableSlab,
  type TopicTable,
  TopicTableBuilder,
} from "./topic_table.ts";

export { AuditReadError } from "./_audit_read.ts";

export interface KafkaAudit {
  table: TopicTable;
  records: number;
  /** How long reading and tabling took. */
  took_ms: number;
  /**
   * Of `took_ms`, the start before any record was read: the offsets asked, and with workers
   * their start (a thread each, its Kafka client's modules loaded) until the first began.
   */
  startup_ms?: number;
  /** Threads that read and tabled (1: this one). */
  workers: number;
}

/** A worker of the parallel audit that failed, or gave no answer in time. */
export class AuditWorkerError extends Error {
  override name = "AuditWorkerError";
}

/** The audit's budget: 5 minutes, plus 20 µs per offset (50,000 records/s at the least). */
const DEFAULT_TIMEOUT_MS = 300_000;
const MS_PER_RECORD = 0.02;
/** Below this many offsets the audit reads on this thread unless told otherwise. */
const PARALLEL_MIN_RECORDS = 200_000;

export interface AuditOptions {
  /**
   * Wall-clock budget of the whole audit; default 300,000 ms plus 0.02 ms per offset to read
   * (an hour's soak of 36 million events: 17 minutes at most).
   */
  timeoutMs?: number;
  /** The audit key (digest.ts `auditKey`); default random. */
  key?: Uint8Array;
  /**
   * Threads that read and table; default one per core, at most one per partition (one below
   * 200,000 offsets: a worker's start costs more than it saves).
   */
  workers?: number;
  /** Kafka's security; default the brokers' (`securityFor`: their stack's, or the environment's). */
  security?: KafkaSecurity;
}

export async function auditTopic(
  brokers: readonly string[],
  topic: string,
  options: AuditOptions = {},
): Promise<KafkaAudit> {
  const t0 = performance.now();
  const started = Date.now();
  let reading = t0;
  let deadline = started + (options.timeoutMs ?? DEFAULT_TIMEOUT_MS);
  const key = options.key ?? randomAuditKey();
  const security = options.security ?? securityFor(brokers);
  const consumer = auditConsumer(brokers, security);
  let ranges: PartitionRange[];
  let workers = 1;
  let builder: TopicTableBuilder;
  let records = 0;
  try {
    // A broker restarting when the audit starts: asked again until the deadline.
    const [lows, highs] = await waitFor(() =>
      Promise.all([
        consumer.listOffsets({ topics: [topic], timestamp: -2n }),
        consumer.listOffsets({ topics: [topic] }),
      ]), {
      what: `the offsets of ${topic} for the audit`,
      timeoutMs: Math.max(1000, deadline - Date.now()),
      intervalMs: 500,
    });
    const low = lows.get(topic) ?? [];
    ranges = (highs.get(topic) ?? []).map((h, p) => ({
      partition: p,
      low: Number(low[p] ?? 0n),
      high: Number(h),
    }));
    const offsets = ranges.reduce((s, r) => s + r.high - r.low, 0);
    // A long run's topic is given time by its size (a stuck partition still ends it).
    if (options.timeoutMs === undefined) {
      deadline = started + DEFAULT_TIMEOUT_MS + offsets * MS_PER_RECORD;
    }
    // The table's columns allocated once, for every offset seen (the workers write into them).
    const slab = tableSlab(ranges);
    builder = new TopicTableBuilder(key, slab);
    if (!slab) { for (const r of ranges) builder.setBounds(r.partition, r.low, r.high); }
    // A small topic is read here: a worker's start (about a second: its own Kafka client's
    // modules) would cost more than it saves.
    workers = options.workers === undefined && offsets < PARALLEL_MIN_RECORDS
      ? 1
      : workerCount(options.workers, ranges.length);
    if (workers === 1) {
      reading = performance.now();
      const counts = await Promise.all(
        ranges.map((r) => readPartition(consumer, topic, r, builder, { deadline })),
      );
      records = counts.reduce((s, c) => s + c, 0);
    }
  } finally {
    await consumer.close().catch(() => {});
  }
  if (workers > 1) {
    const slab = builder.slab;
    const groups = partitionGroups(ranges, workers);
    workers = groups.length;
    const replies = await inWorkers(groups, (partitions) => ({
      brokers: [...brokers],
      topic,
      security,
      key,
      partitions,
      ...(slab ? { slab } : {}),
      deadline,
    }), { deadline });
    const firstBegan = Math.min(...replies.map((r) => r.began ?? Infinity));
    reading = Number.isFinite(firstBegan) ? firstBegan - performance.timeOrigin : t0;
    for (const reply of replies) {
      if (reply.report) builder.adopt(reply.report);
      else builder.absorb(reply.shard!);
      records += reply.records;
    }
  }
  const table = builder.finish();
  return {
    table,
    records,
    took_ms: Math.round(performance.now() - t0),
    startup_ms: Math.max(0, Math.round(reading - t0)),
    workers,
  };
}

/** Threads for `partitions` partitions: as asked, else one per core; never more than partitions. */
export function workerCount(asked: number | undefined, partitions: number): number {
  if (asked !== undefined && (!Number.isSafeInteger(asked) || asked < 1)) {
    throw new RangeError(`the audit's workers must be a whole number ≥ 1, got ${asked}`);
  }
  const n = asked ?? (navigator.hardwareConcurrency || 1);
  return Math.max(1, Math.min(n, partitions));
}

/**
 * Partitions dealt to `n` groups, largest first onto the least loaded (records to read:
 * `high - low`), so that no worker gets two big partitions while another idles.
 */
export function partitionGroups(ranges: readonly PartitionRange[], n: number): PartitionRange[][] {
  const groups = Array.from({ length: n }, () => ({ load: 0, ranges: [] as PartitionRange[] }));
  const bySize = [...ranges].sort((a, b) => (b.high - b.low) - (a.high - a.low));
  for (const r of bySize) {
    const g = groups.reduce((min, x) => x.load < min.load ? x : min);
    g.ranges.push(r);
    g.load += r.high - r.low;
  }
  return groups.filter((g) => g.ranges.length > 0).map((g) =>
    g.ranges.sort((a, b) => a.partition - b.partition)
  );
}

/** What a worker must send back, checked before it is trusted. */
type Answer = { report?: SlabReport; shard?: TableShard; records: number; began?: number };

export interface WorkerOptions {
  /** The audit's deadline, wall-clock ms (`Date.now()`). */
  deadline: number;
  /** How long past the deadline a silent worker is waited for; default 15,000 ms. */
  graceMs?: number;
  /**
   * The worker module; default _audit_worker.ts (the scale bench tables synthetic partitions
   * with _scale_worker.ts; a test substitutes a failing one). It answers an `AuditReply`.
   */
  workerUrl?: URL | string;
}

/**
 * Runs one audit worker per group; resolves with their shards, or rejects at the first
 * failure (the others terminated) or when one is still silent `graceMs` past the deadline.
 */
export function inWorkers<R = AuditRequest>(
  groups: readonly PartitionRange[][],
  request: (partitions: PartitionRange[]) => R,
  options: WorkerOptions,
): Promise<Answer[]> {
  const { deadline, graceMs = 15_000 } = options;
  const workerUrl = options.workerUrl ?? new URL("./_audit_worker.ts", import.meta.url);
  const started: Worker[] = [];
  const stopAll = () => started.forEach((w) => w.terminate());
  let timer: ReturnType<typeof setTimeout> | undefined;
  const silent = new Promise<never>((_, reject) => {
    timer = setTimeout(() => {
      reject(
        new AuditWorkerError(
          `an audit worker gave no answer ${graceMs / 1000} s past the audit's deadline`,
        ),
      );
    }, Math.max(0, deadline - Date.now()) + graceMs);
  });
  const answers = Promise.all(groups.map((partitions) => {
    const worker = new Worker(workerUrl, { type: "module" });
    started.push(worker);
    const which = `partitions ${partitions.map((r) => r.partition).join(",")}`;
    return new Promise<Answer>((resolve, reject) => {
      worker.onmessage = (e: MessageEvent<AuditReply>) => {
        worker.terminate();
        const { report, shard, records, began, error } = e.data ?? {};
        if (error !== undefined) {
          reject(new AuditWorkerError(`the audit worker for ${which} failed: ${error}`));
        } else if (!report === !shard || typeof records !== "number") {
          reject(new AuditWorkerError(`the audit worker for ${which} sent no table`));
        } else {
          const when = typeof began === "number" ? { began } : {};
          resolve(report ? { report, records, ...when } : { shard, records, ...when });
        }
      };
      worker.onerror = (e) => {
        e.preventDefault();
        worker.terminate();
        reject(new AuditWorkerError(`the audit worker for ${which} crashed: ${e.message}`));
      };
      worker.postMessage(request(partitions));
    });
  }));
  return Promise.race([answers, silent]).finally(() => {
    clearTimeout(timer);
    stopAll();
  });
}
