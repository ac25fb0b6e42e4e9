/**
 * Reads what the sink stored: every `events/` and `dlq/` object of a topic,
 * gunzipped, and the (producer_id, seq) pairs in them, as range sets per
 * producer with duplicates counted. This is the "found" side of the
 * completeness check.
 *
 * Built for tens of millions of events: objects are fetched 8 at a time while
 * earlier ones are parsed; the identity of a line is read with a fast path
 * for the event layout the generator writes (`{"producer_id":"…","seq":N,…`)
 * and the general pattern otherwise; seqs are gathered per producer in typed
 * arrays and sorted once, since a producer's seqs are scattered over every
 * partition and object (inserting them one by one into range sets is
 * quadratic in the number of gaps).
 *
 * ```ts
 * import { scanStore } from "./store_scan.ts";
 * const found = await scanStore(store, "network-telemetry");
 * found.events.get("r1-w0")?.seqs.size;
 * ```
 * @module
 */

import { gunzipSync } from "node:zlib";
import { parseBatchKey } from "../pipeline/batcher.ts";
import { recoverIdentity } from "../pipeline/event.ts";
import { RangeSet } from "../pipeline/range_set.ts";
import type { ObjectStore } from "../pipeline/store.ts";

export interface FoundSeqs {
  seqs: RangeSet;
  /** Seqs seen more than once, with how many extra copies. */
  duplicates: Map<number, number>;
}

export interface StoreScan {
  events: Map<string, FoundSeqs>;
  dlq: Map<string, FoundSeqs>;
  objects: { events: number; dlq: number };
  /** Records whose identity could not be read. */
  unreadable: number;
}

const CONCURRENCY = 8;
const PREFIX = '{"producer_id":"';
const SEQ = ',"seq":';

/** A growable array of seqs (numbers up to 2^53, kept as float64). */
export class Seqs {
  buf = new Float64Array(1024);
  n = 0;
  push(v: number) {
    if (this.n === this.buf.length) {
      const next = new Float64Array(this.buf.length * 2);
      next.set(this.buf);
      this.buf = next;
    }
    this.buf[this.n++] = v;
  }
  /** Sorted once: the ranges, and how many extra copies of each repeated seq. */
  found(): FoundSeqs {
    return rangesOf(this.buf.subarray(0, this.n).sort());
  }

  /** The seqs sorted (a copy), for sending to another thread. */
  sorted(): Float64Array {
    return this.buf.slice(0, this.n).sort();
  }
}

/** Merges ascending runs into one ascending array. */
export function mergeSorted(runs: readonly Float64Array[]): Float64Array {
  let merged = runs[0] ?? new Float64Array(0);
  for (const run of runs.slice(1)) {
    const out = new Float64Array(merged.length + run.length);
    let i = 0, j = 0, k = 0;
    while (i < merged.length && j < run.length) {
      out[k++] = merged[i] <= run[j] ? merged[i++] : run[j++];
    }
    while (i < merged.length) out[k++] = merged[i++];
    while (j < run.length) out[k++] = run[j++];
    merged = out;
  }
  return merged;
}

/** Ranges and duplicates of an ascending array of seqs. */
export function rangesOf(sorted: Float64Array): FoundSeqs {
  const seqs = new RangeSet();
  const duplicates = new Map<number, number>();
  let i = 0;
  while (i < sorted.length) {
    const lo = sorted[i];
    let hi = lo;
    i++;
    while (i < sorted.length && (sorted[i] === hi || sorted[i] === hi + 1)) {
      if (sorted[i] === hi) duplicates.set(hi, (duplicates.get(hi) ?? 0) + 1);
      hi = sorted[i];
      i++;
    }
    seqs.addRange(lo, hi); // ascending: always an append
  }
  return { seqs, duplicates };
}

