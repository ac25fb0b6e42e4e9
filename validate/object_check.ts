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
 * Bounded whatever is stored: what a line names is counted into a saturating
 * counter per record (sized by the topic, not by the store), and the whole
 * check reads at most the topic's ReadBudget (4× its records in lines, a few
 * times its bytes once decompressed), shared by every worker. A store over it
 * is one `corrupt_object` finding ("the store holds far more lines than the
 * topic") and reading stops.
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
  /** Per record: lines of events/ that resolved to it (saturating at 65535; may be shared). */
  heldEvents: Uint16Array;
  /** Likewise for dlq/. */
  heldDlq: Uint16Array;
  /** What the whole check may read (may be shared by workers); set on first use if absent. */
  budget?: ReadBudget;
  counts: Record<Problem, number>;
  samples: Record<Problem, string[]>;
}

/**
 * The most a store check reads, shared by its threads: `used` holds the lines read, the KiB
 * decompressed, and 1 once the budget was exceeded (Int32Array, SharedArrayBuffer in checkStore).
 */
export interface ReadBudget {
  maxLines: number;
  maxKiB: number;
  used: Int32Array;
}

/** Lines a store may hold per topic record before it is a finding (plus a small slack). */
export const LINES_PER_RECORD = 4;
const LINE_SLACK = 1024;
const INT32_MAX = 2 ** 31 - 1;

/**
 * The budget for a topic: 4× its records in lines (+1024), and in bytes 8× its records'
 * bytes + 256 bytes a record + 256 MiB (a dlq line escapes its value, up to 6 bytes a byte).
 */
export function newBudget(table: TopicTable, shared = false): ReadBudget {
  const n = table.size;
  let bytes = 0;
  const len = table.data.len;
  for (let i = 0; i < Math.min(n, len.length); i++) bytes += len[i];
  const kib = Math.ceil((8 * bytes + 256 * n) / 1024) + (256 << 10);
  const buffer = shared ? new SharedArrayBuffer(12) : new ArrayBuffer(12);
  return {
    maxLines: Math.min(INT32_MAX - 1, LINES_PER_RECORD * n + LINE_SLACK),
    maxKiB: Math.min(INT32_MAX - 1, kib),
    used: new Int32Array(buffer),
  };
}

/** Whether the budget was exceeded (by any thread): reading should stop. */
export function overBudget(b: ReadBudget | undefined): boolean {
  return !!b && Atomics.load(b.used, 2) !== 0;
}

/** Marks the budget exceeded; the first to do so notes the finding. */
function exceed(f: Findings, b: ReadBudget, key: string, why: string): void {
  if (Atomics.compareExchange(b.used, 2, 0, 1) !== 0) return;
  note(
    f,
    "corrupt_object",
    `the store holds far more lines than the topic (${why}; reading stopped at ${key})`,
  );
}

/** Adds one to `a[r]`, saturating at 65535 (atomically: the counters may be shared). */
function bump(a: Uint16Array, r: number): void {
  if (!(r >= 0 && r < a.length)) return;
  let old = Atomics.load(a, r);
  while (old < 65535) {
    const was = Atomics.compareExchange(a, r, old, old + 1);
    if (was === old) return;
    old = was;
  }
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

/** Empty findings; counters for `size` records (grown to the table's on first use). */
export function newFindings(size = 0, budget?: ReadBudget): Findings {
  return {
    lines: 0,
    heldEvents: new Uint16Array(size),
    heldDlq: new Uint16Array(size),
    budget,
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

/** Adds `other` into `into` (counters not shared with `into`'s are added, saturating). */
export function mergeFindings(into: Findings, other: Findings): void {
  into.lines += other.lines;
  const add = (a: Uint16Array, b: Uint16Array) => {
    if (a === b || b.length === 0) return;
    for (let i = 0; i < Math.min(a.length, b.length); i++) a[i] = Math.min(65535, a[i] + b[i]);
  };
  add(into.heldEvents, other.heldEvents);
  add(into.heldDlq, other.heldDlq);
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
  const budget = f.budget ??= newBudget(table);
  if (overBudget(budget)) return;
  const size = table.size;
  if (f.heldEvents.length < size) f.heldEvents = grown(f.heldEvents, size);
  if (f.heldDlq.length < size) f.heldDlq = grown(f.heldDlq, size);
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
  const kib = Atomics.add(budget.used, 1, Math.ceil(bytes.length / 1024)) +
    Math.ceil(bytes.length / 1024);
  if (kib > budget.maxKiB) {
    exceed(f, budget, key, `more than ${budget.maxKiB} KiB once decompressed`);
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
    if (stop > start && Atomics.add(budget.used, 0, 1) >= budget.maxLines) {
      exceed(f, budget, key, `more than ${budget.maxLines} lines for ${size} records`);
      return;
    }
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
            bump(f.heldEvents, r);
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
            bump(f.heldDlq, r);
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

/** `a`'s counts in an array of `size`. */
function grown(a: Uint16Array, size: number): Uint16Array {
  const b = new Uint16Array(size);
  b.set(a);
  return b;
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
