/**
 * The stack of one run: brought up with the scenario's Kafka settings on the
 * run's ports (local processes or docker containers), the telemetry topic
 * created, and a Kafka client of the harness's own (admin, audit, generator)
 * that logs to the run folder.
 * @module
 */

import { join } from "node:path";
import { DEFAULT_DISK_MB } from "../compose/disk.ts";
import { DockerStack } from "../compose/docker_stack.ts";
import { remoteEngineHost } from "../compose/docker_network.ts";
import { lazyStackProblem } from "../compose/lazy_disks.ts";
import { adoptKafkaSecurity, type ExternalEndpoints } from "../compose/external_endpoints.ts";
import { kafkaBrokerIds } from "../compose/probes.ts";
import { EnvironmentError, UsageError } from "../lib/exit_codes.ts";
import { ExternalStack } from "../compose/external_stack.ts";
import { type ExternalCluster, FAULTS, type FaultTable } from "./faults/mod.ts";
import { expandFaults } from "./planner.ts";
import { clockNodes } from "./faults/clock.ts";
import { needsKafkaProxy } from "./faults/kafka_error.ts";
import { ensureFaketime } from "../compose/host_tools.ts";
import { LocalStack } from "../compose/local_stack.ts";
import { createBucketUser, type S3Keys } from "../compose/minio_users.ts";
import { type Binaries, provision } from "../compose/provision.ts";
import type { Stack, StackKind } from "../compose/stack.ts";
import { grantAcls, revokeAcls, stackRunAcls } from "../compose/kafka_acl.ts";
import { createTopicsAndWait, fileLogCreator, kafkaClient } from "../pipeline/kafka.ts";
import type { History } from "../validate/history.ts";
import type { RunContext } from "./run_context.ts";
import type { RunNames } from "./run_names.ts";
import type { Scenario } from "./scenario.ts";
import { storeDiskMbFromEnv } from "../compose/store_disk.ts";
import { redisDiskMbFromEnv } from "../compose/redis_disk.ts";

export type Kafka = ReturnType<typeof kafkaClient>;
export type Admin = ReturnType<Kafka["admin"]>;

export interface RunStack {
  stack: Stack;
  kafka: Kafka;
  /** Connected; disconnect at the end. */
  admin: Admin;
}

export interface RunStackOptions {
  kind: StackKind;
  runId: string;
  seed: number;
  runDir: string;
  basePort: number;
  binaries: Binaries;
  history: History;
  signal?: AbortSignal;
  external?: ExternalOptions;
  /**
   * The pipeline under test runs in sandboxes (a graded submission): MinIO's data gets a bounded
   * disk of its own (compose/store_disk.ts), so that its PUTs cannot fill the grader's disk; so
   * does Redis's append-only file (compose/redis_disk.ts).
   */
  boxed?: boolean;
}

/** `--stack external`: the cluster's endpoints file, and whether to keep the run's topic. */
export interface ExternalOptions {
  endpoints: ExternalEndpoints;
  keepTopic?: boolean;
}

/**
 * What `externalProblems` needs of an external cluster, read from it with the file's SASL and TLS
 * (adopted by this process from now on): its broker ids, its nodes, whether it has a Toxiproxy.
 * No broker answering is an EnvironmentError (exit 3).
 */
export async function externalCluster(e: ExternalEndpoints): Promise<ExternalCluster> {
  adoptKafkaSecurity(e);
  const brokers = await kafkaBrokerIds(e.kafka.bootstrap.split(","), 15_000).catch(() => []);
  if (!brokers.length) {
    throw new EnvironmentError(`no Kafka broker answers at ${e.kafka.bootstrap} (--endpoints)`);
  }
  return { brokers, nodes: e.nodes, toxiproxy: e.toxiproxy !== undefined };
}

/** The fault kinds that act below the file system: their targets' data on lazy disks. */
export const LAZY_DISK_FAULTS: readonly string[] = ["power_loss", "io_latency", "io_error"];

/** Whether a run of `scenario` puts its data on lazy disks (a fault that needs them, or asked). */
export function needsLazyDisks(
  scenario: Pick<Scenario, "faults" | "chaos"> & { stack: { lazy_disks?: boolean } },
): boolean {
  const kinds = [...scenario.faults.map((f) => f.kind), ...(scenario.chaos?.actions ?? [])];
  return scenario.stack.lazy_disks === true || kinds.some((k) => LAZY_DISK_FAULTS.includes(k));
}

