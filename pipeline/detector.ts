/**
 * The detector: a Kafka consumer group of its own that keeps event-time
 * sliding windows per source and per destination (windows.ts), evaluates the
 * rules (rules.ts) when a window closes, and raises alerts to a webhook. Every
 * tick the rules are also checked on the open windows that gained events, and
 * fire early (`early: true`, with the window's nominal bounds, as every alert):
 * seconds before the window could close, since that waits for the watermark
 * (the out-of-orderness bound past the window's end). The source rules
 * (exfiltration, port scan) only grow with a window's events and fire as soon
 * as the events received cross the threshold; the destination rules (a p95, a
 * share) fire early only with a margin of harmless events still to come
 * (rules.ts, `earlyMargin`), else at the close. `earlyAlerts: false` keeps
 * every alert for the close (bench:detector times that path with it).
 *
 * Fast after the watermark: a batch that moves the watermark past a window's
 * end runs a tick at once (the 250 ms timer is for early rules, idle
 * partitions and retries); the candidates of a tick are locked in one Redis
 * round trip (sent together, executed in order); offsets are committed in the
 * background, since a commit can wait seconds on a failed broker and must not
 * hold the next windows. Each alert records its steps on the detector's clock
 * (alert.ts `AlertTimeline`: watermark passed, fired, locked, each attempt and
 * its answer), carried in its JSON deliveries (ms) and in `detector_alert_*_seconds`.
 *
 * Exactly one alert per incident:
 * - before firing, `SET alert:<group>:<rule>:<entity> NX PX <ttl>` in Redis
 *   (default 15 minutes); only the caller that takes the lock fires, so the
 *   consecutive windows of one incident, a restarted detector replaying them,
 *   and a second detector of the group all fire once; runs that share a Redis
 *   (each with its own group) do not silence each other. The lock and the outbox entry are written by one
 *   Lua script, atomically.
 * - the outbox (a Redis hash) keeps the alert until the webhook answered 2xx;
 *   deliveries retry with backoff (timeouts, 5xx), and a restarted detector
 *   delivers what its predecessor left there. A delivery repeated after a crash
 *   carries the same `Idempotency-Key`.
 * - offsets are committed only behind events whose windows have all closed and
 *   whose candidate alerts are all locked in Redis, so a SIGKILL mid-incident
 *   replays what is needed to rebuild the windows.
 *
 * Redis down: the detector keeps consuming but does not fire, commit, or drop
 * candidate alerts; it retries until Redis answers, then fires (or finds the
 * lock taken). So an outage delays alerts, never loses or doubles them.
 *
 * `sabotage` (sabotage.ts) makes it one of the cheating detectors teams hand
 * in, for the tests of the validator and the grader; its default, "none",
 * costs one branch per event.
 *
 * ```ts
 * import { Detector } from "./detector.ts";
 * const d = new Detector({ brokers, redisUrl, webhookUrl });
 * await d.start();
 * await d.stop();
 * ```
 * @module
 */

import { Redis } from "ioredis";
import { Registry } from "prom-client";
import { type DetectorMetrics, detectorMetrics } from "./detector_metrics.ts";
import type { Consumer, ConsumerRunConfig, Kafka } from "kafkajs";
import { keepRunning } from "./consumer_restart.ts";
import {
  type Alert,
  alertBody,
  alertId,
  attemptBody,
  type DeliveryAttempt,
  MAX_ATTEMPTS_KEPT,
  sign,
  SIGNATURE_HEADER,
  type WebhookFormat,
} from "./alert.ts";
import { TOPIC_DEFAULT } from "./event.ts";
import { readFlow, type WindowedFlow } from "./event_text.ts";
import { kafkaClient } from "./kafka.ts";
import {
  type Candidate,
  DEFAULT_THRESHOLDS,
  DESTINATION_AGG,
  type DestinationAgg,
  destinationMayFire,
  earlyDestinationCandidates,
  earlySourceCandidates,
  evaluateDestination,
  evaluateSource,
  SOURCE_AGG,
  type SourceAgg,
  sourceMayFire,
  type Thresholds,
} from "./rules.ts";
import { type FiredWindow, SlidingWindows, WatermarkClock, type WindowOptions } from "./windows.ts";
import {
  blockMatches,
  claimedCandidate,
  type DetectorSabotage,
  LEDGER_PEEK_MS,
  NEVER_THRESHOLDS,
  peekLedgers,
  sabotagedAlert,
  SPAM_THRESHOLDS,
  windowOf,
} from "./sabotage.ts";
import { type ObjectStore, objectStore, type S3Settings } from "./store.ts";

