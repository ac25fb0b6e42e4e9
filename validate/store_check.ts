/**
 * Reads what the sink stored and checks it against the topic: the layout of
 * the object names (layout.ts), then every line of every `events/` and `dlq/`
 * object (object_check.ts). The result counts, per topic record, how often it
 * is stored in each folder: the completeness checker turns that into lost,
 * duplicated and misfiled records.
 *
 * Built for tens of millions of events: objects are fetched 8 at a time ahead
 * of the checking, and large stores are split over worker threads that read
 * the topic table in shared memory.
 *
 * ```ts
 * import { checkStore } from "./store_check.ts";
 * const stored = await checkStore(store, "network-telemetry", table);
 * stored.findings.counts.altered; // 0
 * ```
 * @module
 */

import type { ObjectStore } from "../pipeline/store.ts";
import { type StoredRange, storedRange } from "./commits.ts";
import { checkLayout, type Layout } from "./layout.ts";
import {
  checkObject,
  type Findings,
  mergeFindings,
  newBudget,
  newFindings,
  note,
  overBudget,
  type ReadBudget,
} from "./object_check.ts";
import type { TopicTable, TopicTableData } from "./topic_table.ts";

export interface StoreCheck {
  objects: { events: number; dlq: number };
  layout: Omit<Layout, "batches">;
  findings: Omit<Findings, "heldEvents" | "heldDlq" | "budget">;
  /** Per topic record: copies stored in events/ and in dlq/. */
  inEvents: Uint16Array;
  inDlq: Uint16Array;
  /** The batch objects of the topic with their ranges and LastModified (commits.ts). */
  ranges?: StoredRange[];
  /**
   * Every object the check listed under `events/` and `dlq/` (name, size, ETag), in the listing's
   * order: the store as it judged it, which the run's seal vouches for (chaos/run_context.ts).
   */
  listing?: ListedObject[];
}

/** One object as the check listed it. */
export interface ListedObject {
  name: string;
  size: number;
  etag: string | null;
}

export interface StoreCheckOptions {
  /** Worker threads for large stores. Default: one per core, at most 4 (1: no worker). */
  workers?: number;
}

const CONCURRENCY = 8;
/**
 * The largest object the check fetches: one listed larger is a `corrupt_object` without being
 * fetched (a batch of the contract is a few MiB; a hostile one must not exhaust the harness).
 */
export const MAX_STORED_OBJECT_BYTES = 256 * 2 ** 20;
/** Below this many objects the check stays on this thread. */
const WORKER_MIN_OBJECTS = 16;

export async function checkStore(
  store: ObjectStore,
  topic: string,
  table: TopicTable,
  options: StoreCheckOptions = {},
): Promise<StoreCheck> {
  const listed = [...(await store.list("events/")), ...(await store.list("dlq/"))];
  const keys = listed.map((o) => o.name);
  const modified = new Map(listed.map((o) => [o.name, o.last_modified_ms ?? null]));
  const etags = new Map(listed.map((o) => [o.name, o.etag ?? null]));
  const sizes = new Map(listed.map((o) => [o.name, o.size]));
  const { batches, ...layout } = checkLayout(keys, topic, table);
  const all = [...batches.events, ...batches.dlq];
  const n = table.size;
  // Counters and budget in shared memory: the workers count into them, bounded by the topic.
  const findings = newFindings(0, newBudget(table, true));
  findings.heldEvents = new Uint16Array(new SharedArrayBuffer(2 * n));
  findings.heldDlq = new Uint16Array(new SharedArrayBuffer(2 * n));
  // An object listed over the cap is a finding, never fetched.
  const fetched = all.filter((k) => {
    const size = sizes.get(k) ?? 0;
    if (size <= MAX_STORED_OBJECT_BYTES) return true;
    note(findings, "corrupt_object", `${k}: ${size} bytes listed, over ${capMiB()} MiB`);
    return false;
  });
  const workers = options.workers ?? Math.min(4, navigator.hardwareConcurrency || 1);
  if (workers > 1 && fetched.length >= WORKER_MIN_OBJECTS) {
    const shared = { events: findings.heldEvents, dlq: findings.heldDlq, budget: findings.budget! };
    for (const found of await inWorkers(store, fetched, table.data, workers, shared)) {
      mergeFindings(findings, {
        ...found,
        heldEvents: new Uint16Array(0),
        heldDlq: new Uint16Array(0),
      });
    }
  } else {
    await checkObjects(store, fetched, table, findings);
  }
  const { heldEvents: inEvents, heldDlq: inDlq, budget: _b, ...rest } = findings;
  return {
    objects: { events: batches.events.length, dlq: batches.dlq.length },
    layout,
    findings: rest,
    inEvents,
    inDlq,
    ranges: all.map((k) => storedRange(k, modified.get(k) ?? null, etags.get(k) ?? null)!),
    listing: listed.map((o) => ({ name: o.name, size: o.size, etag: o.etag ?? null })),
  };
}

