/**
 * `@platformatic/kafka`'s producer with the generator's own record encoder (record_batch.ts) in
 * place of the client's: the `lean` Kafka client. Everything else stays the client's: metadata,
 * connections, the idempotent producer's id and its sequences per partition, retries (which
 * re-encode a batch with the same sequence), leader changes, answers and their errors. Only the
 * Produce request's body is written here, for the versions 9 to 11 (those the client speaks to
 * any Kafka of the last years); a message with headers, a compressed or transactional send, or
 * another version goes through the client's own encoder, unchanged.
 *
 * The generator's own batches (record_batch.ts's `PartitionBatch`, written event by event) go
 * through the client as `batchMessages`: as many messages as records, so the client counts the
 * partition's sequence as for any send, each one object whose value marks the batch; the lean
 * Produce sends the batch's bytes for them, at any version from 3 to 11 (a broker or a proxy
 * that caps Produce at 8, as the harness's kafka proxy does, gets the older layout). A call that
 * would encode those markers otherwise (compression, a transaction, a version before 3) fails
 * with `LeanProducerError`.
 *
 * How: the client asks itself for each API's implementation through a method of its base class
 * (keyed by a private symbol, found by its description); the producer made here answers for
 * `Produce` with an implementation of the same call shape whose request body is ours. A client
 * version without that method is refused at construction (`LeanProducerError`), never silently
 * run on the client's encoder.
 *
 * ```ts
 * const producer = leanProducer({ clientId: "gen-w0", bootstrapBrokers: brokers, idempotent: true, acks: -1 });
 * await producer.send({ messages: [{ topic, partition: 2, key, value }] });
 * await sendBatch(producer, partitionBatch); // the generator's own records
 * ```
 * @module
 */

import { Buffer } from "node:buffer";
import {
  Producer as PlatformaticProducer,
  type ProducerOptions,
  produceV10,
  produceV11,
  produceV3,
  produceV4,
  produceV5,
  produceV6,
  produceV7,
  produceV8,
  produceV9,
  Writer,
} from "@platformatic/kafka";
import { PartitionBatch, type PartitionRecords, produceRequestBody } from "./record_batch.ts";

/** The client's producer as the generator uses it (keys and values as bytes or text). */
export type LeanProducer = PlatformaticProducer<Buffer | string, Buffer | string, string, string>;

/** The client lacks what the lean encoder hooks into. */
export class LeanProducerError extends Error {
  override name = "LeanProducerError";
}

/** A message as the client hands it to its Produce implementation (serialized, partitioned). */
export interface SerializedMessage {
  topic: string;
  partition: number;
  key?: Uint8Array | null;
  value?: Uint8Array | null;
  headers?: Map<unknown, unknown>;
  timestamp?: bigint | number;
}

/** What the client passes to a Produce implementation besides the messages. */
export interface ProduceOptions {
  producerId?: bigint;
  producerEpoch?: number;
  sequences?: { get(key: string): number | undefined };
  transactionalId?: string;
  compression?: string;
}

type Callback = (error: Error | null, result?: unknown) => void;
type ParseResponse = (...args: never[]) => unknown;
export interface Connection {
  send(
    apiKey: number,
    apiVersion: number,
    createPayload: () => unknown,
    parse: ParseResponse,
    requestTags: boolean,
    responseTags: boolean,
    callback: Callback,
  ): void;
}
/** The client's Produce call: one request of `messages`, answered through `callback`. */
type ProduceCall = (
  connection: Connection,
  acks: -1 | 0 | 1,
  timeout: number,
  messages: SerializedMessage[],
  options: ProduceOptions,
  callback: Callback,
) => void;
export type ProduceApi = ProduceCall & { key: number; version: number };
type GetApi = (name: string, callback: (error: Error | null, api?: ProduceApi) => void) => void;

/** Answers' parsers of the versions whose every call the lean encoder writes (flexible). */
const PARSERS: Record<number, ParseResponse> = {
  9: produceV9.parseResponse as ParseResponse,
  10: produceV10.parseResponse as ParseResponse,
  11: produceV11.parseResponse as ParseResponse,
};