export interface DetectorOptions {
  brokers: string[];
  redisUrl: string;
  webhookUrl: string;
  /** Body format of deliveries. Default "json" (the contract). */
  format?: WebhookFormat;
  /** HMAC secret for the signature header. Default: `WEBHOOK_SECRET` or none. */
  secret?: string;
  topic?: string;
  /** Default "telemetry-detector". */
  groupId?: string;
  windows?: WindowOptions;
  thresholds?: Partial<Thresholds>;
  /** Default 15 minutes. */
  lockTtlMs?: number;
  /** Fire on open windows when a rule already holds (default true; false: at the close only). */
  earlyAlerts?: boolean;
  registry?: Registry;
  kafka?: Kafka;
  /** A Redis client to use instead of one connected to `redisUrl` (tests). */
  redis?: Redis;
  /**
   * Sabotage, for the tests that prove the validator and the grader catch a cheating
   * detector (sabotage.ts). "none" (the default) is the contract's detector.
   */
  sabotage?: DetectorSabotage;
  /** The pipeline's bucket: only the `ledger` sabotage reads it. */
  s3?: S3Settings;
}

/** The timer's tick: early rules, idle partitions, Redis retries (a window end passing kicks one at once). */
const TICK_MS = 250;

/** Candidates raised at once (one Redis round trip for all, in order: the earliest window wins its lock). */
const RAISE_BATCH = 64;

/** Deliveries in flight at once when the `spam` sabotage floods the webhook. */
const SPAM_DELIVERIES = 256;

const LOCK_AND_OUTBOX = `
if redis.call('SET', KEYS[1], ARGV[1], 'NX', 'PX', ARGV[2]) then
  redis.call('HSET', KEYS[2], ARGV[1], ARGV[3])
  return 1
end
return 0`;

interface Pending {
  candidate: Candidate;
  window: { start: number; end: number };
  early?: boolean;
  /** Wall time at which the rule held (the alert's `fired_at_ms`). */
  firedAt: number;
  /** Wall time at which the watermark passed the window's end (window-close alerts). */
  watermarkPassedAt?: number;
}

/**
 * Runs `run` over `queue` from its head, `batch` at a time started together (a Redis client
 * sends them in order on one connection, so Redis executes them in order), removing each
 * batch's items up to the first that failed; rethrows that failure, the failed item and those
 * after it left in `queue` (retried later: a lock already taken by one of them is found taken).
 */
export async function drainInOrder<T>(
  queue: T[],
  run: (item: T) => Promise<void>,
  batch: number,
): Promise<void> {
  while (queue.length > 0) {
    const items = queue.slice(0, Math.max(1, batch));
    const done = await Promise.allSettled(items.map(run));
    const failed = done.findIndex((d) => d.status === "rejected");
    queue.splice(0, failed === -1 ? items.length : failed);
    if (failed !== -1) throw (done[failed] as PromiseRejectedResult).reason;
  }
}

/** What a fetch waits for: this many bytes, or this long. */
const FETCH_MIN_BYTES = 64 * 1024;
const FETCH_MAX_WAIT_MS = 50;

