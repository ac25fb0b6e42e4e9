/**
 * One generator worker: a Kafka producer with its own `producer_id`, seeded
 * random generator and contiguous seqs, paced to its share of the target rate.
 * It runs on the generator's thread or in a thread of its own
 * (`_generator_worker.ts`); either way it reports through a `LoopHost`: ledger
 * writes, acknowledged sends, requests in flight, and the random incidents it
 * asks the generator to plan for it.
 *
 * On the lean client (and "per-partition" sends) a batch's events are written straight into
 * their partitions' record batches (lean_batch.ts), a baseline event from the traffic model's
 * choice without a flow object; on the others, into `EventBytes` and then messages. The same
 * seed gives the same events, seqs and keys either way.
 *
 * ```ts
 * const loop = new GeneratorLoop(config, host);
 * await loop.prepare(); // connected
 * loop.addFlows(plannedFlows);
 * await loop.run(Date.now());
 * ```
 * @module
 */

import { type Kafka, Partitioners, type PartitionMetadata } from "kafkajs";
import type { KafkaSecurity } from "./kafka_security.ts";
import { INCIDENT_KINDS, type IncidentKind, type PlannedFlow } from "./anomalies.ts";
import type { TelemetryEvent } from "./event.ts";
import { definitelyNotAppended, fileLogCreator, kafkaClient } from "./kafka.ts";
import { BatchBook, type LedgerWriter } from "./ledger.ts";
import { corrupt } from "./malformed.ts";
import { Rng } from "./rng.ts";
import { Buffer } from "node:buffer";
import { EventBytes } from "./event_bytes.ts";
import { baselineChoice, baselineFlow, DEVICE_IPS, newBaselineChoice } from "./traffic.ts";
import { eventSerializer } from "./event.ts";
import { LeanBatch } from "./lean_batch.ts";
import { BatchBuffers } from "./record_batch.ts";
import { grownPartitions, PARTITION_REFRESH_MS, PartitionWatch } from "./generator_partitions.ts";
import {
  type KafkaClientKind,
  type ProduceMessage,
  type ProducerClient,
  producerClient,
} from "./producer_client.ts";

type KeyInfo = { bytes: Buffer; partition: number };

/** Everything a worker needs, as plain data (it crosses to a thread). */
export interface LoopConfig {
  index: number;
  runId: string;
  brokers: string[];
  topic: string;
  /**
   * The topic's partitions at the start, for kafkajs's default partitioner; partitions added
   * mid-run are taken too (generator_partitions.ts).
   */
  partitions: PartitionMetadata[];
  /** This worker's share of the target rate. */
  eps: number;
  durationMs: number;
  seed: string;
  chaosMode: boolean;
  /** Per event chances that an incident starts (chaos mode), by kind. */
  probabilities: Record<IncidentKind, number>;
  malformedProb: number;
  batchSize: number;
  deliveryTimeoutMs: number;
  acks: -1 | 0 | 1;
  idempotent: boolean;
  sendMode: "per-partition" | "batch";
  client: KafkaClientKind;
  /** kafkajs's log of a worker in a thread of its own goes here (JSON lines). */
  kafkaLogFile?: string;
  /**
   * The brokers' security as the generator's thread knows it (`securityFor`): a thread of its
   * own does not share what `useSecurityFor` told that thread (a stack's own user), so it is
   * told again there.
   */
  security?: KafkaSecurity;
}

export interface LoopHost {
  /** Ledger writes for this worker's producer id. */
  ledger: LedgerWriter;
  /** `events` were acknowledged after `rttMs`. */
  acked(events: number, rttMs: number): void;
  /** Produce requests awaiting an answer went up or down by `delta`. */
  inFlight(delta: number): void;
  /** Asks for a random incident of `kind`, starting at `atMs`, whose flows this worker sends. */
  randomIncident(kind: IncidentKind, atMs: number): void;
}