/** producer_id and seq of an event line: the generator's layout fast, anything else by pattern. */
export function eventIdentity(line: string): { producer_id?: string; seq?: number } {
  if (line.startsWith(PREFIX)) {
    const end = line.indexOf('"', PREFIX.length);
    if (end > 0 && line.startsWith(SEQ, end + 1)) {
      let i = end + 1 + SEQ.length;
      let seq = 0;
      let digits = 0;
      for (let c = line.charCodeAt(i); c >= 48 && c <= 57; c = line.charCodeAt(++i)) {
        seq = seq * 10 + (c - 48);
        digits++;
      }
      const next = line.charCodeAt(i);
      if (digits > 0 && digits <= 15 && (next === 44 || next === 125)) {
        const id = line.slice(PREFIX.length, end);
        if (id.length > 0 && id.length <= 128 && !id.includes("\\")) {
          return { producer_id: id, seq };
        }
      }
    }
  }
  return recoverIdentity(line);
}

export function dlqIdentity(line: string): { producer_id?: string; seq?: number } {
  const record = JSON.parse(line) as { producer_id: string | null; seq: number | null };
  return { producer_id: record.producer_id ?? undefined, seq: record.seq ?? undefined };
}

export type Kind = "events" | "dlq";

/** Gathers the identities of one object's lines into `gathered`; returns the unreadable count. */
export function gatherObject(
  kind: Kind,
  gz: Uint8Array,
  gathered: Map<string, Seqs>,
  decoder = new TextDecoder(),
): number {
  // A first output chunk large enough for a whole batch saves the growing and copying.
  const text = decoder.decode(gunzipSync(gz, { chunkSize: GUNZIP_CHUNK }));
  // The fast path reads identities in place: the producer id is found by a hash of its
  // characters among the ids already seen (a handful per run), not cut out of every line.
  const known = new Map<number, [string, Seqs][]>();
  for (const entry of gathered) knownAdd(known, entry);
  let unreadable = 0;
  let start = 0;
  while (start < text.length) {
    let end = text.indexOf("\n", start);
    if (end < 0) end = text.length;
    if (end > start) {
      let done = false;
      if (kind === "events" && text.startsWith(PREFIX, start)) {
        const at = start + PREFIX.length;
        const close = text.indexOf('"', at);
        if (close > at && close < end) {
          const candidates = known.get(idHash(text, at, close));
          if (candidates) {
            for (const entry of candidates) {
              if (entry[0].length === close - at && text.startsWith(entry[0], at)) {
                const seq = seqAt(text, close + 1, end);
                if (seq !== undefined) {
                  entry[1].push(seq);
                  done = true;
                }
                break;
              }
            }
          }
        }
      }
      if (!done) {
        const line = text.slice(start, end);
        const id = kind === "events" ? eventIdentity(line) : dlqIdentity(line);
        if (id.producer_id === undefined || id.seq === undefined) {
          unreadable++;
        } else {
          let seqs = gathered.get(id.producer_id);
          if (!seqs) {
            gathered.set(id.producer_id, seqs = new Seqs());
            knownAdd(known, [id.producer_id, seqs]);
          }
          seqs.push(id.seq);
        }
      }
    }
    start = end + 1;
  }
  return unreadable;
}

const GUNZIP_CHUNK = 4 << 20;

/** The hash the fast path computes over a producer id's characters (`s` from `from` to `to`). */
function idHash(s: string, from = 0, to = s.length): number {
  let h = to - from;
  for (let i = from; i < to; i++) h = (Math.imul(h, 31) + s.charCodeAt(i)) | 0;
  return h;
}

function knownAdd(known: Map<number, [string, Seqs][]>, entry: [string, Seqs]): void {
  const h = idHash(entry[0]);
  const list = known.get(h);
  if (list) list.push(entry);
  else known.set(h, [entry]);
}

/** The seq of `,"seq":N` at `i` (before `end`, followed by `,` or `}`), else undefined. */
function seqAt(text: string, i: number, end: number): number | undefined {
  if (!text.startsWith(SEQ, i)) return undefined;
  i += SEQ.length;
  let seq = 0;
  let digits = 0;
  for (let c = text.charCodeAt(i); i < end && c >= 48 && c <= 57; c = text.charCodeAt(++i)) {
    seq = seq * 10 + (c - 48);
    digits++;
  }
  const next = text.charCodeAt(i);
  return digits > 0 && digits <= 15 && (next === 44 || next === 125) ? seq : undefined;
}

