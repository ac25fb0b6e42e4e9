/**
 * The sink's offset commits, behind its uploads and off their path: one commit
 * at a time per partition, and requests that pile up while one is in flight
 * become one commit of the latest offset. A request of an older group
 * generation is dropped (the new generation reads those records again).
 *
 * Contiguity: per partition and generation, the queue knows the offset the
 * stored prefix ends at (`start()`: where the generation began reading, then
 * the end of each request). A request whose batch begins past it (records in
 * between were never stored: an open batch dropped at a rejoin while the fetch
 * position moved on) is refused, and so is every later one of the partition
 * until it `start()`s again: Kafka never holds a committed offset N unless
 * every offset below N was stored.
 * @module
 */

interface Wanted {
  offset: number;
  generation: number;
  /** Batches the commit covers. */
  batches: number;
}

export interface CommitQueueOptions {
  /** Commits `offset` (the next to read) of `partition`; a rejection is a refused commit. */
  commit(partition: number, offset: number): Promise<void>;
  /** The group generation now. */
  generation(): number;
  /** Batches whose commit was dropped: their generation is over. */
  onStale(batches: number): void;
  /** A commit Kafka refused (after `ms`): the next one covers it. */
  onRefused(ms: number): void;
  onCommitted(batches: number, ms: number): void;
  /**
   * A request of the current generation refused: its batch begins at `first`, past `stored` (the
   * end of the stored prefix; undefined: the partition has not started in this generation).
   * Nothing more of the partition is committed until it starts again at a verified offset.
   */
  onGap?(partition: number, first: number, stored: number | undefined): void;
  /** Check contiguity (default true; a sabotaged sink that skips records on purpose does not). */
  contiguous?: boolean;
}

export class CommitQueue {
  readonly #o: CommitQueueOptions;
  readonly #wanted = new Map<number, Wanted>();
  readonly #loops = new Map<number, Promise<void>>();
  /** Per partition, the highest offset Kafka accepted from this queue. */
  readonly #done = new Map<number, number>();
  /** Per partition, the generation it started in and the end of its stored prefix. */
  readonly #stored = new Map<number, { generation: number; offset: number }>();

  constructor(options: CommitQueueOptions) {
    this.#o = options;
  }

  /** `partition` reads from `offset` in `generation`: what lies below is stored and committed. */
  start(partition: number, offset: number, generation: number): void {
    this.#stored.set(partition, { generation, offset });
  }

  /**
   * Commits `offset` (the next to read) once the batch `[first, offset)` of `partition`, taken in
   * `generation`, is stored; refused (`onGap`) if it does not follow the stored prefix.
   */
  request(partition: number, first: number, offset: number, generation: number): void {
    if (this.#o.contiguous !== false && generation === this.#o.generation()) {
      const stored = this.#stored.get(partition);
      const known = stored?.generation === generation ? stored.offset : undefined;
      if (known === undefined || first > known) {
        this.#stored.delete(partition);
        this.#o.onGap?.(partition, first, known);
        return;
      }
      stored!.offset = Math.max(known, offset);
    }
    const wanted = this.#wanted.get(partition);
    this.#wanted.set(partition, { offset, generation, batches: (wanted?.batches ?? 0) + 1 });
    if (this.#loops.has(partition)) return;
    const loop = (async () => {
      try {
        let next;
        while ((next = this.#wanted.get(partition))) {
          this.#wanted.delete(partition);
          await this.#commit(partition, next);
        }
      } finally {
        // In the same step as the last empty look: a request arriving later starts a new loop
        // (a .finally() on the promise would run a tick later and strand such a request).
        this.#loops.delete(partition);
      }
    })();
    this.#loops.set(partition, loop);
  }

  /** Resolves once every commit in flight has ended. */
  async settled(): Promise<void> {
    await Promise.allSettled([...this.#loops.values()]);
  }

  /**
   * Once the commits of `partition` in flight have ended: the highest offset Kafka accepted
   * for it from this queue, in any generation (undefined if none).
   */
  async committed(partition: number): Promise<number | undefined> {
    await this.#loops.get(partition)?.catch(() => {});
    return this.#done.get(partition);
  }

  async #commit(partition: number, { offset, generation, batches }: Wanted): Promise<void> {
    if (generation !== this.#o.generation()) {
      this.#o.onStale(batches);
      return;
    }
    const t0 = performance.now();
    try {
      await this.#o.commit(partition, offset);
    } catch {
      // Harmless to skip: the next commit covers these batches, and if none comes (a crash, a
      // rebalance) the records are read again from the last commit and their objects rewritten.
      this.#o.onRefused(performance.now() - t0);
      return;
    }
    this.#done.set(partition, Math.max(offset, this.#done.get(partition) ?? -1));
    this.#o.onCommitted(batches, performance.now() - t0);
  }
}