/** The `producer_id` of worker `index`'s events and ledger entries. */
export function workerProducerId(config: Pick<LoopConfig, "runId" | "index">): string {
  return `${config.runId}-w${config.index}`;
}

/** Random incidents do not start this close to the end, so they finish inside the run. */
const RANDOM_INCIDENT_GUARD_MS = 25_000;
/** A worker that fell behind catches up at most this much, then skips the rest. */
const MAX_CATCH_UP_MS = 2000;

export class GeneratorLoop {
  readonly config: LoopConfig;
  readonly producerId: string;
  readonly #host: LoopHost;
  readonly #queue: PlannedFlow[] = [];
  readonly #partitioner = Partitioners.DefaultPartitioner();
  readonly #keys = new Map<string, KeyInfo>();
  /** Per baseline device (`DEVICE_IPS`), its key's `#keyOf`. */
  #deviceKeys: Array<KeyInfo | undefined> = [];
  readonly #kafka: Kafka | undefined;
  #stopped = false;
  #wake: (() => void) | undefined;
  #producer: ProducerClient | undefined;
  /** The partitions keys hash over: the topic's, grown when partitions are added mid-run. */
  #partitions: PartitionMetadata[];
  #watch: PartitionWatch | undefined;
  #nextLook = 0;
  #looking = false;