/** Fetches and gathers `keys`, CONCURRENCY downloads ahead of the parsing. */
export async function gatherObjects(
  store: ObjectStore,
  kind: Kind,
  keys: readonly string[],
  gathered: Map<string, Seqs>,
): Promise<number> {
  const decoder = new TextDecoder();
  let unreadable = 0;
  const fetching = keys.slice(0, CONCURRENCY).map((k) => store.getBytes(k));
  for (let k = 0; k < keys.length; k++) {
    const bytes = await fetching[k];
    if (k + CONCURRENCY < keys.length) fetching.push(store.getBytes(keys[k + CONCURRENCY]));
    fetching[k] = undefined as unknown as Promise<Uint8Array>; // let it go
    unreadable += gatherObject(kind, bytes, gathered, decoder);
  }
  return unreadable;
}

export interface ScanOptions {
  /** Worker threads for large stores. Default: one per core, at most 4 (1: no worker). */
  workers?: number;
}

/** Below this many objects the scan stays on this thread. */
const WORKER_MIN_OBJECTS = 16;

/** Scans `events/<topic>/` and `dlq/<topic>/`. */
export async function scanStore(
  store: ObjectStore,
  topic: string,
  options: ScanOptions = {},
): Promise<StoreScan> {
  const scan: StoreScan = {
    events: new Map(),
    dlq: new Map(),
    objects: { events: 0, dlq: 0 },
    unreadable: 0,
  };
  const workers = options.workers ?? Math.min(4, navigator.hardwareConcurrency || 1);
  for (const kind of ["events", "dlq"] as const) {
    const keys = (await store.list(`${kind}/${topic}/`)).filter((o) => parseBatchKey(o.name))
      .map((o) => o.name);
    scan.objects[kind] = keys.length;
    if (workers > 1 && keys.length >= WORKER_MIN_OBJECTS) {
      scan.unreadable += await gatherInWorkers(store, kind, keys, scan[kind], workers);
    } else {
      const gathered = new Map<string, Seqs>();
      scan.unreadable += await gatherObjects(store, kind, keys, gathered);
      for (const [producer, seqs] of gathered) scan[kind].set(producer, seqs.found());
    }
  }
  return scan;
}

/** Splits `keys` over `n` workers (interleaved, so each gets every partition) and merges. */
async function gatherInWorkers(
  store: ObjectStore,
  kind: Kind,
  keys: readonly string[],
  merged: Map<string, FoundSeqs>,
  n: number,
): Promise<number> {
  const parts = Array.from({ length: n }, (_, w) => keys.filter((_, i) => i % n === w));
  const results = await Promise.all(parts.map((part) => {
    const worker = new Worker(new URL("./_scan_worker.ts", import.meta.url), { type: "module" });
    return new Promise<ScanReply>((resolve, reject) => {
      worker.onmessage = (e: MessageEvent<ScanReply>) => {
        worker.terminate();
        if (e.data.error) reject(new Error(`store scan worker: ${e.data.error}`));
        else resolve(e.data);
      };
      worker.onerror = (e) => {
        worker.terminate();
        e.preventDefault();
        reject(new Error(`store scan worker: ${e.message}`));
      };
      worker.postMessage({ s3: store.s3, kind, keys: part } satisfies ScanRequest);
    });
  }));
  // Each worker sent its seqs sorted: merge the runs (linear), no sort on this thread.
  const runs = new Map<string, Float64Array[]>();
  let unreadable = 0;
  for (const r of results) {
    unreadable += r.unreadable;
    for (const [producer, values] of r.producers) {
      runs.set(producer, [...(runs.get(producer) ?? []), values]);
    }
  }
  for (const [producer, parts] of runs) merged.set(producer, rangesOf(mergeSorted(parts)));
  return unreadable;
}

export interface ScanRequest {
  s3: ObjectStore["s3"];
  kind: Kind;
  keys: string[];
}

export interface ScanReply {
  /** Each producer's seqs, ascending. */
  producers: [string, Float64Array][];
  unreadable: number;
  error?: string;
}
