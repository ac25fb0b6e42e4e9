/**
 * Renders the `server.properties` of one broker of a local KRaft cluster: every
 * node is broker and controller at once, with a static quorum whose voters are
 * reached through Toxiproxy.
 *
 * ```ts
 * import { brokerProperties } from "./kafka_config.ts";
 * import { portPlan } from "./ports.ts";
 * const text = brokerProperties(portPlan(29000, 3), 1, { logDir: "/tmp/k1" });
 * ```
 * @module
 */

import type { PortPlan } from "./ports.ts";

/** Cluster-wide settings a scenario may change (unsafe set-ups included, on purpose). */
export interface KafkaSettings {
  /** Default 3 (capped at the broker count). */
  defaultReplicationFactor?: number;
  /** Default 2 (capped at the replication factor). */
  minInsyncReplicas?: number;
  /** Default false. */
  uncleanLeaderElection?: boolean;
  /** Default 6. */
  numPartitions?: number;
  /** `log.flush.interval.messages`: fsync every this many messages. Default: Kafka's (never). */
  flushMessages?: number;
  /** Extra `key=value` broker settings, applied last. */
  overrides?: Record<string, string | number | boolean>;
}

export interface BrokerConfigOptions extends KafkaSettings {
  logDir: string;
  /** Where everything listens and is advertised (the local stack). Default 127.0.0.1. */
  host?: string;
  /** The docker stack: brokers listen on all interfaces of their container... */
  listenHost?: string;
  /** ...clients reach the client proxies at this address... */
  clientHost?: string;
  /** ...and brokers reach each other's proxies (replication, quorum) at this one. */
  peerHost?: string;
  /** Advertise the real ports, bypassing Toxiproxy (benchmarks). Default false. */
  direct?: boolean;
  /**
   * Kafka's security (the local stack): the CLIENT listener takes SCRAM-SHA-512 only, and the
   * StandardAuthorizer refuses whatever no ACL allows, except to the super users: this user and
   * ANONYMOUS (the INTERNAL and CONTROLLER listeners, which stay PLAINTEXT: no pipeline reaches
   * them: chaos/components.ts `sandboxEndpoints`). Default: none (PLAINTEXT, no authorizer).
   */
  scram?: { superUser: string };
}

/** The broker settings of `BrokerConfigOptions.scram`. */
export function securityConfig(superUser: string): [string, string][] {
  if (!/^[A-Za-z0-9_.-]+$/.test(superUser)) {
    throw new RangeError(`super user "${superUser}" is not a plain name`);
  }
  return [
    [
      "listener.security.protocol.map",
      "CLIENT:SASL_PLAINTEXT,INTERNAL:PLAINTEXT,CONTROLLER:PLAINTEXT",
    ],
    ["sasl.enabled.mechanisms", "SCRAM-SHA-512"],
    [
      "listener.name.client.scram-sha-512.sasl.jaas.config",
      "org.apache.kafka.common.security.scram.ScramLoginModule required;",
    ],
    ["authorizer.class.name", "org.apache.kafka.metadata.authorizer.StandardAuthorizer"],
    ["super.users", `User:ANONYMOUS;User:${superUser}`],
    ["allow.everyone.if.no.acl.found", "false"],
  ];
}