/** The stack's nodes a clock fault of the run may hit, started under libfaketime (or none). */
async function faketimeNodes(
  scenario: Scenario,
  seed: number,
): Promise<{ lib: string; nodes: string[] } | undefined> {
  const ids = Array.from({ length: scenario.stack.brokers }, (_, i) => i + 1);
  const nodes = clockNodes(expandFaults(scenario, seed), ids).filter((n) => n.startsWith("kafka-"));
  return nodes.length ? { lib: await ensureFaketime(), nodes } : undefined;
}

/** Brings the run's stack up (the caller takes it down, whatever happens next). */
async function upRunStack(scenario: Scenario, o: RunStackOptions): Promise<Stack> {
  const s = scenario.stack;
  const options = {
    name: o.runId,
    basePort: o.basePort,
    brokers: s.brokers,
    dataDir: join(o.runDir, "stack"),
    signal: o.signal,
    // A full disk needs a disk of its own size: bounded disks only for the scenarios that fill one.
    diskMb: scenario.faults.some((f) => f.kind === "disk_full") ? DEFAULT_DISK_MB : undefined,
    lazyDisks: needsLazyDisks(scenario),
    // Only a boxed (graded) pipeline is held to a store disk; the default size is the env's.
    storeDiskMb: o.boxed ? storeDiskMbFromEnv() : 0,
    // And to a Redis disk (its append-only file), noted for the grade when it has none.
    redisDiskMb: o.boxed ? redisDiskMbFromEnv() : undefined,
    kafka: {
      defaultReplicationFactor: s.replication_factor,
      minInsyncReplicas: s.min_insync_replicas,
      uncleanLeaderElection: s.unclean_leader_election,
      numPartitions: s.partitions,
      flushMessages: s.flush_messages,
      overrides: s.broker_overrides,
    },
  };
  const lazyProblem = options.lazyDisks
    ? lazyStackProblem({ kind: o.kind, diskMb: options.diskMb, remoteEngine: remoteEngineHost() })
    : undefined;
  if (lazyProblem) {
    throw new UsageError(
      `lazy disks (stack.lazy_disks, power_loss, io_latency, io_error) on --stack ${o.kind}: ` +
        lazyProblem,
    );
  }
  const op = o.history.invoke("stack-up", { kind: o.kind, brokers: s.brokers });
  let stack: Stack;
  if (o.kind === "external") {
    if (!o.external) throw new Error("--stack external needs --endpoints <file>");
    const external = await ExternalStack.open(o.external.endpoints, {
      ...options,
      keepTopics: o.external.keepTopic,
    });
    stack = external;
    // The helper image on the nodes' engines before the run, not when a fault fires.
    const faults = expandFaults(scenario, o.seed);
    const table: FaultTable = FAULTS;
    if (faults.some((f) => table[f.kind].external === "netns")) await external.prepareNetns();
  } else {
    // The brokers a clock fault may hit start under libfaketime (the docker stack refuses it).
    const faketime = o.kind === "local" ? await faketimeNodes(scenario, o.seed) : undefined;
    // The kafka proxy in the clients' path only for kafka_error (else CHAOS_KAFKA_PROXY).
    const kafkaProxy = needsKafkaProxy(scenario) || undefined;
    stack = o.kind === "docker"
      ? await DockerStack.up({ ...options, kafkaProxy })
      : await LocalStack.up({
        ...options,
        binaries: o.binaries,
        owner: "process",
        faketime,
        kafkaProxy,
      });
  }
  o.history.complete(op, "ok", {
    // No secret in the run folder: S3 keys left out, a Redis password masked.
    endpoints: {
      ...stack.endpoints,
      kafka: { bootstrap: stack.endpoints.kafka.bootstrap },
      s3: { endpoint: stack.endpoints.s3.endpoint },
      redis: { url: stack.endpoints.redis.url.replace(/\/\/:[^@]*@/, "//:***@") },
    },
  });
  return stack;
}

/**
 * The harness's Kafka client and admin on `stack`, with the run's topic created. On an external
 * cluster the topic and the groups are the run's own, deleted again when the stack goes down.
 */
