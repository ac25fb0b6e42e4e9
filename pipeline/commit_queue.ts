/**
 * The sink's offset commits, behind its uploads and off their path: one commit
 * at a time per partition, and requests that pile up while one is in flight
 * become one commit of the latest offset. A request of an older group
 * generation is dropped (the new generation reads those records again).
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
}

export class CommitQueue {
  readonly #o: CommitQueueOptions;
  readonly #wanted = new Map<number, Wanted>();
  readonly #loops = new Map<number, Promise<void>>();
  /** Per partition, the highest offset Kafka accepted from this queue. */
  readonly #done = new Map<number, number>();

  constructor(options: CommitQueueOptions) {
    this.#o = options;
  }

  request(partition: number, offset: number, generation: number): void {
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