/** Answers' parsers of the versions a built batch is sent at (every other call: the client's). */
const BATCH_PARSERS: Record<number, ParseResponse> = {
  ...PARSERS,
  3: produceV3.parseResponse as ParseResponse,
  4: produceV4.parseResponse as ParseResponse,
  5: produceV5.parseResponse as ParseResponse,
  6: produceV6.parseResponse as ParseResponse,
  7: produceV7.parseResponse as ParseResponse,
  8: produceV8.parseResponse as ParseResponse,
};

/** The symbol the client's base class keys its API lookup by. */
const GET_API = (() => {
  for (let o = PlatformaticProducer.prototype; o; o = Object.getPrototypeOf(o)) {
    const s = Object.getOwnPropertySymbols(o).find((s) =>
      s.description === "plt.kafka.base.getApi"
    );
    if (s) return s;
  }
  return undefined;
})();

/**
 * The partitions' records of one Produce call, in the order their first message came, or
 * undefined when the lean encoder does not write this call (headers, compression, a transaction,
 * several topics, a message without a value or of a time of its own).
 */
export function partitionRecords(
  messages: readonly SerializedMessage[],
  options: ProduceOptions,
): PartitionRecords[] | undefined {
  if (options.transactionalId || (options.compression ?? "none") !== "none") return undefined;
  const byPartition = new Map<number, PartitionRecords & { keys: unknown[]; values: unknown[] }>();
  const topic = messages[0]?.topic;
  const timestamp = messages[0]?.timestamp;
  for (const m of messages) {
    if (m.topic !== topic || (m.headers && m.headers.size > 0) || !m.value) return undefined;
    // Every record has the call's one timestamp: a message of a time of its own is the client's.
    if (m.timestamp !== timestamp) return undefined;
    let p = byPartition.get(m.partition);
    if (!p) {
      p = {
        partition: m.partition,
        // As the client writes them (records.js): its sequence for an idempotent producer.
        producerId: options.producerId ?? -1n,
        producerEpoch: options.producerEpoch ?? 0,
        baseSequence: options.sequences?.get(`${m.topic}:${m.partition}`) ?? 0,
        keys: [],
        values: [],
      };
      byPartition.set(m.partition, p);
    }
    p.keys.push(m.key);
    p.values.push(m.value);
  }
  return [...byPartition.values()];
}

/** Each call's timestamp, kept for its retries (the client re-encodes a retried request). */
const callTimestamps = new WeakMap<object, number>();

/**
 * The messages that stand for a `PartitionBatch` (record_batch.ts) in the client: as many as its
 * records (the client counts them for the partition's sequence), all one object whose value
 * marks the batch. The lean Produce sends the batch's own bytes for them; anything else that
 * would encode them (another Produce version, a transaction, compression) refuses them.
 */
export function batchMessages(batch: PartitionBatch): SerializedMessage[] {
  const marker = Buffer.alloc(0);
  BATCHES.set(marker, batch);
  const message = { topic: batch.topic, partition: batch.partition, value: marker };
  return new Array<SerializedMessage>(batch.count).fill(message);
}

/** Each `batchMessages` marker's batch. */
const BATCHES = new WeakMap<object, PartitionBatch>();

/** The batch `messages` stand for (`batchMessages`), if they stand for one. */
function batchOf(messages: readonly SerializedMessage[]): PartitionBatch | undefined {
  const marker = messages[0]?.value;
  return marker ? BATCHES.get(marker) : undefined;
}

/** Why the lean Produce cannot send `messages` as `batch`'s bytes, if it cannot. */
function refusal(
  batch: PartitionBatch,
  messages: readonly SerializedMessage[],
  options: ProduceOptions,
): string | undefined {
  if (options.transactionalId || (options.compression ?? "none") !== "none") {
    return "a transaction or compression";
  }
  if (messages.length !== batch.count) {
    return `${messages.length} messages for a batch of ${batch.count} records`;
  }
  const marker = messages[0].value;
  for (const m of messages) {
    if (m.value !== marker || m.topic !== batch.topic || m.partition !== batch.partition) {
      return "messages of other records or partitions in the call";
    }
  }
  return undefined;
}

/**
 * A Produce implementation for `version` (3 to 11) whose request body the lean encoder writes:
 * a built batch at any of them, every other call at 9 to 11; a call it does not write goes to
 * `fallback` (the client's own implementation).
 */
