/**
 * The ledger: ground truth written by the generator. For every producer, the
 * seqs it attempted, and how each ended: acknowledged by Kafka, failed (Kafka
 * said no, so the record is not in the log), or unknown (timed out or the
 * connection died: it may or may not be in the log). Plus the seqs that were
 * deliberately malformed and every injected incident.
 *
 * Stored as compact ranges (see range_set.ts) in `ledger.json`, in the run
 * folder only: the ledger is the grader's answer key (every incident's kind,
 * entity and time), so it never goes where the pipeline's credentials reach
 * (`deno task generate --upload-ledger` puts it in a store on request, for a
 * user's own tooling, never for a pipeline under test).
 *
 * ```ts
 * import { Ledger } from "./ledger.ts";
 * const ledger = new Ledger({ run_id: "r1", topic: "network-telemetry", seed: 7 });
 * ledger.attempt("r1-w0", 0, 99);
 * ledger.ack("r1-w0", 0, 99);
 * const json = JSON.stringify(ledger);
 * const back = Ledger.parse(json);
 * ```
 * @module
 */

import { z } from "zod";
import { type Incident, INCIDENT_KINDS } from "./anomalies.ts";
import { type Range, RangeSet } from "./range_set.ts";

export interface ProducerOutcomes {
  attempted: RangeSet;
  acked: RangeSet;
  failed: RangeSet;
  unknown: RangeSet;
  malformed: RangeSet;
}

export interface LedgerMeta {
  run_id: string;
  topic: string;
  seed: number | string;
  started_at_ms?: number;
  ended_at_ms?: number;
  /** When the first acknowledgement was written (epoch ms). */
  first_ack_at_ms?: number;
}

export interface LedgerJson extends LedgerMeta {
  version: 1;
  producers: Record<string, Record<keyof ProducerOutcomes, Range[]>>;
  incidents: Incident[];
}

export class LedgerFormatError extends Error {
  override name = "LedgerFormatError";
}

const OUTCOMES = ["attempted", "acked", "failed", "unknown", "malformed"] as const;

const safe = z.number().int().min(0).max(Number.MAX_SAFE_INTEGER);
/** Epoch ms a date holds (±8.64e15). */
const epochMs = z.number().int().min(-8.64e15).max(8.64e15);
const ranges = z.array(z.tuple([safe, safe]).refine(([lo, hi]) => lo <= hi, "lo is above hi"));

/** What `toJSON` writes: every seq a safe integer, every time one a date holds. */
const LedgerSchema = z.looseObject({
  version: z.literal(1),
  run_id: z.string(),
  topic: z.string(),
  seed: z.union([z.number(), z.string()]),
  started_at_ms: epochMs.optional(),
  ended_at_ms: epochMs.optional(),
  first_ack_at_ms: epochMs.optional(),
  producers: z.record(
    z.string(),
    z.object({
      attempted: ranges.optional(),
      acked: ranges.optional(),
      failed: ranges.optional(),
      unknown: ranges.optional(),
      malformed: ranges.optional(),
    }),
  ),
  incidents: z.array(z.object({
    id: z.string(),
    kind: z.enum(INCIDENT_KINDS),
    entity: z.string(),
    start_ms: epochMs,
    end_ms: epochMs,
    events: safe,
    scheduled: z.boolean(),
  })).optional(),
});

/** What writes outcomes: the ledger itself, or a generator thread's stand-in for it. */
export interface LedgerWriter {
  attempt(producer: string, lo: number, hi?: number): void;
  ack(producer: string, lo: number, hi?: number): void;
  fail(producer: string, lo: number, hi?: number): void;
  unknown(producer: string, lo: number, hi?: number): void;
  malformed(producer: string, seq: number): void;
}

export class Ledger implements LedgerWriter {
  readonly meta: LedgerMeta;
  readonly producers = new Map<string, ProducerOutcomes>();
  readonly incidents: Incident[] = [];

  constructor(meta: LedgerMeta) {
    this.meta = { ...meta };
  }

  producer(id: string): ProducerOutcomes {
    let p = this.producers.get(id);
    if (!p) {
      p = {
        attempted: new RangeSet(),
        acked: new RangeSet(),
        failed: new RangeSet(),
        unknown: new RangeSet(),
        malformed: new RangeSet(),
      };
      this.producers.set(id, p);
    }
    return p;
  }

  attempt(producer: string, lo: number, hi = lo): void {
    this.producer(producer).attempted.addRange(lo, hi);
  }
  ack(producer: string, lo: number, hi = lo): void {
    this.meta.first_ack_at_ms ??= Date.now();
    this.producer(producer).acked.addRange(lo, hi);
  }
  fail(producer: string, lo: number, hi = lo): void {
    this.producer(producer).failed.addRange(lo, hi);
  }
  unknown(producer: string, lo: number, hi = lo): void {
    this.producer(producer).unknown.addRange(lo, hi);
  }
  malformed(producer: string, seq: number): void {
    this.producer(producer).malformed.add(seq);
  }
  incident(incident: Incident): void {
    this.incidents.push(incident);
  }

  /** Totals over every producer. */
  totals(): Record<(typeof OUTCOMES)[number], number> {
    const t = { attempted: 0, acked: 0, failed: 0, unknown: 0, malformed: 0 };
    for (const p of this.producers.values()) {
      for (const k of OUTCOMES) t[k] += p[k].size;
    }
    return t;
  }

