/**
 * A synthetic run for the checkers' tests and the validator's benchmark: a
 * topic of realistic events (some malformed), its ledger, its topic table, and
 * a store laid out as the built-in sink lays it out (batches of offsets per
 * partition; valid lines in `events/`, malformed ones in `dlq/`), held in
 * memory as gzip objects that a test can tamper with.
 * @module
 */

import { Buffer } from "node:buffer";
import { gunzipSync, gzipSync } from "node:zlib";
import { batchKey } from "../pipeline/batcher.ts";
import { eventSerializer, type TelemetryEvent } from "../pipeline/event.ts";
import { Ledger } from "../pipeline/ledger.ts";
import { corrupt } from "../pipeline/malformed.ts";
import { Rng } from "../pipeline/rng.ts";
import type { ObjectStore } from "../pipeline/store.ts";
import { baselineFlow } from "../pipeline/traffic.ts";
import { type TopicTable, TopicTableBuilder } from "./topic_table.ts";

export const TOPIC = "t";

export interface SyntheticOptions {
  producers?: number;
  perProducer?: number;
  partitions?: number;
  /** Offsets per stored batch. */
  batch?: number;
  /** Every n-th record is malformed (0: none). */
  malformedEvery?: number;
  /** The audit key (digest.ts `auditKey(harnessKey, run_id)`); default random. */
  auditKey?: Uint8Array;
}

export interface SyntheticRun {
  ledger: Ledger;
  table: TopicTable;
  /** The store's objects, gzip, by key. */
  objects: Map<string, Uint8Array>;
  /** Every record of the topic: partition, offset, value. */
  records: { partition: number; offset: number; value: string; valid: boolean }[];
}

export function syntheticRun(options: SyntheticOptions = {}): SyntheticRun {
  const producers = options.producers ?? 2;
  const perProducer = options.perProducer ?? 300;
  const partitions = options.partitions ?? 3;
  const batch = options.batch ?? 100;
  const every = options.malformedEvery ?? 0;
  const rng = new Rng("synthetic");
  const ledger = new Ledger({ run_id: "synthetic", topic: TOPIC, seed: "1" });
  const offsets = new Array(partitions).fill(0);
  const records: SyntheticRun["records"] = [];
  let n = 0;
  for (let p = 0; p < producers; p++) {
    const pid = `synthetic-w${p}`;
    const serialize = eventSerializer(pid);
    ledger.attempt(pid, 0, perProducer - 1);
    ledger.ack(pid, 0, perProducer - 1);
    for (let seq = 0; seq < perProducer; seq++) {
      const flow = baselineFlow(rng);
      let value = serialize(seq, 1_700_000_000_000 + seq, flow);
      const valid = !(every > 0 && ++n % every === 0);
      if (!valid) {
        const event = JSON.parse(value) as TelemetryEvent;
        value = corrupt(rng, event, "wrong_type").raw;
        ledger.malformed(pid, seq);
      }
      const partition = (seq + p) % partitions;
      records.push({ partition, offset: offsets[partition]++, value, valid });
    }
  }
  const builder = new TopicTableBuilder(options.auditKey);
  for (let p = 0; p < partitions; p++) builder.setBounds(p, 0, offsets[p]);
  for (const r of records) builder.add(r.partition, r.offset, r.value);
  const objects = new Map<string, Uint8Array>();
  for (let p = 0; p < partitions; p++) {
    const mine = records.filter((r) => r.partition === p);
    for (let i = 0; i < mine.length; i += batch) {
      const part = mine.slice(i, i + batch);
      const first = part[0].offset;
      const last = part.at(-1)!.offset;
      const valid = part.filter((r) => r.valid).map((r) => r.value);
      const invalid = part.filter((r) => !r.valid).map((r) =>
        JSON.stringify({ partition: p, offset: r.offset, reason: "x", raw: r.value })
      );
      if (valid.length) objects.set(batchKey("events", TOPIC, p, first, last), gz(valid));
      if (invalid.length) objects.set(batchKey("dlq", TOPIC, p, first, last), gz(invalid));
    }
  }
  return { ledger, table: builder.finish(), objects, records };
}

export function gz(lines: readonly string[]): Uint8Array {
  return gzipSync(Buffer.from(lines.join("\n") + "\n"));
}

export function linesOf(bytes: Uint8Array): string[] {
  return new TextDecoder().decode(gunzipSync(bytes)).split("\n").filter((l) => l !== "");
}

/** An object store over `objects` in memory (for the pure checkers' tests; one thread). */
export function memoryStore(
  objects: Map<string, Uint8Array>,
  listed: Map<string, { last_modified_ms?: number; etag?: string }> = new Map(),
): ObjectStore {
  const store = {
    bucket: "memory",
    s3: { endpoint: "memory://", accessKey: "", secretKey: "", bucket: "memory" },
    client: undefined as unknown as ObjectStore["client"],
    putBytes(key: string, body: Uint8Array) {
      objects.set(key, body);
      return Promise.resolve();
    },
    putText(key: string, body: string) {
      objects.set(key, new TextEncoder().encode(body));
      return Promise.resolve();
    },
    getBytes(key: string) {
      const bytes = objects.get(key);
      return bytes ? Promise.resolve(bytes) : Promise.reject(new Error(`no object ${key}`));
    },
    list(prefix: string) {
      return Promise.resolve(
        [...objects].filter(([k]) => k.startsWith(prefix)).map(([name, b]) => ({
          name,
          size: b.length,
          ...listed.get(name),
        })),
      );
    },
  };
  return store;
}
