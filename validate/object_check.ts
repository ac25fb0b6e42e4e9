/**
 * Checks one stored object line by line against the topic (see topic_table.ts):
 * every line must be the record of the topic it claims to be, at an offset
 * inside the object's name, of the right kind for its folder.
 *
 * - `events/` line: a valid event. Its identity (producer_id, seq) names the
 *   record; equal bytes are the record, other bytes must parse to the same
 *   event under the sink's schema (a re-serialized event is the same event).
 * - `dlq/` line: `{"partition":P,"offset":O,"raw":"…",…}`, naming the record
 *   by its place; `raw` must be the record's value, and the record malformed.
 *
 * What a line cannot be is a finding (counted, sampled with the object's
 * key), never an exception: a corrupt object is one finding, and the check
 * goes on. Runs on the coordinating thread and in the store check's workers.
 *
 * ```ts
 * import { checkObject, newFindings } from "./object_check.ts";
 * const findings = newFindings();
 * checkObject(key, gzBytes, table, findings);
 * ```
 * @module
 */

import { gunzipSync } from "node:zlib";
import { parseBatchKey } from "../pipeline/batcher.ts";
import { parseEvent } from "../pipeline/event.ts";
import { canonicalDigest, hashText } from "./digest.ts";
import { eventIdentity, PREFIX, seqAt } from "./identity.ts";
import { MALFORMED, recordAt, type TopicTable, VALID } from "./topic_table.ts";

/** What a stored line or object can be instead of a record in its right place. */
export const PROBLEMS = [
  "corrupt_object",
  "unreadable",
  "not_an_event",
  "altered",
  "unexpected",
  "misplaced",
  "malformed_in_events",
  "valid_in_dlq",
] as const;
export type Problem = typeof PROBLEMS[number];

/** What the problems mean, for reasons and reports. */
export const PROBLEM_TEXT: Record<Problem, string> = {
  corrupt_object: "objects could not be read (not gzip, or not UTF-8 text)",
  unreadable: "stored lines name no record (no producer_id and seq, or no partition and offset)",
  not_an_event: "lines in events/ are not valid events under the schema",
  altered: "stored records differ from the record in the topic",
  unexpected: "stored records were never in the topic, or never attempted",
  misplaced: "stored records lie outside the offset range their object's name gives",
  malformed_in_events: "malformed records are in events/ (they belong in dlq/ only)",
  valid_in_dlq: "valid events are in dlq/ (they belong in events/)",
};

export interface Findings {
  lines: number;
  /** Record index of every line of events/ that resolved to a record. */
  heldEvents: number[];
  /** Likewise for dlq/. */
  heldDlq: number[];
  counts: Record<Problem, number>;
  samples: Record<Problem, string[]>;
}

const SAMPLE = 10;

export function newFindings(): Findings {
  return {
    lines: 0,
    heldEvents: [],
    heldDlq: [],
    counts: Object.fromEntries(PROBLEMS.map((p) => [p, 0])) as Record<Problem, number>,
    samples: Object.fromEntries(PROBLEMS.map((p) => [p, []])) as unknown as Record<
      Problem,
      string[]
    >,
  };
}

export function note(f: Findings, problem: Problem, what: string): void {
  f.counts[problem]++;
  if (f.samples[problem].length < SAMPLE) f.samples[problem].push(what);
}

/** Adds `other` into `into`. */
export function mergeFindings(into: Findings, other: Findings): void {
  into.lines += other.lines;
  for (const r of other.heldEvents) into.heldEvents.push(r);
  for (const r of other.heldDlq) into.heldDlq.push(r);
  for (const p of PROBLEMS) {
    into.counts[p] += other.counts[p];
    for (const s of other.samples[p]) if (into.samples[p].length < SAMPLE) into.samples[p].push(s);
  }
}

