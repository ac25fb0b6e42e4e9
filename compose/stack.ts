/**
 * What the scenario engine and the faults need of a stack, whichever runs it:
 * the local stack (supervised processes on 127.0.0.1, `local_stack.ts`) or the
 * docker stack (containers through the Docker API, `docker_stack.ts`). Both
 * expose the same endpoints on 127.0.0.1 and the same Toxiproxy proxies, so a
 * scenario runs unchanged on either; faults that only one can do (iptables, tc)
 * check `kind`.
 * @module
 */

import type { Endpoints } from "../pipeline/endpoints.ts";
import type { KafkaSettings } from "./kafka_config.ts";
import type { PortPlan } from "./ports.ts";
import type { CpuLimitHandle } from "./cgroup.ts";
import type { ProcessState } from "./process_node.ts";
import type { Toxiproxy } from "./toxiproxy.ts";
import type { S3ProxyEndpoints } from "./s3_proxy.ts";
import type { KafkaUsers } from "./kafka_scram.ts";

/**
 * Where a run's stack comes from: started by the harness (local processes, docker containers),
 * or a cluster someone else runs, named by an endpoints file (external_stack.ts).
 */
export type StackKind = "local" | "docker" | "external";
export const STACK_KINDS = ["local", "docker", "external"] as const;

/**
 * Redis's durability on both stacks: alert locks and the outbox must survive a
 * Redis crash (the redis-outage scenario SIGKILLs it): an append-only file,
 * fsync on every write, no snapshots.
 */
export const REDIS_DURABILITY = ["--save", "", "--appendonly", "yes", "--appendfsync", "always"];

/**
 * What one client may make Redis take in at once: a value of 16 MB at most
 * (`proto-max-bulk-len`; the harness's and the built-in detector's values are
 * bytes), and 64 MB of commands read but not yet run (`client-query-buffer-limit`).
 * With `appendfsync always` Redis writes and fsyncs what it was sent in its main
 * thread, so a 300 MB `SET` stalled every client for seconds. And 64 MB of replies
 * a client has not read (`client-output-buffer-limit`).
 */
export const REDIS_BOUNDS = [
  "--proto-max-bulk-len",
  "16mb",
  "--client-query-buffer-limit",
  "64mb",
  // And what it holds for a client that does not read its replies: Redis's default for normal
  // clients is no bound, so one connection sending `GET <15 MB value>` without reading grew Redis
  // by 15 MB a command, past maxmemory, up to the host's memory. Past 64 MB (or 16 MB for 10 s)
  // Redis closes that client ("closed for overcoming of output buffer limits").
  "--client-output-buffer-limit",
  "normal 64mb 16mb 10",
];

/**
 * Redis's memory on the local stack: a pipeline that fills it gets OOM errors (`noeviction`), the
 * harness's reads and PING still answer. Its disk is sized from it (compose/redis_disk.ts).
 */
export const REDIS_MAXMEMORY_MB = 1024;
export const REDIS_MEMORY = [
  "--maxmemory",
  `${REDIS_MAXMEMORY_MB}mb`,
  "--maxmemory-policy",
  "noeviction",
];

/** How to start a stack, whichever kind. */
export interface StackOptions {
  /** Stack name (state folder, container names, labels). Default "default". */
  name?: string;
  /** Base of the port plan. Default `$CHAOS_BASE_PORT` or 29000. */
  basePort?: number;
  /** Default 3. */
  brokers?: number;
  kafka?: KafkaSettings;
  /** Where data and logs go. */
  dataDir?: string;
  /** Bucket created in MinIO. Default "telemetry". */
  bucket?: string;
  /** Kafka heap per broker in MiB. Default 1024. */
  heapMb?: number;
  /**
   * Each broker's log dir and MinIO's data on a disk of its own of this many MiB (disk.ts), for
   * the `disk_full` fault. Default: none (the data dir's own filesystem).
   */
  diskMb?: number;
  /**
   * Each broker's log dir and MinIO's data on a lazy disk (lazy_disks.ts, through the lazyfs
   * layer), for `power_loss` and the IO faults. Local stack, or docker with a local engine; the
   * stack then lives only as long as the process that started it. Default false.
   */
  lazyDisks?: boolean;
  /** Time allowed to become healthy. Default 180000. */
  timeoutMs?: number;
  signal?: AbortSignal;
}