/** The properties of broker `id` as an ordered map (rendered by `renderProperties`). */
export function brokerConfig(
  plan: PortPlan,
  id: number,
  options: BrokerConfigOptions,
): Map<string, string> {
  const broker = plan.brokers.find((b) => b.id === id);
  if (!broker) throw new RangeError(`broker ${id} is not in the plan (1..${plan.brokers.length})`);
  const host = options.host ?? "127.0.0.1";
  const listen = options.listenHost ?? host;
  const client = options.clientHost ?? host;
  const peer = options.peerHost ?? host;
  const n = plan.brokers.length;
  const rf = Math.min(options.defaultReplicationFactor ?? 3, n);
  const minIsr = Math.min(options.minInsyncReplicas ?? 2, rf);
  const internalRf = Math.min(3, n);
  const via = (p: { real: number; proxy: number }) => options.direct ? p.real : p.proxy;
  const config = new Map<string, string>([
    ["process.roles", "broker,controller"],
    ["node.id", String(id)],
    // Through this broker's own proxies to each controller (see ports.ts), so that a
    // partition can cut its heartbeats too, not only what reaches it.
    [
      "controller.quorum.voters",
      plan.brokers.map((b) =>
        `${b.id}@${peer}:${options.direct ? b.controller.real : broker.quorum[b.id]}`
      ).join(","),
    ],
    [
      "listeners",
      `CLIENT://${listen}:${broker.client.real},INTERNAL://${listen}:${broker.internal.real},` +
      `CONTROLLER://${listen}:${broker.controller.real}`,
    ],
    [
      "advertised.listeners",
      `CLIENT://${client}:${via(broker.client)},INTERNAL://${peer}:${via(broker.internal)},` +
      `CONTROLLER://${peer}:${via(broker.controller)}`,
    ],
    ["listener.security.protocol.map", "CLIENT:PLAINTEXT,INTERNAL:PLAINTEXT,CONTROLLER:PLAINTEXT"],
    ["inter.broker.listener.name", "INTERNAL"],
    ["controller.listener.names", "CONTROLLER"],
    ["log.dirs", options.logDir],
    ["num.partitions", String(options.numPartitions ?? 6)],
    ["default.replication.factor", String(rf)],
    ["min.insync.replicas", String(minIsr)],
    ["unclean.leader.election.enable", String(options.uncleanLeaderElection ?? false)],
    ["auto.create.topics.enable", "false"],
    ["offsets.topic.replication.factor", String(internalRf)],
    ["offsets.topic.num.partitions", "12"],
    ["transaction.state.log.replication.factor", String(internalRf)],
    ["transaction.state.log.min.isr", String(Math.min(2, internalRf))],
    ["transaction.state.log.num.partitions", "6"],
    ["share.coordinator.state.topic.replication.factor", String(internalRf)],
    ["share.coordinator.state.topic.min.isr", String(Math.min(2, internalRf))],
    ["group.initial.rebalance.delay.ms", "0"],
    ["num.network.threads", "3"],
    ["num.io.threads", "4"],
    ["num.replica.fetchers", "1"],
    // Followers fetch as Kafka's defaults have them (any byte, at once). Fetches of at least
    // 256 KiB or 50 ms cost the brokers a third less CPU at 20,000 events/s (bench:pipeline
    // --broker, 2026-12-06), but a producer that waits for each acks=all answer then waits 50 ms
    // more per send at low rates (54 ms instead of 4): a pipeline that writes its DLQ one record
    // at a time would be ten times slower on the harness's Kafka than on its own.
    // The largest request a broker reads (Kafka's default 100 MiB): the harness's are under 1 MiB
    // (the generator's produce calls, MAX_GROUP_BYTES; ProducerPerformance's max.request.size), so
    // a pipeline's client has no use for more. Defence in depth: a request's buffer is sized from
    // its announced length, though a real test of 12 logged-in connections announcing 100 MiB
    // each and sending nothing more left a broker at 311 MB (session 25's red team).
    ["socket.request.max.bytes", String(2 * 1024 * 1024)],
    ["log.retention.hours", "24"],
    ["log.segment.bytes", String(256 * 1024 * 1024)],
  ]);
  if (options.scram) {
    for (const [key, value] of securityConfig(options.scram.superUser)) config.set(key, value);
  }
  if (options.flushMessages !== undefined) {
    config.set("log.flush.interval.messages", String(options.flushMessages));
  }
  for (const [key, value] of Object.entries(options.overrides ?? {})) {
    config.set(key, String(value));
  }
  return config;
}

/** Renders properties as `key=value` lines. */
function renderProperties(config: Map<string, string>): string {
  return [...config].map(([k, v]) => `${k}=${v}`).join("\n") + "\n";
}

/** Shortcut: `renderProperties(brokerConfig(...))`. */
export function brokerProperties(
  plan: PortPlan,
  id: number,
  options: BrokerConfigOptions,
): string {
  return renderProperties(brokerConfig(plan, id, options));
}

/**
 * Extra JVM options for every broker, from `CHAOS_KAFKA_JVM_OPTS` (space-separated), for
 * experiments with the brokers' cost (JIT, GC) without editing the harness.
 */
export function extraJvmOptions(value = Deno.env.get("CHAOS_KAFKA_JVM_OPTS")): string[] {
  return (value ?? "").split(/\s+/).filter(Boolean);
}

/** The broker's JVM command line (heap, GC, quiet logging), up to and including `kafka.Kafka`. */
export function kafkaJvmArgs(
  heapMb: number,
  classpath: string,
  properties: string,
  extra: readonly string[] = extraJvmOptions(),
): string[] {
  return [
    `-Xmx${heapMb}m`,
    `-Xms${Math.min(heapMb, 256)}m`,
    "-XX:+UseG1GC",
    "-XX:MaxGCPauseMillis=20",
    // The client compiler only: a run's brokers are young (minutes), and the server compiler's
    // work in their first minute cost more than its faster code saved (two 60 s runs at 20,000
    // events/s: the brokers' CPU per million events 48-53 against 88-100). A soak of hours may
    // want it back: CHAOS_KAFKA_JVM_OPTS="-XX:TieredStopAtLevel=4" (the last one counts).
    "-XX:TieredStopAtLevel=1",
    // A broker whose heap runs out dies at once, visibly, instead of serving on with some of its
    // threads gone (a request handler, the replica fetcher, the KRaft thread).
    "-XX:+ExitOnOutOfMemoryError",
    "-Djava.awt.headless=true",
    "-Dorg.slf4j.simpleLogger.showDateTime=true",
    "-Dorg.slf4j.simpleLogger.dateTimeFormat=yyyy-MM-dd'T'HH:mm:ss.SSS",
    "-Dorg.slf4j.simpleLogger.log.kafka.request.logger=warn",
    "-Dorg.slf4j.simpleLogger.log.org.apache.kafka.common.config.AbstractConfig=warn",
    "-Dlog4j2.statusLoggerLevel=OFF",
    ...extra,
    "-cp",
    classpath,
    "kafka.Kafka",
    properties,
  ];
}
