/**
 * The store's layout against the topic, from object names alone: every key
 * under `events/` and `dlq/` must be a batch key of the run's topic
 * (`<kind>/<topic>/partition=<p>/part-<p>-<first>-<last>.<ndjson|jsonl>.gz`,
 * offsets of 20 digits, `first <= last`, a partition the topic has);
 * anything else there is a foreign object (a well-formed batch key of another
 * topic is left alone: a store may serve several topics); foreign objects
 * named as an earlier version of the contract asked (contract.ts) are counted
 * by that version, for a finding that says so. Per partition, the offset ranges of
 * the objects (an `events/` and a `dlq/` object of one batch share a range)
 * must tile the partition from its log start to its end: a gap names its
 * offsets, an overlap names the two objects and counts its offsets as stored
 * twice, a range past the end names offsets the topic never had. Pure.
 *
 * ```ts
 * import { checkLayout } from "./layout.ts";
 * const layout = checkLayout(keys, "network-telemetry", table);
 * layout.gaps; // ["partition 3 offsets 5000..5999"]
 * ```
 * @module
 */

import { parseBatchKey } from "../pipeline/batcher.ts";
import { earlierContractName } from "./contract.ts";
import type { TopicTable } from "./topic_table.ts";

export interface Layout {
  /** Batch keys of the topic, by kind. */
  batches: { events: string[]; dlq: string[] };
  foreign: string[];
  /** Foreign objects that follow an earlier contract, per finding text (contract.ts). */
  earlier: { version: number; text: string; objects: number }[];
  gaps: string[];
  overlaps: string[];
  /** Offsets claimed by more than one batch range. */
  overlap_offsets: number;
  /** Ranges naming offsets at or past the partition's end. */
  beyond: string[];
}

export function checkLayout(keys: readonly string[], topic: string, table: TopicTable): Layout {
  const out: Layout = {
    batches: { events: [], dlq: [] },
    foreign: [],
    earlier: [],
    gaps: [],
    overlaps: [],
    overlap_offsets: 0,
    beyond: [],
  };
  const ranges = new Map<number, Map<string, { first: number; last: number; key: string }>>();
  for (const key of keys) {
    const k = parseBatchKey(key);
    const ext = k?.kind === "events" ? ".ndjson.gz" : ".jsonl.gz";
    // Another topic's batch (a store shared by several topics) is not this topic's business.
    if (k && k.topic !== topic && !k.topic.includes("/") && key.endsWith(ext)) continue;
    if (
      !k || k.topic !== topic || !key.endsWith(ext) || k.firstOffset > k.lastOffset ||
      !table.bounds(k.partition)
    ) {
      out.foreign.push(key);
      const earlier = earlierContractName(key);
      if (earlier) {
        const seen = out.earlier.find((e) => e.text === earlier.text);
        if (seen) seen.objects++;
        else out.earlier.push({ ...earlier, objects: 1 });
      }
      continue;
    }
    out.batches[k.kind].push(key);
    let byRange = ranges.get(k.partition);
    if (!byRange) ranges.set(k.partition, byRange = new Map());
    const id = `${k.firstOffset}-${k.lastOffset}`;
    if (!byRange.has(id)) byRange.set(id, { first: k.firstOffset, last: k.lastOffset, key });
  }
  for (const b of table.data.partitions) {
    const sorted = [...(ranges.get(b.partition)?.values() ?? [])].sort((x, y) =>
      x.first - y.first || x.last - y.last
    );
    let cursor = b.low;
    let previous: string | undefined;
    for (const r of sorted) {
      if (r.first > cursor && cursor < b.high) {
        out.gaps.push(
          `partition ${b.partition} offsets ${cursor}..${Math.min(r.first, b.high) - 1}`,
        );
      }
      if (r.first < cursor && previous) {
        const to = Math.min(r.last, cursor - 1);
        out.overlap_offsets += to - r.first + 1;
        out.overlaps.push(`${r.key} overlaps ${previous} at offsets ${r.first}..${to}`);
      }
      if (r.last >= b.high) {
        out.beyond.push(`${r.key}: the partition ends at offset ${b.high - 1}`);
      }
      if (r.last + 1 > cursor) {
        cursor = r.last + 1;
        previous = r.key;
      }
    }
    if (cursor < b.high) out.gaps.push(`partition ${b.partition} offsets ${cursor}..${b.high - 1}`);
  }
  return out;
}
