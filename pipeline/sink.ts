/**
 * The sink: a Kafka consumer group that validates every record with the event
 * schema, batches per partition with a dual trigger (see batcher.ts), writes
 * gzip NDJSON objects to MinIO named by their offset range, and commits an
 * offset only after MinIO confirmed the objects of its batch.
 *
 * Exactly-once objects across crashes: when the sink (re)starts on a partition
 * at committed offset C, objects of that partition starting at C or later are
 * leftovers of an incarnation that uploaded but never committed; they are
 * deleted before the replay writes its own. Kafka's group generation fences a
 * zombie's late commit, so a replay never skips data.
 *
 * MinIO failures: retries with exponential backoff and jitter; after
 * `breakerThreshold` failures in a row the breaker opens and consumption of the
 * partition waits (back-pressure: memory stays bounded to one open and one
 * flushing batch per partition) until an upload succeeds. Nothing is committed
 * that was not uploaded, nothing is dropped.
 *
 * Invalid records go to `dlq/` objects (partition, offset, reason, recovered
 * producer_id/seq, raw payload) and are counted; they never stop a partition.
 *
 * Parsing, validation and gzip run in a worker by default (sink_codec.ts), so
 * they use the second core while this thread fetches and uploads.
 *
 * `sabotage` (sabotage.ts) makes it one of the broken sinks teams hand in, for
 * the tests of the validator and the grader; its default, "none", costs nothing.
 *
 * ```ts
 * import { Sink } from "./sink.ts";
 * const sink = new Sink({ brokers, s3 });
 * await sink.start();
 * // ...
 * await sink.stop(); // flush, commit, disconnect
 * ```
 * @module
 */

import { Registry } from "prom-client";
import type { Consumer, ConsumerRunConfig, Kafka } from "kafkajs";
import { type Batch, Batcher, batchKey, dlqLine, parseBatchKey } from "./batcher.ts";
import { TOPIC_DEFAULT } from "./event.ts";
import { kafkaClient } from "./kafka.ts";
import { inlineCodec, type InvalidRecord, type SinkCodec, WorkerCodec } from "./sink_codec.ts";
import { type ObjectStore, objectStore } from "./store.ts";
import { type SinkMetrics, sinkMetrics } from "./sink_metrics.ts";
import { Backoff } from "./backoff.ts";
import type { SinkOptions, SinkStatus } from "./sink_options.ts";
import { CommitQueue } from "./commit_queue.ts";
import { keepRunning } from "./consumer_restart.ts";
import { COMMIT_FIRST_HOLD_MS, sabotagedBatch, type SinkSabotage } from "./sabotage.ts";

export class Sink {
  readonly metrics: Registry;
  readonly topic: string;
  readonly groupId: string;
  readonly #kafka: Kafka;
  readonly #store: ObjectStore;
  readonly #batcher: Batcher;
  /** Inline until `start()` (which starts the worker unless told not to); `stop()` ends it. */
  #codec: SinkCodec = inlineCodec();
  readonly #codecWorker: boolean;
  readonly #opts: Required<
    Pick<SinkOptions, "retryBaseMs" | "retryMaxMs" | "breakerThreshold" | "gzipLevel">
  >;
  #consumer: Consumer | undefined;
  #timer: ReturnType<typeof setInterval> | undefined;
  #locks = new Map<number, Promise<void>>();
  /** Per partition, the commit loop running now, and the latest offset it still has to commit. */
  readonly #commits: CommitQueue;
  #cleaned = new Map<number, number>();
  #generation = 0;
  #heartbeat: (() => Promise<void>) | undefined;
  #lag = new Map<number, number>();
  #stopping = false;
  #fatal: unknown;
  #counts = { consumed: 0, valid: 0, invalid: 0, batches: 0 };
  /**
   * Where the time goes, in ms: parse+validate, gzip, upload, commit. With the codec worker,
   * parse and gzip are the waits for it (its work overlaps this thread's).
   */
  readonly profile = { parse_ms: 0, gzip_ms: 0, upload_ms: 0, commit_ms: 0 };
  readonly #m: SinkMetrics;
  readonly #backoff: Backoff;
  readonly #dropEvery: number;
  readonly #sabotage: SinkSabotage;
  /** `commit-first` only: uploads held after their commit, awaited by `stop()`. */
  readonly #held = new Set<Promise<void>>();