  /** `kafka`: the kafkajs client whose producers this worker uses (made here when absent). */
  constructor(config: LoopConfig, host: LoopHost, kafka?: Kafka) {
    this.config = config;
    this.producerId = workerProducerId(config);
    this.#host = host;
    this.#partitions = [...config.partitions];
    if (config.client === "kafkajs") {
      this.#kafka = kafka ?? kafkaClient(config.brokers, `generator-${config.runId}`, {
        requestTimeout: Math.min(10_000, Math.max(1000, config.deliveryTimeoutMs / 3)),
        ...(config.kafkaLogFile ? { logCreator: fileLogCreator(config.kafkaLogFile) } : {}),
      });
    }
  }

  /** Planned flows (an incident's) this worker sends when their time comes. */
  addFlows(flows: PlannedFlow[]): void {
    this.#queue.push(...flows);
    this.#queue.sort((a, b) => a.at_ms - b.at_ms);
  }

  /** Ends the loop after the batch it is building; sends in flight get their moment. */
  stop(): void {
    this.#stopped = true;
    this.#wake?.();
  }

  #newProducer(): ProducerClient {
    const c = this.config;
    return producerClient(c.client, {
      brokers: c.brokers,
      kafka: this.#kafka,
      clientId: `generator-${c.runId}-w${c.index}`.replace(/[^\w.-]/g, "_"),
      acks: c.acks,
      idempotent: c.idempotent,
      deliveryTimeoutMs: c.deliveryTimeoutMs,
    });
  }

  /** Connects the producer; `run` starts producing. */
  async prepare(): Promise<void> {
    const producer = this.#newProducer();
    try {
      await producer.connect();
    } catch (error) {
      await producer.close().catch(() => {});
      throw error;
    }
    // Best effort: what warming does not do, the first send still does.
    await producer.warm(this.config.topic, this.config.partitions.map((p) => p.partitionId))
      .catch(() => {});
    this.#producer = producer;
  }

  /**
   * Produces from `wallStart` until the duration is over (and the incidents due by then are
   * sent) or `stop()`; closes the producer. Nothing to do when `prepare` did not succeed.
   */
  async run(wallStart: number): Promise<void> {
    if (!this.#producer) return;
    const c = this.config;
    const producerId = this.producerId;
    const ledger = this.#host.ledger;
    const batch = new EventBytes(producerId);
    const rng = new Rng(`${c.seed}/w${c.index}`);
    const chaosRng = new Rng(`${c.seed}/w${c.index}/chaos`);
    const queue = this.#queue;
    const perWorker = c.eps;
    const endWall = wallStart + c.durationMs;
    let producer = this.#producer;
    // The lean client takes each partition's records as written here ("per-partition" sends).
    const buffers = new BatchBuffers();
    const lean = producer.sendBatch && c.sendMode === "per-partition"
      ? new LeanBatch(c.topic, producerId, buffers, MAX_GROUP_BYTES)
      : undefined;
    const serialize = eventSerializer(producerId);
    const choice = newBaselineChoice();
    let seq = 0;
    let credited = 0; // events the pacing has accounted for
    let paceStart = performance.now();
    const pending = new Set<Promise<void>>();
    try {
      while (!this.#stopped) {
        const nowWall = Date.now();
        this.#lookForPartitions(producer, nowWall);
        if (nowWall >= endWall && (queue.length === 0 || queue[0].at_ms > endWall)) break;
        const elapsed = performance.now() - paceStart;
        let due = Math.floor((perWorker * elapsed) / 1000) - credited;
        if (due > (perWorker * MAX_CATCH_UP_MS) / 1000) {
          // Fell behind (a stalled send): do not flood, skip the deficit.
          credited += due - Math.ceil((perWorker * MAX_CATCH_UP_MS) / 1000);
          due = Math.floor((perWorker * elapsed) / 1000) - credited;
        }
        const incidentDue = queue.length > 0 && queue[0].at_ms <= nowWall;
        if (due <= 0 && !incidentDue) {
          const waitMs = ((credited + 1) * 1000) / perWorker - elapsed;
          await new Promise<void>((r) => {
            const timer = setTimeout(() => {
              this.#wake = undefined;
              r();
            }, Math.max(1, Math.min(50, waitMs)));
            this.#wake = () => {
              clearTimeout(timer);
              r();
            };
          });
          continue;
        }
        const n = Math.max(1, Math.min(Math.max(due, 0), c.batchSize));
        const first = seq;
        const keys = lean ? undefined : new Array<string>(n);
        for (let k = 0; k < n; k++) {
          let flow;
          let ts = nowWall;
          if (queue.length > 0 && queue[0].at_ms <= nowWall) {
            const next = queue.shift()!;
            flow = next.flow;
            ts = next.at_ms;
            if (c.chaosMode && chaosRng.chance(c.malformedProb)) {
              const event: TelemetryEvent = { producer_id: producerId, seq, ts_ms: ts, ...flow };
              const raw = corrupt(chaosRng, event).raw;
              if (lean) lean.text(seq, raw, this.#keyOf(flow.src_ip));
              else batch.text(raw);
              ledger.malformed(producerId, seq);
            } else if (lean) {
              // An incident's flow may have its keys in another order: JSON.stringify's text.
              lean.text(seq, serialize(seq, ts, flow), this.#keyOf(flow.src_ip));
            } else {
              batch.json(seq, ts, flow);
            }
          } else {
            if (c.chaosMode && nowWall < endWall - RANDOM_INCIDENT_GUARD_MS) {
              this.#maybeRandom(chaosRng);
            }
            if (c.chaosMode && chaosRng.chance(c.malformedProb)) {
              flow = baselineFlow(rng);
              const event: TelemetryEvent = { producer_id: producerId, seq, ts_ms: ts, ...flow };
              const raw = corrupt(chaosRng, event).raw;
              if (lean) lean.text(seq, raw, this.#keyOf(flow.src_ip));
              else batch.text(raw);
              ledger.malformed(producerId, seq);
            } else if (lean) {
              // No flow object: the choice is written straight into its partition's batch.
              baselineChoice(rng, choice);
              lean.baseline(seq, ts, choice, this.#deviceKey(choice.device));
            } else {
              flow = baselineFlow(rng);
              batch.event(seq, ts, flow);
            }
          }
          if (keys) keys[k] = flow!.src_ip;
          seq++;
        }
        credited += due > 0 ? n : 0;
        ledger.attempt(producerId, first, seq - 1);
        let outcomes: Array<{ result: Promise<boolean>; settled: Promise<void> }>;
        if (lean) {
          const batches = lean.take();
          const book = new BatchBook(ledger, producerId, first, seq - 1, batches.length);
          const send = producer.sendBatch!;
          outcomes = batches.map((b) => {
            const outcome = this.#send(() => send(b), b.count, book, b.seqs);
            outcome.settled.finally(() => buffers.put(b.buf));
            return outcome;
          });
        } else {
          const values = batch.take();
          const messages = new Array<ProduceMessage>(n);
          for (let k = 0; k < n; k++) {
            const key = this.#keyOf(keys![k]);
            messages[k] = {
              topic: c.topic,
              key: key.bytes,
              value: values[k],
              partition: key.partition,
            };
          }
          const seqs = new Array<number>(n);
          for (let k = 0; k < n; k++) seqs[k] = first + k;
          // "batch" mode keeps its one call (see GeneratorOptions.sendMode), however large.
          const groups = c.sendMode === "batch"
            ? [{ messages, seqs }]
            : byPartition(messages, seqs);
          const book = new BatchBook(ledger, producerId, first, seq - 1, groups.length);
          const p = producer;
          outcomes = groups.map((g) =>
            this.#send(() => p.send(g.messages), g.messages.length, book, g.seqs)
          );
        }
        for (const outcome of outcomes) {
          pending.add(outcome.settled);
          outcome.settled.finally(() => pending.delete(outcome.settled));
        }
        const ok = (await Promise.all(outcomes.map((x) => x.result))).every(Boolean);
        if (!ok) {
          // Unknown or failed: continue on a fresh producer (new producer id).
          const old = producer;
          old.close().catch(() => {});
          producer = this.#newProducer();
          try {
            await producer.connect();
          } catch { /* the next send will retry connecting */ }
          paceStart = performance.now();
          credited = 0;
        }
      }
    } finally {
      // Give late answers of abandoned sends a moment to land in the ledger.
      await Promise.race([
        Promise.allSettled([...pending]),
        new Promise((r) => setTimeout(r, 2000)),
      ]);
      await producer.close().catch(() => {});
      this.#producer = undefined;
    }
  }

  /**
   * `key`'s bytes and the partition kafkajs's default partitioner picks for it, cached: keys are
   * source addresses (a few thousand), and murmur2 over a fresh Buffer per event was 10% of the
   * CPU; one lookup per event serves both.
   */
  #keyOf(key: string): KeyInfo {
    let info = this.#keys.get(key);
    if (info === undefined) {
      if (this.#keys.size >= 100_000) this.#keys.clear();
      const partition = this.#partitioner({
        topic: this.config.topic,
        partitionMetadata: this.#partitions,
        message: { key, value: null },
      });
      info = { bytes: Buffer.from(key, "utf-8"), partition };
      this.#keys.set(key, info);
    }
    return info;
  }

  /** Baseline device `device`'s key (`DEVICE_IPS`): `#keyOf` without hashing its address. */
  #deviceKey(device: number): KeyInfo {
    return this.#deviceKeys[device] ??= this.#keyOf(DEVICE_IPS[device]);
  }

  /**
   * Every PARTITION_REFRESH_MS, asks (without waiting) for the topic's partition count; once a
   * larger one settled, keys hash over it (the cache of their partitions starts over).
   */
  #lookForPartitions(producer: ProducerClient, nowMs: number): void {
    if (this.#looking || nowMs < this.#nextLook) return;
    this.#looking = true;
    this.#nextLook = nowMs + PARTITION_REFRESH_MS;
    this.#watch ??= new PartitionWatch(this.#partitions.length, producer.metadataSettleMs);
    const watch = this.#watch;
    producer.partitionCount(this.config.topic)
      .then((count) => {
        const use = watch.observe(count, Date.now());
        if (use > this.#partitions.length) {
          this.#partitions = grownPartitions(this.#partitions, use);
          this.#keys.clear();
          this.#deviceKeys = [];
        }
      })
      .catch(() => {}) // asked again at the next look
      .finally(() => (this.#looking = false));
  }

  #maybeRandom(rng: Rng): void {
    const p = this.config.probabilities;
    for (const kind of INCIDENT_KINDS) {
      if (rng.chance(p[kind])) this.#host.randomIncident(kind, Date.now() + 100);
    }
  }

  /**
   * Sends one group (`start` sends it, `events` of them). `result` resolves true when acknowledged, false when it
   * failed or timed out (recorded as failed or unknown). `settled` resolves
   * when the send is really over, which may be after the delivery timeout (a
   * late ack is then recorded as acked).
   */
  #send(
    start: () => Promise<void>,
    events: number,
    book: BatchBook,
    seqs: number[],
  ): { result: Promise<boolean>; settled: Promise<void> } {
    const host = this.#host;
    const started = performance.now();
    host.inFlight(1);
    let timedOut = false;
    let timer: ReturnType<typeof setTimeout> | undefined;
    const send = start();
    const settled = send.then(
      () => {
        book.record("ack", seqs);
        host.acked(events, performance.now() - started);
      },
      (error) => {
        if (timedOut) return; // already recorded unknown
        book.record(definitelyNotAppended(error) ? "fail" : "unknown", seqs);
      },
    ).finally(() => {
      clearTimeout(timer);
      host.inFlight(-1);
    });
    const timeout = new Promise<boolean>((resolve) => {
      timer = setTimeout(() => {
        timedOut = true;
        book.record("unknown", seqs);
        resolve(false);
      }, this.config.deliveryTimeoutMs);
    });
    const result = Promise.race([
      send.then(() => true, () => false),
      timeout,
    ]);
    return { result, settled };
  }
}