  toJSON(): LedgerJson {
    const producers: LedgerJson["producers"] = {};
    for (const [id, p] of [...this.producers].sort(([a], [b]) => a.localeCompare(b))) {
      producers[id] = {
        attempted: p.attempted.ranges(),
        acked: p.acked.ranges(),
        failed: p.failed.ranges(),
        unknown: p.unknown.ranges(),
        malformed: p.malformed.ranges(),
      };
    }
    return { version: 1, ...this.meta, producers, incidents: this.incidents };
  }

  /**
   * Reads a ledger back; malformed input (not JSON, a range that is not two safe integers in
   * order, an incident time no date holds) is a `LedgerFormatError` saying where and what.
   */
  static parse(text: string): Ledger {
    let raw: unknown;
    try {
      raw = JSON.parse(text);
    } catch (error) {
      throw new LedgerFormatError(`ledger is not JSON: ${(error as Error).message}`, {
        cause: error,
      });
    }
    const parsed = LedgerSchema.safeParse(raw);
    if (!parsed.success) {
      const issue = parsed.error.issues[0];
      const path = issue.path.length ? `${issue.path.join(".")}: ` : "";
      throw new LedgerFormatError(`ledger is invalid: ${path}${issue.message}`);
    }
    return Ledger.#fromJson(parsed.data as LedgerJson);
  }

  /** A ledger from what `toJSON` wrote (checked by `parse`, or a ledger's own). */
  static #fromJson(data: LedgerJson): Ledger {
    const { version: _v, producers: _p, incidents: _i, ...meta } = data;
    const ledger = new Ledger(meta);
    for (const [id, p] of Object.entries(data.producers)) {
      const target = ledger.producer(id);
      for (const k of OUTCOMES) {
        for (const [lo, hi] of RangeSet.fromRanges(p[k] ?? []).ranges()) {
          target[k].addRange(lo, hi);
        }
      }
    }
    for (const incident of data.incidents ?? []) ledger.incident(incident);
    return ledger;
  }

  /**
   * The ledgers of several generators of one run (`--worker-offset`) as one: the same run id
   * and topic, producers and incidents each in one ledger only (a `LedgerFormatError` names
   * what is shared), the earliest start and first ack, the latest end.
   */
  static merge(ledgers: readonly Ledger[]): Ledger {
    const [first, ...rest] = ledgers;
    if (!first) throw new LedgerFormatError("no ledger to merge");
    const merged = Ledger.#fromJson(structuredClone(first.toJSON()));
    const m = merged.meta;
    for (const other of rest) {
      const o = other.meta;
      if (o.run_id !== m.run_id || o.topic !== m.topic) {
        throw new LedgerFormatError(
          `ledger of run ${o.run_id} (topic ${o.topic}) cannot join run ${m.run_id} (topic ${m.topic})`,
        );
      }
      for (const [id, outcomes] of other.producers) {
        if (merged.producers.has(id)) {
          throw new LedgerFormatError(
            `producer ${id} is in two ledgers: give each generator its own --worker-offset`,
          );
        }
        merged.producers.set(id, outcomes);
      }
      const ids = new Set(merged.incidents.map((i) => i.id));
      for (const incident of other.incidents) {
        if (ids.has(incident.id)) {
          throw new LedgerFormatError(`incident ${incident.id} is in two ledgers`);
        }
        merged.incident(incident);
      }
      const least = (a?: number, b?: number) =>
        a === undefined ? b : b === undefined ? a : Math.min(a, b);
      m.started_at_ms = least(m.started_at_ms, o.started_at_ms);
      m.first_ack_at_ms = least(m.first_ack_at_ms, o.first_ack_at_ms);
      if (o.ended_at_ms !== undefined) m.ended_at_ms = Math.max(m.ended_at_ms ?? 0, o.ended_at_ms);
    }
    return merged;
  }
}

/**
 * Writes one batch's outcomes to the ledger. A batch is split into groups (one per partition)
 * whose seqs interleave; while every group is acknowledged, the acks wait and the batch ends as
 * one range, `[first, last]`: adding thousands of interleaved seqs one at a time to a range set
 * costs a splice each, and was a tenth of the generator's CPU. Once a group fails or times out,
 * the acks so far and every outcome after are written as they come.
 */
export class BatchBook {
  #waiting: number[][] | null = [];
  #groupsLeft: number;

  constructor(
    readonly ledger: LedgerWriter,
    readonly producerId: string,
    readonly first: number,
    readonly last: number,
    groups: number,
  ) {
    this.#groupsLeft = groups;
  }

  /** Records a group's outcome; `seqs` ascend. */
  record(outcome: "ack" | "fail" | "unknown", seqs: number[]): void {
    if (this.#waiting) {
      if (outcome === "ack") {
        this.#waiting.push(seqs);
        if (--this.#groupsLeft === 0) {
          this.#waiting = null;
          this.ledger.ack(this.producerId, this.first, this.last);
        }
        return;
      }
      for (const acked of this.#waiting) this.#runs("ack", acked);
      this.#waiting = null;
    }
    this.#runs(outcome, seqs);
  }

  /** Writes `seqs` as runs of consecutive numbers. */
  #runs(outcome: "ack" | "fail" | "unknown", seqs: number[]): void {
    let lo = seqs[0];
    for (let i = 1; i <= seqs.length; i++) {
      if (i === seqs.length || seqs[i] !== seqs[i - 1] + 1) {
        this.ledger[outcome](this.producerId, lo, seqs[i - 1]);
        lo = seqs[i];
      }
    }
  }
}
