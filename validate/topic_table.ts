/**
 * What the topic held at the end of a run, record by record: for every
 * (partition, offset) the record's identity (producer_id, seq, when readable),
 * whether it is a valid event under the sink's schema, its length, a keyed
 * 128-bit digest of its raw value and one of the parsed event (see digest.ts).
 * A value in the generator's canonical layout is read and digested from its
 * bytes in one WebAssembly call (_wasm_canonical.ts, the rules of
 * _canonical_bytes.ts: no string, no `JSON.parse`), anything else decoded,
 * parsed and validated; both give the same columns.
 * The topic is the ground truth for the sink: the store check resolves every
 * stored line to a record of this table. Pure: the Kafka audit (kafka_audit.ts)
 * feeds it, the benchmark feeds it directly.
 *
 * The columns live in SharedArrayBuffers, so the store check's workers read
 * the same table without a copy, and the audit's workers write it without one
 * (`tableSlab`: the columns allocated once for the offsets the audit will
 * read; each worker's builder writes its partitions' records in place). A
 * record costs `TABLE_BYTES_PER_RECORD` (77) bytes; the producers are numbered
 * in name order, so the table is the same however its records were read.
 * `encode()`/`decode()` keep it in the run
 * folder (`topic-audit.bin.gz`), so a re-check needs no Kafka. The audit key
 * (digest.ts) is never encoded: `decode` is given it again, and refuses a
 * wrong one. `decode` trusts nothing of the file: every index, chain and
 * bound is checked, so a table it returns cannot send a walk out of range or
 * round a cycle (each `next` points further down the table).
 *
 * ```ts
 * import { TopicTableBuilder } from "./topic_table.ts";
 * const b = new TopicTableBuilder(); // a random audit key; the run passes auditKey(...)
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
import { AUDIT_KEY_BYTES, Digester, randomAuditKey, sipHash128 } from "./digest.ts";
import { eventIdentity } from "./identity.ts";
import { CANON_WORD, RAW_WORD, WasmCanonical } from "./_wasm_canonical.ts";

/** A record's kind: a valid event, or a record the sink must file in `dlq/`. */
export const VALID = 1;
export const MALFORMED = 2;

/** 32-bit words of a digest (128 bits). */
export const DIGEST_WORDS = 4;

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
  /** The audit key (digest.ts): in memory only, never encoded. */
  key: Uint8Array;
  producers: string[];
  partitions: PartitionBounds[];
  partition: Int32Array;
  offset: Float64Array;
  /** Index into `producers`, -1 when the record's identity is unreadable. */
  producer: Int32Array;
  /** The record's seq, -1 when its identity is unreadable. */
  seq: Float64Array;
  /**
   * The Kafka producer session that appended the record (its batch's producer id and epoch,
   * `sessionOf`), -1 when it had none (idempotence off) or the table was built without it: the
   * order check (order.ts) compares seqs within one session.
   */
  session: Float64Array;
  /** The record value's length in bytes. */
  len: Uint32Array;
  /** The raw digest of each record's value: DIGEST_WORDS words per record. */
  raw: Uint32Array;
  /** The canonical digest of valid records (DIGEST_WORDS words each), zeros for malformed ones. */
  canon: Uint32Array;
  kind: Uint8Array;
  /** Per producer: seq -> first record with that identity, -1 when none. */
  bySeq: Int32Array[];
  /**
   * The next record with the same identity (a producer's retry appended twice), -1 when none.
   * Always a later record: a walk along `next` ends within the table's size.
   */
  next: Int32Array;
}

/** A topic audit that cannot be read: damaged, truncated, or inconsistent. */
export class AuditUnreadableError extends Error {
  override name = "AuditUnreadableError";
}

/** A topic audit of an earlier format (before the keyed 128-bit digests): re-run it. */
export class AuditVersionError extends Error {
  override name = "AuditVersionError";
}

/** A topic audit made under another key (another harness key, or another run's id). */
export class AuditKeyError extends Error {
  override name = "AuditKeyError";
}

const encoder = new TextEncoder();
const decoder = new TextDecoder();

/** A growing column of numbers in a typed array (8 bytes or fewer a value, no boxing). */
class Column<T extends Typed> {
  a: T;
  n = 0;
  /** Set: the column is a region of a slab's shared column, which cannot grow. */
  fixed?: string;
  constructor(readonly ctor: { new (length: number): T }, capacity = 256) {
    this.a = new ctor(capacity);
  }
  push(v: number): void {
    if (this.n === this.a.length) this.#grow(1);
    this.a[this.n++] = v;
  }
  /** Pushes `from[at, at + 4)` (a digest). */
  pushDigest(from: Uint32Array, at: number): void {
    if (this.n + DIGEST_WORDS > this.a.length) this.#grow(DIGEST_WORDS);
    const a = this.a, n = this.n;
    a[n] = from[at], a[n + 1] = from[at + 1], a[n + 2] = from[at + 2], a[n + 3] = from[at + 3];
    this.n = n + DIGEST_WORDS;
  }
  pushAll(from: ArrayLike<number>): void {
    if (this.n + from.length > this.a.length) this.#grow(from.length);
    this.a.set(from, this.n);
    this.n += from.length;
  }
  #grow(more: number): void {
    if (this.fixed) throw new RangeError(this.fixed);
    const b = new this.ctor(Math.max(this.a.length * 2, this.n + more));
    b.set(this.a);
    this.a = b;
  }
  /** The values pushed, in a buffer of their own (trimmed: for a transfer to another thread). */
  take(): T {
    return this.a.slice(0, this.n) as T;
  }
  view(): T {
    return this.a.subarray(0, this.n) as T;
  }
}

