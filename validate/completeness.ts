/**
 * The completeness checker, after Jepsen's set checker, with three sources of
 * truth, each for what it knows: the ledger (what the generator was told), the
 * topic (what Kafka holds, read end to end by the audit) and the store (what
 * the sink wrote, checked line by line against the topic).
 *
 * ```
 * lost by Kafka  = acknowledged - in the topic            must be empty
 * lost by sink   = in the topic - stored                  must be empty (acked, unknown or failed)
 * unexpected     = stored - in the topic, stored - attempted   must be empty
 * duplicates     = extra stored copies of a topic record, and offsets two objects claim
 *                                                         <= maxDuplicates (default 0)
 * in Kafka twice = one identity at two offsets (a producer's retry): two records, each
 *                  to store once                          reported, not counted
 * altered, not an event, misplaced, unreadable, corrupt objects, foreign objects,
 * malformed in events/, valid in dlq/, gaps in the tiling  must be empty
 * recovered      = unknown ∩ stored                       allowed, reported
 * reordered      = a seq below one its producer session already appended to the partition
 *                  (order.ts)                             must be empty unless allowed
 * ```
 * Too few acknowledged events (`minAcked`), or too large a share of sends
 * whose outcome is unknown (`maxUnknownShare`), make the run prove little:
 * `unknown`, unless something failed. Pure.
 *
 * ```ts
 * import { checkCompleteness } from "./completeness.ts";
 * const result = checkCompleteness(ledger, table, stored, { minAcked: 1000 });
 * result.verdict; // "pass" | "fail" | "unknown"
 * ```
 * @module
 */

import type { Ledger } from "../pipeline/ledger.ts";
import { RangeSet } from "../pipeline/range_set.ts";
import { PROBLEM_TEXT, PROBLEMS } from "./object_check.ts";
import type { StoreCheck } from "./store_check.ts";
import { MALFORMED, type TopicTable } from "./topic_table.ts";
import type { Verdict } from "./verdict.ts";
import { checkOrder, type OrderResult } from "./order.ts";

export interface CompletenessOptions {
  /** Fewer acknowledged events than this: unknown. Default 1. */
  minAcked?: number;
  /** Extra stored copies allowed. Default 0. */
  maxDuplicates?: number;
  /** A larger share of attempted sends left unknown: unknown. Default 0.1. */
  maxUnknownShare?: number;
  /** How many examples of each kind to list. Default 10. */
  sample?: number;
  /** Records reordered within a producer session are reported, not failed (order.ts). */
  allowReorder?: boolean;
}

export const DEFAULT_MAX_UNKNOWN_SHARE = 0.1;

export interface CompletenessResult {
  verdict: Verdict;
  attempted: number;
  acked: number;
  failed: number;
  unknown: number;
  /** unknown / attempted. */
  unknown_share: number;
  /** Records in the topic. */
  in_topic: number;
  /** Topic records stored at least once. */
  found: number;
  /** lost_before_kafka + lost_by_sink. */
  lost: number;
  /** Acknowledged but never in the topic (the producer or Kafka lost them). */
  lost_before_kafka: number;
  /** In the topic but not in the store, whatever the ledger says of them: the sink lost them. */
  lost_by_sink: number;
  /** Extra stored copies (the bound applies to these and to overlap_offsets). */
  duplicates: number;
  duplicates_by_sink: number;
  /** Extra copies already in the topic (a producer's retries without idempotence). */
  duplicates_in_kafka: number;
  unexpected: number;
  recovered: number;
  /** Malformed records in the topic, and those stored in dlq/. */
  dlq_expected: number;
  dlq_found: number;
  malformed_in_events: number;
  valid_in_dlq: number;
  altered: number;
  not_an_event: number;
  misplaced: number;
  unreadable: number;
  corrupt_objects: number;
  objects: { events: number; dlq: number };
  foreign_objects: string[];
  /** Foreign objects that follow an earlier version of the contract (contract.ts), by finding. */
  foreign_earlier?: { version: number; text: string; objects: number }[];
  gaps: string[];
  overlaps: string[];
  overlap_offsets: number;
  /** Examples per kind of problem ("lost_before_kafka", "lost_by_sink", "altered", ...). */
  samples: Record<string, string[]>;
  /** First missing seqs per producer (acknowledged and never in the topic, or not stored). */
  lost_sample: Record<string, number[]>;
  /** The order check (order.ts): each producer session's seqs in order per partition. */
  reordered?: OrderResult;
  reasons: string[];
}

const empty = new RangeSet();

/**
 * Per producer, the seqs it had acknowledged that the topic does not hold (`inTopic`: the
 * topic's seqs per producer): lost before Kafka (by the producer or by Kafka). Producers that
 * lost none are left out.
 */
