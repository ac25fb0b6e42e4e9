/**
 * The completeness checker, after Jepsen's set checker: compares what the
 * generator's ledger says Kafka acknowledged with what the sink stored.
 *
 * ```
 * lost        = acknowledged valid - found in events/     must be empty
 * unexpected  = found anywhere - attempted                must be empty
 * recovered   = unknown ∩ found                           allowed, reported
 * duplicates  = found more than once                      <= maxDuplicates (default 0)
 * dlq         = acknowledged malformed must be in dlq/, and not in events/
 * valid_in_dlq = acknowledged valid found only in dlq/   must be empty (not lost: misfiled)
 * ```
 * Too few acknowledged events (`minAcked`) makes the run vacuous: `unknown`.
 * Pure.
 *
 * ```ts
 * import { checkCompleteness } from "./completeness.ts";
 * const result = checkCompleteness(ledger, scan, { minAcked: 1000 });
 * result.verdict; // "pass" | "fail" | "unknown"
 * ```
 * @module
 */

import type { Ledger } from "../pipeline/ledger.ts";
import { RangeSet } from "../pipeline/range_set.ts";
import type { StoreScan } from "./store_scan.ts";
import type { Verdict } from "./verdict.ts";

export interface CompletenessOptions {
  /** What a Kafka audit found in the topic; splits `lost` into before and after Kafka. */
  inKafka?: Map<string, RangeSet>;
  /** Seqs the audit found in the topic more than once; splits `duplicates` likewise. */
  kafkaDuplicates?: Map<string, Map<number, number>>;
  /** Fewer acknowledged events than this: unknown. Default 1. */
  minAcked?: number;
  /** Default 0. */
  maxDuplicates?: number;
  /** How many missing seqs per producer to list. Default 10. */
  sample?: number;
}

export interface CompletenessResult {
  verdict: Verdict;
  attempted: number;
  acked: number;
  failed: number;
  unknown: number;
  found: number;
  lost: number;
  /** Extra copies in the store (the bound applies to these). */
  duplicates: number;
  /** Extra copies already in the topic (a producer's retries); null without an audit. */
  duplicates_in_kafka: number | null;
  /** Extra copies in the store beyond those in the topic: the sink's doing; null without an audit. */
  duplicates_by_sink: number | null;
  unexpected: number;
  recovered: number;
  dlq_expected: number;
  dlq_found: number;
  /** Malformed records found in events/ (they belong in dlq/ only). */
  malformed_in_events: number;
  /** Valid events (per the ledger) found only in dlq/: stored, but where they do not belong. */
  valid_in_dlq: number;
  valid_in_dlq_sample: Record<string, number[]>;
  /** Acknowledged but never in the topic (the producer or Kafka lost them); null without an audit. */
  lost_before_kafka: number | null;
  /** In the topic but not in the store (the sink lost them); null without an audit. */
  lost_by_sink: number | null;
  /** First missing seqs per producer. */
  lost_sample: Record<string, number[]>;
  unexpected_sample: Record<string, number[]>;
  reasons: string[];
}

const empty = new RangeSet();

