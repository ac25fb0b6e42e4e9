/**
 * Checks one stored object line by line against the topic (see topic_table.ts):
 * every line must be the record of the topic it claims to be, at an offset
 * inside the object's name, of the right kind for its folder.
 *
 * - `events/` line: a valid event. Its identity (producer_id, seq) names the
 *   record; equal bytes are the record, other bytes must parse to the same
 *   event under the sink's schema (a re-serialized event is the same event).
 *   An identity Kafka holds at several offsets (a producer's retry appended
 *   twice) names each copy in turn: an object that stores both copies of a
 *   retry inside its range stored two records, not one twice.
 * - `dlq/` line: `{"partition":P,"offset":O,"raw":"…",…}`, naming the record
 *   by its place; `raw` must be the record's value, and the record malformed.
 *
 * A line is taken for the record without parsing it only when it is the
 * record's very bytes: the same length and the same keyed 128-bit digest
 * (digest.ts); any other line must parse, and its canonical digest must be the
 * record's.
 *
 * What a line cannot be is a finding (counted, sampled with the object's
 * key), never an exception: a corrupt object (not gzip, empty, more than
 * MAX_OBJECT_BYTES once decompressed) is one finding, a line longer than
 * MAX_LINE_BYTES is unreadable, and the check goes on, in bounded memory. Runs
 * on the coordinating thread and in the store check's workers.
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
import { Digester } from "./digest.ts";
import { WasmSipHash } from "./_wasm_hash.ts";
import { eventIdentity, PREFIX, SEQ } from "./identity.ts";
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

/**
 * The most an object may hold once decompressed: 256 MiB (the sink's objects are a few MiB);
 * a larger one is a corrupt object, never read whole.
 */
export const MAX_OBJECT_BYTES = 256 << 20;
/**
 * The longest line: 8 MiB (a Kafka record is at most about 1 MiB by default, and a dlq line
 * escapes its raw value, at most 6 bytes per byte); a longer one is unreadable.
 */
export const MAX_LINE_BYTES = 8 << 20;

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

const encoder = new TextEncoder();
const decoder = new TextDecoder();
const PREFIX_BYTES = encoder.encode(PREFIX);
const SEQ_BYTES = encoder.encode(SEQ);
/** This thread's digests, under the key of the last table checked. */
let digests: { key: Uint8Array; sip: WasmSipHash; one: Digester } | undefined;

function digestsFor(key: Uint8Array) {
  if (digests?.key !== key) digests = { key, sip: new WasmSipHash(key), one: new Digester(key) };
  return digests;
}

/**
 * Checks the object `key` (gzip bytes `gz`) into `f`. `key` must be a batch key. Works on the
 * bytes: lines in the generator's layout are resolved and digested without decoding them.
 */
export function checkObject(key: string, gz: Uint8Array, table: TopicTable, f: Findings): void {
  const name = parseBatchKey(key);
  if (!name) throw new RangeError(`not a batch key: ${key}`);
  let bytes: Uint8Array;
  try {
    // A plain view, not Node's Buffer: its indexOf is the engine's, not a script's.
    const out = gunzipSync(gz, { chunkSize: 4 << 20, maxOutputLength: MAX_OBJECT_BYTES });
    bytes = new Uint8Array(out.buffer, out.byteOffset, out.byteLength);
  } catch (error) {
    const e = error as Error & { code?: string };
    const why = e.code === "ERR_BUFFER_TOO_LARGE"
      ? `more than ${MAX_OBJECT_BYTES / 2 ** 20} MiB once decompressed`
      : gz.length === 0
      ? "empty (0 bytes, not gzip)"
      : `not gzip (${e.message})`;
    note(f, "corrupt_object", `${key}: ${why}`);
    return;
  }
  const d = table.data;
  const { sip, one } = digestsFor(d.key);
  sip.load(bytes);
  const bounds = table.bounds(name.partition);
  const inRange = (r: number) =>
    d.partition[r] === name.partition && d.offset[r] >= name.firstOffset &&
    d.offset[r] <= name.lastOffset;
  const ids = producerIds(d.producers, d.bySeq);
  /** Records of an identity Kafka holds more than once that a line of this object took. */
  let taken: Set<number> | undefined;
  let lineNo = 0;
  let start = 0;
  while (start < bytes.length) {
    let end = bytes.indexOf(10, start);
    if (end < 0) end = bytes.length;
    const stop = end > start && bytes[end - 1] === 13 ? end - 1 : end; // a CRLF line
    lineNo++;
    if (stop - start > MAX_LINE_BYTES) {
      f.lines++;
      note(
        f,
        "unreadable",
        `${key} line ${lineNo}: ${stop - start} bytes, more than a line may hold (${
          MAX_LINE_BYTES / 2 ** 20
        } MiB)`,
      );
    } else if (stop > start) {
      f.lines++;
      const at = () => `${key} line ${lineNo}`;
      if (name.kind === "events") {
        // The identity, in place for the generator's layout, by pattern otherwise.
        let bySeq: Int32Array | undefined;
        let pid: string | undefined;
        let seq: number | undefined;
        const from = start + PREFIX_BYTES.length;
        if (startsWith(bytes, PREFIX_BYTES, start)) {
          const close = bytes.indexOf(34, from);
          if (close > from && close < stop) {
            seq = seqAtBytes(bytes, close + 1, stop);
            const known = seq === undefined ? undefined : ids.find(bytes, from, close);
            if (known) [pid, bySeq] = known;
          }
        }
        if (pid === undefined || seq === undefined) {
          ({ producer_id: pid, seq } = eventIdentity(decoder.decode(bytes.subarray(start, stop))));
          if (pid !== undefined) bySeq = ids.byName.get(pid);
        }
        if (pid === undefined || seq === undefined) {
          note(f, "unreadable", `${at()}: no producer_id and seq`);
        } else {
          let r = bySeq?.[seq] ?? -1;
          if (r === -1) {
            note(f, "unexpected", `${at()}: ${pid} seq ${seq} is not in the topic`);
          } else {
            if (d.next[r] !== -1) r = retryCopy(r, d.next, inRange, taken ??= new Set());
            f.heldEvents.push(r);
            if (!inRange(r)) {
              note(f, "misplaced", `${at()}: ${pid} seq ${seq} is at offset ${d.offset[r]}`);
            }
            if (d.kind[r] === MALFORMED) {
              note(f, "malformed_in_events", `${at()}: ${pid} seq ${seq}`);
            } else if (!(stop - start === d.len[r] && sameBytes(sip, start, stop, d.raw, r))) {
              // Not the record's very bytes: it must parse to the same event.
              const parsed = parseEvent(decoder.decode(bytes.subarray(start, stop)));
              if (!parsed.ok) note(f, "not_an_event", `${at()}: ${parsed.reason}`);
              else if (!one.canonicalEquals(parsed.event, d.canon, r)) {
                note(f, "altered", `${at()}: ${pid} seq ${seq} differs from the topic's record`);
              }
            }
          }
        }
      } else {
        const entry = dlqEntry(decoder.decode(bytes.subarray(start, stop)));
        if (!entry) {
          note(f, "unreadable", `${at()}: not {"partition":…,"offset":…,"raw":"…"}`);
        } else {
          const r = entry.partition === name.partition
            ? recordAt(d, bounds, entry.offset)
            : table.at(entry.partition, entry.offset);
          const place = `partition ${entry.partition} offset ${entry.offset}`;
          if (r === -1) note(f, "unexpected", `${at()}: ${place} holds no record in the topic`);
          else {
            f.heldDlq.push(r);
            if (!inRange(r)) note(f, "misplaced", `${at()}: ${place}`);
            if (d.kind[r] === VALID) note(f, "valid_in_dlq", `${at()}: ${place}`);
            else if (!sameRaw(one, encoder.encode(entry.raw), d.len[r], d.raw, r)) {
              note(f, "altered", `${at()}: ${place}: raw differs from the topic's record`);
            }
          }
        }
      }
    }
    start = end + 1;
  }
}

