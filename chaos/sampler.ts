/**
 * Samples the run once a second while the workload runs (see
 * `validate/samples.ts`): acknowledged events/s and p95 send latency from the
 * generator, the sink's consumer lag and the topic's health from Kafka (each
 * read every 2 s, at most one read of each in flight, so a dead broker delays
 * only them), and the active faults. Written to `samples.jsonl` as it goes.
 *
 * ```ts
 * const sampler = new Sampler({ file, generator, admin, topic, group: "telemetry-sink", active });
 * sampler.start();
 * // ... workload ...
 * const samples = sampler.stop();
 * ```
 * @module
 */

import type { Admin } from "kafkajs";
import type { Generator } from "../pipeline/generator.ts";
import type { Sample } from "../validate/samples.ts";
import { type KafkaHealth, readKafkaHealth } from "./kafka_health.ts";

export interface SamplerOptions {
  file: string;
  /** The workload's live figures and metrics (its generators as one). */
  generator: Pick<Generator, "status" | "metrics">;
  admin: Admin;
  topic: string;
  /** The sink's consumer group. */
  group: string;
  /** The faults active now. */
  active: () => string[];
  /** Default 1000. */
  everyMs?: number;
  /** Default 2000. */
  lagEveryMs?: number;
}

export class Sampler {
  readonly samples: Sample[] = [];
  readonly #o: SamplerOptions;
  #timer?: ReturnType<typeof setInterval>;
  #t0 = 0;
  #lag: number | null = null;
  #lagAt = 0;
  #reading = false;
  #health: KafkaHealth | null = null;
  #healthAt = 0;
  #readingHealth = false;

  constructor(options: SamplerOptions) {
    this.#o = options;
  }

  start(): void {
    this.#t0 = Date.now();
    Deno.writeTextFileSync(this.#o.file, "");
    this.#timer = setInterval(() => this.#tick(), this.#o.everyMs ?? 1000);
  }

  /** Stops sampling; returns every sample. */
  stop(): Sample[] {
    clearInterval(this.#timer);
    return this.samples;
  }

  #tick() {
    const now = Date.now();
    const g = this.#o.generator.status();
    if (!this.#reading && now - this.#lagAt >= (this.#o.lagEveryMs ?? 2000)) {
      this.#reading = true;
      this.#lagAt = now;
      this.#readLag().then((lag) => (this.#lag = lag), () => (this.#lag = null))
        .finally(() => (this.#reading = false));
    }
    if (!this.#readingHealth && now - this.#healthAt >= (this.#o.lagEveryMs ?? 2000)) {
      this.#readingHealth = true;
      this.#healthAt = now;
      readKafkaHealth(this.#o.admin, this.#o.topic)
        .then((h) => (this.#health = h), () => (this.#health = null))
        .finally(() => (this.#readingHealth = false));
    }
    const h = this.#health;
    const sample: Sample = {
      t: now,
      elapsed_ms: now - this.#t0,
      acked_eps: g.acked_eps,
      acked: g.acked,
      p95_send_ms: g.p95_send_ms,
      sink_lag: this.#lag,
      faults: this.#o.active(),
      under_replicated: h?.under_replicated ?? null,
      offline_partitions: h?.offline_partitions ?? null,
      min_isr: h?.min_isr ?? null,
      controller: h?.controller ?? null,
    };
    this.samples.push(sample);
    Deno.writeTextFileSync(this.#o.file, JSON.stringify(sample) + "\n", { append: true });
  }

  async #readLag(): Promise<number> {
    const { admin, topic, group } = this.#o;
    const [high, committed] = await Promise.all([
      admin.fetchTopicOffsets(topic),
      admin.fetchOffsets({ groupId: group, topics: [topic] }),
    ]);
    const done = new Map(committed[0].partitions.map((p) => [p.partition, Number(p.offset)]));
    return high.reduce(
      (s, p) => s + Math.max(0, Number(p.high) - Math.max(0, done.get(p.partition) ?? 0)),
      0,
    );
  }
}