  constructor(options: SinkOptions) {
    this.topic = options.topic ?? TOPIC_DEFAULT;
    this.groupId = options.groupId ?? "telemetry-sink";
    this.#kafka = options.kafka ?? kafkaClient(options.brokers, `sink-${Deno.pid}`);
    this.#store = objectStore(options.s3);
    this.#batcher = new Batcher(options.batch);
    this.#dropEvery = options.dropEvery ?? 0;
    this.#sabotage = options.sabotage ?? "none";
    this.#codecWorker = options.codecWorker ?? true;
    this.#opts = {
      retryBaseMs: options.retryBaseMs ?? 200,
      retryMaxMs: options.retryMaxMs ?? 5000,
      breakerThreshold: options.breakerThreshold ?? 3,
      gzipLevel: options.gzipLevel ?? 3,
    };
    this.metrics = options.registry ?? new Registry();
    this.#m = sinkMetrics(this.metrics);
    this.#commits = new CommitQueue({
      commit: async (partition, offset) => {
        await this.#consumer?.commitOffsets([{
          topic: this.topic,
          partition,
          offset: String(offset),
        }]);
      },
      generation: () => this.#generation,
      onStale: (batches) => this.#m.staleBatches.inc(batches),
      onRefused: (ms) => {
        this.#m.commitFailures.inc();
        this.profile.commit_ms += ms;
      },
      onCommitted: (batches, ms) => {
        this.profile.commit_ms += ms;
        this.#counts.batches += batches;
        this.#m.batches.inc(batches);
      },
    });
    this.#backoff = new Backoff({
      baseMs: this.#opts.retryBaseMs,
      maxMs: this.#opts.retryMaxMs,
      threshold: this.#opts.breakerThreshold,
      onRetry: () => this.#m.retries.inc(),
      onBreaker: (open) => this.#m.breaker.set(open ? 1 : 0),
      beforeWait: () => this.#heartbeat?.() ?? Promise.resolve(),
    });
  }

  status(): SinkStatus {
    let lag = 0;
    for (const v of this.#lag.values()) lag += v;
    return {
      ...this.#counts,
      breaker: this.#backoff.open ? "open" : "closed",
      lag,
    };
  }

  /** Healthy while consuming and no fatal error happened. */
  health(): { ok: boolean; reason?: string } {
    if (this.#fatal) return { ok: false, reason: String(this.#fatal) };
    if (!this.#consumer) return { ok: false, reason: "not started" };
    return { ok: true };
  }

  /** Connects, subscribes and starts consuming; resolves once consumption runs. */
  async start(): Promise<void> {
    if (this.#codecWorker) this.#codec = new WorkerCodec();
    const consumer = this.#kafka.consumer({
      groupId: this.groupId,
      sessionTimeout: 10_000,
      heartbeatInterval: 3000,
      metadataMaxAge: 5000, // new partitions taken within seconds (kafkajs default: 5 min)
      maxBytesPerPartition: 2 * 1024 * 1024,
    });
    this.#consumer = consumer;
    // What is open is dropped, not stored: after a rebalance (or a restart) kafkajs fetches every
    // assigned partition again from its committed offset, so the records come back to whoever
    // owns the partition then. Storing them now would race that owner, who deletes leftovers at
    // the committed offset once and would not see an upload of ours that lands after it.
    const dropOpen = () => {
      for (const p of this.#batcher.partitions()) {
        if (this.#batcher.take(p)) this.#m.staleBatches.inc();
      }
    };
    consumer.on(consumer.events.REBALANCING, dropOpen);
    consumer.on(consumer.events.GROUP_JOIN, () => {
      this.#generation++;
      // Also here: a rejoin kafkajs starts by itself (partitions added to the topic) comes with
      // no REBALANCING event, and a batch opened before it, flushed after it, was committed in
      // the new generation while that one re-read and cleaned up from the older commit.
      dropOpen();
    });
    const run = () => consumer.run(config);
    keepRunning(consumer, run, {
      stopping: () => this.#stopping,
      log: (line) => console.error(`sink: ${line}`),
      beforeRestart: () => {
        this.#generation++; // tasks of the crashed run abandon; the rejoin cleans up again
        dropOpen();
      },
    });
    const config: ConsumerRunConfig = {
      autoCommit: false,
      // Only offsets really handed to the batcher move the fetch position; a
      // batch cut short by a rebalance is fetched again, never skipped.
      eachBatchAutoResolve: false,
      partitionsConsumedConcurrently: 8,
      eachBatch: async ({ batch, heartbeat, isRunning, isStale, resolveOffset }) => {
        this.#heartbeat = heartbeat;
        const p = batch.partition;
        if (batch.messages.length === 0) return;
        // A fetch at or before what is open means the position went back to the committed
        // offset (the group evicted this member, e.g. after a freeze longer than the session,
        // and no rebalance event told us): the open batch was neither uploaded nor committed,
        // and its records are being read again, so it goes.
        // A fetch that starts inside the open batch is not a rewind: kafkajs handed part of it
        // again (leaders moved while a fetch was out; dropping it all lost the records before
        // the overlap, which never came again). Those records are skipped below.
        const first = Number(batch.messages[0].offset);
        const open = this.#batcher.lastOffset(p);
        if (open !== undefined && first <= open && first <= this.#batcher.firstOffset(p)!) {
          this.#batcher.drop(p);
          this.#m.rewinds.inc();
        }
        if (this.#cleaned.get(p) !== this.#generation) {
          this.#cleaned.set(p, this.#generation);
          // Kafka answers a new generation's offset fetch with the last commit replicated, not
          // one still in flight: a commit of ours from the generation before may land after the
          // fetch position was set. Its objects are stored and committed: the position moves to
          // it, and only what lies beyond is a leftover (deleting from the older position left
          // committed offsets without their objects until the rewrite).
          const done = await this.#commits.committed(p);
          if (done !== undefined && done > first) {
            this.#m.rewinds.inc();
            consumer.seek({ topic: this.topic, partition: p, offset: String(done) });
            await this.#enqueue(p, () => this.#cleanLeftovers(p, done));
            return;
          }
          await this.#enqueue(p, () => this.#cleanLeftovers(p, first));
        }
        const high = Number(batch.highWatermark);
        const lines = batch.messages.map((m) => m.value?.toString() ?? "");
        const t0 = performance.now();
        const invalid = new Map<number, InvalidRecord>();
        for (const r of await this.#codec.validate(lines)) invalid.set(r.index, r);
        this.profile.parse_ms += performance.now() - t0;
        for (let i = 0; i < batch.messages.length; i++) {
          if (!isRunning() || isStale()) break;
          const message = batch.messages[i];
          const offset = Number(message.offset);
          const last = this.#batcher.lastOffset(p);
          if (last !== undefined && offset <= last) continue; // already in the open batch
          const line = lines[i];
          const bad = invalid.get(i);
          this.#counts.consumed++;
          this.#m.consumed.inc();
          if (bad) {
            this.#counts.invalid++;
            this.#m.invalid.inc();
          } else {
            this.#counts.valid++;
            this.#m.valid.inc();
          }
          if (!bad && this.#dropEvery > 0 && this.#counts.valid % this.#dropEvery === 0) {
            resolveOffset(message.offset); // the sabotage: read, "handled", never stored
            continue;
          }
          const full = this.#batcher.add(p, {
            offset,
            line,
            ok: !bad,
            ...(bad ? { reason: bad.reason, producer_id: bad.producer_id, seq: bad.seq } : {}),
          }, Date.now());
          const lag = Math.max(0, high - offset - 1);
          this.#lag.set(p, lag);
          this.#m.lag.set({ partition: String(p) }, lag);
          resolveOffset(message.offset);
          // Uploaded before this call returns (kafkajs rejoins a rebalancing group only after
          // it did, so the next owner's clean-up comes after the upload); committed behind it.
          if (full) await this.#enqueue(p, this.#flusher(full));
        }
      },
    };
    await consumer.connect();
    await consumer.subscribe({ topic: this.topic, fromBeginning: true });
    await run();
    this.#timer = setInterval(() => {
      for (const batch of this.#batcher.due(Date.now())) {
        this.#enqueue(batch.partition, this.#flusher(batch)).catch((error) => {
          this.#fatal = error;
        });
      }
    }, Math.max(50, Math.min(500, this.#batcher.maxAgeMs / 4)));
  }

  /** Flushes every open batch, commits, and leaves the group. */
  async stop(): Promise<void> {
    if (this.#stopping) return;
    this.#stopping = true;
    clearInterval(this.#timer);
    const consumer = this.#consumer;
    if (!consumer) return this.#codec.close();
    await consumer.pause([{ topic: this.topic }]);
    for (const p of this.#batcher.partitions()) {
      const batch = this.#batcher.take(p);
      if (batch) await this.#enqueue(p, this.#flusher(batch)).catch(() => {});
    }
    await Promise.allSettled([...this.#locks.values()]);
    await Promise.allSettled([...this.#held]);
    await this.#commits.settled();
    await consumer.disconnect();
    this.#consumer = undefined;
    this.#codec.close();
  }

  /** Runs `fn` after every earlier task of the partition: uploads and commits stay in order. */
  #enqueue(partition: number, fn: () => Promise<void>): Promise<void> {
    const previous = this.#locks.get(partition) ?? Promise.resolve();
    const next = previous.catch(() => {}).then(fn);
    this.#locks.set(partition, next);
    return next;
  }

  async #cleanLeftovers(partition: number, from: number): Promise<void> {
    for (const kind of ["events", "dlq"] as const) {
      const prefix = `${kind}/${this.topic}/partition=${partition}/`;
      const objects = await this.#retry(`list ${prefix}`, () => this.#store.list(prefix));
      for (const o of objects) {
        const k = parseBatchKey(o.name);
        if (k && k.firstOffset >= from) {
          await this.#retry(
            `remove ${o.name}`,
            () => this.#store.client.removeObject(this.#store.bucket, o.name),
          );
        }
      }
    }
  }

  /**
   * The task that stores `batch`, taken in the current group generation. If the
   * generation changes before or while it uploads, it stops and commits nothing:
   * the new generation re-reads from the committed offset, deletes leftovers at
   * or after it once, and rewrites them, so an old upload must not land after
   * that (a duplicate) nor an old commit move the offset past them.
   */
  #flusher(batch: Batch): () => Promise<void> {
    const generation = this.#generation;
    if (this.#sabotage === "commit-first") return () => this.#commitFirst(batch, generation);
    return async () => {
      try {
        await this.#flush(batch, generation);
      } catch (error) {
        if (!(error instanceof StaleGeneration)) throw error;
        this.#m.staleBatches.inc();
      }
    };
  }

  async #flush(batch: Batch, generation: number): Promise<void> {
    const { partition, lastOffset } = batch;
    if (generation !== this.#generation) {
      this.#m.staleBatches.inc();
      return;
    }
    await this.#write(batch, generation);
    this.#commits.request(partition, lastOffset + 1, generation);
  }

  /**
   * Uploads the objects of `batch`: its valid events and its malformed records (or what the
   * sabotage stores instead). Abandoned if the group generation moves on from `generation`.
   */
  async #write(batch: Batch, generation?: number): Promise<void> {
    const { partition, firstOffset, lastOffset } = batch;
    const { events, dlq } = this.#sabotage === "none"
      ? { events: batch.valid, dlq: batch.invalid }
      : sabotagedBatch(this.#sabotage, batch.valid, batch.invalid);
    if (events.length > 0) {
      const t0 = performance.now();
      const body = await this.#codec.gzip(events.join("\n") + "\n", this.#opts.gzipLevel);
      this.profile.gzip_ms += performance.now() - t0;
      await this.#upload(
        batchKey("events", this.topic, partition, firstOffset, lastOffset),
        body,
        "application/x-ndjson",
        generation,
      );
    }
    if (dlq.length > 0) {
      const lines = dlq.map((r) => dlqLine(partition, r));
      const body = await this.#codec.gzip(lines.join("\n") + "\n", this.#opts.gzipLevel);
      await this.#upload(
        batchKey("dlq", this.topic, partition, firstOffset, lastOffset),
        body,
        "application/jsonl",
        generation,
      );
    }
  }

  /**
   * SABOTAGE `commit-first`, the classic commit-before-upload sink: the batch's offsets are
   * committed as soon as it is cut, its upload follows `COMMIT_FIRST_HOLD_MS` later, off the
   * partition's queue. Killed in between, the batch is lost: committed, never stored.
   */
  #commitFirst(batch: Batch, generation: number): Promise<void> {
    this.#commits.request(batch.partition, batch.lastOffset + 1, generation);
    const upload = new Promise((r) => setTimeout(r, COMMIT_FIRST_HOLD_MS))
      .then(() => this.#write(batch))
      .catch((error) => {
        this.#fatal = error;
      })
      .finally(() => this.#held.delete(upload));
    this.#held.add(upload);
    return Promise.resolve();
  }

  async #upload(key: string, body: Uint8Array, type: string, generation?: number): Promise<void> {
    const started = performance.now();
    await this.#retry(
      `upload ${key}`,
      () => this.#store.putBytes(key, body, type, { "Content-Encoding": "gzip" }),
      generation,
    );
    this.#m.upload.observe((performance.now() - started) / 1000);
    this.profile.upload_ms += performance.now() - started;
    this.#m.bytes.inc(body.length);
  }

  /**
   * Retries `fn` forever with backoff and jitter (unless stopping: then 3 times; or the group
   * generation moved on from `generation`: then it throws `StaleGeneration`).
   */
  #retry<T>(what: string, fn: () => Promise<T>, generation?: number): Promise<T> {
    return this.#backoff.retry(what, fn, {
      abandon: () =>
        generation !== undefined && generation !== this.#generation
          ? new StaleGeneration(`${what}: the group generation changed, the records come again`)
          : undefined,
      maxAttempts: () => this.#stopping ? 3 : Infinity,
    });
  }
}

/** A batch's task stopped because the group rebalanced: its records are fetched again. */
class StaleGeneration extends Error {
  override name = "StaleGeneration";
}
