/**
 * A worker of the store scan (see store_scan.ts): fetches and parses its share
 * of the objects with a client of its own and sends back each producer's seqs
 * (transferred, not copied).
 * @module
 */

/// <reference lib="deno.worker" />

import { objectStore } from "../pipeline/store.ts";
import { gatherObjects, type ScanReply, type ScanRequest, type Seqs } from "./store_scan.ts";

self.onmessage = async (e: MessageEvent<ScanRequest>) => {
  try {
    const gathered = new Map<string, Seqs>();
    const unreadable = await gatherObjects(
      objectStore(e.data.s3),
      e.data.kind,
      e.data.keys,
      gathered,
    );
    // Sorted here, in parallel with the other workers; the coordinator only merges.
    const producers: [string, Float64Array][] = [...gathered].map(([p, s]) => [p, s.sorted()]);
    const reply: ScanReply = { producers, unreadable };
    self.postMessage(reply, producers.map(([, v]) => v.buffer as ArrayBuffer));
  } catch (error) {
    self.postMessage({
      producers: [],
      unreadable: 0,
      error: String((error as Error)?.stack ?? error),
    });
  }
};
