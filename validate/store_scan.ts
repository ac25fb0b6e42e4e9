/**
 * Reads what the sink stored: every `events/` and `dlq/` object of a topic,
 * gunzipped, and the (producer_id, seq) pairs in them, as range sets per
 * producer with duplicates counted. This is the "found" side of the
 * completeness check.
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

function note(map: Map<string, FoundSeqs>, producer: string, seq: number) {
  let f = map.get(producer);
  if (!f) map.set(producer, f = { seqs: new RangeSet(), duplicates: new Map() });
  if (f.seqs.has(seq)) f.duplicates.set(seq, (f.duplicates.get(seq) ?? 0) + 1);
  else f.seqs.add(seq);
}

/** Scans `events/<topic>/` and `dlq/<topic>/`. */
export async function scanStore(store: ObjectStore, topic: string): Promise<StoreScan> {
  const scan: StoreScan = {
    events: new Map(),
    dlq: new Map(),
    objects: { events: 0, dlq: 0 },
    unreadable: 0,
  };
  for (const kind of ["events", "dlq"] as const) {
    const objects = (await store.list(`${kind}/${topic}/`)).filter((o) => parseBatchKey(o.name));
    scan.objects[kind] = objects.length;
    for (const o of objects) {
      const text = new TextDecoder().decode(gunzipSync(await store.getBytes(o.name)));
      for (const line of text.split("\n")) {
        if (!line) continue;
        let id;
        if (kind === "events") {
          id = recoverIdentity(line);
        } else {
          const record = JSON.parse(line) as { producer_id: string | null; seq: number | null };
          id = { producer_id: record.producer_id ?? undefined, seq: record.seq ?? undefined };
        }
        if (id.producer_id === undefined || id.seq === undefined) {
          scan.unreadable++;
          continue;
        }
        note(scan[kind], id.producer_id, id.seq);
      }
    }
  }
  return scan;
}
