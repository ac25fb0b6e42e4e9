/**
 * The telemetry generator: a pool of workers, each one Kafka producer with its
 * own `producer_id`, seeded random generator and contiguous seqs, paced to a
 * target rate. It injects scheduled and random incidents, malformed records in
 * chaos mode, and writes every outcome to the ledger: a seq is acknowledged
 * only when Kafka acknowledged it.
 *
 * Delivery: `acks=all` and an idempotent producer by default. A send that
 * Kafka refused is `failed`; a send that timed out (`deliveryTimeoutMs`) or
 * lost its connection is `unknown`, and the worker continues on a fresh
 * producer (a new producer id, as the Java client bumps its epoch). If an
 * abandoned send is acknowledged later, the ack is recorded too: acked wins.
 * The producing client is `@platformatic/kafka` or kafkajs (`client`, see
 * producer_client.ts); both are held to these rules.
 *
 * ```ts
 * import { Generator } from "./generator.ts";
 * const gen = new Generator({ brokers: ["127.0.0.1:29111"], eps: 5000, durationMs: 10_000, seed: "7" });
 * const ledger = await gen.run();
 * console.log(ledger.totals());
 * ```
 * @module
 */

import { Counter, Gauge, Histogram, Registry } from "prom-client";
import { type Kafka, Partitioners, type PartitionMetadata } from "kafkajs";
import {
  type Incident,
  INCIDENT_KINDS,
  incidentEntity,
  type IncidentKind,
  planIncident,
  type PlannedFlow,
} from "./anomalies.ts";
import { eventSerializer, type TelemetryEvent, TOPIC_DEFAULT } from "./event.ts";
import { definitelyNotAppended, kafkaClient, topicPartitions } from "./kafka.ts";
import { Ledger } from "./ledger.ts";
import { corrupt } from "./malformed.ts";
import { hash32, Rng } from "./rng.ts";
import { baselineFlow } from "./traffic.ts";
import {
  DEFAULT_KAFKA_CLIENT,
  type KafkaClientKind,
  type ProduceMessage,
  type ProducerClient,
  producerClient,
} from "./producer_client.ts";

export interface ScheduledIncident {
  /** Start, in ms after the generator starts. */
  at_ms: number;
  kind: IncidentKind;
  /** Default 20000 (port scans use at most 5000 of it). */
  duration_ms?: number;
  /** Default: a fresh address for the kind. */
  entity?: string;
}

export interface AnomalyProbabilities {
  latency_spike: number;
  reset_storm: number;
  exfil: number;
  port_scan: number;
}

export interface GeneratorOptions {
  brokers: string[];
  /** Default "network-telemetry". */
  topic?: string;
  /** Target events per second over all workers. Default 10000. */
  eps?: number;
  /** Default 4. */
  workers?: number;
  /** Default 60000. */
  durationMs?: number;
  /** Default "1". */
  seed?: string;
  /** Default: random. */
  runId?: string;
  /** Random anomalies and malformed records. Default false. */
  chaosMode?: boolean;
  /** Per event chances that an incident starts (chaos mode). Default 1e-5 each. */
  probabilities?: Partial<AnomalyProbabilities>;
  /** Per event chance of a malformed record (chaos mode). Default 0.001. */
  malformedProb?: number;
  incidents?: ScheduledIncident[];
  /** Most events per produce request per worker. Default 1000. */
  batchSize?: number;
  /** Default 30000. */
  deliveryTimeoutMs?: number;
  /** -1 (all), 1 or 0. Default -1. */
  acks?: -1 | 0 | 1;
  /** Default true. */
  idempotent?: boolean;
  /**
   * "per-partition" (default): one produce call per partition, so each call
   * goes to one leader. "batch": one call for the whole batch, spanning
   * brokers, which exposes a kafkajs bug: after a leader change, send() can
   * resolve for messages a failed sibling request dropped (kafkajs issue
   * #1303; the validator then reports them lost before Kafka).
   */
  sendMode?: "per-partition" | "batch";
  /**
   * The Kafka client that produces: "platformatic" (`@platformatic/kafka`, the default:
   * `DEFAULT_KAFKA_CLIENT`) or "kafkajs". Partitions are kafkajs's default partitioner's
   * either way.
   */
  client?: KafkaClientKind;
  /** Metrics go here. Default: a registry of its own (`metrics`). */
  registry?: Registry;
  /** A kafkajs client to use instead of making one. */
  kafka?: Kafka;
}

