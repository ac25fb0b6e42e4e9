/**
 * The order check: within each partition, each producer's records appear in
 * the order of their seqs. An idempotent Kafka producer promises it per
 * partition for one producer session (its producer id and epoch); a record
 * whose seq is below one its session already appended in that partition is
 * `reordered`, and fails the run unless the scenario allows it
 * (`checks.allow_reorder`, for workloads with idempotence off).
 *
 * What it is keyed by, and why nothing else can hide a reorder from it:
 * - It reads the topic table only (topic_table.ts: every partition's records
 *   in offset order, with the producer_id and seq each event carries and the
 *   Kafka producer session of its batch), never the store: a sink cannot touch
 *   it. It walks the columns once, after the audit (no second read of Kafka).
 * - Keys are (producer_id, Kafka session). A worker that gives up on a send
 *   continues on a fresh Kafka producer (pipeline/generator.ts): the abandoned
 *   one may still land its retries after the new one's records, which is no
 *   broken promise, and another session is never compared. Records written
 *   without a session (idempotence off, or a table built without sessions)
 *   are all one session per producer_id: the check is then stricter, never
 *   looser.
 * - The same seq twice within one producer session in one partition
 *   (`duplicated`: a retry Kafka appended twice although the producer was
 *   idempotent, which it promises never to do) is a finding too, with both
 *   offsets, and fails the run like a reorder (unless allowed). Without a
 *   session (idempotence off) such copies are expected and only counted by
 *   the completeness check (`duplicates_in_kafka`, which counts every copy,
 *   of any session, and fails nothing). A copy from another session of the
 *   same producer (an abandoned producer's retry) is neither.
 * - A record that repeats an earlier seq of another session with other bytes
 *   (a generator reusing seqs) is a reorder.
 *
 * Whose finding it is: the records' producer is the harness's generator and
 * their order is Kafka's, never the sink's or the detector's (the check reads
 * the topic only). A graded run whose only finding is here is `unknown` for
 * the grade, not the submission's fail (reports/grade.ts).
 *
 * ```ts
 * import { checkOrder } from "./order.ts";
 * const order = checkOrder(table, { allowReorder: false });
 * order.reordered; // 0 for an idempotent producer
 * ```
 * @module
 */

import { DIGEST_WORDS, type TopicTable, type TopicTableData } from "./topic_table.ts";
import type { Verdict } from "./verdict.ts";

/** One record that came after a later seq of its producer session in its partition. */
export interface Reorder {
  partition: number;
  offset: number;
  producer_id: string;
  /** Its Kafka producer session (topic_table.ts `sessionOf`), -1: none. */
  session: number;
  seq: number;
  /** The record of the same session, earlier in the partition, with the highest seq before it. */
  after: { offset: number; seq: number };
}

/** One record that repeats a seq its producer session already appended to its partition. */
export interface SessionDuplicate {
  partition: number;
  offset: number;
  producer_id: string;
  session: number;
  seq: number;
  /** The earlier record of the same session and seq in the partition. */
  first: { offset: number };
}

export interface OrderResult {
  verdict: Verdict;
  /** Records whose seq went backwards within their partition and producer session. */
  reordered: number;
  /**
   * Records that repeat a seq their producer session (a real one: idempotence on) already
   * appended to the partition. Absent in results written before it.
   */
  duplicated?: number;
  /** The first of them, in table order. */
  duplicate_examples?: SessionDuplicate[];
  /** Whether the scenario allows reorders (idempotence off): reported, not failed. */
  allowed: boolean;
  /** Records checked (with a readable identity). */
  checked: number;
  /** Of these, records whose batch had no producer session (idempotence off). */
  without_session: number;
  /** The first reorders, in table order. */
  examples: Reorder[];
  reasons: string[];
}

export interface OrderOptions {
  /** Reorders are reported and do not fail (idempotence off). Default false. */
  allowReorder?: boolean;
  /** How many examples to keep. Default 10. */
  sample?: number;
}

/**
 * The earliest record of partition `[first, r)` with record `r`'s producer, seq and session, or
 * -1.
 */
function sessionTwin(d: TopicTableData, r: number, first: number): number {
  const pi = d.producer[r];
  let c = d.bySeq[pi][d.seq[r]];
  for (let steps = 0; c !== -1 && c < r && steps < r; c = d.next[c], steps++) {
    if (c >= first && d.session[c] === d.session[r]) return c;
  }
  return -1;
}

