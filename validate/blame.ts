/**
 * The blame of lost records: every record the completeness check counts as lost is attributed
 * to where it was last seen, in one of three classes:
 *
 * ```
 * never_in_topic         acknowledged, not in the topic as the audit read it, and on no
 *                        broker's log: Kafka (or the producer) lost it everywhere
 * on_replica_not_leader  acknowledged, not in the topic as read, but still on some broker's
 *                        log (a replica the leader's log no longer agrees with: after an
 *                        unclean election, a power loss): the brokers, partition and offset
 * in_topic_not_stored    in the topic as read, not in the store: the sink lost it
 * ```
 *
 * The brokers' logs are read from their disks after the run (log_segments.ts), where the stack
 * is the harness's own; elsewhere (an external stack, a remote docker engine) the first two
 * classes cannot be told apart and the records acknowledged and not in the topic are counted
 * as `unattributed`, with the reason. Output is bounded: counts, and the first examples of each
 * class. Pure: `lostRecords` derives the lost records from the ledger, the topic table and the
 * store check (as completeness.ts counts them), `blame` classifies them against what the logs
 * held.
 *
 * ```ts
 * import { blame, lostRecords } from "./blame.ts";
 * const lost = lostRecords(ledger, table, stored);
 * const found = await searchLogs(logs, topic, (pid, seq) => lost.beforeKafka.get(pid)?.has(seq) ?? false);
 * blame(lost, found).counts; // { never_in_topic, on_replica_not_leader, in_topic_not_stored }
 * ```
 * @module
 */

import type { Ledger } from "../pipeline/ledger.ts";
import { RangeSet } from "../pipeline/range_set.ts";
import { ackedNotInTopic } from "./completeness.ts";
import type { LogSearch, Sighting } from "./log_segments.ts";
import type { StoreCheck } from "./store_check.ts";
import type { TopicTable } from "./topic_table.ts";

export const BLAME_CLASSES = [
  "never_in_topic",
  "on_replica_not_leader",
  "in_topic_not_stored",
] as const;
export type BlameClass = typeof BLAME_CLASSES[number];

/** What each class means, for the reports. */
export const BLAME_TEXT: Record<BlameClass, string> = {
  never_in_topic: "acknowledged and on no broker's log",
  on_replica_not_leader: "on a broker's log, not in the topic as the leaders serve it",
  in_topic_not_stored: "in the topic, not in the store",
};

/** One lost record, where it was last seen. */
export interface BlameExample {
  /** Absent for a topic record whose identity is unreadable. */
  producer_id?: string;
  seq?: number;
  /** In the topic (in_topic_not_stored): its place. */
  partition?: number;
  offset?: number;
  /** On brokers' logs (on_replica_not_leader): each place it is found. */
  on?: { broker: string; partition: number; offset: number; deleted?: boolean }[];
}

/** The lost records: acknowledged and not in the topic, and in the topic and not stored. */
export interface LostRecords {
  /** Acknowledged and never in the topic, per producer. */
  beforeKafka: Map<string, RangeSet>;
  /** In the topic and not stored: how many, and the first few. */
  notStored: { count: number; examples: BlameExample[] };
}

export interface BlameResult {
  /** Lost records (completeness's `lost`). */
  lost: number;
  /** Why the brokers' logs were not read (then `unattributed` counts what was not told apart). */
  unavailable: string | null;
  counts: Record<BlameClass, number>;
  /** Acknowledged and not in the topic, when the logs could not be read. */
  unattributed: number;
  /** The first examples of each class, in producer and seq order. */
  examples: Record<BlameClass, BlameExample[]>;
  /** Lost records each broker's log still holds (on_replica_not_leader), by broker. */
  by_broker: Record<string, number>;
  /** What was read of each broker's log, with its notes (torn tails, unreadable batches). */
  logs: {
    broker: string;
    dir: string;
    partitions: number;
    segments: number;
    records: number;
    notes: string[];
  }[];
  notes: string[];
}

export interface BlameOptions {
  /** Examples kept per class. Default 10. */
  examples?: number;
}

