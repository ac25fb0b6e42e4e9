/**
 * The generator's producer, behind one small interface so that the Kafka
 * client is a knob (`KAFKA_CLIENT`): `lean` (the default): `@platformatic/kafka`'s
 * producer with the generator's own record encoder (lean_producer.ts,
 * record_batch.ts), `platformatic` (the client as it is), or `kafkajs`. All run with the same
 * settings (acks, idempotence, retries bounded by the delivery timeout) and
 * are held to the same ledger rules: `send` resolves only when Kafka
 * acknowledged every message, and a rejection is classified by
 * `definitelyNotAppended`.
 *
 * ```ts
 * const p = producerClient("platformatic", { brokers, kafka, acks: -1, idempotent: true,
 *   deliveryTimeoutMs: 30_000, clientId: "gen-w0" });
 * await p.connect();
 * await p.send([{ topic: "network-telemetry", key: "10.0.0.1", value: "{...}", partition: 2 }]);
 * await p.close();
 * ```
 * @module
 */

import { platformaticSecurity, securityFor } from "./kafka_security.ts";
import type { Admin, Kafka, Producer as KafkajsProducer } from "kafkajs";
import {
  Admin as PlatformaticAdmin,
  Producer as PlatformaticProducer,
  type ProducerOptions,
  stringSerializers,
} from "@platformatic/kafka";
import { Buffer } from "node:buffer";
import { UsageError } from "../lib/exit_codes.ts";
import { leanProducer, sendBatch } from "./lean_producer.ts";
import type { PartitionBatch } from "./record_batch.ts";
import { quietConnectionErrors } from "./quiet_connections.ts";

export const KAFKA_CLIENTS = ["kafkajs", "platformatic", "lean"] as const;
export type KafkaClientKind = typeof KAFKA_CLIENTS[number];
/** The generator's client unless `KAFKA_CLIENT` (or a scenario, or a flag) says otherwise. */
export const DEFAULT_KAFKA_CLIENT: KafkaClientKind = "lean";

/** `value` as a client kind, or a `UsageError` naming `where` (a flag, a variable). */
export function kafkaClientKind(value: string, where: string): KafkaClientKind {
  if ((KAFKA_CLIENTS as readonly string[]).includes(value)) return value as KafkaClientKind;
  const names = `${KAFKA_CLIENTS.slice(0, -1).join(", ")} or ${KAFKA_CLIENTS.at(-1)}`;
  throw new UsageError(`${where} must be ${names}, got "${value}"`);
}

export interface ProduceMessage {
  /** Every message of one `send` has the same topic; the client takes the messages as they are. */
  topic: string;
  /** The source address, as bytes (the generator's) or text. */
  key: Buffer | string;
  /** The event's bytes (the generator's, from `EventBytes`), or its text. */
  value: Buffer | string;
  /** Set by the generator (kafkajs's default partitioner, whatever the client). */
  partition: number;
}

export interface ProducerClient {
  connect(): Promise<void>;
  /**
   * Does before the clock starts what the first send would otherwise do: the topic's metadata,
   * the idempotent producer's id, a connection to every partition's leader (platformatic; a
   * no-op for kafkajs, whose producer exposes none of it).
   */
  warm(topic: string, partitions: readonly number[]): Promise<void>;
  /** Resolves when Kafka acknowledged every message (one topic, at least one); rejects otherwise. */
  send(messages: ProduceMessage[]): Promise<void>;
  /**
   * The lean client only: sends one partition's records as the generator wrote them
   * (record_batch.ts), with the same guarantees as `send`.
   */
  readonly sendBatch?: (batch: PartitionBatch) => Promise<void>;
  /** The topic's partition count, fresh from the cluster's metadata (partitions added mid-run). */
  partitionCount(topic: string): Promise<number>;
  /**
   * How long after `partitionCount` saw a partition the producer's own metadata surely has it
   * (and may send to it).
   */
  readonly metadataSettleMs: number;
  /** Gives the producer up; sends still in flight may settle later or never. */
  close(): Promise<void>;
}