export class Detector {
  readonly metrics: Registry;
  readonly topic: string;
  readonly groupId: string;
  readonly #o:
    & Required<
      Pick<DetectorOptions, "webhookUrl" | "lockTtlMs" | "format" | "earlyAlerts">
    >
    & {
      secret?: string;
    };
  readonly #thresholds: Thresholds;
  readonly #kafka: Kafka;
  readonly #redis: Redis;
  readonly #bySource: SlidingWindows<SourceAgg, WindowedFlow>;
  readonly #byDest: SlidingWindows<DestinationAgg, WindowedFlow>;
  readonly #outboxKey: string;
  /** When the watermark passed each window end (the alerts' timeline). */
  readonly #passed: WatermarkClock;
  /** Per partition: [lastOffset, maxTs] of consumed batches not yet committed. */
  readonly #uncommitted = new Map<number, Array<[number, number]>>();
  readonly #pending: Pending[] = [];
  readonly #delivering = new Set<string>();
  /** `rule|entity` -> wall time of its early candidate (one per lock period). */
  readonly #early = new Map<string, number>();
  #consumer: Consumer | undefined;
  #timer: ReturnType<typeof setInterval> | undefined;
  #ticking = false;
  /** A tick was asked for while one ran: run another right after. */
  #again = false;
  #committing = false;
  #stopping = false;
  #counts = { events: 0, invalid: 0, fired: 0, suppressed: 0, delivered: 0 };
  readonly #m: DetectorMetrics;
  /** Late events already added to `detector_late_events_total`. */
  #lateCounted = 0;
  readonly #sabotage: DetectorSabotage;
  /** The thresholds a cheat claims in the alerts it makes up (`block`, `ledger`). */
  readonly #claimed: Thresholds;
  /** `block`, `ledger`: the (rule, entity) pairs already claimed by this process. */
  readonly #claims = new Set<string>();
  #ledgerTimer: ReturnType<typeof setInterval> | undefined;
  readonly #s3: S3Settings | undefined;
  /** `spam`: deliveries waiting for a slot, and the slots free. */
  readonly #queued: Array<() => void> = [];
  #slots = SPAM_DELIVERIES;

