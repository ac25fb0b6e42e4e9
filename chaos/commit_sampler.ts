/**
 * Samples the sink group's committed offsets on the run's topic once a
 * second, from the workload's start to the end of settle, so the verdict can
 * hold each commit against the times its objects were stored
 * (validate/commits.ts). Every change of a partition's offset (and the first
 * reading of each) goes to `commits.jsonl` with the harness's clock as it is
 * seen, then one end line with the counts. At most one read is in flight; a
 * read that fails or takes longer than 5 s is skipped and counted. It never
 * throws into the run, stops sampling when the run's signal aborts, and
 * `stop()` (idempotent: after settle, and again at teardown) reads once more
 * so the last samples are those at the end of settle.
 *
 * With `listStore`, each read also lists the store's batch objects and keeps
 * every (key, ETag) the first time it is seen: the checker then dates an
 * object's content by when it was first stored, not by its last rewrite (an
 * honest replay after a rebalance rewrites the same bytes).
 *
 * ```ts
 * const commits = CommitSampler.start({ admin, topic, group, file, signal });
 * // ... workload, heal, settle ...
 * const evidence = await commits.stop();
 * ```
 * @module
 */

import { sleep } from "../lib/wait.ts";
import {
  type CommitEvidence,
  type CommitSample,
  type CommitsEnd,
  commitsLine,
  type SeenObject,
} from "../validate/commits.ts";
import type { Admin } from "./run_stack.ts";

export interface CommitSamplerOptions {
  admin: Pick<Admin, "fetchOffsets">;
  topic: string;
  /** The sink's consumer group. */
  group: string;
  /** `commits.jsonl` in the run folder. */
  file: string;
  /** The run's signal (Ctrl-C): sampling stops at once. */
  signal?: AbortSignal;
  /** Default 1000. */
  everyMs?: number;
  /** A read that takes longer is skipped and counted as failed. Default 5000. */
  readTimeoutMs?: number;
  /** The store's batch objects of the run's topic (events/ and dlq/), with their ETags. */
  listStore?: () => Promise<{ name: string; etag?: string }[]>;
}

/** Attempts of the read at the end of settle, 500 ms apart. */
const FINAL_ATTEMPTS = 3;

export class CommitSampler {
  readonly #o: CommitSamplerOptions;
  readonly #samples: CommitSample[] = [];
  readonly #last = new Map<number, number>();
  readonly #seen: SeenObject[] = [];
  readonly #seenIds = new Set<string>();
  #reads = 0;
  #failed = 0;
  #timer?: ReturnType<typeof setInterval>;
  #reading: Promise<boolean> | undefined;
  #stopped: Promise<CommitEvidence> | undefined;
  readonly #halt = () => clearInterval(this.#timer);

  private constructor(options: CommitSamplerOptions) {
    this.#o = options;
  }

  /** Starts sampling now (the file is created empty). */
  static start(options: CommitSamplerOptions): CommitSampler {
    const s = new CommitSampler(options);
    s.#write("", false);
    s.#timer = setInterval(() => {
      if (!s.#reading) void s.#read();
    }, options.everyMs ?? 1000);
    options.signal?.addEventListener("abort", s.#halt, { once: true });
    if (options.signal?.aborted) s.#halt();
    void s.#read();
    return s;
  }

  /** The changes seen so far. */
  get samples(): readonly CommitSample[] {
    return this.#samples;
  }

  /**
   * Stops sampling (after one last read, unless the run was interrupted or `lastRead` is false:
   * a run that failed needs none) and writes the end line; the same evidence on every call.
   */
  stop(o: { lastRead?: boolean } = {}): Promise<CommitEvidence> {
    return this.#stopped ??= this.#stop(o.lastRead ?? true);
  }

  async #stop(lastRead: boolean): Promise<CommitEvidence> {
    this.#halt();
    this.#o.signal?.removeEventListener("abort", this.#halt);
    await this.#reading;
    let final = false;
    for (let i = 0; i < FINAL_ATTEMPTS && lastRead && !this.#o.signal?.aborted && !final; i++) {
      if (i > 0) await sleep(500).catch(() => {});
      final = await this.#read();
    }
    const end: CommitsEnd = {
      end_ms: Date.now(),
      reads: this.#reads,
      failed: this.#failed,
      final,
    };
    this.#write(commitsLine(end));
    return { samples: [...this.#samples], seen: [...this.#seen], end, malformed: [] };
  }

  /** One read of the group's offsets; false when it failed (counted). */
  #read(): Promise<boolean> {
    const reading = this.#readOnce().finally(() => {
      if (this.#reading === reading) this.#reading = undefined;
    });
    return this.#reading = reading;
  }

  /** `work`, or a rejection once it took longer than the read timeout. */
  async #within<T>(work: Promise<T>): Promise<T> {
    let timer: ReturnType<typeof setTimeout> | undefined;
    const late = new Promise<never>((_, reject) => {
      timer = setTimeout(() => reject(new Error("timed out")), this.#o.readTimeoutMs ?? 5000);
    });
    try {
      return await Promise.race([work, late]);
    } finally {
      clearTimeout(timer);
    }
  }

  async #readOnce(): Promise<boolean> {
    const { admin, topic, group } = this.#o;
    try {
      const answer = await this.#within(admin.fetchOffsets({ groupId: group, topics: [topic] }));
      const at = Date.now(); // the commits were made by now
      const partitions = answer.find((t) => t.topic === topic)?.partitions ?? [];
      let lines = "";
      for (const p of [...partitions].sort((a, b) => a.partition - b.partition)) {
        const offset = Number(p.offset);
        if (!Number.isSafeInteger(offset) || this.#last.get(p.partition) === offset) continue;
        this.#last.set(p.partition, offset);
        const sample = { at_ms: at, partition: p.partition, offset };
        this.#samples.push(sample);
        lines += commitsLine(sample);
      }
      if (lines) this.#write(lines);
      this.#reads++;
      await this.#listOnce();
      return true;
    } catch {
      this.#failed++;
      return false;
    }
  }

  /** One listing of the store: every (key, ETag) not seen before, with the time it was seen. */
  async #listOnce(): Promise<void> {
    if (!this.#o.listStore) return;
    try {
      const objects = await this.#within(this.#o.listStore());
      const at = Date.now(); // stored by now
      let lines = "";
      for (const o of objects) {
        if (!o.etag) continue;
        const id = `${o.name}\n${o.etag}`;
        if (this.#seenIds.has(id)) continue;
        this.#seenIds.add(id);
        const seen = { at_ms: at, seen: o.name, etag: o.etag };
        this.#seen.push(seen);
        lines += commitsLine(seen);
      }
      if (lines) this.#write(lines);
    } catch {
      /* a listing that failed dates nothing: LastModified stands */
    }
  }

  #write(text: string, append = true): void {
    try {
      Deno.writeTextFileSync(this.#o.file, text, { append });
    } catch { /* the run folder went away: the samples are still judged from memory */ }
  }
}