/** kafkajs's producer's metadata max age here (its default, 5 min, would hide new partitions). */
const KAFKAJS_METADATA_MAX_AGE_MS = 5000;

export interface ProducerClientOptions {
  brokers: string[];
  /** The kafkajs client (its producers share its connections' settings and logger); kafkajs only. */
  kafka?: Kafka;
  clientId: string;
  acks: -1 | 0 | 1;
  idempotent: boolean;
  deliveryTimeoutMs: number;
}

/** Retries of one produce request: about one per second of the delivery timeout. */
function retriesFor(deliveryTimeoutMs: number): number {
  return Math.max(2, Math.ceil(deliveryTimeoutMs / 1000));
}

class KafkajsClient implements ProducerClient {
  readonly #producer: KafkajsProducer;
  readonly #acks: number;
  readonly #kafka: Kafka;
  #admin: Promise<Admin> | undefined;
  /** Its producer refreshes its metadata at its next send after its max age. */
  readonly metadataSettleMs = KAFKAJS_METADATA_MAX_AGE_MS + 1000;

  constructor(o: ProducerClientOptions) {
    this.#acks = o.acks;
    if (!o.kafka) throw new TypeError("the kafkajs producer needs a kafkajs client (kafka)");
    this.#kafka = o.kafka;
    this.#producer = o.kafka.producer({
      metadataMaxAge: KAFKAJS_METADATA_MAX_AGE_MS,
      idempotent: o.idempotent,
      maxInFlightRequests: o.idempotent ? 1 : 5,
      allowAutoTopicCreation: false,
      retry: {
        initialRetryTime: 100,
        maxRetryTime: 1000,
        retries: retriesFor(o.deliveryTimeoutMs),
      },
    });
  }

  connect(): Promise<void> {
    return this.#producer.connect();
  }

  warm(): Promise<void> {
    return Promise.resolve();
  }

  /**
   * kafkajs may resolve a send without an answer for a partition whose leader just died
   * (tulios/kafkajs#1303; seen here when a broker lost power): those records were not
   * acknowledged, so the send fails (the generator records the group as unknown) rather
   * than counting them as acknowledged.
   */
  async send(messages: ProduceMessage[]): Promise<void> {
    const answers = await this.#producer.send({
      topic: messages[0].topic,
      acks: this.#acks,
      messages,
    });
    if (this.#acks === 0) return;
    const answered = new Set(answers.map((a) => a.partition));
    const missing = [...new Set(messages.map((m) => m.partition))].filter((p) => !answered.has(p));
    if (missing.length > 0) {
      throw new UnansweredSend(
        `kafkajs resolved the send with no answer for partition(s) ${missing}`,
      );
    }
  }

  async partitionCount(topic: string): Promise<number> {
    if (!this.#admin) {
      const admin = this.#kafka.admin();
      this.#admin = admin.connect().then(() => admin);
      this.#admin.catch(() => (this.#admin = undefined));
    }
    const { topics } = await (await this.#admin).fetchTopicMetadata({ topics: [topic] });
    return topics.find((t) => t.name === topic)?.partitions.length ?? 0;
  }

  async close(): Promise<void> {
    const admin = this.#admin;
    this.#admin = undefined;
    await admin?.then((a) => a.disconnect()).catch(() => {});
    await this.#producer.disconnect();
  }
}

type PlatformaticOptions = ProducerOptions<Buffer | string, Buffer | string, string, string>;

class PlatformaticClient implements ProducerClient {
  readonly #producer: PlatformaticProducer<Buffer | string, Buffer | string, string, string>;
  readonly #idempotent: boolean;
  /** `partitionCount` refreshed the producer's own metadata. */
  readonly metadataSettleMs = 0;
  readonly #brokers: string[];
  readonly #clientId: string;
  #admin: PlatformaticAdmin | undefined;
  readonly sendBatch?: (batch: PartitionBatch) => Promise<void>;

