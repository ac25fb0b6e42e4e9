/**
 * A generator worker's batch for the lean client: every event written once, straight into the
 * record batch of its key's partition (record_batch.ts's `PartitionBatch`), which is then sent
 * as it is (lean_producer.ts). A baseline event is written from the traffic model's choice with
 * no flow object (event_bytes.ts's `BaselineBytes`); any other text (an incident's JSON, a
 * malformed event) as UTF-8. A partition's records past `maxBytes` go on in a batch of their own
 * (the broker refuses a batch above `message.max.bytes`).
 *
 * ```ts
 * const batch = new LeanBatch(topic, producerId, new BatchBuffers(), MAX_GROUP_BYTES);
 * batch.baseline(seq, Date.now(), baselineChoice(rng, choice), { bytes: key, partition: 2 });
 * batch.text(seq + 1, '{"not json', { bytes: key, partition: 2 });
 * for (const b of batch.take()) await producer.sendBatch!(b);
 * ```
 * @module
 */

import { BaselineBytes } from "./event_bytes.ts";
import { type BatchBuffers, PartitionBatch } from "./record_batch.ts";
import type { BaselineChoice } from "./traffic.ts";

/** A record's key and the partition it goes to. */
export interface RecordKey {
  bytes: Uint8Array;
  partition: number;
}

const encoder = new TextEncoder();

export class LeanBatch {
  readonly #topic: string;
  readonly #buffers: BatchBuffers;
  readonly #maxBytes: number;
  readonly #baseline: BaselineBytes;
  /** Per partition, the batch its next record goes to. */
  #open: Array<PartitionBatch | undefined> = [];
  /** Every batch since the last `take`, in the order they were started. */
  #all: PartitionBatch[] = [];

  constructor(topic: string, producerId: string, buffers: BatchBuffers, maxBytes: number) {
    this.#topic = topic;
    this.#buffers = buffers;
    this.#maxBytes = maxBytes;
    this.#baseline = new BaselineBytes(producerId);
  }

  /** Events written since the last `take`. */
  get size(): number {
    let n = 0;
    for (const b of this.#all) n += b.count;
    return n;
  }

  /** The baseline event `{producer_id, seq, ts_ms, ...flowOf(choice)}`. */
  baseline(seq: number, tsMs: number, choice: BaselineChoice, key: RecordKey): void {
    const b = this.#batchFor(key.partition, this.#baseline.maxBytes);
    const at = b.begin(key.bytes);
    b.end(this.#baseline.write(b.buf, at, seq, tsMs, choice), seq);
  }

  /** Any text as UTF-8 (an incident's event, a malformed one). */
  text(seq: number, text: string, key: RecordKey): void {
    // UTF-8 takes at most 3 bytes per UTF-16 code unit.
    const b = this.#batchFor(key.partition, text.length * 3);
    const at = b.begin(key.bytes);
    const { written } = encoder.encodeInto(text, b.buf.subarray(at));
    b.end(at + written, seq);
  }

  /** The batches written since the last `take` (none empty), in the order they were started. */
  take(): PartitionBatch[] {
    const all = this.#all;
    this.#all = [];
    this.#open = [];
    return all;
  }

  /** The batch a record of up to `valueBytes` goes to, with room for it. */
  #batchFor(partition: number, valueBytes: number): PartitionBatch {
    let b = this.#open[partition];
    if (b !== undefined && b.count > 0 && b.bytes + valueBytes + 32 > this.#maxBytes) {
      b = undefined;
    }
    if (b === undefined) {
      b = new PartitionBatch(this.#topic, partition, this.#buffers.get());
      this.#open[partition] = b;
      this.#all.push(b);
    }
    b.reserve(valueBytes);
    return b;
  }
}