/**
 * Most bytes (keys and values, as UTF-16 code units: events are ASCII) in one produce call: a
 * partition's share of a batch goes to Kafka as one record batch, which the broker refuses
 * above `message.max.bytes` (1 MiB by default); the rest leaves room for the records' own
 * overhead (a dozen bytes each).
 */
export const MAX_GROUP_BYTES = 896 * 1024;

type Group = { messages: ProduceMessage[]; seqs: number[] };

/**
 * Splits a batch by partition (each message carries its own), and a partition's share above
 * `maxBytes` into as few groups of about equal size as keep each under it (a message larger
 * than that goes alone); `seqs` stay ascending within each group.
 */
export function byPartition(
  messages: ProduceMessage[],
  seqs: number[],
  maxBytes = MAX_GROUP_BYTES,
): Group[] {
  const shares = new Map<number, Group & { bytes: number }>();
  for (let i = 0; i < messages.length; i++) {
    const m = messages[i];
    let g = shares.get(m.partition);
    if (!g) shares.set(m.partition, g = { messages: [], seqs: [], bytes: 0 });
    g.messages.push(m);
    g.seqs.push(seqs[i]);
    g.bytes += m.key.length + m.value.length;
  }
  const groups: Group[] = [];
  for (const share of shares.values()) {
    if (share.bytes <= maxBytes) {
      groups.push({ messages: share.messages, seqs: share.seqs });
      continue;
    }
    const target = share.bytes / Math.ceil(share.bytes / maxBytes);
    let g: Group & { bytes: number } = { messages: [], seqs: [], bytes: 0 };
    for (let i = 0; i < share.messages.length; i++) {
      const m = share.messages[i];
      const bytes = m.key.length + m.value.length;
      if (g.messages.length > 0 && (g.bytes + bytes > maxBytes || g.bytes >= target)) {
        groups.push({ messages: g.messages, seqs: g.seqs });
        g = { messages: [], seqs: [], bytes: 0 };
      }
      g.messages.push(m);
      g.seqs.push(share.seqs[i]);
      g.bytes += bytes;
    }
    groups.push({ messages: g.messages, seqs: g.seqs });
  }
  return groups;
}