  constructor(options: DetectorOptions) {
    this.topic = options.topic ?? TOPIC_DEFAULT;
    this.groupId = options.groupId ?? "telemetry-detector";
    this.#sabotage = options.sabotage ?? "none";
    this.#s3 = options.s3;
    if (this.#sabotage === "ledger" && !this.#s3) {
      throw new TypeError("the ledger sabotage needs the bucket's settings (s3)");
    }
    // spam: every rule holds over every closed window; block, ledger: no rule ever holds.
    const cheat = this.#sabotage === "spam"
      ? SPAM_THRESHOLDS
      : this.#sabotage === "block" || this.#sabotage === "ledger"
      ? NEVER_THRESHOLDS
      : undefined;
    this.#o = {
      webhookUrl: options.webhookUrl,
      lockTtlMs: options.lockTtlMs ?? 15 * 60_000,
      earlyAlerts: cheat ? false : options.earlyAlerts ?? true,
      format: options.format ?? "json",
      secret: options.secret ?? Deno.env.get("WEBHOOK_SECRET"),
    };
    this.#claimed = { ...DEFAULT_THRESHOLDS, ...options.thresholds };
    this.#thresholds = cheat ?? this.#claimed;
    this.#kafka = options.kafka ?? kafkaClient(options.brokers, `detector-${Deno.pid}`);
    this.#redis = options.redis ?? new Redis(options.redisUrl, {
      lazyConnect: true,
      maxRetriesPerRequest: 1,
      enableOfflineQueue: false,
      retryStrategy: (n: number) => Math.min(1000, 100 * n),
    });
    this.#redis.on("error", () => {}); // reported through failed commands and metrics
    // Open windows are tracked for early alerts only.
    this.#bySource = new SlidingWindows(SOURCE_AGG, options.windows, this.#o.earlyAlerts);
    this.#byDest = new SlidingWindows(DESTINATION_AGG, options.windows, this.#o.earlyAlerts);
    this.#outboxKey = `outbox:${this.groupId}`;
    this.#passed = new WatermarkClock(this.#bySource.slideMs, this.#bySource.latenessMs);
    this.metrics = options.registry ?? new Registry();
    this.#m = detectorMetrics(this.metrics);
  }

  status() {
    return { ...this.#counts, pending: this.#pending.length, outbox: this.#delivering.size };
  }

  async start(): Promise<void> {
    await this.#redis.connect().catch(() => {}); // retried by ioredis; firing waits for it
    const consumer = this.#kafka.consumer({
      groupId: this.groupId,
      sessionTimeout: 10_000,
      heartbeatInterval: 2000,
      metadataMaxAge: 5000, // new partitions taken within seconds (kafkajs default: 5 min)
      // A fetch waits for 64 KiB (or 50 ms) rather than returning each few records: fewer
      // fetches for the brokers and this thread, at most 50 ms more before an event is seen.
      minBytes: FETCH_MIN_BYTES,
      maxWaitTimeInMs: FETCH_MAX_WAIT_MS,
    });
    this.#consumer = consumer;
    consumer.on(consumer.events.GROUP_JOIN, () => this.#uncommitted.clear());
    const run = () => consumer.run(config);
    keepRunning(consumer, run, {
      stopping: () => this.#stopping,
      log: (line) => console.error(`detector: ${line}`),
    });
    const config: ConsumerRunConfig = {
      autoCommit: false,
      eachBatchAutoResolve: true,
      partitionsConsumedConcurrently: 8,
      // deno-lint-ignore require-await
      eachBatch: async ({ batch }) => {
        const now = Date.now();
        let maxTs = -Infinity;
        for (const message of batch.messages) {
          // The fields the rules use, read straight from a canonical text (event_text.ts).
          const e = readFlow(message.value?.toString() ?? "");
          if (typeof e === "string") {
            this.#counts.invalid++;
            this.#m.invalid.inc();
            continue;
          }
          if (this.#sabotage === "block") this.#claimByBlock(e);
          this.#bySource.add(batch.partition, e.src_ip, e.ts_ms, e, now);
          this.#byDest.add(batch.partition, e.dst_ip, e.ts_ms, e, now);
          maxTs = Math.max(maxTs, e.ts_ms);
          this.#counts.events++;
        }
        this.#m.events.inc(batch.messages.length);
        const list = this.#uncommitted.get(batch.partition) ?? [];
        list.push([Number(batch.lastOffset()), maxTs]);
        this.#uncommitted.set(batch.partition, list);
        // A window end passed: fire now, not at the next timer tick (up to TICK_MS later).
        if (this.#observeWatermark(now)) this.#kick();
      },
    };
    await consumer.connect();
    await consumer.subscribe({ topic: this.topic, fromBeginning: true });
    await run();
    this.#resumeOutbox();
    this.#timer = setInterval(() => this.#kick(), TICK_MS);
    if (this.#sabotage === "ledger") this.#peekLedgers(objectStore(this.#s3!));
  }

  async stop(): Promise<void> {
    this.#stopping = true;
    clearInterval(this.#timer);
    clearInterval(this.#ledgerTimer);
    await this.#consumer?.disconnect();
    this.#redis.disconnect();
  }

  /** Runs a tick now, or right after the one running. */
  #kick(): void {
    if (this.#stopping) return;
    if (this.#ticking) {
      this.#again = true;
      return;
    }
    this.#tick().catch(() => {}).finally(() => {
      if (this.#again) {
        this.#again = false;
        setTimeout(() => this.#kick(), 0);
      }
    });
  }

  /** Fires closed windows, locks their candidates, commits what is safe (in the background). */
  async #tick(): Promise<void> {
    if (this.#ticking || this.#stopping) return;
    this.#ticking = true;
    try {
      const now = Date.now();
      const t = this.#thresholds;
      for (const w of this.#bySource.advance(now, (p) => sourceMayFire(p, t))) {
        this.#collect(w, evaluateSource);
      }
      for (const w of this.#byDest.advance(now, (p) => destinationMayFire(p, t))) {
        this.#collect(w, evaluateDestination);
      }
      if (this.#o.earlyAlerts) this.#collectEarly(now);
      const late = this.#bySource.late;
      if (late > this.#lateCounted) this.#m.late.inc(late - this.#lateCounted);
      this.#lateCounted = late;
      this.#m.panes.set(this.#bySource.openPanes + this.#byDest.openPanes);
      const wm = this.#observeWatermark(now);
      if (Number.isFinite(wm)) this.#m.watermarkLag.set((now - wm) / 1000);
      // Throws while Redis is down: what is left is retried next tick.
      await drainInOrder(this.#pending, (p) => this.#raise(p), RAISE_BATCH);
      // A commit can wait seconds on a broker that failed: it must not hold the next windows.
      if (!this.#committing) {
        this.#committing = true;
        this.#commitClosed().catch(() => {}).finally(() => this.#committing = false);
      }
    } finally {
      this.#ticking = false;
    }
  }

  /** The watermark at `now`, its passing of window ends recorded (the alerts' timeline). */
  #observeWatermark(now: number): number {
    const wm = Math.min(this.#bySource.watermark(now), this.#byDest.watermark(now));
    this.#passed.observe(wm, now);
    return wm;
  }

  #collect<A>(window: FiredWindow<A>, evaluate: (e: string, a: A, t: Thresholds) => Candidate[]) {
    const firedAt = Date.now();
    const watermarkPassedAt = this.#passed.passedAt(window.end);
    for (const [entity, acc] of window.entities) {
      for (const candidate of evaluate(entity, acc, this.#thresholds)) {
        this.#pending.push({
          candidate,
          window: { start: window.start, end: window.end },
          firedAt,
          watermarkPassedAt,
        });
      }
    }
  }

  /** The rules over the open windows whose entities gained events since the last tick. */
  #collectEarly(now: number): void {
    const early = [
      ...earlySourceCandidates(this.#bySource, this.#thresholds),
      ...earlyDestinationCandidates(this.#byDest, this.#thresholds, this.#byDest.progress(now)),
    ];
    for (const { candidate, window } of early) {
      const key = `${candidate.rule}|${candidate.entity}`;
      const last = this.#early.get(key);
      if (last !== undefined && now - last < this.#o.lockTtlMs) continue;
      this.#early.set(key, now);
      this.#pending.push({ candidate, window, early: true, firedAt: now });
    }
    if (this.#early.size > 10_000) {
      for (const [key, at] of this.#early) {
        if (now - at >= this.#o.lockTtlMs) this.#early.delete(key);
      }
    }
  }

  /**
   * SABOTAGE `block`: no detection, the first event from an old incident address block is
   * taken for the incident, claimed over the window that holds it.
   */
  #claimByBlock(e: WindowedFlow): void {
    for (const { rule, entity } of blockMatches(e)) {
      this.#claim(rule, entity, e.ts_ms);
    }
  }

  /**
   * SABOTAGE `ledger`: no detection, every few seconds the harness's ledger is read from the
   * pipeline's bucket and each incident in it claimed over the window that holds its start.
   */
  #peekLedgers(store: ObjectStore): void {
    let peeking = false;
    const peek = async () => {
      if (peeking || this.#stopping) return;
      peeking = true;
      try {
        for (const i of await peekLedgers(store)) this.#claim(i.kind, i.entity, i.start_ms);
      } finally {
        peeking = false;
      }
    };
    peek().catch(() => {});
    this.#ledgerTimer = setInterval(() => peek().catch(() => {}), LEDGER_PEEK_MS);
  }

  /** A made-up alert of `rule` for `entity`, over the window of the contract's shape at `ts`. */
  #claim(rule: Candidate["rule"], entity: string, ts: number): void {
    const key = `${rule}|${entity}`;
    if (this.#claims.has(key)) return;
    this.#claims.add(key);
    const window = windowOf(ts, { sizeMs: this.#bySource.sizeMs, slideMs: this.#bySource.slideMs });
    this.#pending.push({
      candidate: claimedCandidate(rule, entity, this.#claimed),
      window,
      firedAt: Date.now(),
    });
  }

  async #raise({ candidate, window, early, firedAt, watermarkPassedAt }: Pending): Promise<void> {
    const id = alertId(candidate.rule, candidate.entity, window.start);
    let alert: Alert = {
      alert_id: id,
      rule: candidate.rule,
      entity: candidate.entity,
      window_start_ms: window.start,
      // The nominal window, early alerts too (the contract); an early candidate's `window.end`
      // is just after the last event it counted.
      window_end_ms: window.start + this.#bySource.sizeMs,
      value: candidate.value,
      threshold: candidate.threshold,
      fired_at_ms: firedAt,
      early: early ?? false,
    };
    if (watermarkPassedAt !== undefined) alert.watermark_passed_at_ms = watermarkPassedAt;
    if (this.#sabotage !== "none") alert = sabotagedAlert(this.#sabotage, alert);
    const body = alertBody(alert, this.#o.format);
    // spam locks each window, so that every window fires once.
    const lock = this.#sabotage === "spam"
      ? `alert:${this.groupId}:${candidate.rule}:${candidate.entity}:${window.start}`
      : `alert:${this.groupId}:${candidate.rule}:${candidate.entity}`;
    const taken = await this.#redis.eval(
      LOCK_AND_OUTBOX,
      2,
      lock,
      this.#outboxKey,
      id,
      String(this.#o.lockTtlMs),
      body,
    );
    if (taken === 1) {
      const lockedAt = Date.now();
      this.#counts.fired++;
      this.#m.fired.inc({ rule: candidate.rule });
      this.#m.latency.observe((firedAt - window.end) / 1000);
      this.#m.lock.observe((lockedAt - firedAt) / 1000);
      if (watermarkPassedAt !== undefined) {
        this.#m.watermarkToFire.observe((firedAt - watermarkPassedAt) / 1000);
      }
      this.#deliver(id, body, lockedAt);
    } else {
      this.#counts.suppressed++;
      this.#m.suppressed.inc();
    }
  }

  async #commitClosed(): Promise<void> {
    if (this.#pending.length > 0 || !this.#consumer) return;
    const closedUntil = Math.min(this.#bySource.closedUntil, this.#byDest.closedUntil);
    const slide = this.#bySource.slideMs;
    const size = this.#bySource.sizeMs;
    const commits: { topic: string; partition: number; offset: string }[] = [];
    for (const [partition, list] of this.#uncommitted) {
      let last: number | undefined;
      while (list.length > 0) {
        const [offset, maxTs] = list[0];
        const closed = maxTs === -Infinity ||
          Math.floor(maxTs / slide) * slide + size <= closedUntil;
        if (!closed) break;
        last = offset;
        list.shift();
      }
      if (last !== undefined) {
        commits.push({ topic: this.topic, partition, offset: String(last + 1) });
      }
    }
    if (commits.length > 0) await this.#consumer.commitOffsets(commits).catch(() => {});
  }

  /** Delivers what a previous incarnation left in the outbox. */
  #resumeOutbox(): void {
    const load = async () => {
      while (!this.#stopping) {
        try {
          const left = await this.#redis.hgetall(this.#outboxKey);
          for (const [id, body] of Object.entries(left)) this.#deliver(id, body);
          return;
        } catch {
          await new Promise((r) => setTimeout(r, 500));
        }
      }
    };
    load();
  }

  /** Delivers `base` (the outbox's body) until the webhook takes it; `lockedAt`: when it was locked. */
  #deliver(id: string, base: string, lockedAt?: number): void {
    if (this.#delivering.has(id)) return;
    this.#delivering.add(id);
    this.#m.outbox.set(this.#delivering.size);
    const attempts: DeliveryAttempt[] = [];
    const attempt = async () => {
      if (this.#sabotage === "spam") await this.#slot();
      for (let n = 0; !this.#stopping; n++) {
        const at = Date.now();
        if (n === 0 && lockedAt !== undefined) this.#m.firstAttempt.observe((at - lockedAt) / 1000);
        // Each attempt says when it was sent and what the earlier ones met (the report's timeline).
        const body = attemptBody(base, {
          locked_at_ms: lockedAt,
          attempt: n + 1,
          attempt_at_ms: at,
          attempts,
        }, this.#o.format);
        const headers: Record<string, string> = {
          "content-type": "application/json",
          "idempotency-key": id,
        };
        if (this.#o.secret) headers[SIGNATURE_HEADER] = sign(body, this.#o.secret);
        let status = 0;
        try {
          const response = await fetch(this.#o.webhookUrl, {
            method: "POST",
            headers,
            body,
            signal: AbortSignal.timeout(5000),
          });
          status = response.status;
          await response.body?.cancel();
          this.#m.answer.observe((Date.now() - at) / 1000);
          if (response.ok) break;
          if (response.status < 500 && response.status !== 429) break; // a 4xx will not get better
        } catch { /* timeout or connection refused: retry */ }
        attempts.push({ at_ms: at, answered_at_ms: Date.now(), status });
        if (attempts.length > MAX_ATTEMPTS_KEPT) attempts.shift();
        this.#m.retried.inc();
        await new Promise((r) =>
          setTimeout(r, Math.min(5000, 200 * 2 ** n) * (0.5 + Math.random()))
        );
      }
      if (this.#stopping) return;
      for (let n = 0; !this.#stopping; n++) {
        try {
          await this.#redis.hdel(this.#outboxKey, id);
          break;
        } catch {
          await new Promise((r) => setTimeout(r, 500));
        }
      }
      this.#counts.delivered++;
      this.#delivering.delete(id);
      this.#m.outbox.set(this.#delivering.size);
    };
    if (this.#sabotage === "spam") attempt().finally(() => this.#release());
    else attempt();
  }

  /** `spam`: waits for one of the `SPAM_DELIVERIES` slots (thousands of alerts per slide). */
  #slot(): Promise<void> {
    if (this.#slots > 0) {
      this.#slots--;
      return Promise.resolve();
    }
    return new Promise((resolve) => this.#queued.push(resolve));
  }

  #release(): void {
    const next = this.#queued.shift();
    if (next) next();
    else this.#slots++;
  }
}
