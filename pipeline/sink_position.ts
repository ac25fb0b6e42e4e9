/**
 * Where the sink resumes a partition in a new group generation, and whether the
 * first batch kafkajs hands it there may be taken.
 *
 * kafkajs's fetch position in a new generation is not always the committed
 * offset. When it rejoins by itself (partitions added to the topic: one of its
 * fetchers sees the new metadata and rejoins while the others go on), a batch
 * handled across the rejoin resolves its offsets into the new generation's
 * offset manager, and a fetch sent before the rejoin is handed over after it;
 * either way the new generation reads on past the open batch the rejoin
 * dropped, and a commit of a later batch skipped it (#31: one batch lost in
 * about one run in three of add-partitions-mid-run). So the sink takes a
 * partition's first batch of a generation only at the offset it verified:
 * the highest of what Kafka holds as committed, what Kafka accepted from this
 * sink (a commit still replicating is not in Kafka's answer yet) and where it
 * last started the partition; otherwise it seeks there.
 *
 * ```ts
 * import { resumeOffset, startDecision } from "./sink_position.ts";
 * const resume = resumeOffset([500, undefined, 480]); // 500
 * startDecision({ first: 700, fetched: 700, resume, seeks: 0 }); // { seek: 500 }
 * ```
 * @module
 */

/** Seeks to the same offset after which a position still elsewhere is taken (the log moved). */
export const MAX_SEEKS = 3;

/** The highest of the offsets known to be committed or started at; undefined if none is. */
export function resumeOffset(known: ReadonlyArray<number | undefined>): number | undefined {
  let best: number | undefined;
  for (const o of known) {
    if (o !== undefined && o >= 0 && (best === undefined || o > best)) best = o;
  }
  return best;
}

export interface StartInput {
  /** Offset of the batch's first record. */
  first: number;
  /** Offset the batch was fetched at (below `first` when control records come first). */
  fetched: number;
  /** Where the partition must resume (undefined: nothing known, the position is taken). */
  resume: number | undefined;
  /** Seeks to `resume` already made in this generation. */
  seeks: number;
}

export type StartDecision = { take: number } | { seek: number };

/**
 * Take the batch (`take`: the offset the partition's stored prefix ends at) or seek the
 * partition to `seek` and drop the batch.
 */
export function startDecision({ first, fetched, resume, seeks }: StartInput): StartDecision {
  if (resume === undefined || first === resume) return { take: first };
  // Fetched at the resume offset, the records before `first` are not data (control records).
  if (first > resume && fetched <= resume) return { take: resume };
  // Sought there several times and kafkajs still starts elsewhere: the log no longer has the
  // offset (retention, or kafkajs reset an out-of-range position); what it has is taken.
  if (seeks >= MAX_SEEKS) return { take: first };
  return { seek: resume };
}
