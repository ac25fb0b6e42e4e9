/**
 * The one place that makes kafkajs clients, so every part of the harness gets
 * the same logging, timeouts and retry policy.
 *
 * `KAFKA_LOG_LEVEL` (nothing|error|warn|info|debug, default error) sets
 * kafkajs's log level; its logs are written to stderr as one JSON line each.
 *
 * ```ts
 * import { kafkaClient } from "./kafka.ts";
 * const kafka = kafkaClient(["127.0.0.1:29111"], "generator");
 * const producer = kafka.producer({ idempotent: true, maxInFlightRequests: 1 });
 * ```
 * @module
 */

import { kafkajsSecurity, securityFor } from "./kafka_security.ts";
import process from "node:process";
import {
  type Admin,
  Kafka,
  type KafkaConfig,
  type logCreator,
  logLevel,
  type PartitionMetadata,
} from "kafkajs";
import { waitFor } from "../lib/wait.ts";

// kafkajs computes a negative timeout in one code path, which Node-compatible
// runtimes report as a TimeoutNegativeWarning on every client. It is harmless
// (the timer fires at once, as kafkajs expects), so that one warning is dropped.
const emitWarning = process.emitWarning.bind(process);
process.emitWarning = ((warning: string | Error, ...rest: unknown[]) => {
  const name = typeof rest[0] === "string" ? rest[0] : (rest[0] as { type?: string })?.type;
  if (name === "TimeoutNegativeWarning") return;
  if (warning instanceof Error && warning.name === "TimeoutNegativeWarning") return;
  // deno-lint-ignore no-explicit-any
  (emitWarning as any)(warning, ...rest);
}) as typeof process.emitWarning;
Deno.env.get("KAFKAJS_NO_PARTITIONER_WARNING") ??
  Deno.env.set("KAFKAJS_NO_PARTITIONER_WARNING", "1");

const LEVELS: Record<string, logLevel> = {
  nothing: logLevel.NOTHING,
  error: logLevel.ERROR,
  warn: logLevel.WARN,
  info: logLevel.INFO,
  debug: logLevel.DEBUG,
};

/**
 * A kafkajs log creator that appends one JSON line per entry to `path`
 * (a run's own log file, so the terminal keeps its one status line).
 */
export function fileLogCreator(path: string): logCreator {
  return () => ({ namespace, level, label, log }) => {
    const { message, ...extra } = log;
    const line = JSON.stringify({
      time: new Date().toISOString(),
      level: label,
      namespace,
      message,
      ...extra,
      level_n: level,
    });
    try {
      Deno.writeTextFileSync(path, line + "\n", { append: true });
    } catch { /* the run folder went away: nothing to log to */ }
  };
}

/** A kafkajs client for `brokers` (host:port list). */
export function kafkaClient(
  brokers: string[],
  clientId: string,
  options: Partial<KafkaConfig> = {},
): Kafka {
  const level = LEVELS[(Deno.env.get("KAFKA_LOG_LEVEL") ?? "error").toLowerCase()] ??
    logLevel.ERROR;
  return new Kafka({
    clientId,
    brokers,
    logLevel: level,
    connectionTimeout: 3000,
    requestTimeout: 30000,
    retry: { initialRetryTime: 100, maxRetryTime: 2000, retries: 20 },
    // SASL and TLS when the environment asks for them (the contract's KAFKA_SASL_*, KAFKA_TLS*),
    // or the stack of these brokers gave this process its user (the local stack's harness).
    ...kafkajsSecurity(securityFor(brokers)),
    ...options,
  });
}

/**
 * Creates topics and waits until every partition has a leader. kafkajs's own
 * `waitForLeaders` retries only LEADER_NOT_AVAILABLE, and a broker that has not
 * yet seen a brand-new topic answers UNKNOWN_TOPIC_OR_PARTITION ("This server
 * does not host this topic-partition"): that ended a run in CI. Here the wait
 * polls the metadata until it is complete (60 s at most). Returns false when
 * the topics existed.
 */