/** A node of a stack (a process or a container) or a pipeline component. */
export interface StackNode {
  readonly name: string;
  /** True when it runs on another host (an external stack's engine): `pid()` is not this /proc's. */
  readonly remote?: boolean;
  state(): ProcessState;
  /** The state read afresh (a container's from its engine; a process's is always current). */
  refresh(): Promise<ProcessState>;
  /** The host pid (a container's main process), when running. */
  pid(): number | undefined;
  start(): Promise<void>;
  kill(): Promise<void>;
  stop(options?: { graceMs?: number }): Promise<void>;
  restart(): Promise<void>;
  pause(): Promise<void>;
  resume(): Promise<void>;
  /**
   * Limits the node's CPU to `cores` (local: a cgroup quota on its process tree; docker: the
   * container's CPU limit) until `lift()`. `cores` is the limit as the kernel or engine reads
   * it back.
   */
  limitCpu(cores: number): Promise<CpuLimitHandle>;
  tail(lines?: number): Promise<string>;
}

export type NodeHealth = { state: ProcessState; ready: boolean };

export interface Stack {
  readonly kind: StackKind;
  readonly name: string;
  readonly plan: PortPlan;
  readonly endpoints: Endpoints;
  /** Where the run's data and logs go (`logs/`, `minio/` are kept by `down({retain})`). */
  readonly dataDir: string;
  readonly nodes: ReadonlyMap<string, StackNode>;
  readonly toxiproxy: Toxiproxy;
  /**
   * The S3 proxy the pipeline's components reach MinIO through (compose/s3_proxy.ts; the local
   * stack's, unless `CHAOS_S3_PROXY=off`); the harness itself uses `endpoints.s3`. None: the
   * pipeline uses `endpoints.s3` too.
   */
  readonly s3Proxy?: S3ProxyEndpoints;
  readonly kafkaSettings: KafkaSettings;
  /**
   * The stack's SCRAM users (compose/kafka_scram.ts: the local stack's); none: PLAINTEXT or the
   * cluster's own security.
   */
  readonly kafkaUsers?: KafkaUsers;
  /**
   * Redis for the pipeline under test: a user of its own without admin or dangerous commands
   * (compose/redis_acl.ts: the local stack's); none: `endpoints.redis.url`, the harness's.
   */
  readonly redisPipelineUrl?: string;
  broker(id: number): StackNode;
  brokerIds(): number[];
  node(name: string): StackNode;
  brokerProxies(id: number): { client: string; internal: string; controller: string };
  quorumLinks(id: number, direction: "into" | "both"): string[];
  health(): Promise<Record<string, NodeHealth>>;
  /** True when the node's service answers. */
  nodeReady(name: string): Promise<boolean>;
  down(options?: { keep?: boolean; quiet?: boolean; retain?: string[] }): Promise<string[]>;
  detach(): Promise<void>;
}

/**
 * A stack whose nodes' network namespaces the harness can enter to run `tc` and `iptables` (from
 * a helper container that shares the namespace): the docker stack, and an external stack's nodes
 * that name their container.
 */
export interface NetnsHost {
  /** Whether the kernel has `sch_netem` (undefined: not known before it is tried). */
  readonly netem?: boolean;
  /** Runs `sh -c script` in node's network namespace, with NET_ADMIN; its exit code and output. */
  inNetns(node: string, script: string): Promise<{ code: number; out: string }>;
}

/** The stack as a `NetnsHost`, or undefined when it cannot enter its nodes' namespaces. */
export function netnsHostOf(stack: Stack): NetnsHost | undefined {
  return "inNetns" in stack ? stack as unknown as NetnsHost : undefined;
}

/**
 * What both stacks do the same way: nodes by name, brokers by id, and the
 * names of the Toxiproxy proxies (the topology is the same on both).
 */
export abstract class StackBase<N extends StackNode> {
  abstract readonly name: string;
  abstract readonly plan: PortPlan;
  abstract readonly nodes: ReadonlyMap<string, N>;
  /** The error for a node the stack does not have. */
  protected abstract unknownNode(message: string): Error;

