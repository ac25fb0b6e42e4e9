/**
 * What the topic held at the end of a run, record by record: for every
 * (partition, offset) the record's identity (producer_id, seq, when readable),
 * whether it is a valid event under the sink's schema, a keyed hash of its raw
 * value and a digest of the parsed event (see digest.ts). The topic is the
 * ground truth for the sink: the store check resolves every stored line to a
 * record of this table. Pure: the Kafka audit (kafka_audit.ts) feeds it, the
 * benchmark feeds it directly.
 *
 * The columns live in SharedArrayBuffers, so the store check's workers read
 * the same table without a copy; `encode()`/`decode()` keep it in the run
 * folder (`topic-audit.bin.gz`), so a re-check needs no Kafka.
 *
 * ```ts
 * import { TopicTableBuilder } from "./topic_table.ts";
 * const b = new TopicTableBuilder(1234);
 * b.add(0, 0, '{"producer_id":"r-w0","seq":0,...}');
 * b.setBounds(0, 0, 1);
 * const table = b.finish();
 * table.at(0, 0); // record index 0
 * ```
 * @module
 */

import { gunzipSync, gzipSync } from "node:zlib";
import { parseEvent } from "../pipeline/event.ts";
import { RangeSet } from "../pipeline/range_set.ts";
import { canonicalDigest, hashBytes } from "./digest.ts";
import { eventIdentity } from "./identity.ts";

/** A record's kind: a valid event, or a record the sink must file in `dlq/`. */
export const VALID = 1;
export const MALFORMED = 2;

export interface PartitionBounds {
  partition: number;
  /** The log start offset and the high watermark read at the start of the audit. */
  low: number;
  high: number;
  /** Index of the partition's first record in the columns; its records follow in offset order. */
  first: number;
  count: number;
}

export interface TopicTableData {
  seed: number;
  producers: string[];
  partitions: PartitionBounds[];
  partition: Int32Array;
  offset: Float64Array;
  /** Index into `producers`, -1 when the record's identity is unreadable. */
  producer: Int32Array;
  seq: Float64Array;
  raw: Uint32Array;
  /** canonicalDigest of valid records, 0 for malformed ones. */
  canon: Uint32Array;
  kind: Uint8Array;
  /** Per producer: seq -> first record with that identity, -1 when none. */
  bySeq: Int32Array[];
  /** The next record with the same identity (a producer's retry appended twice), -1 when none. */
  next: Int32Array;
}

const encoder = new TextEncoder();
const decoder = new TextDecoder();

/** A partition's records as they come (in offset order), one array per column. */
interface Pending {
  offset: number[];
  producer: number[];
  seq: number[];
  raw: number[];
  canon: number[];
  kind: number[];
}

export class TopicTableBuilder {
  readonly seed: number;
  readonly #parts = new Map<number, Pending>();
  readonly #bounds = new Map<number, { low: number; high: number }>();
  readonly #producers: string[] = [];
  readonly #producerIndex = new Map<string, number>();

  constructor(seed: number) {
    this.seed = seed;
  }

  /** A record as read from the topic (its value's bytes, or text), in offset order per partition. */
  add(partition: number, offset: number, value: Uint8Array | string | null): void {
    let p = this.#parts.get(partition);
    if (!p) {
      p = { offset: [], producer: [], seq: [], raw: [], canon: [], kind: [] };
      this.#parts.set(partition, p);
    }
    if (p.offset.length && offset <= p.offset[p.offset.length - 1]) {
      throw new RangeError(
        `partition ${partition}: offset ${offset} after ${p.offset.at(-1)} (not increasing)`,
      );
    }
    const bytes = typeof value === "string" ? encoder.encode(value) : value ?? new Uint8Array();
    const text = typeof value === "string" ? value : decoder.decode(bytes);
    const parsed = parseEvent(text);
    const id = parsed.ok ? parsed.event : eventIdentity(text);
    let pi = -1;
    if (id.producer_id !== undefined && id.seq !== undefined) {
      pi = this.#producerIndex.get(id.producer_id) ?? -1;
      if (pi === -1) {
        this.#producerIndex.set(id.producer_id, pi = this.#producers.length);
        this.#producers.push(id.producer_id);
      }
    }
    p.offset.push(offset);
    p.producer.push(pi);
    p.seq.push(pi === -1 ? -1 : id.seq!);
    p.raw.push(hashBytes(bytes, this.seed));
    p.canon.push(parsed.ok ? canonicalDigest(parsed.event, this.seed) : 0);
    p.kind.push(parsed.ok ? VALID : MALFORMED);
  }