export function ackedNotInTopic(
  ledger: Ledger,
  inTopic: ReadonlyMap<string, RangeSet>,
): Map<string, RangeSet> {
  const lost = new Map<string, RangeSet>();
  for (const [pid, p] of ledger.producers) {
    const missing = p.acked.difference(inTopic.get(pid) ?? empty);
    if (missing.size > 0) lost.set(pid, missing);
  }
  return lost;
}

export function checkCompleteness(
  ledger: Ledger,
  table: TopicTable,
  stored: StoreCheck,
  options: CompletenessOptions = {},
): CompletenessResult {
  const sample = options.sample ?? 10;
  const d = table.data;
  const f = stored.findings;
  const r: CompletenessResult = {
    verdict: "pass",
    attempted: 0,
    acked: 0,
    failed: 0,
    unknown: 0,
    unknown_share: 0,
    in_topic: table.size,
    found: 0,
    lost: 0,
    lost_before_kafka: 0,
    lost_by_sink: 0,
    duplicates: 0,
    duplicates_by_sink: 0,
    duplicates_in_kafka: 0,
    unexpected: f.counts.unexpected,
    recovered: 0,
    dlq_expected: 0,
    dlq_found: 0,
    malformed_in_events: f.counts.malformed_in_events,
    valid_in_dlq: f.counts.valid_in_dlq,
    altered: f.counts.altered,
    not_an_event: f.counts.not_an_event,
    misplaced: f.counts.misplaced,
    unreadable: f.counts.unreadable,
    corrupt_objects: f.counts.corrupt_object,
    objects: stored.objects,
    foreign_objects: stored.layout.foreign.slice(0, 50),
    foreign_earlier: stored.layout.earlier,
    gaps: stored.layout.gaps.slice(0, 50),
    overlaps: stored.layout.overlaps.slice(0, 50),
    overlap_offsets: stored.layout.overlap_offsets,
    samples: {},
    lost_sample: {},
    reasons: [],
  };
  const push = (kind: string, what: string) => {
    const list = r.samples[kind] ??= [];
    if (list.length < sample) list.push(what);
  };
  for (const p of PROBLEMS) for (const s of f.samples[p]) push(p, s);

  // The ledger against the topic: what Kafka acknowledged and does not hold.
  const lostBy = ackedNotInTopic(ledger, table.seqs());
  const attemptedBy = new Map<string, RangeSet>();
  const unknownBy = new Map<string, RangeSet>();
  for (const [pid, p] of ledger.producers) {
    attemptedBy.set(pid, p.attempted);
    const unknown = p.unknown.difference(p.acked); // an ack after the timeout wins
    unknownBy.set(pid, unknown);
    r.attempted += p.attempted.size;
    r.acked += p.acked.size;
    r.failed += p.failed.size;
    r.unknown += unknown.size;
    const lost = lostBy.get(pid) ?? empty;
    r.lost_before_kafka += lost.size;
    if (lost.size > 0) {
      r.lost_sample[pid] = lost.first(sample);
      for (const s of lost.first(sample)) push("lost_before_kafka", `${pid} seq ${s}`);
    }
  }
  r.unknown_share = r.attempted ? r.unknown / r.attempted : 0;

  // The topic against the store: every record stored exactly once, in its folder.
  const where = (i: number) => {
    const pi = d.producer[i];
    const place = `partition ${d.partition[i]} offset ${d.offset[i]}`;
    return pi >= 0 ? `${d.producers[pi]} seq ${d.seq[i]} (${place})` : place;
  };
  const n = table.size;
  for (let i = 0; i < n; i++) {
    const copies = stored.inEvents[i] + stored.inDlq[i];
    if (d.kind[i] === MALFORMED) {
      r.dlq_expected++;
      if (stored.inDlq[i] > 0) r.dlq_found++;
    }
    const pi = d.producer[i];
    if (copies === 0) {
      r.lost_by_sink++;
      if (r.lost_by_sink <= sample) push("lost_by_sink", where(i));
      if (pi >= 0) {
        const list = r.lost_sample[d.producers[pi]] ??= [];
        if (list.length < sample) list.push(d.seq[i]);
      }
      continue;
    }
    r.found++;
    if (copies > 1) {
      r.duplicates_by_sink += copies - 1;
      if (r.duplicates_by_sink <= sample) push("duplicates", `${where(i)}: stored ${copies} times`);
    }
    if (pi >= 0 && d.next[i] !== -1 && d.bySeq[pi][d.seq[i]] === i) {
      // Every walk along `next` is bounded by the table's size (it points further down the
      // table, topic_table.ts checks it; the bound guards a table built by other means).
      for (let c = d.next[i], steps = 0; c !== -1 && steps < n; c = d.next[c], steps++) {
        r.duplicates_in_kafka++;
      }
    }
  }
  // Per producer, in seq order: stored but never attempted, and unknown sends that were stored.
  d.bySeq.forEach((index, pi) => {
    const pid = d.producers[pi];
    const attempted = attemptedBy.get(pid)?.ranges() ?? [];
    const unknown = unknownBy.get(pid)?.ranges() ?? [];
    let a = 0;
    let u = 0;
    for (let seq = 0; seq < index.length; seq++) {
      let storedAt = -1;
      for (
        let c = index[seq], steps = 0;
        c !== -1 && storedAt === -1 && steps < n;
        c = d.next[c], steps++
      ) {
        if (stored.inEvents[c] + stored.inDlq[c] > 0) storedAt = c;
      }
      if (storedAt === -1) continue;
      while (a < attempted.length && attempted[a][1] < seq) a++;
      if (!(a < attempted.length && attempted[a][0] <= seq)) {
        r.unexpected++;
        push("unexpected", `${where(storedAt)}: in the topic and stored, never attempted`);
      }
      while (u < unknown.length && unknown[u][1] < seq) u++;
      if (u < unknown.length && unknown[u][0] <= seq) r.recovered++;
    }
  });
  r.lost = r.lost_before_kafka + r.lost_by_sink;
  r.duplicates = r.duplicates_by_sink;
  r.reordered = checkOrder(table, { allowReorder: options.allowReorder, sample });

  const max = options.maxDuplicates ?? 0;
  if (r.lost > 0) {
    r.reasons.push(
      `${r.lost} events lost: ${r.lost_before_kafka} acknowledged and never in the topic, ` +
        `${r.lost_by_sink} in the topic and not stored (${example(r, "lost_by_sink")})`,
    );
  }
  if (r.duplicates > max || r.overlap_offsets > max) {
    r.reasons.push(
      `${r.duplicates} extra stored copies and ${r.overlap_offsets} offsets in overlapping ` +
        `objects (allowed ${max}; ${r.duplicates_in_kafka} copies already in the topic are not counted)` +
        (r.overlaps.length ? `: ${r.overlaps[0]}` : ""),
    );
  }
  for (const p of PROBLEMS) {
    const n = p === "unexpected" ? r.unexpected : f.counts[p];
    if (n > 0) r.reasons.push(`${n} ${PROBLEM_TEXT[p]} (${example(r, p)})`);
  }
  if (r.reordered.verdict === "fail") r.reasons.push(...r.reordered.reasons);
  if (stored.layout.foreign.length) r.reasons.push(foreignReason(stored.layout));
  if (stored.layout.gaps.length) {
    r.reasons.push(
      `${stored.layout.gaps.length} gaps in the objects' offset ranges: ${
        stored.layout.gaps.slice(0, 3).join(", ")
      }`,
    );
  }
  if (stored.layout.beyond.length) {
    r.reasons.push(
      `${stored.layout.beyond.length} objects name offsets past the topic's end: ${
        stored.layout.beyond.slice(0, 3).join(", ")
      }`,
    );
  }
  const maxUnknown = options.maxUnknownShare ?? DEFAULT_MAX_UNKNOWN_SHARE;
  if (r.reasons.length > 0) {
    r.verdict = "fail";
  } else if (r.acked < (options.minAcked ?? 1)) {
    r.verdict = "unknown";
    r.reasons.push(
      `only ${r.acked} events acknowledged (need ${options.minAcked ?? 1}): vacuous run`,
    );
  } else if (r.unknown_share > maxUnknown) {
    r.verdict = "unknown";
    r.reasons.push(
      `${r.unknown} of ${r.attempted} sends (${(r.unknown_share * 100).toFixed(1)}%) ended ` +
        `unknown, more than the ${(maxUnknown * 100).toFixed(1)}% allowed: too little is proven`,
    );
  }
  return r;
}

/**
 * The foreign objects' finding: what an earlier contract's names are, and what this one
 * wants, when the objects follow one (`213 foreign objects: dlq objects named `.ndjson.gz`
 * (contract v1); this contract (v2) wants `.jsonl.gz``).
 */
function foreignReason(layout: StoreCheck["layout"]): string {
  const { foreign, earlier } = layout;
  const examples = foreign.slice(0, 3).join(", ");
  if (earlier.length === 1 && earlier[0].objects === foreign.length) {
    return `${foreign.length} foreign objects: ${earlier[0].text} (e.g. ${foreign[0]})`;
  }
  return `${foreign.length} foreign objects under events/ or dlq/ (outside the layout): ` +
    examples + earlier.map((e) => `; ${e.objects} of them are ${e.text}`).join("");
}

function example(r: CompletenessResult, kind: string): string {
  const s = r.samples[kind];
  return s?.length ? `e.g. ${s[0]}` : "see results.json";
}