/**
 * The lost records of a run, as completeness.ts counts them: per producer, acknowledged minus
 * the topic's seqs; every topic record stored nowhere (in events/ or dlq/).
 */
export function lostRecords(
  ledger: Ledger,
  table: TopicTable,
  stored: Pick<StoreCheck, "inEvents" | "inDlq">,
  options: BlameOptions = {},
): LostRecords {
  const max = options.examples ?? 10;
  const beforeKafka = ackedNotInTopic(ledger, table.seqs());
  const d = table.data;
  const notStored: LostRecords["notStored"] = { count: 0, examples: [] };
  for (let i = 0; i < table.size; i++) {
    if (stored.inEvents[i] + stored.inDlq[i] > 0) continue;
    notStored.count++;
    if (notStored.examples.length >= max) continue;
    const pi = d.producer[i];
    notStored.examples.push({
      ...(pi >= 0 ? { producer_id: d.producers[pi], seq: d.seq[i] } : {}),
      partition: d.partition[i],
      offset: d.offset[i],
    });
  }
  return { beforeKafka, notStored };
}

/** Whether a record is among the lost before Kafka: the logs' search keeps only those. */
export function lostBeforeKafka(lost: LostRecords): (producerId: string, seq: number) => boolean {
  return (pid, seq) => lost.beforeKafka.get(pid)?.has(seq) ?? false;
}

/**
 * Classifies the lost records against what the brokers' logs hold (`search`), or, when the logs
 * could not be read, says why (`{ unavailable }`).
 */
export function blame(
  lost: LostRecords,
  search: LogSearch | { unavailable: string },
  options: BlameOptions = {},
): BlameResult {
  const max = options.examples ?? 10;
  let beforeKafka = 0;
  for (const s of lost.beforeKafka.values()) beforeKafka += s.size;
  const r: BlameResult = {
    lost: beforeKafka + lost.notStored.count,
    unavailable: null,
    counts: { never_in_topic: 0, on_replica_not_leader: 0, in_topic_not_stored: 0 },
    unattributed: 0,
    examples: { never_in_topic: [], on_replica_not_leader: [], in_topic_not_stored: [] },
    by_broker: {},
    logs: [],
    notes: [],
  };
  r.counts.in_topic_not_stored = lost.notStored.count;
  r.examples.in_topic_not_stored = lost.notStored.examples.slice(0, max);
  if ("unavailable" in search) {
    r.unavailable = search.unavailable;
    r.unattributed = beforeKafka;
    return r;
  }
  r.logs = search.reads.map((x) => ({ ...x, notes: x.notes.slice() }));
  if (search.dropped > 0) {
    r.notes.push(
      `${search.dropped} places of lost records on the brokers' logs past the first ` +
        `${search.sightings.length} were not kept: their records may be counted as never in the topic`,
    );
  }
  // Where each lost record was seen: producer -> seq -> places (only lost ones are kept).
  const seen = new Map<string, Map<number, Sighting[]>>();
  const isLost = lostBeforeKafka(lost);
  for (const s of search.sightings) {
    if (!isLost(s.producer_id, s.seq)) continue; // a search may hand more than was asked
    let bySeq = seen.get(s.producer_id);
    if (!bySeq) seen.set(s.producer_id, bySeq = new Map());
    const list = bySeq.get(s.seq);
    if (list) list.push(s);
    else bySeq.set(s.seq, [s]);
  }
  for (const pid of [...lost.beforeKafka.keys()].sort()) {
    const bySeq = seen.get(pid);
    for (const [lo, hi] of lost.beforeKafka.get(pid)!.ranges()) {
      for (let seq = lo; seq <= hi; seq++) {
        const places = bySeq?.get(seq);
        if (!places) {
          r.counts.never_in_topic++;
          if (r.examples.never_in_topic.length < max) {
            r.examples.never_in_topic.push({ producer_id: pid, seq });
          }
          continue;
        }
        r.counts.on_replica_not_leader++;
        for (const b of new Set(places.map((p) => p.broker))) {
          r.by_broker[b] = (r.by_broker[b] ?? 0) + 1;
        }
        if (r.examples.on_replica_not_leader.length < max) {
          r.examples.on_replica_not_leader.push({
            producer_id: pid,
            seq,
            on: places.slice(0, 6).map((p) => ({
              broker: p.broker,
              partition: p.partition,
              offset: p.offset,
              ...(p.deleted ? { deleted: true } : {}),
            })),
          });
        }
      }
    }
  }
  const unread = search.reads.filter((x) => x.segments === 0).map((x) => x.broker);
  if (unread.length && r.counts.never_in_topic > 0) {
    r.notes.push(
      `no segment of the topic was read on ${unread.join(", ")}: ` +
        `"on no broker's log" means on none of the others`,
    );
  }
  return r;
}