/** Checks the object `key` (gzip bytes `gz`) into `f`. `key` must be a batch key. */
export function checkObject(key: string, gz: Uint8Array, table: TopicTable, f: Findings): void {
  const name = parseBatchKey(key);
  if (!name) throw new RangeError(`not a batch key: ${key}`);
  let text: string;
  try {
    text = new TextDecoder("utf-8", { fatal: true }).decode(
      gunzipSync(gz, { chunkSize: 4 << 20 }),
    );
  } catch (error) {
    note(f, "corrupt_object", `${key}: ${(error as Error).message}`);
    return;
  }
  const d = table.data;
  const bounds = table.bounds(name.partition);
  const inRange = (r: number) =>
    d.partition[r] === name.partition && d.offset[r] >= name.firstOffset &&
    d.offset[r] <= name.lastOffset;
  const producers = new Map<string, Int32Array>();
  for (let i = 0; i < d.producers.length; i++) producers.set(d.producers[i], d.bySeq[i]);
  let lineNo = 0;
  let start = 0;
  while (start < text.length) {
    let end = text.indexOf("\n", start);
    if (end < 0) end = text.length;
    lineNo++;
    if (end > start && !(end === start + 1 && text.charCodeAt(start) === 13)) {
      f.lines++;
      const at = `${key} line ${lineNo}`;
      if (name.kind === "events") {
        // The identity, in place for the generator's layout, by pattern otherwise.
        let pid: string | undefined;
        let seq: number | undefined;
        if (text.startsWith(PREFIX, start)) {
          const close = text.indexOf('"', start + PREFIX.length);
          if (close > start + PREFIX.length && close < end) {
            seq = seqAt(text, close + 1, end);
            if (seq !== undefined) pid = text.slice(start + PREFIX.length, close);
          }
        }
        if (pid === undefined || seq === undefined) {
          ({ producer_id: pid, seq } = eventIdentity(text.slice(start, end)));
        }
        if (pid === undefined || seq === undefined) {
          note(f, "unreadable", `${at}: no producer_id and seq`);
        } else {
          let r = producers.get(pid)?.[seq] ?? -1;
          if (r === -1) {
            note(f, "unexpected", `${at}: ${pid} seq ${seq} is not in the topic`);
          } else {
            for (let c = r; c !== -1; c = d.next[c]) {
              if (inRange(c)) {
                r = c;
                break;
              }
            }
            f.heldEvents.push(r);
            if (!inRange(r)) {
              note(f, "misplaced", `${at}: ${pid} seq ${seq} is at offset ${d.offset[r]}`);
            }
            if (d.kind[r] === MALFORMED) {
              note(f, "malformed_in_events", `${at}: ${pid} seq ${seq}`);
            } else if (hashText(text, d.seed, start, end) !== d.raw[r]) {
              const parsed = parseEvent(text.slice(start, end));
              if (!parsed.ok) note(f, "not_an_event", `${at}: ${parsed.reason}`);
              else if (canonicalDigest(parsed.event, d.seed) !== d.canon[r]) {
                note(f, "altered", `${at}: ${pid} seq ${seq} differs from the topic's record`);
              }
            }
          }
        }
      } else {
        const entry = dlqEntry(text.slice(start, end));
        if (!entry) {
          note(f, "unreadable", `${at}: not {"partition":…,"offset":…,"raw":"…"}`);
        } else {
          const r = entry.partition === name.partition
            ? recordAt(d, bounds, entry.offset)
            : table.at(entry.partition, entry.offset);
          const place = `partition ${entry.partition} offset ${entry.offset}`;
          if (r === -1) note(f, "unexpected", `${at}: ${place} holds no record in the topic`);
          else {
            f.heldDlq.push(r);
            if (!inRange(r)) note(f, "misplaced", `${at}: ${place}`);
            if (d.kind[r] === VALID) note(f, "valid_in_dlq", `${at}: ${place}`);
            else if (hashText(entry.raw, d.seed) !== d.raw[r]) {
              note(f, "altered", `${at}: ${place}: raw differs from the topic's record`);
            }
          }
        }
      }
    }
    start = end + 1;
  }
}

/** A dlq line's place and raw value, when it has them. */
function dlqEntry(line: string): { partition: number; offset: number; raw: string } | undefined {
  let v: unknown;
  try {
    v = JSON.parse(line);
  } catch {
    return undefined;
  }
  if (typeof v !== "object" || v === null) return undefined;
  const { partition, offset, raw } = v as Record<string, unknown>;
  if (!Number.isSafeInteger(partition) || !Number.isSafeInteger(offset)) return undefined;
  if (typeof raw !== "string") return undefined;
  return { partition: partition as number, offset: offset as number, raw };
}