  setBounds(partition: number, low: number, high: number): void {
    this.#bounds.set(partition, { low, high });
  }

  finish(): TopicTable {
    const ids = [...new Set([...this.#bounds.keys(), ...this.#parts.keys()])].sort((a, b) => a - b);
    const n = [...this.#parts.values()].reduce((s, p) => s + p.offset.length, 0);
    const d: TopicTableData = {
      seed: this.seed,
      producers: [...this.#producers],
      partitions: [],
      partition: shared(Int32Array, n),
      offset: shared(Float64Array, n),
      producer: shared(Int32Array, n),
      seq: shared(Float64Array, n),
      raw: shared(Uint32Array, n),
      canon: shared(Uint32Array, n),
      kind: shared(Uint8Array, n),
      bySeq: [],
      next: shared(Int32Array, n).fill(-1),
    };
    let i = 0;
    for (const partition of ids) {
      const p = this.#parts.get(partition);
      const count = p?.offset.length ?? 0;
      const bounds = this.#bounds.get(partition) ??
        { low: p?.offset[0] ?? 0, high: (p?.offset[count - 1] ?? -1) + 1 };
      d.partitions.push({ partition, ...bounds, first: i, count });
      if (!p) continue;
      d.partition.fill(partition, i, i + count);
      d.offset.set(p.offset, i);
      d.producer.set(p.producer, i);
      d.seq.set(p.seq, i);
      d.raw.set(p.raw, i);
      d.canon.set(p.canon, i);
      d.kind.set(p.kind, i);
      i += count;
    }
    const maxSeq = new Array<number>(d.producers.length).fill(-1);
    for (let r = 0; r < n; r++) {
      if (d.producer[r] >= 0) maxSeq[d.producer[r]] = Math.max(maxSeq[d.producer[r]], d.seq[r]);
    }
    d.bySeq = maxSeq.map((m) => shared(Int32Array, m + 1).fill(-1));
    const last = new Map<number, number>(); // record -> last record of its identity chain
    for (let r = 0; r < n; r++) {
      const pi = d.producer[r];
      if (pi < 0) continue;
      const index = d.bySeq[pi];
      const head = index[d.seq[r]];
      if (head === -1) index[d.seq[r]] = r;
      else {
        const tail = last.get(head) ?? head;
        d.next[tail] = r;
        last.set(head, r);
      }
    }
    return new TopicTable(d);
  }
}

type TypedCtor<T> = { new (buffer: SharedArrayBuffer): T; BYTES_PER_ELEMENT: number };

function shared<T>(ctor: TypedCtor<T>, n: number): T {
  return new ctor(new SharedArrayBuffer(Math.max(1, n) * ctor.BYTES_PER_ELEMENT));
}

const COLUMNS = ["partition", "offset", "producer", "seq", "raw", "canon", "kind", "next"] as const;
/** Names the layout and the digests (digest.ts): a change of either is a new version. */
const MAGIC = "chaos-topic-audit/3";

export class TopicTable {
  readonly data: TopicTableData;
  readonly #producerIndex: Map<string, number>;
  readonly #partitions: Map<number, PartitionBounds>;

  constructor(data: TopicTableData) {
    this.data = data;
    this.#producerIndex = new Map(data.producers.map((p, i) => [p, i]));
    this.#partitions = new Map(data.partitions.map((p) => [p.partition, p]));
  }

  get size(): number {
    return this.data.partitions.reduce((s, p) => s + p.count, 0);
  }

  bounds(partition: number): PartitionBounds | undefined {
    return this.#partitions.get(partition);
  }

  /** The first record of (producer_id, seq), -1 when the topic has none. */
  find(producerId: string, seq: number): number {
    const pi = this.#producerIndex.get(producerId);
    return pi === undefined ? -1 : (this.data.bySeq[pi][seq] ?? -1);
  }

  /** The record at (partition, offset), -1 when the topic has none there. */
  at(partition: number, offset: number): number {
    return recordAt(this.data, this.#partitions.get(partition), offset);
  }

  /** Per producer, the seqs the topic holds. */
  seqs(): Map<string, RangeSet> {
    const out = new Map<string, RangeSet>();
    this.data.bySeq.forEach((index, pi) => {
      const set = new RangeSet();
      let lo = -1;
      for (let s = 0; s <= index.length; s++) {
        const has = s < index.length && index[s] !== -1;
        if (has && lo < 0) lo = s;
        if (!has && lo >= 0) {
          set.addRange(lo, s - 1);
          lo = -1;
        }
      }
      out.set(this.data.producers[pi], set);
    });
    return out;
  }

  /** The table as bytes (gzip), for the run folder. */
  encode(): Uint8Array {
    const d = this.data;
    const header = JSON.stringify({
      magic: MAGIC,
      seed: d.seed,
      producers: d.producers,
      partitions: d.partitions,
      n: this.size,
      bySeq: d.bySeq.map((a) => a.length),
    });
    const parts: Uint8Array[] = [new TextEncoder().encode(header + "\n")];
    for (const c of COLUMNS) parts.push(bytesOf(d[c], this.size));
    for (const a of d.bySeq) parts.push(bytesOf(a, a.length));
    const total = parts.reduce((s, p) => s + p.length, 0);
    const out = new Uint8Array(total);
    let at = 0;
    for (const p of parts) {
      out.set(p, at);
      at += p.length;
    }
    return gzipSync(out, { level: 1 });
  }

  static decode(gz: Uint8Array): TopicTable {
    const bytes = gunzipSync(gz);
    const nl = bytes.indexOf(10);
    const header = JSON.parse(new TextDecoder().decode(bytes.subarray(0, nl)));
    if (header.magic !== MAGIC) throw new Error(`not a topic audit (${header.magic})`);
    let at = nl + 1;
    const take = <T>(ctor: TypedCtor<T>, n: number): T => {
      const out = shared(ctor, n);
      const len = n * ctor.BYTES_PER_ELEMENT;
      new Uint8Array((out as unknown as Uint8Array).buffer).set(bytes.subarray(at, at + len));
      at += len;
      return out;
    };
    const n: number = header.n;
    return new TopicTable({
      seed: header.seed,
      producers: header.producers,
      partitions: header.partitions,
      partition: take(Int32Array, n),
      offset: take(Float64Array, n),
      producer: take(Int32Array, n),
      seq: take(Float64Array, n),
      raw: take(Uint32Array, n),
      canon: take(Uint32Array, n),
      kind: take(Uint8Array, n),
      next: take(Int32Array, n),
      bySeq: (header.bySeq as number[]).map((len) => take(Int32Array, len)),
    });
  }
}

/** The record at `offset` of a partition (binary search: offsets ascend, gaps allowed). */
export function recordAt(
  d: TopicTableData,
  bounds: PartitionBounds | undefined,
  offset: number,
): number {
  if (!bounds || bounds.count === 0) return -1;
  let lo = bounds.first;
  let hi = bounds.first + bounds.count - 1;
  const direct = bounds.first + (offset - bounds.low);
  if (direct >= lo && direct <= hi && d.offset[direct] === offset) return direct;
  while (lo <= hi) {
    const mid = (lo + hi) >>> 1;
    const o = d.offset[mid];
    if (o === offset) return mid;
    if (o < offset) lo = mid + 1;
    else hi = mid - 1;
  }
  return -1;
}

/** The first `n` elements' bytes (columns hold at least one element, even for an empty topic). */
function bytesOf(a: { buffer: ArrayBufferLike; BYTES_PER_ELEMENT: number }, n: number): Uint8Array {
  return new Uint8Array(a.buffer, 0, n * a.BYTES_PER_ELEMENT);
}
