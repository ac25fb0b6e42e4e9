/**
 * The generator notices partitions added to its topic mid-run. Every
 * `PARTITION_REFRESH_MS` a worker asks its producer for the topic's partition
 * count; a larger count is adopted once the producer's own metadata has it too
 * (`settleMs`: at once for a client whose metadata that question refreshed,
 * one metadata max age later for kafkajs, whose producer would otherwise drop
 * the records of a partition it has no leader for). Adopted, keys hash over the
 * new count (kafkajs's default partitioner, like Kafka's producers), so some
 * move to the new partitions, as a real producer's do. Partitions never go away.
 *
 * ```ts
 * import { PartitionWatch } from "./generator_partitions.ts";
 * const w = new PartitionWatch(6, 6000);
 * w.observe(9, 0); // 6: seen, not settled
 * w.observe(9, 6000); // 9
 * ```
 * @module
 */

import type { PartitionMetadata } from "kafkajs";

/** How often a worker asks for the topic's partition count (the sink's and detector's 5 s). */
export const PARTITION_REFRESH_MS = 5000;

export class PartitionWatch {
  #current: number;
  readonly #settleMs: number;
  #pending: { count: number; since: number } | undefined;

  constructor(current: number, settleMs: number) {
    this.#current = current;
    this.#settleMs = settleMs;
  }

  /** The partition count in use. */
  get current(): number {
    return this.#current;
  }

  /** A count read at `nowMs`; returns the count to use from now on. */
  observe(count: number, nowMs: number): number {
    if (!Number.isInteger(count) || count <= this.#current) {
      this.#pending = undefined;
      return this.#current;
    }
    if (this.#pending?.count !== count) this.#pending = { count, since: nowMs };
    if (nowMs - this.#pending.since >= this.#settleMs) {
      this.#current = count;
      this.#pending = undefined;
    }
    return this.#current;
  }
}

/**
 * `partitions` grown to `count` entries (the partitioner reads their number, and a leader >= 0
 * for keyless records); the same array when it has them already.
 */
export function grownPartitions(
  partitions: readonly PartitionMetadata[],
  count: number,
): PartitionMetadata[] {
  if (count <= partitions.length) return [...partitions];
  const out = [...partitions];
  for (let id = partitions.length; id < count; id++) {
    out.push({ partitionErrorCode: 0, partitionId: id, leader: 0, replicas: [], isr: [] });
  }
  return out;
}