const capMiB = () => MAX_STORED_OBJECT_BYTES / 2 ** 20;

type Fetched = { bytes: Uint8Array } | { error: string };

/** The object's bytes, or why they could not be had (never a rejection). */
function fetchObject(store: ObjectStore, key: string): Promise<Fetched> {
  return store.getBytes(key, MAX_STORED_OBJECT_BYTES).then(
    (bytes) =>
      bytes.length > MAX_STORED_OBJECT_BYTES
        ? { error: `${bytes.length} bytes fetched, over ${capMiB()} MiB` }
        : { bytes },
    (error) => ({
      error: `listed, but could not be fetched: ${(error as Error)?.message ?? error}`,
    }),
  );
}

/**
 * Fetches and checks `keys`, CONCURRENCY downloads ahead of the checking. A listed object that
 * cannot be fetched (gone since the listing, any error) is a `corrupt_object`: the store the
 * pipeline left is what is judged, and one that changes under the check is its finding.
 */
export async function checkObjects(
  store: ObjectStore,
  keys: readonly string[],
  table: TopicTable,
  into: Findings,
): Promise<void> {
  const fetching: (Promise<Fetched> | undefined)[] = keys.slice(0, CONCURRENCY).map((k) =>
    fetchObject(store, k)
  );
  for (let k = 0; k < keys.length; k++) {
    const got = await fetching[k]!;
    fetching[k] = undefined; // let it go
    if (overBudget(into.budget)) continue; // the store is over its budget: read no more
    if (k + CONCURRENCY < keys.length) fetching.push(fetchObject(store, keys[k + CONCURRENCY]));
    if ("error" in got) note(into, "corrupt_object", `${keys[k]}: ${got.error}`);
    else {
      try {
        checkObject(keys[k], got.bytes, table, into);
      } catch (error) {
        // Whatever a stored object does to the check is the store's finding, never the judge's.
        note(into, "corrupt_object", `${keys[k]}: could not be checked (${describe(error)})`);
      }
    }
  }
}

function describe(error: unknown): string {
  return String((error as Error)?.message ?? error).slice(0, 200);
}

/** Splits `keys` over `n` workers (interleaved, so each gets every partition). */
function inWorkers(
  store: ObjectStore,
  keys: readonly string[],
  table: TopicTableData,
  n: number,
  shared: CheckRequest["shared"],
): Promise<NonNullable<CheckReply["findings"]>[]> {
  const parts = Array.from({ length: n }, (_, w) => keys.filter((_, i) => i % n === w));
  return Promise.all(parts.map((part) => {
    const worker = new Worker(new URL("./_check_worker.ts", import.meta.url), { type: "module" });
    return new Promise<NonNullable<CheckReply["findings"]>>((resolve, reject) => {
      worker.onmessage = (e: MessageEvent<CheckReply>) => {
        worker.terminate();
        if (e.data.error !== undefined) reject(new Error(`store check worker: ${e.data.error}`));
        else resolve(e.data.findings!);
      };
      worker.onerror = (e) => {
        worker.terminate();
        e.preventDefault();
        reject(new Error(`store check worker: ${e.message}`));
      };
      worker.postMessage({ s3: store.s3, keys: part, table, shared } satisfies CheckRequest);
    });
  }));
}

export interface CheckRequest {
  s3: ObjectStore["s3"];
  keys: string[];
  /** Its columns are SharedArrayBuffers: shared, not copied. */
  table: TopicTableData;
  /** The per-record counters and the read budget, in shared memory: the workers count into them. */
  shared: { events: Uint16Array; dlq: Uint16Array; budget: ReadBudget };
}

export interface CheckReply {
  findings?: Omit<Findings, "heldEvents" | "heldDlq" | "budget">;
  error?: string;
}