/**
 * Which copy a line is, of an identity Kafka holds at several offsets (a producer's retry
 * appended twice; `head` is its first, `next` chains the others): the first copy inside the
 * object's range that no earlier line of the object took, so that an object storing both
 * copies stored each once. When every copy in range is taken the line is another copy of
 * the first (a duplicate); when none is in range, the head (misplaced).
 */
function retryCopy(
  head: number,
  next: Int32Array,
  inRange: (r: number) => boolean,
  taken: Set<number>,
): number {
  let first = -1;
  // `next` points further down the table (topic_table.ts); the bound is a second guard.
  for (let c = head, steps = 0; c !== -1 && steps <= next.length; c = next[c], steps++) {
    if (!inRange(c)) continue;
    if (!taken.has(c)) {
      taken.add(c);
      return c;
    }
    if (first === -1) first = c;
  }
  return first === -1 ? head : first;
}

/** Whether the loaded bytes [start, stop) have record `r`'s raw digest. */
function sameBytes(
  sip: WasmSipHash,
  start: number,
  stop: number,
  raw: Uint32Array,
  r: number,
): boolean {
  sip.digest(start, stop, 0);
  return sip.equals(raw, r);
}

/** Whether `bytes` are record `r`'s value: its length and its raw digest. */
function sameRaw(one: Digester, bytes: Uint8Array, len: number, raw: Uint32Array, r: number) {
  return bytes.length === len && one.rawEquals(bytes, raw, r);
}

function startsWith(bytes: Uint8Array, prefix: Uint8Array, at: number): boolean {
  if (at + prefix.length > bytes.length) return false;
  for (let i = 0; i < prefix.length; i++) if (bytes[at + i] !== prefix[i]) return false;
  return true;
}

/** The seq of `,"seq":N` at `i` (before `end`, followed by `,` or `}`), else undefined. */
function seqAtBytes(bytes: Uint8Array, i: number, end: number): number | undefined {
  if (!startsWith(bytes, SEQ_BYTES, i)) return undefined;
  i += SEQ_BYTES.length;
  let seq = 0;
  let digits = 0;
  for (let c = bytes[i]; i < end && c >= 48 && c <= 57; c = bytes[++i]) {
    seq = seq * 10 + (c - 48);
    digits++;
  }
  const next = bytes[i];
  return digits > 0 && digits <= 15 && (next === 44 || next === 125) ? seq : undefined;
}

/** The topic's producer ids, found from a line's bytes without making a string of them. */
function producerIds(names: readonly string[], bySeq: readonly Int32Array[]) {
  const byName = new Map<string, Int32Array>(names.map((n, i) => [n, bySeq[i]]));
  const byHash = new Map<number, [Uint8Array, string, Int32Array][]>();
  const hash = (b: Uint8Array, from: number, to: number) => {
    let h = to - from;
    for (let i = from; i < to; i++) h = (Math.imul(h, 31) + b[i]) | 0;
    return h;
  };
  names.forEach((n, i) => {
    const b = encoder.encode(n);
    const h = hash(b, 0, b.length);
    byHash.set(h, [...(byHash.get(h) ?? []), [b, n, bySeq[i]]]);
  });
  return {
    byName,
    find(bytes: Uint8Array, from: number, to: number): [string, Int32Array] | undefined {
      for (const [b, n, s] of byHash.get(hash(bytes, from, to)) ?? []) {
        if (b.length === to - from && startsWith(bytes, b, from)) return [n, s];
      }
      return undefined;
    },
  };
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
