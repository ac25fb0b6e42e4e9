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
 * Threads: each worker (generator_loop.ts) runs in a Web Worker of its own by
 * default (`threads`, generator_thread.ts), so making events and the client's
 * encoding are not bound to one core; the ledger, the incidents and the
 * metrics stay on this thread, which replays the workers' reports.
 *
 * ```ts
 * import { Generator } from "./generator.ts";
 * const gen = new Generator({ brokers: ["127.0.0.1:29111"], eps: 5000, durationMs: 10_000, seed: "7" });
 * const ledger = await gen.run();
 * console.log(ledger.totals());
 * ```
 * @module
 */

import { type Counter, Registry } from "prom-client";
import type { Kafka } from "kafkajs";
import {
  ENTITY_KEY,
  ENTITY_POOLS,
  type EntityKey,
  entityWalk,
  type Incident,
  type IncidentKind,
  planIncident,
  randomEntitySecret,
} from "./anomalies.ts";
import { TOPIC_DEFAULT } from "./event.ts";
import { GeneratorLoop, type LoopConfig, type LoopHost } from "./generator_loop.ts";
import { GeneratorThread } from "./generator_thread.ts";
import { kafkaClient, topicPartitions } from "./kafka.ts";
import { securityFor } from "./kafka_security.ts";
import { Ledger } from "./ledger.ts";
import { Rng } from "./rng.ts";
import { destinationShare } from "./traffic.ts";
import { DEFAULT_KAFKA_CLIENT } from "./producer_client.ts";
import { quantile } from "../lib/stats.ts";
import { type GeneratorMetrics, generatorMetrics } from "./generator_metrics.ts";
import type {
  AnomalyProbabilities,
  GeneratorOptions,
  GeneratorStatus,
} from "./generator_options.ts";

const DEFAULT_INCIDENT_MS = 20_000;

export class Generator {
  readonly ledger: Ledger;
  readonly metrics: Registry;
  readonly options:
    & Required<
      Omit<
        GeneratorOptions,
        "registry" | "kafka" | "probabilities" | "kafkaLogFile" | "entitySecret"
      >
    >
    & { probabilities: AnomalyProbabilities; kafkaLogFile?: string };
  readonly #kafka: Kafka;
  /** Keys the entity walks (anomalies.ts, `entityWalk`); kept out of `options`, never logged. */
  readonly #entitySecret: string;
  /** Per key, the walk over the run's entities and how far along it incidents took them. */
  readonly #entities = new Map<EntityKey, { walk: (n: number) => string; next: number }>();
  /** The scheduled incidents' explicit entities, which no drawn entity takes. */
  readonly #explicit: Set<string>;
  #incidentCount = 0;
  #workers: Array<GeneratorLoop | GeneratorThread> = [];
  #prepared?: Promise<void>;
  #inFlight = 0;
  #t0 = 0;
  readonly #m: GeneratorMetrics;