async function openKafka(
  stack: Stack,
  scenario: Scenario,
  o: { runId: string; runDir: string; names: RunNames },
): Promise<RunStack> {
  const s = scenario.stack;
  const kafka = kafkaClient(stack.endpoints.kafka.bootstrap.split(","), `engine-${o.runId}`, {
    logCreator: fileLogCreator(join(o.runDir, "logs", "harness-kafka.log")),
  });
  const admin = kafka.admin();
  await admin.connect();
  const { topic, sinkGroup, detectorGroup } = o.names;
  if (stack instanceof ExternalStack) {
    // Never someone else's: a name of the run's own, checked free before it is taken.
    if ((await admin.listTopics()).includes(topic)) {
      throw new Error(`topic ${topic} already exists on the cluster: a run needs its own`);
    }
    stack.own([topic], [sinkGroup, detectorGroup]);
  }
  await createTopicsAndWait(admin, {
    topics: [{
      topic,
      numPartitions: s.partitions,
      replicationFactor: s.replication_factor,
      configEntries: [
        { name: "min.insync.replicas", value: String(s.min_insync_replicas) },
        { name: "unclean.leader.election.enable", value: String(s.unclean_leader_election) },
      ],
    }],
  });
  return { stack, kafka, admin };
}

/**
 * The run's Kafka ACLs on a stack with SCRAM users (compose/kafka_acl.ts): the pipeline may read
 * the run's topic in its own groups, the generator write it, nothing else; revoked at teardown.
 */
async function grantRunAcls(run: RunContext, stack: Stack, admin: Admin): Promise<void> {
  const grants = stackRunAcls(stack.kafkaUsers, run.names);
  if (!grants) return;
  const op = run.history.invoke("kafka-acls", { acls: grants.length, ...run.names });
  try {
    await grantAcls(admin, grants);
    run.history.complete(op, "ok", { acls: grants.length });
  } catch (error) {
    run.history.complete(op, "fail", { error: String(error) });
    throw new EnvironmentError(`cannot grant the run's Kafka ACLs: ${(error as Error).message}`, {
      cause: error,
    });
  }
  run.parts.kafkaAcls = {
    revoke: async () => {
      const op = run.history.invoke("kafka-acls-revoke", { acls: grants.length });
      const client = kafkaClient(stack.endpoints.kafka.bootstrap.split(","), `acls-${run.runId}`, {
        logCreator: fileLogCreator(join(run.runDir, "logs", "harness-kafka.log")),
        retry: { retries: 2 },
      }).admin();
      // Bounded: a teardown never waits long on brokers a fault left down (the local stack, with
      // its users, goes right after anyway; a kept one says here what it kept).
      let timer: ReturnType<typeof setTimeout> | undefined;
      try {
        const deleted = await Promise.race([
          client.connect().then(() => revokeAcls(client, grants)),
          new Promise<never>((_, reject) => {
            timer = setTimeout(() => reject(new Error("no answer within 10 s")), 10_000);
          }),
        ]);
        run.history.complete(op, "ok", { deleted });
      } catch (error) {
        run.history.complete(op, "fail", { error: String(error) });
      } finally {
        clearTimeout(timer);
        await client.disconnect().catch(() => {});
      }
    },
  };
}

/** The stack phase: binaries provisioned, the stack up, the harness's Kafka client on it. */
export async function stackPhase(
  run: RunContext,
  basePort: number,
  external?: ExternalOptions,
  boxed = false,
): Promise<RunStack & { binaries: Binaries }> {
  const binaries = await provision();
  const stack = run.parts.stack = await upRunStack(run.scenario, {
    kind: run.kind,
    runId: run.runId,
    seed: run.seed,
    runDir: run.runDir,
    basePort,
    binaries,
    history: run.history,
    signal: run.signal,
    external,
    boxed,
  });
  if (stack.kind !== "external") run.parts.pipelineS3 = await pipelineUser(stack, run);
  const opened = await openKafka(stack, run.scenario, run);
  await grantRunAcls(run, stack, opened.admin);
  return { ...opened, binaries };
}

/**
 * The pipeline's MinIO user on a stack of the harness's own: limited to the run's bucket, so the
 * pipeline under test never holds the root keys. A user that cannot be made is an environment
 * failure (exit 3), never a fall back to the root keys.
 */
async function pipelineUser(stack: Stack, run: RunContext): Promise<S3Keys> {
  const { bucket } = stack.endpoints.s3;
  const op = run.history.invoke("pipeline-s3-user", { bucket });
  try {
    const keys = await createBucketUser(stack.endpoints.s3, { signal: run.signal });
    run.history.complete(op, "ok", { bucket, accessKey: keys.accessKey });
    return keys;
  } catch (error) {
    run.history.complete(op, "fail", { error: String(error) });
    if (run.signal?.aborted) throw error;
    throw new EnvironmentError(
      `cannot make the pipeline's MinIO user for bucket ${bucket}: ${(error as Error).message}`,
      { cause: error },
    );
  }
}