export async function createTopicsAndWait(
  admin: Admin,
  options: Parameters<Admin["createTopics"]>[0],
): Promise<boolean> {
  const created = await admin.createTopics({ ...options, waitForLeaders: false });
  for (const { topic } of options.topics) await topicPartitions(admin, topic, 60_000);
  return created;
}

/**
 * The partitions of `topic` once every one has a leader. Retries while the
 * broker asked has not applied a new topic yet (KRaft brokers answer
 * UNKNOWN_TOPIC_OR_PARTITION for a while after another one created it).
 */
export async function topicPartitions(
  admin: Admin,
  topic: string,
  timeoutMs = 30_000,
): Promise<PartitionMetadata[]> {
  return await waitFor(async () => {
    const meta = await admin.fetchTopicMetadata({ topics: [topic] });
    const partitions = meta.topics[0]?.partitions ?? [];
    return partitions.length > 0 && partitions.every((p) => p.leader >= 0) && partitions;
  }, { what: `the partitions of ${topic}`, timeoutMs, intervalMs: 250 });
}

export async function ensureTopic(
  kafka: Kafka,
  topic: string,
  options: { partitions?: number; replicationFactor?: number; configs?: Record<string, string> } =
    {},
): Promise<boolean> {
  const admin = kafka.admin();
  await admin.connect();
  try {
    const existing = await admin.listTopics();
    if (existing.includes(topic)) return false;
    const cluster = await admin.describeCluster();
    return await createTopicsAndWait(admin, {
      topics: [{
        topic,
        numPartitions: options.partitions ?? 6,
        replicationFactor: options.replicationFactor ?? Math.min(3, cluster.brokers.length),
        configEntries: Object.entries(options.configs ?? {}).map(([name, value]) => ({
          name,
          value,
        })),
      }],
    });
  } finally {
    await admin.disconnect();
  }
}

/** Kafka error types after which a produce request is known not to have been appended. */
const NOT_APPENDED = new Set([
  "NOT_ENOUGH_REPLICAS",
  "MESSAGE_TOO_LARGE",
  "RECORD_LIST_TOO_LARGE",
  "INVALID_RECORD",
  "CORRUPT_MESSAGE",
  "INVALID_REQUIRED_ACKS",
  "TOPIC_AUTHORIZATION_FAILED",
  "CLUSTER_AUTHORIZATION_FAILED",
  "UNKNOWN_TOPIC_OR_PARTITION",
  "INVALID_TOPIC_EXCEPTION",
]);

/**
 * True when a failed send is known not to be in the log (Kafka refused it);
 * false when its fate is unknown (timeouts, lost connections, retries run out
 * on errors after which the batch may have been appended). Reads kafkajs's
 * errors (`type`, wrapped in `originalError`) and @platformatic/kafka's
 * (`apiId`, every attempt in `errors`): every attempt must be a refusal, so
 * one that ended without a Kafka error code (a timeout) makes the fate unknown.
 */
export function definitelyNotAppended(error: unknown): boolean {
  const seen = new Set<unknown>();
  const types: string[] = [];
  const walk = (e: unknown) => {
    if (!e || typeof e !== "object" || seen.has(e)) return;
    seen.add(e);
    const o = e as {
      type?: unknown;
      apiId?: unknown;
      cause?: unknown;
      originalError?: unknown;
      errors?: unknown;
    };
    const code = typeof o.type === "string" ? o.type : typeof o.apiId === "string" ? o.apiId : "";
    if (code) return void types.push(code);
    const inner = [o.cause, o.originalError, ...(Array.isArray(o.errors) ? o.errors : [])]
      .filter((x) => x && typeof x === "object");
    if (inner.length === 0) types.push("(no Kafka error code)");
    inner.forEach(walk);
  };
  walk(error);
  return types.length > 0 && types.every((t) => NOT_APPENDED.has(t));
}
