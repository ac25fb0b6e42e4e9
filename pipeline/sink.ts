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
 * No commit past a gap: in each group generation a partition is taken only
 * from the offset it must resume at (sink_position.ts: kafkajs's position after
 * a rejoin it starts by itself may lie past the open batch the rejoin dropped),
 * a batch handled across a rejoin stops there, and the commit queue commits
 * only the contiguous stored prefix (commit_queue.ts).
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
import type { Admin, Consumer, ConsumerRunConfig, Kafka } from "kafkajs";
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
import { resumeOffset, startDecision } from "./sink_position.ts";
import { COMMIT_FIRST_HOLD_MS, sabotagedBatch, type SinkSabotage } from "./sabotage.ts";

/** What a fetch waits for: this many bytes, or this long. */
const FETCH_MIN_BYTES = 256 * 1024;
const FETCH_MAX_WAIT_MS = 250;

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
  /** Reads the group's committed offsets where a partition resumes (sink_position.ts). */
  #admin: Admin | undefined;
  #timer: ReturnType<typeof setInterval> | undefined;
  #locks = new Map<number, Promise<void>>();
  /** Per partition, the commit loop running now, and the latest offset it still has to commit. */
  readonly #commits: CommitQueue;
  /** Per partition, the generation whose position was verified and its leftovers cleaned. */
  #started = new Map<number, number>();
  /** Per partition, the next offset expected in the generation it started in. */
  #next = new Map<number, number>();
  /** Per partition, the offset it last started at (a floor of its committed offset). */
  #floor = new Map<number, number>();
  /** Per partition, the seeks made to verify its position: generation, target, how many. */
  #seeks = new Map<number, { generation: number; offset: number; count: number }>();
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
    this.#store = options.store ?? objectStore(options.s3);
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
      // A batch past the stored prefix: nothing more of the partition is taken or committed
      // until it starts again at a verified offset (its next batch seeks there).
      onGap: (partition, first, stored) => {
        this.#started.delete(partition);
        if (this.#batcher.take(partition)) this.#m.staleBatches.inc();
        this.#m.staleBatches.inc();
        console.error(
          `sink: partition ${partition}: a batch from ${first} does not follow the stored ` +
            `prefix (${stored ?? "not started"}): not committed, the partition resumes`,
        );
      },
      contiguous: options.dropEvery === undefined || options.dropEvery === 0,
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
      // A fetch waits for 256 KiB (or 250 ms) rather than returning each few records: at
      // 30,000 events/s, a tenth of the fetches, on the brokers and here (the batches are
      // 5,000 events, 2 s old at most, anyway).
      minBytes: FETCH_MIN_BYTES,
      maxWaitTimeInMs: FETCH_MAX_WAIT_MS,
    });
    this.#consumer = consumer;
    // What is open is dropped, not stored: after a rebalance (or a restart) kafkajs fetches every
    // assigned partition again from its committed offset, so the records come back to whoever
    // owns the partition then. Storing them now would race that owner, who deletes leftovers at
    // the committed offset once and would not see an upload of ours that lands after it.
    // Every partition then starts again at a verified offset before anything more of it is
    // taken (a batch handled across the drop stops there: what it took after would not follow
    // the stored prefix).
    const dropOpen = () => {
      for (const p of this.#batcher.partitions()) {
        if (this.#batcher.take(p)) this.#m.staleBatches.inc();
      }
      this.#started.clear();
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
        const generation = this.#generation;
        const first = Number(batch.messages[0].offset);
        const open = this.#batcher.lastOffset(p);
        if (open !== undefined && first <= open && first <= this.#batcher.firstOffset(p)!) {
          this.#batcher.drop(p);
          this.#next.set(p, first);
          this.#m.rewinds.inc();
        }
        const fetched = fetchedOffset(batch) ?? first;
        if (this.#started.get(p) !== generation) {
          // The first batch of the partition in this generation: taken only at the offset the
          // partition must resume at (sink_position.ts), else the partition seeks there.
          const decision = startDecision({
            first,
            fetched,
            resume: await this.#resumeAt(p),
            seeks: this.#seekCount(p, generation),
          });
          if (generation !== this.#generation) return; // rejoined meanwhile: start over
          if ("seek" in decision) {
            console.error(
              `sink: partition ${p}: the new generation's first batch starts at ${first}; ` +
                `it resumes at ${decision.seek}`,
            );
            this.#seek(p, decision.seek, generation);
            return;
          }
          const from = decision.take;
          await this.#enqueue(p, async () => {
            await this.#cleanLeftovers(p, from);
            this.#commits.start(p, from, generation);
          });
          if (generation !== this.#generation) return;
          this.#started.set(p, generation);
          this.#next.set(p, from);
          this.#floor.set(p, from);
        } else if (fetched > this.#next.get(p)!) {
          // Within a generation the position ran ahead of what was taken: back to it.
          this.#seek(p, this.#next.get(p)!, generation);
          return;
        }
        const high = Number(batch.highWatermark);
        const lines = batch.messages.map((m) => m.value?.toString() ?? "");
        const t0 = performance.now();
        const invalid = new Map<number, InvalidRecord>();
        for (const r of await this.#codec.validate(lines)) invalid.set(r.index, r);
        this.profile.parse_ms += performance.now() - t0;
        // Per stretch of the loop without an await, not per record: the counters, the lag gauge
        // and kafkajs's resolved offset (its `resolveOffset` parses and formats a Long each
        // time). Nothing can change their outcome within a stretch (no event runs in it), so
        // resolving the stretch's last offset before each await and at the end moves the fetch
        // position exactly as resolving each record did.
        const tally = { consumed: 0, valid: 0, invalid: 0 };
        let resolved: string | undefined;
        let lag: number | undefined;
        const report = () => {
          if (resolved !== undefined) resolveOffset(resolved);
          resolved = undefined;
          if (tally.consumed > 0) this.#m.consumed.inc(tally.consumed);
          if (tally.valid > 0) this.#m.valid.inc(tally.valid);
          if (tally.invalid > 0) this.#m.invalid.inc(tally.invalid);
          tally.consumed = tally.valid = tally.invalid = 0;
          if (lag !== undefined) {
            this.#lag.set(p, lag);
            this.#m.lag.set({ partition: String(p) }, lag);
          }
          lag = undefined;
        };
        let now = Date.now();
        let i = 0;
        for (; i < batch.messages.length; i++) {
          // A rejoin (or a gap) while this batch is handled: what is left of it is not taken, nor
          // its offsets resolved (they would land in the new generation's fetch position).
          if (!isRunning() || isStale() || !this.#current(p, generation)) break;
          const message = batch.messages[i];
          const offset = Number(message.offset);
          if (offset < this.#next.get(p)!) {
            resolved = message.offset; // taken already in this generation
            continue;
          }
          this.#next.set(p, offset + 1);
          const line = lines[i];
          const bad = invalid.get(i);
          this.#counts.consumed++;
          tally.consumed++;
          if (bad) {
            this.#counts.invalid++;
            tally.invalid++;
          } else {
            this.#counts.valid++;
            tally.valid++;
          }
          if (!bad && this.#dropEvery > 0 && this.#counts.valid % this.#dropEvery === 0) {
            // (Its commits skip the contiguity check of the commit queue.)
            resolved = message.offset; // the sabotage: read, "handled", never stored
            continue;
          }
          const full = this.#batcher.add(p, {
            offset,
            line,
            ok: !bad,
            ...(bad ? { reason: bad.reason, producer_id: bad.producer_id, seq: bad.seq } : {}),
          }, now);
          lag = Math.max(0, high - offset - 1);
          resolved = message.offset;
          // Uploaded before this call returns (kafkajs rejoins a rebalancing group only after
          // it did, so the next owner's clean-up comes after the upload); committed behind it.
          if (full) {
            report();
            await this.#enqueue(p, this.#flusher(full));
            now = Date.now();
          }
        }
        report();
        // kafkajs resolves the batch's last offset (past trailing control records) with its
        // last message: the position expected next follows it.
        if (i === batch.messages.length && this.#current(p, generation)) {
          const last = Number(batch.lastOffset());
          this.#next.set(p, Math.max(this.#next.get(p)!, last + 1));
        }
      },
    };
    this.#admin = this.#kafka.admin();
    await this.#admin.connect();
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
    await this.#admin?.disconnect().catch(() => {});
    this.#consumer = undefined;
    this.#codec.close();
  }

  /** Whether `partition` is still taken in `generation` (no rejoin, no gap since). */
  #current(partition: number, generation: number): boolean {
    return generation === this.#generation && this.#started.get(partition) === generation;
  }

  /**
   * Where `partition` resumes: the highest of Kafka's committed offset, the
   * last commit Kafka accepted from this sink (once those in flight ended) and the offset it
   * last started at; undefined when none is known (a partition new to the group).
   */
  async #resumeAt(partition: number): Promise<number | undefined> {
    const ours = await this.#commits.committed(partition);
    // kafkajs's admin retries by itself; failing still, what this sink knows is used (its own
    // commits and where it last started the partition), not the store's retry and breaker.
    const theirs = await this.#admin!.fetchOffsets({ groupId: this.groupId, topics: [this.topic] })
      .then((offsets) =>
        offsets.find((t) => t.topic === this.topic)?.partitions
          .find((x) => x.partition === partition)?.offset
      )
      .catch((error) => {
        console.error(`sink: partition ${partition}: the group's offsets unread: ${error}`);
        return undefined;
      });
    return resumeOffset([
      ours,
      theirs === undefined ? undefined : Number(theirs),
      this.#floor.get(partition),
    ]);
  }

  /** Seeks done to verify the position of `partition` in `generation` (counting this one). */
  #seekCount(partition: number, generation: number): number {
    const s = this.#seeks.get(partition);
    return s?.generation === generation ? s.count : 0;
  }

  #seek(partition: number, offset: number, generation: number): void {
    const s = this.#seeks.get(partition);
    const count = s?.generation === generation && s.offset === offset ? s.count + 1 : 1;
    this.#seeks.set(partition, { generation, offset, count });
    this.#m.rewinds.inc();
    this.#consumer?.seek({ topic: this.topic, partition, offset: String(offset) });
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
    this.#commits.request(partition, batch.firstOffset, lastOffset + 1, generation);
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
    this.#commits.request(batch.partition, batch.firstOffset, batch.lastOffset + 1, generation);
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

/** The offset kafkajs fetched a batch at (not in its types). */
function fetchedOffset(batch: object): number | undefined {
  const fetched = (batch as { fetchedOffset?: string }).fetchedOffset;
  return fetched === undefined ? undefined : Number(fetched);
}

/** A batch's task stopped because the group rebalanced: its records are fetched again. */
class StaleGeneration extends Error {
  override name = "StaleGeneration";
}
