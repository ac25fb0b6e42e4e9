/**
 * The sink's batcher: collects the records of one partition into a batch that
 * flushes when it holds `maxEvents` events or `maxBytes` bytes, or when its
 * oldest record is `maxAgeMs` old (the dual trigger). Pure: time is passed in.
 *
 * A batch covers a contiguous offset range of one partition and holds both its
 * valid events (raw NDJSON lines) and its invalid records (for the DLQ), so the
 * two objects of a batch are named by the same offset range and the offset is
 * committed once both are stored.
 *
 * ```ts
 * import { Batcher } from "./batcher.ts";
 * const b = new Batcher({ maxEvents: 5000, maxBytes: 4 << 20, maxAgeMs: 2000 });
 * const full = b.add(0, { offset: 10, line: '{"seq":1}', ok: true }, Date.now());
 * const stale = b.due(Date.now()); // batches whose oldest record is too old
 * ```
 * @module
 */

export interface BatchRecord {
  offset: number;
  /** The raw message value. */
  line: string;
  ok: boolean;
  /** Why validation failed (invalid records only). */
  reason?: string;
  producer_id?: string;
  seq?: number;
}

export interface Batch {
  partition: number;
  firstOffset: number;
  lastOffset: number;
  valid: string[];
  invalid: BatchRecord[];
  bytes: number;
  openedAtMs: number;
}

export interface BatcherOptions {
  /** Default 5000. */
  maxEvents?: number;
  /** Default 4 MiB (raw bytes before gzip). */
  maxBytes?: number;
  /** Default 2000. */
  maxAgeMs?: number;
}

export class Batcher {
  readonly maxEvents: number;
  readonly maxBytes: number;
  readonly maxAgeMs: number;
  readonly #open = new Map<number, Batch>();

  constructor(options: BatcherOptions = {}) {
    this.maxEvents = options.maxEvents ?? 5000;
    this.maxBytes = options.maxBytes ?? 4 * 1024 * 1024;
    this.maxAgeMs = options.maxAgeMs ?? 2000;
  }

  /** Adds a record; returns the batch when this record filled it (it is then closed). */
  add(partition: number, record: BatchRecord, nowMs: number): Batch | undefined {
    let batch = this.#open.get(partition);
    if (!batch) {
      batch = {
        partition,
        firstOffset: record.offset,
        lastOffset: record.offset,
        valid: [],
        invalid: [],
        bytes: 0,
        openedAtMs: nowMs,
      };
      this.#open.set(partition, batch);
    }
    if (record.offset <= batch.lastOffset && batch.valid.length + batch.invalid.length > 0) {
      throw new RangeError(
        `partition ${partition}: offset ${record.offset} after ${batch.lastOffset} (not increasing)`,
      );
    }
    batch.lastOffset = record.offset;
    if (record.ok) batch.valid.push(record.line);
    else batch.invalid.push(record);
    batch.bytes += record.line.length + 1;
    const count = batch.valid.length + batch.invalid.length;
    if (count >= this.maxEvents || batch.bytes >= this.maxBytes) return this.take(partition);
    return undefined;
  }

  /** Closes and returns the open batch of a partition. */
  take(partition: number): Batch | undefined {
    const batch = this.#open.get(partition);
    this.#open.delete(partition);
    return batch;
  }

  /** Closes and returns every batch whose oldest record is at least `maxAgeMs` old. */
  due(nowMs: number): Batch[] {
    const out: Batch[] = [];
    for (const [partition, batch] of this.#open) {
      if (nowMs - batch.openedAtMs >= this.maxAgeMs) {
        out.push(batch);
        this.#open.delete(partition);
      }
    }
    return out;
  }

  /** Drops the open batch of a partition (revoked partition: its records are not committed). */
  drop(partition: number): void {
    this.#open.delete(partition);
  }

  /** The first offset in the open batch of a partition, if one is open. */
  firstOffset(partition: number): number | undefined {
    return this.#open.get(partition)?.firstOffset;
  }

  /** The last offset in the open batch of a partition, if one is open. */
  lastOffset(partition: number): number | undefined {
    return this.#open.get(partition)?.lastOffset;
  }

  /** Partitions with an open batch. */
  partitions(): number[] {
    return [...this.#open.keys()];
  }
}

/** Zero-padded offset so that object names sort by offset. */
function padOffset(offset: number): string {
  return String(offset).padStart(20, "0");
}

/**
 * Object key of a batch: a function of topic, partition and offset range only,
 * so a replay after a crash rewrites the same object instead of adding one.
 */
export function batchKey(
  kind: "events" | "dlq",
  topic: string,
  partition: number,
  firstOffset: number,
  lastOffset: number,
): string {
  const ext = kind === "events" ? "ndjson.gz" : "jsonl.gz";
  return `${kind}/${topic}/partition=${partition}/part-${partition}-${padOffset(firstOffset)}-${
    padOffset(lastOffset)
  }.${ext}`;
}

/** Parses a batch key back; undefined when it is not one. */
export function parseBatchKey(
  key: string,
): {
  kind: "events" | "dlq";
  topic: string;
  partition: number;
  firstOffset: number;
  lastOffset: number;
} | undefined {
  const m = key.match(
    /^(events|dlq)\/(.+)\/partition=(\d+)\/part-(\d+)-(\d{20})-(\d{20})\.(ndjson|jsonl)\.gz$/,
  );
  if (!m || m[3] !== m[4]) return undefined;
  return {
    kind: m[1] as "events" | "dlq",
    topic: m[2],
    partition: Number(m[3]),
    firstOffset: Number(m[5]),
    lastOffset: Number(m[6]),
  };
}

/**
 * One line of a `dlq/` object: where the record is (partition, offset), why it
 * is invalid, the producer_id and seq recovered from it (or null), and its raw
 * value (docs/contract.md).
 */
export function dlqLine(partition: number, r: BatchRecord): string {
  return JSON.stringify({
    partition,
    offset: r.offset,
    reason: r.reason,
    producer_id: r.producer_id ?? null,
    seq: r.seq ?? null,
    raw: r.line,
  });
}