  constructor(options: GeneratorOptions) {
    const workers = options.workers ?? 4;
    this.options = {
      brokers: options.brokers,
      topic: options.topic ?? TOPIC_DEFAULT,
      eps: options.eps ?? 10_000,
      runEps: options.runEps ?? options.eps ?? 10_000,
      workers,
      workerOffset: options.workerOffset ?? 0,
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
      threads: options.threads ?? true,
      kafkaLogFile: options.kafkaLogFile,
    };
    this.#entitySecret = options.entitySecret || randomEntitySecret();
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
    this.#explicit = new Set(
      this.options.incidents.flatMap((s) => s.entity === undefined ? [] : [s.entity]),
    );
    this.ledger = new Ledger({
      run_id: this.options.runId,
      topic: this.options.topic,
      seed: this.options.seed,
    });
    this.#kafka = options.kafka ??
      kafkaClient(this.options.brokers, `generator-${this.options.runId}`, {
        requestTimeout: Math.min(10_000, Math.max(1000, this.options.deliveryTimeoutMs / 3)),
      });
    this.metrics = options.registry ?? new Registry();
    this.#m = generatorMetrics(this.metrics);
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
    return Math.round(quantile(this.#acks.map(([, , ms]) => ms), 0.95)!);
  }

  /**
   * Reads the topic's partitions, starts every worker (a thread each, by default) and
   * connects its producer, so that `run` produces from its first millisecond. `run` calls it
   * when it was not called before; a caller that starts a clock of its own (the harness, whose
   * faults and samples are timed from the workload's start) calls it first.
   */
  prepare(): Promise<void> {
    return this.#prepared ??= this.#prepare();
  }

  async #prepare(): Promise<void> {
    const o = this.options;
    const admin = this.#kafka.admin();
    await admin.connect();
    let partitions;
    try {
      partitions = await topicPartitions(admin, o.topic);
    } finally {
      await admin.disconnect();
    }
    this.#workers = Array.from({ length: o.workers }, (_, index) => {
      const config: LoopConfig = {
        index: o.workerOffset + index,
        runId: o.runId,
        brokers: o.brokers,
        topic: o.topic,
        partitions,
        eps: o.eps / o.workers,
        durationMs: o.durationMs,
        seed: o.seed,
        chaosMode: o.chaosMode,
        probabilities: o.probabilities,
        malformedProb: o.malformedProb,
        batchSize: o.batchSize,
        deliveryTimeoutMs: o.deliveryTimeoutMs,
        acks: o.acks,
        idempotent: o.idempotent,
        sendMode: o.sendMode,
        client: o.client,
        kafkaLogFile: o.kafkaLogFile,
        security: securityFor(o.brokers),
      };
      const host = this.#host(index);
      return o.threads
        ? new GeneratorThread(config, host)
        : new GeneratorLoop(config, host, this.#kafka);
    });
    // Every producer is connected (and every thread running) before any clock starts.
    const prepared = await Promise.allSettled(this.#workers.map((w) => w.prepare()));
    const unprepared = prepared.find((p) => p.status === "rejected");
    if (unprepared) {
      for (const w of this.#workers) w.stop();
      await Promise.allSettled(this.#workers.map((w) => w.run(Date.now())));
      throw (unprepared as PromiseRejectedResult).reason;
    }
  }

  /** Runs until the duration is over or `signal` aborts; returns the ledger. */
  async run(signal?: AbortSignal): Promise<Ledger> {
    const o = this.options;
    this.#m.target.set(o.eps);
    await this.prepare();
    this.#t0 = performance.now();
    const wallStart = Date.now();
    this.ledger.meta.started_at_ms = wallStart;
    const rng = new Rng(`${o.seed}/incidents`);
    for (const s of o.incidents) {
      this.#inject(rng, s.kind, wallStart + s.at_ms, s.duration_ms ?? DEFAULT_INCIDENT_MS, {
        entity: s.entity,
        scheduled: true,
      });
    }
    const stop = () => this.#workers.forEach((w) => w.stop());
    if (signal?.aborted) stop();
    signal?.addEventListener("abort", stop, { once: true });
    try {
      // Every worker ends before the run does, even when one of them failed.
      const ends = await Promise.allSettled(this.#workers.map((w) => w.run(wallStart)));
      const failed = ends.find((e) => e.status === "rejected");
      if (failed) throw (failed as PromiseRejectedResult).reason;
    } finally {
      signal?.removeEventListener("abort", stop);
    }
    this.ledger.meta.ended_at_ms = Date.now();
    return this.ledger;
  }

  /** How worker `index` reports: ledger writes (and the counters they move), acks, requests. */
  #host(index: number): LoopHost {
    const ledger = this.ledger;
    const m = this.#m;
    const randomRng = new Rng(`${this.options.seed}/w${index}/random-incidents`);
    /** A ledger write that also moves its counter. */
    const counted =
      (write: (p: string, lo: number, hi: number) => void, counter: Counter) =>
      (producer: string, lo: number, hi = lo) => {
        write(producer, lo, hi);
        counter.inc(hi - lo + 1);
      };
    return {
      ledger: {
        attempt: counted((p, lo, hi) => ledger.attempt(p, lo, hi), m.attempted),
        ack: counted((p, lo, hi) => ledger.ack(p, lo, hi), m.acked),
        fail: counted((p, lo, hi) => ledger.fail(p, lo, hi), m.failed),
        unknown: counted((p, lo, hi) => ledger.unknown(p, lo, hi), m.unknown),
        malformed: (producer, seq) => {
          ledger.malformed(producer, seq);
          m.malformed.inc();
        },
      },
      acked: (events, rttMs) => {
        this.#acks.push([performance.now(), events, rttMs]);
        m.latency.observe(rttMs / 1000);
      },
      inFlight: (delta) => {
        this.#inFlight += delta;
        m.inFlight.inc(delta);
      },
      randomIncident: (kind, atMs) => {
        this.#inject(randomRng, kind, atMs, DEFAULT_INCIDENT_MS, {
          scheduled: false,
          worker: index,
        });
      },
    };
  }

  #inject(
    rng: Rng,
    kind: IncidentKind,
    startMs: number,
    durationMs: number,
    options: { entity?: string; scheduled: boolean; worker?: number },
  ): Incident {
    const offset = this.options.workerOffset;
    const id = `inc-${offset ? `o${offset}-` : ""}${
      String(++this.#incidentCount).padStart(4, "0")
    }`;
    const entity = options.entity ?? this.#nextEntity(ENTITY_KEY[kind]);
    const { incident, flows } = planIncident(rng, {
      id,
      kind,
      entity,
      start_ms: startMs,
      duration_ms: durationMs,
      scheduled: options.scheduled,
      // What the whole run (every process) sends to a destination entity, for the incident to
      // stand out of it.
      baseline_eps: ENTITY_KEY[kind] === "dst_ip"
        ? this.options.runEps * destinationShare(entity)
        : 0,
    });
    const worker = options.worker ?? (this.#incidentCount - 1) % this.options.workers;
    this.#workers[worker].addFlows(flows);
    this.ledger.incident(incident);
    this.#m.anomalies.inc({ kind });
    return incident;
  }

  /**
   * The next baseline address of the run's walk for `key` (anomalies.ts, `entityWalk`): drawn
   * from the entity secret (not the run id, which the topic shows) and set apart by the worker offset, so that incidents of one run never share
   * an entity (while the pool lasts) and runs that share a Redis, whose alert locks outlive a run,
   * seldom reuse one. An address a scheduled incident names is skipped.
   */
  #nextEntity(key: EntityKey): string {
    let e = this.#entities.get(key);
    if (!e) {
      e = { walk: entityWalk(key, this.#entitySecret, this.options.workerOffset), next: 0 };
      this.#entities.set(key, e);
    }
    for (let tries = 0; tries < ENTITY_POOLS[key].length; tries++) {
      const entity = e.walk(e.next++);
      if (!this.#explicit.has(entity)) return entity;
    }
    return e.walk(e.next++);
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