export function leanProduceApi(version: number, fallback: ProduceApi): ProduceApi {
  const parse = BATCH_PARSERS[version];
  if (!parse) throw new LeanProducerError(`Produce v${version} is not written here (3 to 11)`);
  const flexible = version >= 9;
  const api: ProduceCall = (connection, acks, timeout, messages, options, callback) => {
    const batch = batchOf(messages);
    if (batch) {
      const refused = refusal(batch, messages, options);
      if (refused) {
        return callback(new LeanProducerError(`a built record batch not sent: ${refused}`));
      }
      // A retry sends the same time (and sequence, unless the producer changed).
      const timestampMs = batch.timestampMs ??= Date.now();
      const body = batch.body({
        version,
        acks,
        timeoutMs: timeout,
        timestampMs,
        producerId: options.producerId ?? -1n,
        producerEpoch: options.producerEpoch ?? 0,
        baseSequence: options.sequences?.get(`${batch.topic}:${batch.partition}`) ?? 0,
      });
      return connection.send(
        0,
        version,
        () => {
          const writer = Writer.create();
          writer.dynamicBuffer.append(body);
          if (acks === 0) writer.context.noResponse = true;
          return writer;
        },
        parse,
        flexible,
        flexible,
        callback,
      );
    }
    const partitions = flexible ? partitionRecords(messages, options) : undefined;
    if (!partitions) return fallback(connection, acks, timeout, messages, options, callback);
    let timestampMs = callTimestamps.get(messages);
    if (timestampMs === undefined) {
      const first = messages[0].timestamp;
      timestampMs = first === undefined ? Date.now() : Number(first);
      callTimestamps.set(messages, timestampMs);
    }
    const ts = timestampMs;
    connection.send(
      0,
      version,
      () => {
        const writer = Writer.create();
        writer.dynamicBuffer.append(
          produceRequestBody({
            acks,
            timeoutMs: timeout,
            topic: messages[0].topic,
            timestampMs: ts,
            partitions,
          }),
        );
        if (acks === 0) writer.context.noResponse = true;
        return writer;
      },
      parse,
      true,
      true,
      callback,
    );
  };
  return Object.assign(api, { key: 0, version });
}

/**
 * The client's own Produce (a version the lean encoder does not write), refusing the messages
 * of a built batch: it would send their markers as empty records.
 */
export function guardedProduceApi(api: ProduceApi): ProduceApi {
  const guarded: ProduceCall = (connection, acks, timeout, messages, options, callback) => {
    if (batchOf(messages)) {
      return callback(
        new LeanProducerError(`a built record batch not sent: Produce v${api.version}`),
      );
    }
    return api(connection, acks, timeout, messages, options, callback);
  };
  return Object.assign(guarded, { key: api.key, version: api.version });
}

/** Sends a built batch (`PartitionBatch`) through `producer` (a `leanProducer`). */
export async function sendBatch(producer: LeanProducer, batch: PartitionBatch): Promise<void> {
  await producer.send({ messages: batchMessages(batch) as never });
}

/** A platformatic producer whose Produce requests the lean encoder writes (see the module doc). */
export function leanProducer(
  options: ProducerOptions<Buffer | string, Buffer | string, string, string>,
): LeanProducer {
  const producer = new PlatformaticProducer(options);
  const self = producer as unknown as Record<symbol, GetApi>;
  const getApi = GET_API && self[GET_API];
  if (!GET_API || typeof getApi !== "function") {
    throw new LeanProducerError(
      "this @platformatic/kafka has no API lookup to hook the lean encoder into; use --client platformatic",
    );
  }
  const lean = new Map<ProduceApi, ProduceApi>();
  self[GET_API] = (name, callback) =>
    getApi.call(producer, name, (error, api) => {
      if (error || name !== "Produce" || !api) return callback(error, api);
      let mine = lean.get(api);
      if (!mine) {
        mine = BATCH_PARSERS[api.version]
          ? leanProduceApi(api.version, api)
          : guardedProduceApi(api);
        lean.set(api, mine);
      }
      callback(null, mine);
    });
  return producer;
}