type Typed = Int32Array | Uint32Array | Float64Array | Uint8Array;

/** A partition's records as they come (in offset order), one typed column each. */
interface Pending {
  offset: Column<Float64Array>;
  producer: Column<Int32Array>;
  seq: Column<Float64Array>;
  session: Column<Float64Array>;
  len: Column<Uint32Array>;
  raw: Column<Uint32Array>;
  canon: Column<Uint32Array>;
  kind: Column<Uint8Array>;
}

/**
 * One partition's tabled records, as a builder on another thread hands them over (the
 * parallel audit's workers, kafka_audit.ts, when a topic is too sparse for a `tableSlab`): its
 * columns' buffers are transferred, not copied, and `producer` indexes the shard's `producers`.
 */
export interface PartitionShard {
  partition: number;
  offset: Float64Array;
  producer: Int32Array;
  seq: Float64Array;
  session: Float64Array;
  len: Uint32Array;
  raw: Uint32Array;
  canon: Uint32Array;
  kind: Uint8Array;
}

export interface TableShard {
  producers: string[];
  partitions: PartitionShard[];
}

/** The buffers of a shard's columns: the transfer list for `postMessage`. */
export function shardBuffers(shard: TableShard): ArrayBuffer[] {
  return shard.partitions.flatMap((p) =>
    [p.offset, p.producer, p.seq, p.session, p.len, p.raw, p.canon, p.kind].map((c) =>
      c.buffer as ArrayBuffer
    )
  );
}

/**
 * A table's columns allocated once, shared, for partitions whose offset ranges are known (the
 * audit reads each partition from its log start to the high watermark it saw): partition
 * `ranges[i]` owns records `[base, base + high - low)` of every column, so builders on several
 * threads (the parallel audit's workers) write their partitions' records straight into the
 * table, and `finish()` closes the gaps (offsets that held no record: transaction markers,
 * compaction) in place. No record is copied between threads, and none twice.
 */
export interface TableSlab extends
  Pick<
    TopicTableData,
    "partition" | "offset" | "producer" | "seq" | "session" | "len" | "raw" | "canon" | "kind"
  > {
  ranges: { partition: number; low: number; high: number; base: number }[];
  capacity: number;
}

/** A slab holds at most this many offsets (a sparse topic beyond it: growing columns). */
export const SLAB_MAX_RECORDS = 2 ** 28;

/** A slab for `ranges` (their partitions each once), or undefined beyond SLAB_MAX_RECORDS. */
export function tableSlab(
  ranges: readonly { partition: number; low: number; high: number }[],
): TableSlab | undefined {
  let capacity = 0;
  const placed = [...ranges].sort((a, b) => a.partition - b.partition).map((r) => {
    if (!(r.high >= r.low)) {
      throw new RangeError(`partition ${r.partition}: range ${r.low}..${r.high}`);
    }
    const base = capacity;
    capacity += r.high - r.low;
    return { partition: r.partition, low: r.low, high: r.high, base };
  });
  if (new Set(placed.map((r) => r.partition)).size !== placed.length) {
    throw new RangeError("a slab's ranges name a partition twice");
  }
  if (capacity > SLAB_MAX_RECORDS) return undefined;
  return {
    ranges: placed,
    capacity,
    partition: shared(Int32Array, capacity),
    offset: shared(Float64Array, capacity),
    producer: shared(Int32Array, capacity),
    seq: shared(Float64Array, capacity),
    session: shared(Float64Array, capacity),
    len: shared(Uint32Array, capacity),
    raw: shared(Uint32Array, capacity * DIGEST_WORDS),
    canon: shared(Uint32Array, capacity * DIGEST_WORDS),
    kind: shared(Uint8Array, capacity),
  };
}

/** What a builder over a slab wrote: its producers, and the records of each partition. */
export interface SlabReport {
  producers: string[];
  counts: [partition: number, records: number][];
}