/** Whether an earlier record of partition `[first, r)` is a byte-identical copy of record `r`. */
function copiedBefore(d: TopicTableData, r: number, first: number): boolean {
  const pi = d.producer[r];
  let c = d.bySeq[pi][d.seq[r]];
  for (let steps = 0; c !== -1 && c < r && steps < r; c = d.next[c], steps++) {
    if (c < first) continue;
    let same = true;
    for (let w = 0; w < DIGEST_WORDS && same; w++) {
      same = d.raw[c * DIGEST_WORDS + w] === d.raw[r * DIGEST_WORDS + w];
    }
    if (same) return true;
  }
  return false;
}

/** The order check over a topic table (pure; one pass over its columns). */
export function checkOrder(table: TopicTable, options: OrderOptions = {}): OrderResult {
  const d = table.data;
  const sample = options.sample ?? 10;
  const allowed = options.allowReorder ?? false;
  const r: OrderResult = {
    verdict: "pass",
    reordered: 0,
    duplicated: 0,
    duplicate_examples: [],
    allowed,
    checked: 0,
    without_session: 0,
    examples: [],
    reasons: [],
  };
  const duplicates = r.duplicate_examples!;
  for (const p of d.partitions) {
    // Per producer: session -> the record with the highest seq so far in this partition.
    const top: (Map<number, number> | undefined)[] = new Array(d.producers.length);
    const end = p.first + p.count;
    for (let i = p.first; i < end; i++) {
      const pi = d.producer[i];
      if (pi < 0) continue;
      r.checked++;
      const session = d.session[i];
      if (session < 0) r.without_session++;
      const sessions = top[pi] ??= new Map();
      const m = sessions.get(session);
      if (m === undefined || d.seq[i] > d.seq[m]) {
        sessions.set(session, i);
        continue;
      }
      // The same seq again in this session: Kafka appended a retry twice (a real session only).
      const twin = session >= 0 ? sessionTwin(d, i, p.first) : -1;
      if (twin !== -1) {
        r.duplicated!++;
        if (duplicates.length < sample) {
          duplicates.push({
            partition: p.partition,
            offset: d.offset[i],
            producer_id: d.producers[pi],
            session,
            seq: d.seq[i],
            first: { offset: d.offset[twin] },
          });
        }
        continue;
      }
      if (d.seq[i] === d.seq[m] || copiedBefore(d, i, p.first)) continue;
      r.reordered++;
      if (r.examples.length < sample) {
        r.examples.push({
          partition: p.partition,
          offset: d.offset[i],
          producer_id: d.producers[pi],
          session,
          seq: d.seq[i],
          after: { offset: d.offset[m], seq: d.seq[m] },
        });
      }
    }
  }
  if (r.reordered > 0) {
    const e = r.examples[0];
    r.reasons.push(
      `${r.reordered} records reordered within their partition and producer session ` +
        `(e.g. ${e.producer_id} seq ${e.seq} at partition ${e.partition} offset ${e.offset}, ` +
        `after seq ${e.after.seq} at offset ${e.after.offset})` +
        (allowed ? "; allowed by the scenario (checks.allow_reorder)" : ""),
    );
    if (!allowed) r.verdict = "fail";
  }
  if (r.duplicated! > 0) {
    const e = duplicates[0];
    r.reasons.push(
      `${r.duplicated} records appended twice within their partition and idempotent producer ` +
        `session (e.g. ${e.producer_id} seq ${e.seq} at partition ${e.partition} offsets ` +
        `${e.first.offset} and ${e.offset}): duplicates idempotence forbids` +
        (allowed ? "; allowed by the scenario (checks.allow_reorder)" : ""),
    );
    if (!allowed) r.verdict = "fail";
  }
  return r;
}

/** One line of figures for the reports. */
export function orderFigures(o: OrderResult): string {
  return `reordered ${o.reordered}${o.allowed ? " (allowed)" : ""}` +
    (o.duplicated ? `, appended twice in one session ${o.duplicated}` : "") +
    `, records checked ${o.checked}` +
    (o.without_session ? `, without a producer session ${o.without_session}` : "") +
    (o.examples.length
      ? `; first: ${o.examples[0].producer_id} seq ${o.examples[0].seq} at partition ${
        o.examples[0].partition
      } offset ${o.examples[0].offset} after seq ${o.examples[0].after.seq} (offset ${
        o.examples[0].after.offset
      })`
      : "");
}

/** The examples, one line each, for the reports' "Reordered records" section. */
export function reorderLines(o: OrderResult): string[] {
  return [
    ...o.examples.map((e) =>
      `partition ${e.partition} offset ${e.offset}: ${e.producer_id} seq ${e.seq} (session ${e.session}) ` +
      `after seq ${e.after.seq} at offset ${e.after.offset}`
    ),
    ...(o.duplicate_examples ?? []).map((e) =>
      `partition ${e.partition} offset ${e.offset}: ${e.producer_id} seq ${e.seq} (session ${e.session}) ` +
      `again, first at offset ${e.first.offset}`
    ),
  ];
}