/** One example as text: `r1-w0 seq 17 on kafka-2 (partition 3 offset 120)`. */
export function exampleText(e: BlameExample): string {
  if (typeof e !== "object" || e === null) return String(e);
  const who = e.producer_id !== undefined ? `${e.producer_id} seq ${e.seq}` : "a record";
  const at = e.partition !== undefined ? ` (partition ${e.partition} offset ${e.offset})` : "";
  const on = Array.isArray(e.on) && e.on.length
    ? ` on ${
      e.on.map((p) =>
        `${p?.broker} (partition ${p?.partition} offset ${p?.offset}${
          p?.deleted ? ", a deleted segment" : ""
        })`
      ).join(", ")
    }`
    : "";
  return `${who}${at}${on}`;
}

/** Examples as text; those of one producer with no place are one: `r1-w0 seqs 0, 1, 2`. */
function examplesText(examples: BlameExample[]): string {
  const out: string[] = [];
  let seqs: number[] = [];
  let pid: string | undefined;
  const flush = () => {
    if (seqs.length) out.push(`${pid} seq${seqs.length > 1 ? "s" : ""} ${seqs.join(", ")}`);
    seqs = [];
  };
  for (const e of examples) {
    const bare = typeof e === "object" && e !== null && e.producer_id !== undefined &&
      e.partition === undefined && !e.on;
    if (!bare || e.producer_id !== pid) flush();
    if (bare) {
      pid = e.producer_id;
      seqs.push(e.seq!);
    } else {
      pid = undefined;
      out.push(exampleText(e));
    }
  }
  flush();
  return out.join("; ");
}

/**
 * The blame in a few lines, for the reports: one per class that has records, then why not. A
 * results.json is read back from a run folder: what is not of its shape is left out, never thrown.
 */
export function blameLines(b: BlameResult): string[] {
  const lines: string[] = [];
  for (const c of BLAME_CLASSES) {
    const n = b.counts?.[c];
    if (typeof n !== "number" || n === 0) continue;
    const examples = Array.isArray(b.examples?.[c]) ? b.examples[c] : [];
    const first = examplesText(examples.slice(0, c === "never_in_topic" ? 5 : 3));
    lines.push(`${n} ${BLAME_TEXT[c]}${first ? `: e.g. ${first}` : ""}`);
  }
  if (b.unavailable) {
    lines.push(
      `${b.unattributed} acknowledged and not in the topic, not attributed: ${b.unavailable}`,
    );
  }
  const brokers = Object.entries(b.by_broker ?? {});
  if (brokers.length) {
    lines.push(`still on the logs of ${brokers.map(([k, n]) => `${k} (${n})`).join(", ")}`);
  }
  return lines;
}

/** What to know about the reading of the logs (torn tails, unreadable batches), at most `max`. */
export function blameNotes(b: BlameResult, max = 8): string[] {
  const list = <T>(x: T[] | undefined) => (Array.isArray(x) ? x : []);
  const all = [
    ...list(b.notes),
    ...list(b.logs).flatMap((l) => list(l?.notes).map((n) => `${l.broker}: ${n}`)),
  ];
  return all.length > max
    ? [...all.slice(0, max), `and ${all.length - max} more notes (results.json: blame.logs)`]
    : all;
}
