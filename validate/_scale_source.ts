/**
 * The scale bench's synthetic topic (bench_scale.ts), made of realistic events
 * as _synthetic.ts makes them but streamed, never held: event `i` of `n` is
 * on partition `i % partitions` at offset `i / partitions`, from producer
 * `i % producers` with seq `i / producers`, its flow one of 5,000 drawn once
 * from a fixed seed. Any thread computes any record from its place, so the
 * workers table their partitions without the records crossing threads (as the
 * audit's workers decode theirs from Kafka) and the store is written from the
 * same function.
 *
 * ```ts
 * import { ScaleSource } from "./_scale_source.ts";
 * const src = new ScaleSource({ events: 1000 });
 * src.line(0, 0); // '{"producer_id":"scale-w0","seq":0,...}'
 * ```
 * @module
 */

import { eventSerializer } from "../pipeline/event.ts";
import { Rng } from "../pipeline/rng.ts";
import { baselineFlow } from "../pipeline/traffic.ts";

export interface ScaleShape {
  events: number;
  /** Default 6. */
  partitions?: number;
  /** Default 8. */
  producers?: number;
}

const FLOWS = 5000;
const TS = Date.UTC(2026, 10, 22);

export class ScaleSource {
  readonly events: number;
  readonly partitions: number;
  readonly producers: number;
  readonly #flows: ReturnType<typeof baselineFlow>[];
  readonly #serialize: ((seq: number, ts: number, flow: never) => string)[];

  constructor(shape: ScaleShape) {
    this.events = shape.events;
    this.partitions = shape.partitions ?? 6;
    this.producers = shape.producers ?? 8;
    const rng = new Rng("bench-scale");
    this.#flows = Array.from({ length: FLOWS }, () => baselineFlow(rng));
    this.#serialize = Array.from(
      { length: this.producers },
      (_, w) => eventSerializer(this.producerId(w)),
    );
  }

  producerId(w: number): string {
    return `scale-w${w}`;
  }

  /** Records on partition `p` (its offsets run from 0). */
  countOn(p: number): number {
    return p < this.events ? Math.floor((this.events - 1 - p) / this.partitions) + 1 : 0;
  }

  /** Seqs of producer `w` (from 0). */
  seqsOf(w: number): number {
    return w < this.events ? Math.floor((this.events - 1 - w) / this.producers) + 1 : 0;
  }

  /** The record at partition `p`, offset `o`. */
  line(p: number, o: number): string {
    const i = o * this.partitions + p;
    const w = i % this.producers;
    return this.#serialize[w](
      Math.floor(i / this.producers),
      TS + i,
      this.#flows[i % FLOWS] as never,
    );
  }
}