export function checkCompleteness(
  ledger: Ledger,
  scan: StoreScan,
  options: CompletenessOptions = {},
): CompletenessResult {
  const sample = options.sample ?? 10;
  const r: CompletenessResult = {
    verdict: "pass",
    attempted: 0,
    acked: 0,
    failed: 0,
    unknown: 0,
    found: 0,
    lost: 0,
    duplicates: 0,
    duplicates_in_kafka: options.inKafka ? 0 : null,
    duplicates_by_sink: options.inKafka ? 0 : null,
    unexpected: 0,
    recovered: 0,
    dlq_expected: 0,
    dlq_found: 0,
    malformed_in_events: 0,
    valid_in_dlq: 0,
    valid_in_dlq_sample: {},
    lost_before_kafka: options.inKafka ? 0 : null,
    lost_by_sink: options.inKafka ? 0 : null,
    lost_sample: {},
    unexpected_sample: {},
    reasons: [],
  };
  const producers = new Set([
    ...ledger.producers.keys(),
    ...scan.events.keys(),
    ...scan.dlq.keys(),
  ]);
  for (const pid of [...producers].sort()) {
    const p = ledger.producers.get(pid);
    const attempted = p?.attempted ?? empty;
    const acked = p?.acked ?? empty;
    const malformed = p?.malformed ?? empty;
    // An ack that arrived after the delivery timeout wins over "unknown".
    const unknown = (p?.unknown ?? empty).difference(acked);
    const events = scan.events.get(pid);
    const dlq = scan.dlq.get(pid);
    const inEvents = events?.seqs ?? empty;
    const inDlq = dlq?.seqs ?? empty;
    const found = inEvents.union(inDlq);

    r.attempted += attempted.size;
    r.acked += acked.size;
    r.failed += (p?.failed ?? empty).size;
    r.unknown += unknown.size;
    r.found += found.size;

    const validAcked = acked.difference(malformed);
    const misfiled = validAcked.difference(inEvents).intersection(inDlq);
    r.valid_in_dlq += misfiled.size;
    if (misfiled.size > 0) r.valid_in_dlq_sample[pid] = misfiled.first(sample);
    const lostValid = validAcked.difference(inEvents).difference(inDlq);
    const lostMalformed = acked.intersection(malformed).difference(inDlq);
    const lost = lostValid.union(lostMalformed);
    r.lost += lost.size;
    if (lost.size > 0) r.lost_sample[pid] = lost.first(sample);
    if (options.inKafka) {
      const inTopic = options.inKafka.get(pid) ?? empty;
      const before = lost.difference(inTopic).size;
      r.lost_before_kafka! += before;
      r.lost_by_sink! += lost.size - before;
    }

    const unexpected = found.difference(attempted);
    r.unexpected += unexpected.size;
    if (unexpected.size > 0) r.unexpected_sample[pid] = unexpected.first(sample);

    r.recovered += unknown.intersection(found).size;
    const inKafka = options.kafkaDuplicates?.get(pid);
    for (const found of [events, dlq]) {
      for (const [seq, n] of found?.duplicates ?? []) {
        r.duplicates += n;
        if (r.duplicates_by_sink !== null) {
          r.duplicates_by_sink += Math.max(0, n - (inKafka?.get(seq) ?? 0));
        }
      }
    }
    if (r.duplicates_in_kafka !== null) {
      for (const n of inKafka?.values() ?? []) r.duplicates_in_kafka += n;
    }
    r.dlq_expected += acked.intersection(malformed).size;
    r.dlq_found += inDlq.intersection(malformed).size;
    r.malformed_in_events += inEvents.intersection(malformed).size;
  }
  if (r.lost > 0) {
    const split = r.lost_before_kafka === null
      ? ""
      : ` (${r.lost_before_kafka} never reached the topic, ${r.lost_by_sink} lost by the sink)`;
    r.reasons.push(`${r.lost} acknowledged events are not in the store${split}`);
  }
  if (r.unexpected > 0) r.reasons.push(`${r.unexpected} stored events were never attempted`);
  if (r.duplicates > (options.maxDuplicates ?? 0)) {
    const split = r.duplicates_by_sink === null
      ? ""
      : ` (${
        r.duplicates - r.duplicates_by_sink
      } already in Kafka, ${r.duplicates_by_sink} by the sink)`;
    r.reasons.push(
      `${r.duplicates} duplicates in the store${split} (allowed ${options.maxDuplicates ?? 0})`,
    );
  }
  if (r.malformed_in_events > 0) {
    r.reasons.push(`${r.malformed_in_events} malformed records in events/`);
  }
  if (r.valid_in_dlq > 0) {
    const where = Object.entries(r.valid_in_dlq_sample).map(([p, s]) => `${p}: ${s.join(", ")}`);
    r.reasons.push(
      `${r.valid_in_dlq} events valid per the ledger were filed in dlq/ (${where.join("; ")}): ` +
        "the generator and the sink disagree about the schema; see the records' reasons in dlq/",
    );
  }
  if (r.reasons.length > 0) {
    r.verdict = "fail";
  } else if (r.acked < (options.minAcked ?? 1)) {
    r.verdict = "unknown";
    r.reasons.push(
      `only ${r.acked} events acknowledged (need ${options.minAcked ?? 1}): vacuous run`,
    );
  }
  return r;
}