export interface GeneratorStatus {
  elapsed_s: number;
  target_eps: number;
  /** Acknowledged events per second over the last second. */
  acked_eps: number;
  /** p95 round trip (ms) of the sends acknowledged in the last second; null when none were. */
  p95_send_ms: number | null;
  in_flight: number;
  attempted: number;
  acked: number;
  failed: number;
  unknown: number;
  incidents: number;
  malformed: number;
}

const DEFAULT_INCIDENT_MS = 20_000;
/** Random incidents do not start this close to the end, so they finish inside the run. */
const RANDOM_INCIDENT_GUARD_MS = 25_000;
/** A worker that fell behind catches up at most this much, then skips the rest. */
const MAX_CATCH_UP_MS = 2000;

export class Generator {
  readonly ledger: Ledger;
  readonly metrics: Registry;
  readonly options: Required<Omit<GeneratorOptions, "registry" | "kafka" | "probabilities">> & {
    probabilities: AnomalyProbabilities;
  };
  readonly #kafka: Kafka;
  readonly #queues: PlannedFlow[][];
  readonly #entityCounters = new Map<IncidentKind, number>();
  #incidentCount = 0;
  #partitions: PartitionMetadata[] = [];
  readonly #partitioner = Partitioners.DefaultPartitioner();
  readonly #partitionByKey = new Map<string, number>();
  #inFlight = 0;
  #t0 = 0;
  readonly #m: {
    attempted: Counter;
    acked: Counter;
    failed: Counter;
    unknown: Counter;
    malformed: Counter;
    anomalies: Counter;
    latency: Histogram;
    inFlight: Gauge;
    target: Gauge;
  };

  constructor(options: GeneratorOptions) {
    const workers = options.workers ?? 4;
    this.options = {
      brokers: options.brokers,
      topic: options.topic ?? TOPIC_DEFAULT,
      eps: options.eps ?? 10_000,
      workers,
      durationMs: options.durationMs ?? 60_000,
      seed: options.seed ?? "1",
      runId: options.runId || randomRunId(),
      chaosMode: options.chaosMode ?? false,
      probabilities: {
        latency_spike: 1e-5,
        reset_storm: 1e-5,
        exfil: 1e-5,
        port_scan: 1e-5,
        ...options.probabilities,
      },
      malformedProb: options.malformedProb ?? 0.001,
      incidents: options.incidents ?? [],
      batchSize: options.batchSize ?? 1000,
      deliveryTimeoutMs: options.deliveryTimeoutMs ?? 30_000,
      acks: options.acks ?? -1,
      idempotent: options.idempotent ?? true,
      sendMode: options.sendMode ?? "per-partition",
      client: options.client ?? DEFAULT_KAFKA_CLIENT,
    };
    if (this.options.idempotent && this.options.acks !== -1) {
      throw new RangeError("an idempotent producer needs acks=all (-1)");
    }
    for (const s of this.options.incidents) {
      const end = s.at_ms + (s.duration_ms ?? DEFAULT_INCIDENT_MS);
      if (end > this.options.durationMs) {
        throw new RangeError(
          `incident ${s.kind} at ${s.at_ms} ms ends at ${end} ms, after the run (${this.options.durationMs} ms)`,
        );
      }
    }
    this.ledger = new Ledger({
      run_id: this.options.runId,
      topic: this.options.topic,
      seed: this.options.seed,
    });
    this.#kafka = options.kafka ??
      kafkaClient(this.options.brokers, `generator-${this.options.runId}`, {
        requestTimeout: Math.min(10_000, Math.max(1000, this.options.deliveryTimeoutMs / 3)),
      });
    this.#queues = Array.from({ length: workers }, () => []);
    this.metrics = options.registry ?? new Registry();
    const reg = [this.metrics];
    this.#m = {
      attempted: new Counter({
        name: "generator_events_produced_total",
        help: "events handed to Kafka",
        registers: reg,
      }),
      acked: new Counter({
        name: "generator_events_acked_total",
        help: "events Kafka acknowledged",
        registers: reg,
      }),
      failed: new Counter({
        name: "generator_events_failed_total",
        help: "events Kafka refused",
        registers: reg,
      }),
      unknown: new Counter({
        name: "generator_events_unknown_total",
        help: "events whose fate is unknown (timeout, lost connection)",
        registers: reg,
      }),
      malformed: new Counter({
        name: "generator_events_malformed_total",
        help: "deliberately malformed events",
        registers: reg,
      }),
      anomalies: new Counter({
        name: "generator_anomalies_total",
        help: "incidents injected, by kind",
        labelNames: ["kind"],
        registers: reg,
      }),
      latency: new Histogram({
        name: "generator_send_latency_seconds",
        help: "produce request round trip",
        buckets: [0.002, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30],
        registers: reg,
      }),
      inFlight: new Gauge({
        name: "generator_in_flight_requests",
        help: "produce requests awaiting an answer",
        registers: reg,
      }),
      target: new Gauge({
        name: "generator_target_eps",
        help: "target events per second",
        registers: reg,
      }),
    };
  }

  /** Live figures for a status line. */
  status(): GeneratorStatus {
    const t = this.ledger.totals();
    const now = performance.now();
    return {
      elapsed_s: this.#t0 ? (now - this.#t0) / 1000 : 0,
      target_eps: this.options.eps,
      acked_eps: this.#ackedLastSecond(now),
      p95_send_ms: this.#p95LastSecond(),
      in_flight: this.#inFlight,
      attempted: t.attempted,
      acked: t.acked,
      failed: t.failed,
      unknown: t.unknown,
      incidents: this.ledger.incidents.length,
      malformed: t.malformed,
    };
  }

  /** Acknowledged sends of the last second: [time, events, round trip ms]. */
  #acks: Array<[number, number, number]> = [];
  #ackedLastSecond(now: number): number {
    this.#acks = this.#acks.filter(([t]) => t > now - 1000);
    return this.#acks.reduce((s, [, n]) => s + n, 0);
  }
  #p95LastSecond(): number | null {
    if (this.#acks.length === 0) return null;
    const rtts = this.#acks.map(([, , ms]) => ms).sort((a, b) => a - b);
    return Math.round(rtts[Math.min(rtts.length - 1, Math.ceil(0.95 * rtts.length) - 1)]);
  }

  /** Runs until the duration is over or `signal` aborts; returns the ledger. */
  async run(signal?: AbortSignal): Promise<Ledger> {
    const o = this.options;
    this.#m.target.set(o.eps);
    this.#t0 = performance.now();
    const wallStart = Date.now();
    this.ledger.meta.started_at_ms = wallStart;
    const admin = this.#kafka.admin();
    await admin.connect();
    try {
      this.#partitions = await topicPartitions(admin, o.topic);
    } finally {
      await admin.disconnect();
    }
    const rng = new Rng(`${o.seed}/incidents`);
    for (const s of o.incidents) {
      this.#inject(rng, s.kind, wallStart + s.at_ms, s.duration_ms ?? DEFAULT_INCIDENT_MS, {
        entity: s.entity,
        scheduled: true,
      });
    }
    await Promise.all(
      Array.from({ length: o.workers }, (_, i) => this.#worker(i, wallStart, signal)),
    );
    this.ledger.meta.ended_at_ms = Date.now();
    return this.ledger;
  }

  #inject(
    rng: Rng,
    kind: IncidentKind,
    startMs: number,
    durationMs: number,
    options: { entity?: string; scheduled: boolean; worker?: number },
  ): Incident {
    // Entities start at an offset drawn from the run id, so runs that share a Redis (whose alert
    // locks outlive a run) do not reuse each other's addresses.
    const n = this.#entityCounters.get(kind) ?? hash32(this.options.runId) % 50_000;
    this.#entityCounters.set(kind, n + 1);
    const id = `inc-${String(++this.#incidentCount).padStart(4, "0")}`;
    const { incident, flows } = planIncident(rng, {
      id,
      kind,
      entity: options.entity ?? incidentEntity(kind, n),
      start_ms: startMs,
      duration_ms: durationMs,
      scheduled: options.scheduled,
    });
    const worker = options.worker ?? (this.#incidentCount - 1) % this.options.workers;
    const queue = this.#queues[worker];
    queue.push(...flows);
    queue.sort((a, b) => a.at_ms - b.at_ms);
    this.ledger.incident(incident);
    this.#m.anomalies.inc({ kind });
    return incident;
  }

  #newProducer(worker: number): ProducerClient {
    const o = this.options;
    return producerClient(o.client, {
      brokers: o.brokers,
      kafka: this.#kafka,
      clientId: `generator-${o.runId}-w${worker}`.replace(/[^\w.-]/g, "_"),
      acks: o.acks,
      idempotent: o.idempotent,
      deliveryTimeoutMs: o.deliveryTimeoutMs,
    });
  }

  async #worker(index: number, wallStart: number, signal?: AbortSignal): Promise<void> {
    const o = this.options;
    const producerId = `${o.runId}-w${index}`;
    const serialize = eventSerializer(producerId);
    const rng = new Rng(`${o.seed}/w${index}`);
    const chaosRng = new Rng(`${o.seed}/w${index}/chaos`);
    const queue = this.#queues[index];
    const perWorker = o.eps / o.workers;
    const endWall = wallStart + o.durationMs;
    let producer = this.#newProducer(index);
    await producer.connect();
    let seq = 0;
    let credited = 0; // events the pacing has accounted for
    let paceStart = performance.now();
    const pending = new Set<Promise<void>>();
    try {
      while (!signal?.aborted) {
        const nowWall = Date.now();
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
          await new Promise((r) => setTimeout(r, Math.max(1, Math.min(50, waitMs))));
          continue;
        }
        const n = Math.max(1, Math.min(Math.max(due, 0), o.batchSize));
        const first = seq;
        const messages: ProduceMessage[] = [];
        for (let k = 0; k < n; k++) {
          let flow;
          let ts = nowWall;
          if (queue.length > 0 && queue[0].at_ms <= nowWall) {
            const planned = queue.shift()!;
            flow = planned.flow;
            ts = planned.at_ms;
          } else {
            flow = baselineFlow(rng);
            if (o.chaosMode && nowWall < endWall - RANDOM_INCIDENT_GUARD_MS) {
              this.#maybeRandom(chaosRng, index);
            }
          }
          let value: string;
          if (o.chaosMode && chaosRng.chance(o.malformedProb)) {
            const event: TelemetryEvent = { producer_id: producerId, seq, ts_ms: ts, ...flow };
            value = corrupt(chaosRng, event).raw;
            this.ledger.malformed(producerId, seq);
            this.#m.malformed.inc();
          } else {
            value = serialize(seq, ts, flow);
          }
          messages.push({ key: flow.src_ip, value, partition: this.#partitionOf(flow.src_ip) });
          seq++;
        }
        credited += due > 0 ? n : 0;
        this.ledger.attempt(producerId, first, seq - 1);
        this.#m.attempted.inc(n);
        const seqs = Array.from({ length: n }, (_, k) => first + k);
        const groups = o.sendMode === "batch"
          ? [{ messages, seqs }]
          : this.#byPartition(messages, seqs);
        const outcomes = groups.map((g) => this.#send(producer, g.messages, producerId, g.seqs));
        for (const outcome of outcomes) {
          pending.add(outcome.settled);
          outcome.settled.finally(() => pending.delete(outcome.settled));
        }
        const ok = (await Promise.all(outcomes.map((x) => x.result))).every(Boolean);
        if (!ok) {
          // Unknown or failed: continue on a fresh producer (new producer id).
          const old = producer;
          old.close().catch(() => {});
          producer = this.#newProducer(index);
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
    }
  }

  /**
   * The partition kafkajs's default partitioner picks for `key`, cached: keys are source
   * addresses (a few thousand), and murmur2 over a fresh Buffer per event is 10% of the CPU.
   */
  #partitionOf(key: string): number {
    let p = this.#partitionByKey.get(key);
    if (p === undefined) {
      if (this.#partitionByKey.size >= 100_000) this.#partitionByKey.clear();
      p = this.#partitioner({
        topic: this.options.topic,
        partitionMetadata: this.#partitions,
        message: { key, value: null },
      });
      this.#partitionByKey.set(key, p);
    }
    return p;
  }

  /** Splits a batch by partition (each message carries its own). */
  #byPartition(
    messages: ProduceMessage[],
    seqs: number[],
  ): { messages: ProduceMessage[]; seqs: number[] }[] {
    const groups = new Map<number, { messages: ProduceMessage[]; seqs: number[] }>();
    for (let i = 0; i < messages.length; i++) {
      const partition = messages[i].partition;
      let g = groups.get(partition);
      if (!g) groups.set(partition, g = { messages: [], seqs: [] });
      g.messages.push(messages[i]);
      g.seqs.push(seqs[i]);
    }
    return [...groups.values()];
  }

  #maybeRandom(rng: Rng, worker: number): void {
    const p = this.options.probabilities;
    for (const kind of INCIDENT_KINDS) {
      if (rng.chance(p[kind])) {
        this.#inject(rng, kind, Date.now() + 100, DEFAULT_INCIDENT_MS, {
          scheduled: false,
          worker,
        });
      }
    }
  }

  /**
   * Sends one batch. `result` resolves true when acknowledged, false when it
   * failed or timed out (recorded as failed or unknown). `settled` resolves
   * when the send is really over, which may be after the delivery timeout (a
   * late ack is then recorded as acked).
   */
  #send(
    producer: ProducerClient,
    messages: ProduceMessage[],
    producerId: string,
    seqs: number[],
  ): { result: Promise<boolean>; settled: Promise<void> } {
    const record = (outcome: "ack" | "fail" | "unknown") => {
      // seqs ascend: record them as runs of consecutive numbers.
      let lo = seqs[0];
      for (let i = 1; i <= seqs.length; i++) {
        if (i === seqs.length || seqs[i] !== seqs[i - 1] + 1) {
          this.ledger[outcome](producerId, lo, seqs[i - 1]);
          lo = seqs[i];
        }
      }
    };
    const o = this.options;
    const started = performance.now();
    this.#inFlight++;
    this.#m.inFlight.inc();
    let timedOut = false;
    let timer: ReturnType<typeof setTimeout> | undefined;
    const send = producer.send(o.topic, messages);
    const settled = send.then(
      () => {
        record("ack");
        this.#m.acked.inc(messages.length);
        const now = performance.now();
        this.#acks.push([now, messages.length, now - started]);
        this.#m.latency.observe((now - started) / 1000);
      },
      (error) => {
        if (timedOut) return; // already recorded unknown
        if (definitelyNotAppended(error)) {
          record("fail");
          this.#m.failed.inc(messages.length);
        } else {
          record("unknown");
          this.#m.unknown.inc(messages.length);
        }
      },
    ).finally(() => {
      clearTimeout(timer);
      this.#inFlight--;
      this.#m.inFlight.dec();
    });
    const timeout = new Promise<boolean>((resolve) => {
      timer = setTimeout(() => {
        timedOut = true;
        record("unknown");
        this.#m.unknown.inc(messages.length);
        resolve(false);
      }, o.deliveryTimeoutMs);
    });
    const result = Promise.race([
      send.then(() => true, () => false),
      timeout,
    ]);
    return { result, settled };
  }
}

function randomRunId(): string {
  const t = new Date().toISOString().replace(/[-:]/g, "").replace(/\..*/, "");
  const r = Array.from(
    crypto.getRandomValues(new Uint8Array(3)),
    (b) => b.toString(16).padStart(2, "0"),
  )
    .join("");
  return `${t}-${r}`;
}