/** Partition `r`'s region of the slab, as pending columns that cannot grow past it. */
function slabPending(slab: TableSlab, r: TableSlab["ranges"][number]): Pending {
  const size = r.high - r.low;
  const full = `partition ${r.partition}: more records than its offsets ${r.low} to ${r.high - 1}`;
  const region = <T extends Typed>(a: T, width = 1): Column<T> => {
    const c = new Column(a.constructor as { new (length: number): T }, 0);
    c.a = a.subarray(r.base * width, (r.base + size) * width) as T;
    c.fixed = full;
    return c;
  };
  return {
    offset: region(slab.offset),
    producer: region(slab.producer),
    seq: region(slab.seq),
    session: region(slab.session),
    len: region(slab.len),
    raw: region(slab.raw, DIGEST_WORDS),
    canon: region(slab.canon, DIGEST_WORDS),
    kind: region(slab.kind),
  };
}

function pending(): Pending {
  return {
    offset: new Column(Float64Array),
    producer: new Column(Int32Array),
    seq: new Column(Float64Array),
    session: new Column(Float64Array),
    len: new Column(Uint32Array),
    raw: new Column(Uint32Array, 256 * DIGEST_WORDS),
    canon: new Column(Uint32Array, 256 * DIGEST_WORDS),
    kind: new Column(Uint8Array),
  };
}

/** A pending partition's columns (views, or taken: trimmed copies of their own). */
function columnsOf(partition: number, p: Pending, take: boolean): PartitionShard {
  const c = <T extends Typed>(col: Column<T>) => take ? col.take() : col.view();
  return {
    partition,
    offset: c(p.offset),
    producer: c(p.producer),
    seq: c(p.seq),
    session: c(p.session),
    len: c(p.len),
    raw: c(p.raw),
    canon: c(p.canon),
    kind: c(p.kind),
  };
}

/** A table's shard, as pending columns: adopted (no copy) or pushed after a partition's last. */
function absorbInto(p: Pending, s: PartitionShard, remap: Int32Array): void {
  const producer = s.producer.map((i) => i < 0 ? -1 : remap[i]);
  if (p.offset.n === 0) {
    p.offset.a = s.offset, p.offset.n = s.offset.length;
    p.producer.a = producer, p.producer.n = producer.length;
    p.seq.a = s.seq, p.seq.n = s.seq.length;
    p.session.a = s.session, p.session.n = s.session.length;
    p.len.a = s.len, p.len.n = s.len.length;
    p.raw.a = s.raw, p.raw.n = s.raw.length;
    p.canon.a = s.canon, p.canon.n = s.canon.length;
    p.kind.a = s.kind, p.kind.n = s.kind.length;
    return;
  }
  p.offset.pushAll(s.offset);
  p.producer.pushAll(producer);
  p.seq.pushAll(s.seq);
  p.session.pushAll(s.session);
  p.len.pushAll(s.len);
  p.raw.pushAll(s.raw);
  p.canon.pushAll(s.canon);
  p.kind.pushAll(s.kind);
}

/** Why a shard cannot be absorbed: lengths that disagree, offsets not after the partition's. */
function shardProblem(s: PartitionShard, lastOffset: number | undefined): string | undefined {
  const n = s.offset.length;
  const same = [s.producer, s.seq, s.session, s.len, s.kind].every((c) => c.length === n) &&
    s.raw.length === n * DIGEST_WORDS && s.canon.length === n * DIGEST_WORDS;
  if (!same) return `partition ${s.partition}'s shard has columns of different lengths`;
  for (let i = 0; i < n; i++) {
    const before = i > 0 ? s.offset[i - 1] : lastOffset;
    if (before !== undefined && s.offset[i] <= before) {
      return `partition ${s.partition}: offset ${s.offset[i]} after ${before} (not increasing)`;
    }
  }
  return undefined;
}

export class TopicTableBuilder {
  readonly key: Uint8Array;
  readonly #digests: Digester;
  readonly #digest = new Uint32Array(DIGEST_WORDS);
  /** The fast path (scan and both digests in one WebAssembly call), and producer names. */
  readonly #scan: WasmCanonical;
  /** `add`'s text, encoded (read in place by `addBytes`, which keeps none of it). */
  #text = new Uint8Array(1024);
  readonly #ids = new Map<number, { bytes: Uint8Array; pi: number }[]>();
  readonly #noDigest = new Uint32Array(DIGEST_WORDS);
  readonly #parts = new Map<number, Pending>();
  readonly #bounds = new Map<number, { low: number; high: number }>();
  readonly #producers: string[] = [];
  readonly #producerIndex = new Map<string, number>();
  readonly #slab?: TableSlab;
  readonly #regions = new Map<number, TableSlab["ranges"][number]>();

  /**
   * `key`: the audit key (digest.ts `auditKey`); a random one for a table kept in memory.
   * `slab`: the table's shared columns (`tableSlab`), its partitions' bounds known: records are
   * written straight into them, and only records of its ranges are taken.
   */
  constructor(key: Uint8Array = randomAuditKey(), slab?: TableSlab) {
    this.key = key.slice();
    this.#digests = new Digester(this.key);
    this.#scan = new WasmCanonical(this.key);
    this.#slab = slab;
    for (const r of slab?.ranges ?? []) {
      this.#regions.set(r.partition, r);
      this.#bounds.set(r.partition, { low: r.low, high: r.high });
    }
  }