  /** Node handle of broker `id` (1-based). */
  broker(id: number): N {
    return this.node(`kafka-${id}`);
  }

  /** Ids of the brokers, 1..n. */
  brokerIds(): number[] {
    return this.plan.brokers.map((b) => b.id);
  }

  node(name: string): N {
    const node = this.nodes.get(name);
    if (!node) {
      throw this.unknownNode(
        `Stack "${this.name}" has no node "${name}" (it has ${[...this.nodes.keys()].join(", ")})`,
      );
    }
    return node;
  }

  brokerProxies(id: number): { client: string; internal: string; controller: string } {
    return brokerProxyNames(id);
  }

  /** See `quorumLinksOf`. */
  quorumLinks(id: number, direction: "into" | "both"): string[] {
    return quorumLinksOf(this.brokerIds(), id, direction);
  }
}

/**
 * Starts `sh -c <script> <name> <args...>` in a session of its own, detached
 * from this process (it outlives it); returns its pid.
 */
export function spawnDetached(script: string, args: string[] = []): number {
  const child = new Deno.Command("setsid", {
    args: ["sh", "-c", script, ...args],
    stdin: "null",
    stdout: "null",
    stderr: "null",
  }).spawn();
  child.status.catch(() => {});
  child.unref();
  return child.pid;
}

/** The node name of broker `id`: `kafka-<id>`. */
export function brokerNode(id: number): string {
  return `kafka-${id}`;
}

/** The broker id of a node named `kafka-<id>`. */
export function brokerIdOf(node: string): number {
  return Number(node.replace("kafka-", ""));
}

/** The Toxiproxy proxy broker `from` reaches controller `to` through. */
export function quorumProxy(from: number, to: number): string {
  return `kafka-${from}-to-${to}-controller`;
}

/** Names of the Toxiproxy proxies in front of broker `id`'s listeners. */
function brokerProxyNames(
  id: number,
): { client: string; internal: string; controller: string } {
  return {
    client: `kafka-${id}-client`,
    internal: `kafka-${id}-internal`,
    controller: `kafka-${id}-controller`,
  };
}

/**
 * The quorum proxies between broker `id` and the others: the links into it, or
 * both ways. A broker's link to itself is never included.
 */
function quorumLinksOf(
  ids: number[],
  id: number,
  direction: "into" | "both",
): string[] {
  return ids.filter((other) => other !== id).flatMap((other) =>
    direction === "into"
      ? [quorumProxy(other, id)]
      : [quorumProxy(other, id), quorumProxy(id, other)]
  );
}

/**
 * The Toxiproxy configuration of a stack: every broker listener and every
 * quorum link behind a proxy, listening on `listenHost` and forwarding to
 * `upstreamHost(brokerId)`.
 */
export function toxiproxyConfig(
  plan: PortPlan,
  listenHost: string,
  upstreamHost: (id: number) => string,
): { name: string; listen: string; upstream: string; enabled: boolean }[] {
  return plan.brokers.flatMap((b) => [
    ...(["client", "internal", "controller"] as const).map((kind) => ({
      name: `kafka-${b.id}-${kind}`,
      listen: `${listenHost}:${b[kind].proxy}`,
      upstream: `${upstreamHost(b.id)}:${b[kind].real}`,
      enabled: true,
    })),
    ...plan.brokers.map((to) => ({
      name: quorumProxy(b.id, to.id),
      listen: `${listenHost}:${b.quorum[to.id]}`,
      upstream: `${upstreamHost(to.id)}:${to.controller.real}`,
      enabled: true,
    })),
  ]);
}

/**
 * A random KRaft cluster id (16 bytes, base64url). It never starts with "-":
 * StorageTool's argument parser would take `-t -Xyz…` for a flag (1 stack in
 * 64 failed to format before this).
 */
export function clusterId(): string {
  for (;;) {
    const bytes = crypto.getRandomValues(new Uint8Array(16));
    const id = btoa(String.fromCharCode(...bytes)).replaceAll("+", "-").replaceAll("/", "_")
      .replace(/=+$/, "");
    if (!id.startsWith("-")) return id;
  }
}