  /** `lean`: the generator's own record encoder writes the Produce requests. */
  constructor(o: ProducerClientOptions, lean = false) {
    this.#idempotent = o.idempotent;
    this.#brokers = o.brokers;
    this.#clientId = o.clientId;
    const make = lean ? leanProducer : (x: PlatformaticOptions) => new PlatformaticProducer(x);
    // A connection may emit 'error' after its listeners are used up (quiet_connections.ts).
    this.#producer = quietConnectionErrors(make({
      clientId: o.clientId,
      bootstrapBrokers: o.brokers,
      idempotent: o.idempotent,
      acks: o.acks,
      // Bounded, like kafkajs's: an idempotent producer would otherwise retry forever.
      retries: retriesFor(o.deliveryTimeoutMs),
      retryDelay: 250,
      serializers: { ...stringSerializers, key: cachedKeySerializer(), value: valueSerializer },
      ...platformaticSecurity(securityFor(o.brokers)),
    }));
    if (lean) this.sendBatch = (batch) => sendBatch(this.#producer, batch);
  }

  async connect(): Promise<void> {
    // The client connects lazily; asking for the cluster's metadata proves a broker answers.
    await this.#producer.metadata({ topics: [] });
  }

  async warm(topic: string, partitions: readonly number[]): Promise<void> {
    await this.#producer.metadata({ topics: [topic] });
    if (this.#idempotent) await this.#producer.initIdempotentProducer({});
    await this.#producer.getSendConnections({
      messages: partitions.map((partition) => ({ topic, partition, key: "", value: "" })),
    });
  }

  /**
   * Asked through a client of its own, so that a refresh never touches the producer's metadata
   * (while a broker is down, say); only a grown count refreshes the producer's, once.
   */
  async partitionCount(topic: string): Promise<number> {
    this.#admin ??= quietConnectionErrors(
      new PlatformaticAdmin({
        clientId: `${this.#clientId}-partitions`,
        bootstrapBrokers: this.#brokers,
        retries: 1,
        ...platformaticSecurity(securityFor(this.#brokers)),
      }),
    );
    const fresh = await this.#admin.metadata({ topics: [topic], forceUpdate: true });
    const count = fresh.topics.get(topic)?.partitionsCount ?? 0;
    const known = (await this.#producer.metadata({ topics: [topic] })).topics.get(topic);
    if (known && count > known.partitionsCount) {
      await this.#producer.metadata({ topics: [topic], forceUpdate: true });
    }
    return count;
  }

  async send(messages: ProduceMessage[]): Promise<void> {
    // The messages already have the shape the client reads: no copy per message.
    await this.#producer.send({ messages });
  }

  async close(): Promise<void> {
    const admin = this.#admin;
    this.#admin = undefined;
    await admin?.close().catch(() => {});
    await this.#producer.close(true);
  }
}

/** Values arrive as bytes already (the generator encodes a batch at once); text is encoded here. */
function valueSerializer(value?: Buffer | string): Buffer | undefined {
  return typeof value === "string" ? Buffer.from(value, "utf-8") : value;
}

/**
 * Keys as bytes (the generator's are already), each text encoded once: keys are source addresses
 * (a few thousand), and a Buffer per message was one more allocation per event on the hot path.
 */
function cachedKeySerializer(): (key?: Buffer | string) => Buffer | undefined {
  const cache = new Map<string, Buffer>();
  return (key) => {
    if (typeof key !== "string") return key;
    let bytes = cache.get(key);
    if (!bytes) {
      if (cache.size >= 100_000) cache.clear();
      cache.set(key, bytes = Buffer.from(key, "utf-8"));
    }
    return bytes;
  };
}

export function producerClient(
  kind: KafkaClientKind,
  options: ProducerClientOptions,
): ProducerClient {
  return kind === "kafkajs"
    ? new KafkajsClient(options)
    : new PlatformaticClient(options, kind === "lean");
}

/** A send kafkajs resolved without Kafka's answer for some of its partitions. */
export class UnansweredSend extends Error {
  override name = "UnansweredSend";
}