  /** The shared columns this builder writes into, if any. */
  get slab(): TableSlab | undefined {
    return this.#slab;
  }

  /** Partition `partition`'s pending columns, made on its first record. */
  #pendingOf(partition: number): Pending {
    let p = this.#parts.get(partition);
    if (p) return p;
    if (this.#slab) {
      const r = this.#regions.get(partition);
      if (!r) throw new RangeError(`partition ${partition} is not in the table's slab`);
      p = slabPending(this.#slab, r);
    } else p = pending();
    this.#parts.set(partition, p);
    return p;
  }

  #producerOf(name: string): number {
    let pi = this.#producerIndex.get(name);
    if (pi === undefined) {
      this.#producerIndex.set(name, pi = this.#producers.length);
      this.#producers.push(name);
    }
    return pi;
  }

  /**
   * A record as read from the topic (its value's bytes, or text), in offset order per partition;
   * `session`: the Kafka producer session of its batch (`sessionOf`), -1 when none.
   */
  add(
    partition: number,
    offset: number,
    value: Uint8Array | string | null,
    session = -1,
  ): void {
    if (typeof value === "string") {
      // Encoded into a buffer of the builder's (UTF-8: at most 3 bytes a UTF-16 unit).
      if (this.#text.length < 3 * value.length) this.#text = new Uint8Array(3 * value.length);
      const { written } = encoder.encodeInto(value, this.#text);
      this.addBytes(partition, offset, this.#text, 0, written, session);
    } else if (value === null) this.#addSlow(partition, offset, null, session);
    else this.addBytes(partition, offset, value, 0, value.length, session);
  }

  /**
   * A record whose value is `buf[start, end)` (`start` -1: a null value), read in place: the
   * audit's lean Fetch hands the answer's bytes (_audit_fetch.ts). The same columns as `add`:
   * a value in the generator's canonical layout is read and digested from its bytes
   * (_wasm_canonical.ts: the scan, its canonical form and both digests in one call), anything
   * else decoded, parsed and validated.
   */
  addBytes(
    partition: number,
    offset: number,
    buf: Uint8Array,
    start: number,
    end: number,
    session = -1,
  ): void {
    if (start < 0) return this.#addSlow(partition, offset, null, session);
    const scan = this.#scan;
    if (!scan.scan(buf, start, end)) {
      return this.#addSlow(partition, offset, buf.subarray(start, end), session);
    }
    const p = this.#placed(partition, offset);
    const pi = this.#idOf(buf, scan.idStart, scan.idEnd, scan.idHash);
    p.offset.push(offset);
    p.producer.push(pi);
    p.seq.push(scan.seq);
    p.session.push(session);
    p.len.push(end - start);
    p.raw.pushDigest(scan.words, RAW_WORD);
    p.canon.pushDigest(scan.words, CANON_WORD);
    p.kind.push(VALID);
  }

  /** The producer named by the fast path's producer_id bytes (a string made once per name). */
  #idOf(buf: Uint8Array, idStart: number, idEnd: number, idHash: number): number {
    const n = idEnd - idStart;
    let list = this.#ids.get(idHash);
    if (list) {
      for (const e of list) {
        if (e.bytes.length !== n) continue;
        let i = 0;
        while (i < n && e.bytes[i] === buf[idStart + i]) i++;
        if (i === n) return e.pi;
      }
    } else this.#ids.set(idHash, list = []);
    const bytes = buf.slice(idStart, idEnd);
    const pi = this.#producerOf(decoder.decode(bytes)); // printable ASCII
    list.push({ bytes, pi });
    return pi;
  }

  /** Partition `partition`'s pending columns, `offset` checked: in its range, after the last. */
  #placed(partition: number, offset: number): Pending {
    const p = this.#pendingOf(partition);
    const region = this.#regions.get(partition);
    if (region && !(offset >= region.low && offset < region.high)) {
      throw new RangeError(
        `partition ${partition}: offset ${offset} outside ${region.low} to ${region.high - 1}`,
      );
    }
    if (p.offset.n && offset <= p.offset.a[p.offset.n - 1]) {
      throw new RangeError(
        `partition ${partition}: offset ${offset} after ${
          p.offset.a[p.offset.n - 1]
        } (not increasing)`,
      );
    }
    return p;
  }

  /** A record the fast path does not read: decoded, parsed, validated. */
  #addSlow(partition: number, offset: number, value: Uint8Array | null, session: number): void {
    const p = this.#placed(partition, offset);
    const bytes = value ?? new Uint8Array();
    const text = decoder.decode(bytes);
    const parsed = parseEvent(text);
    const id = parsed.ok ? parsed.event : eventIdentity(text);
    const pi = id.producer_id !== undefined && id.seq !== undefined
      ? this.#producerOf(id.producer_id)
      : -1;
    p.offset.push(offset);
    p.producer.push(pi);
    p.seq.push(pi === -1 ? -1 : id.seq!);
    p.session.push(session);
    p.len.push(bytes.length);
    this.#digests.raw(bytes, this.#digest, 0);
    p.raw.pushAll(this.#digest);
    if (parsed.ok) {
      this.#digests.canonical(parsed.event, this.#digest, 0);
      p.canon.pushAll(this.#digest);
    } else p.canon.pushAll(this.#noDigest);
    p.kind.push(parsed.ok ? VALID : MALFORMED);
  }

  setBounds(partition: number, low: number, high: number): void {
    const region = this.#regions.get(partition);
    if (this.#slab && (region?.low !== low || region.high !== high)) {
      throw new RangeError(`partition ${partition}'s bounds are its slab's (${low} to ${high})`);
    }
    this.#bounds.set(partition, { low, high });
  }

  /** What this builder wrote into its slab (a worker's answer: `adopt` on the coordinator's). */
  slabReport(): SlabReport {
    if (!this.#slab) throw new Error("slabReport() of a builder without a slab");
    return {
      producers: [...this.#producers],
      counts: [...this.#parts].map(([partition, p]) => [partition, p.offset.n]),
    };
  }

  /**
   * The records another builder over the same slab wrote (a worker's `slabReport`): taken where
   * they are, their producers renumbered in place. Throws a RangeError on a report that names a
   * partition twice, or of another slab, or whose records are not in order inside their range.
   */
  adopt(report: SlabReport): void {
    if (!this.#slab) throw new Error("adopt() by a builder without a slab");
    const remap = Int32Array.from(report.producers, (name) => this.#producerOf(name));
    for (const [partition, count] of report.counts) {
      const region = this.#regions.get(partition);
      if (!region) throw new RangeError(`partition ${partition} is not in the table's slab`);
      if (this.#parts.has(partition)) throw new RangeError(`partition ${partition} adopted twice`);
      if (!(Number.isSafeInteger(count) && count >= 0 && count <= region.high - region.low)) {
        throw new RangeError(`partition ${partition}: ${count} records in its region`);
      }
      const p = this.#pendingOf(partition);
      for (const [c, w] of SLAB_COLUMNS) p[c].n = count * w;
      const { offset, producer } = p;
      for (let i = 0; i < count; i++) {
        const o = offset.a[i];
        if (!(o >= region.low && o < region.high) || (i > 0 && o <= offset.a[i - 1])) {
          throw new RangeError(`partition ${partition}: record ${i} at offset ${o}, out of order`);
        }
        const pi = producer.a[i];
        if (pi < -1 || pi >= remap.length) {
          throw new RangeError(`partition ${partition}: record ${i} names producer ${pi}`);
        }
        producer.a[i] = pi < 0 ? -1 : remap[pi];
      }
    }
  }

  /**
   * The records added so far, handed over (the builder is left empty): for a worker that
   * tables some partitions to send them, with `shardBuffers` as the transfer list.
   */
  shard(): TableShard {
    if (this.#slab) throw new Error("shard() of a builder over a slab: slabReport() instead");
    const partitions = [...this.#parts].map(([partition, p]) => columnsOf(partition, p, true));
    this.#parts.clear();
    return { producers: [...this.#producers], partitions };
  }

  /**
   * Another builder's shard (same key), its partitions' records after any already here (a
   * worker's records: not tabled again, its columns adopted). Throws a RangeError on a shard
   * whose columns disagree or whose offsets do not increase.
   */
  absorb(shard: TableShard): void {
    const remap = Int32Array.from(shard.producers, (name) => this.#producerOf(name));
    for (const s of shard.partitions) {
      const p = this.#parts.get(s.partition);
      const problem = shardProblem(s, p?.offset.n ? p.offset.a[p.offset.n - 1] : undefined);
      if (problem) throw new RangeError(problem);
      if (s.producer.some((i) => i < -1 || i >= remap.length)) {
        throw new RangeError(`partition ${s.partition}'s shard names a producer it does not list`);
      }
      if (p) absorbInto(p, s, remap);
      else {
        const fresh = pending();
        absorbInto(fresh, s, remap);
        this.#parts.set(s.partition, fresh);
      }
    }
  }

  /**
   * The table: partitions in order, producers in name order (the same table whatever order
   * the records were read in, one thread or many). Each partition's pending columns are let
   * go once copied, so the peak is the table plus the largest partition's columns at most.
   */
  finish(): TopicTable {
    const ids = [...new Set([...this.#bounds.keys(), ...this.#parts.keys()])].sort((a, b) => a - b);
    const n = [...this.#parts.values()].reduce((s, p) => s + p.offset.n, 0);
    const names = [...this.#producers].sort();
    const order = new Map(names.map((name, i) => [name, i]));
    const remap = Int32Array.from(this.#producers, (name) => order.get(name)!);
    if (this.#slab) return this.#finishSlab(ids, n, names, remap);
    const d: TopicTableData = {
      key: this.key,
      producers: names,
      partitions: [],
      partition: shared(Int32Array, n),
      offset: shared(Float64Array, n),
      producer: shared(Int32Array, n),
      seq: shared(Float64Array, n),
      session: shared(Float64Array, n),
      len: shared(Uint32Array, n),
      raw: shared(Uint32Array, n * DIGEST_WORDS),
      canon: shared(Uint32Array, n * DIGEST_WORDS),
      kind: shared(Uint8Array, n),
      bySeq: [],
      next: shared(Int32Array, n).fill(-1),
    };
    let i = 0;
    for (const partition of ids) {
      const p = this.#parts.get(partition);
      const count = p?.offset.n ?? 0;
      const bounds = this.#bounds.get(partition) ??
        { low: p?.offset.a[0] ?? 0, high: (p?.offset.a[count - 1] ?? -1) + 1 };
      d.partitions.push({ partition, ...bounds, first: i, count });
      if (!p) continue;
      const c = columnsOf(partition, p, false);
      d.partition.fill(partition, i, i + count);
      d.offset.set(c.offset, i);
      for (let r = 0; r < count; r++) {
        const pi = c.producer[r];
        d.producer[i + r] = pi < 0 ? -1 : remap[pi];
      }
      d.seq.set(c.seq, i);
      d.session.set(c.session, i);
      d.len.set(c.len, i);
      d.raw.set(c.raw, i * DIGEST_WORDS);
      d.canon.set(c.canon, i * DIGEST_WORDS);
      d.kind.set(c.kind, i);
      this.#parts.delete(partition); // let its columns go
      i += count;
    }
    return indexed(d, n);
  }

  /** The slab's records closed up in place (partitions in order, gaps gone), then indexed. */
  #finishSlab(ids: number[], n: number, names: string[], remap: Int32Array): TopicTable {
    const slab = this.#slab!;
    const partitions: PartitionBounds[] = [];
    let i = 0;
    for (const partition of ids) {
      const region = this.#regions.get(partition)!;
      const p = this.#parts.get(partition);
      const count = p?.offset.n ?? 0;
      partitions.push({ partition, low: region.low, high: region.high, first: i, count });
      if (count && region.base !== i) {
        for (const [c, w] of SLAB_COLUMNS) {
          slab[c].copyWithin(i * w, region.base * w, (region.base + count) * w);
        }
      }
      slab.partition.fill(partition, i, i + count);
      for (let r = i; r < i + count; r++) {
        const pi = slab.producer[r];
        if (pi >= 0) slab.producer[r] = remap[pi];
      }
      this.#parts.delete(partition);
      i += count;
    }
    const d: TopicTableData = {
      key: this.key,
      producers: names,
      partitions,
      partition: slab.partition.subarray(0, n),
      offset: slab.offset.subarray(0, n),
      producer: slab.producer.subarray(0, n),
      seq: slab.seq.subarray(0, n),
      session: slab.session.subarray(0, n),
      len: slab.len.subarray(0, n),
      raw: slab.raw.subarray(0, n * DIGEST_WORDS),
      canon: slab.canon.subarray(0, n * DIGEST_WORDS),
      kind: slab.kind.subarray(0, n),
      bySeq: [],
      next: shared(Int32Array, n).fill(-1),
    };
    return indexed(d, n);
  }
}

/** The slab's columns that `finish()` closes up, with their words per record. */
const SLAB_COLUMNS = [
  ["offset", 1],
  ["producer", 1],
  ["seq", 1],
  ["session", 1],
  ["len", 1],
  ["raw", DIGEST_WORDS],
  ["canon", DIGEST_WORDS],
  ["kind", 1],
] as const;

/** The table of columns `d` once its seq index and retry chains (`bySeq`, `next`) are built. */
function indexed(d: TopicTableData, n: number): TopicTable {
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

type TypedCtor<T> = { new (buffer: SharedArrayBuffer): T; BYTES_PER_ELEMENT: number };

function shared<T>(ctor: TypedCtor<T>, n: number): T {
  return new ctor(new SharedArrayBuffer(Math.max(1, n) * ctor.BYTES_PER_ELEMENT));
}

/** The columns in the file's order, with their element type and elements per record. */
const COLUMNS = [
  ["partition", Int32Array, 1],
  ["offset", Float64Array, 1],
  ["producer", Int32Array, 1],
  ["seq", Float64Array, 1],
  ["len", Uint32Array, 1],
  ["raw", Uint32Array, DIGEST_WORDS],
  ["canon", Uint32Array, DIGEST_WORDS],
  ["kind", Uint8Array, 1],
  ["next", Int32Array, 1],
  ["session", Float64Array, 1],
] as const;
const RECORD_BYTES = COLUMNS.reduce((s, [, ctor, w]) => s + ctor.BYTES_PER_ELEMENT * w, 0);

/**
 * What a record costs in a finished table, in bytes: its columns (73: partition 4, offset 8,
 * producer 4, seq 8, len 4, raw digest 16, canonical digest 16, kind 1, next 4, session 8) and
 * its entry in its producer's seq index (4). Digests are two thirds of it; offsets, seqs and
 * sessions are doubles because Kafka's offsets and producer ids outgrow 32 bits. While the table
 * is built, a partition's records cost about as much again in growing columns (typed arrays, 1
 * to 2 times their size), let go partition by partition as `finish()` copies them.
 */
export const TABLE_BYTES_PER_RECORD = RECORD_BYTES + 4;
/** Names the layout and the digests (digest.ts): a change of either is a new version. */
const MAGIC = "chaos-topic-audit/5"; // 5: the producer session column
/** Header lines longer than this are not a header. */
const MAX_HEADER_BYTES = 256 << 20;

/** What the header says of the key, so that a wrong one is told apart from altered records. */
function keyCheck(key: Uint8Array): string {
  const digest = sipHash128(key.subarray(0, 16), encoder.encode("chaos-topic-audit key check"));
  return Array.from(digest, (b) => b.toString(16).padStart(2, "0")).join("");
}

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

  /** The table as bytes (gzip), for the run folder: everything but the key. */
  encode(): Uint8Array {
    const d = this.data;
    const header = JSON.stringify({
      magic: MAGIC,
      key_check: keyCheck(d.key),
      producers: d.producers,
      partitions: d.partitions,
      n: this.size,
      bySeq: d.bySeq.map((a) => a.length),
    });
    const parts: Uint8Array[] = [encoder.encode(header + "\n")];
    for (const [c, , w] of COLUMNS) parts.push(bytesOf(d[c], this.size * w));
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

  /**
   * A table from `encode()`'s bytes, under the audit key it was made with (a function: called
   * only once the file is known to be a keyed audit, so an earlier one needs no key). Throws
   * AuditUnreadableError (damaged, truncated, inconsistent), AuditVersionError (an earlier
   * format) or AuditKeyError (another key); never returns a table a walk could loop in.
   */
  static decode(gz: Uint8Array, auditKey: Uint8Array | (() => Uint8Array)): TopicTable {
    let bytes: Uint8Array;
    try {
      bytes = gunzipSync(gz);
    } catch (error) {
      throw new AuditUnreadableError(`not gzip, or truncated (${(error as Error).message})`);
    }
    const nl = bytes.subarray(0, MAX_HEADER_BYTES).indexOf(10);
    if (nl < 0) throw new AuditUnreadableError("no header line");
    let header: Record<string, unknown>;
    try {
      header = JSON.parse(decoder.decode(bytes.subarray(0, nl)));
    } catch {
      throw new AuditUnreadableError("its header is not JSON");
    }
    if (typeof header !== "object" || header === null || Array.isArray(header)) {
      throw new AuditUnreadableError("its header is not a JSON object");
    }
    const magic = header.magic;
    if (magic !== MAGIC) {
      if (typeof magic === "string" && magic.startsWith("chaos-topic-audit/")) {
        throw new AuditVersionError(
          `this run folder was written by another version of the harness; re-run it (its ` +
            `audit is ${magic}, this harness reads ${MAGIC})`,
        );
      }
      throw new AuditUnreadableError(`not a topic audit (magic ${JSON.stringify(magic)})`);
    }
    const key = typeof auditKey === "function" ? auditKey() : auditKey;
    if (key.length !== AUDIT_KEY_BYTES) {
      throw new RangeError(`an audit key is ${AUDIT_KEY_BYTES} bytes, got ${key.length}`);
    }
    if (header.key_check !== keyCheck(key)) {
      throw new AuditKeyError(
        "the audit was made under another key (another harness key file, or another run's id)",
      );
    }
    const { producers, partitions, n, bySeq } = header;
    if (!Number.isSafeInteger(n) || (n as number) < 0) {
      throw new AuditUnreadableError(`its header's record count is ${JSON.stringify(n)}`);
    }
    if (!Array.isArray(producers) || !producers.every((p) => typeof p === "string")) {
      throw new AuditUnreadableError("its header's producers are not a list of names");
    }
    if (new Set(producers).size !== producers.length) {
      throw new AuditUnreadableError("its header names a producer twice");
    }
    if (
      !Array.isArray(bySeq) || bySeq.length !== producers.length ||
      !bySeq.every((l) => Number.isSafeInteger(l) && l >= 0)
    ) {
      throw new AuditUnreadableError("its header's seq index sizes do not match its producers");
    }
    if (!Array.isArray(partitions) || !partitions.every(isBounds)) {
      throw new AuditUnreadableError("its header's partitions are not a list of ranges");
    }
    const records = n as number;
    const expected = nl + 1 + records * RECORD_BYTES +
      (bySeq as number[]).reduce((s, l) => s + l * 4, 0);
    if (expected !== bytes.length) {
      throw new AuditUnreadableError(
        `it holds ${bytes.length} bytes where its header announces ${expected} (truncated or altered)`,
      );
    }
    let at = nl + 1;
    const take = <T>(ctor: TypedCtor<T>, count: number): T => {
      const out = shared(ctor, count);
      const len = count * ctor.BYTES_PER_ELEMENT;
      new Uint8Array((out as unknown as Uint8Array).buffer).set(bytes.subarray(at, at + len));
      at += len;
      return out;
    };
    const d: TopicTableData = {
      key: key.slice(),
      producers: producers as string[],
      partitions: partitions as PartitionBounds[],
      partition: take(Int32Array, records),
      offset: take(Float64Array, records),
      producer: take(Int32Array, records),
      seq: take(Float64Array, records),
      len: take(Uint32Array, records),
      raw: take(Uint32Array, records * DIGEST_WORDS),
      canon: take(Uint32Array, records * DIGEST_WORDS),
      kind: take(Uint8Array, records),
      next: take(Int32Array, records),
      session: take(Float64Array, records),
      bySeq: (bySeq as number[]).map((len) => take(Int32Array, len)),
    };
    const problem = inconsistency(d, records);
    if (problem) throw new AuditUnreadableError(problem);
    return new TopicTable(d);
  }
}

function isBounds(p: unknown): p is PartitionBounds {
  if (typeof p !== "object" || p === null) return false;
  const b = p as Record<string, unknown>;
  return [b.partition, b.low, b.high, b.first, b.count].every(Number.isSafeInteger);
}

/**
 * What is inconsistent in decoded columns, or undefined: partitions that do not tile the
 * records, offsets out of order, an index out of range, a `next` that does not point further
 * down the table (a cycle) or to another identity, a seq index naming another record. O(n).
 */
export function inconsistency(d: TopicTableData, n: number): string | undefined {
  let at = 0;
  let previous = -Infinity;
  for (const p of d.partitions) {
    if (p.partition <= previous) return `partition ${p.partition} is listed out of order`;
    previous = p.partition;
    if (p.first !== at || p.count < 0 || p.first + p.count > n) {
      return `partition ${p.partition} claims records ${p.first} to ${p.first + p.count - 1}, ` +
        `expected from ${at} (of ${n})`;
    }
    for (let r = p.first; r < p.first + p.count; r++) {
      if (d.partition[r] !== p.partition) {
        return `record ${r} is in partition ${
          d.partition[r]
        }, within partition ${p.partition}'s records`;
      }
      const o = d.offset[r];
      if (!Number.isSafeInteger(o) || o < 0 || (r > p.first && o <= d.offset[r - 1])) {
        return `record ${r} (partition ${p.partition}) has offset ${o}, not after ${
          r > p.first ? d.offset[r - 1] : "the partition's start"
        }`;
      }
    }
    at += p.count;
  }
  if (at !== n) return `the partitions hold ${at} records, the columns ${n}`;
  const producers = d.producers.length;
  for (let r = 0; r < n; r++) {
    if (d.kind[r] !== VALID && d.kind[r] !== MALFORMED) return `record ${r} has kind ${d.kind[r]}`;
    const pi = d.producer[r];
    const seq = d.seq[r];
    if (pi < -1 || pi >= producers) return `record ${r} names producer ${pi} of ${producers}`;
    if (pi === -1 && seq !== -1) return `record ${r} has a seq (${seq}) and no producer`;
    if (pi >= 0 && !(Number.isSafeInteger(seq) && seq >= 0 && seq < d.bySeq[pi].length)) {
      return `record ${r} has seq ${seq}, outside its producer's index`;
    }
    const next = d.next[r];
    if (next === -1) continue;
    if (next <= r || next >= n) {
      return `record ${r}'s next copy is ${next}: not a later record of ${n} (a cycle, or out of range)`;
    }
    if (pi === -1 || d.producer[next] !== pi || d.seq[next] !== seq) {
      return `record ${r}'s next copy (${next}) has another identity`;
    }
  }
  for (let pi = 0; pi < producers; pi++) {
    const index = d.bySeq[pi];
    for (let s = 0; s < index.length; s++) {
      const r = index[s];
      if (r === -1) continue;
      if (r < 0 || r >= n || d.producer[r] !== pi || d.seq[r] !== s) {
        return `${d.producers[pi]} seq ${s} is indexed at record ${r}, which is not it`;
      }
    }
  }
  return undefined;
}

/**
 * A Kafka producer session as one number: the batch's producer id and epoch (ids below 2^37:
 * exact in a double), -1 for a batch without one (producer id -1: idempotence off).
 */
export function sessionOf(producerId: bigint | number, epoch: number): number {
  const id = Number(producerId);
  return id < 0 ? -1 : id * 65536 + (epoch & 0xffff);
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
