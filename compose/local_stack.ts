/**
 * The local stack (the embedded default): three Kafka brokers in combined
 * broker+controller KRaft mode, MinIO, Redis and Toxiproxy, each a supervised
 * child process on 127.0.0.1 with its own data dir and log file.
 *
 * Every Kafka listener sits behind a Toxiproxy proxy (see `ports.ts`), so
 * latency, resets and partitions reach clients and replication alike.
 *
 * Ownership: a stack started with `owner: "process"` (tests, scenario runs)
 * has a watchdog that kills every node when the owning process dies, even by
 * SIGKILL. A stack started with `owner: "detached"` (`deno task up`) outlives
 * the command and is stopped with `deno task down`. Either way, the state file
 * `<stateDir>/stacks/<name>/stack.json` lets the next `up` or `down` find and
 * clean a stale stack.
 *
 * ```ts
 * import { LocalStack } from "./local_stack.ts";
 * const stack = await LocalStack.up({ name: "demo", basePort: 31000 });
 * console.log(stack.endpoints.kafka.bootstrap);
 * await stack.broker(2).kill();
 * await stack.broker(2).start();
 * await stack.down();
 * ```
 * @module
 */

import { join } from "node:path";
import * as Minio from "minio";
import { type Endpoints, minioClientOptions } from "../pipeline/endpoints.ts";
import type { KafkaSettings } from "./kafka_config.ts";
import { allPorts, DEFAULT_BASE_PORT, type PortPlan, portPlan } from "./ports.ts";
import { ProcessNode } from "./process_node.ts";
import { kafkaBrokerIds, minioReady, redisPing, toxiproxyUp } from "./probes.ts";
import { type Binaries, provision } from "./provision.ts";
import { makeRedisUsers, PIPELINE_REDIS_USER, redisUrl } from "./redis_acl.ts";
import { exists, stateDir } from "./paths.ts";
import { mountDisks, unmountUnder } from "./disk.ts";
import { LazyDisks, restoreBackings } from "./lazy_disks.ts";
import { lazyfsProblem } from "./lazyfs.ts";
import { Progress } from "../lib/progress.ts";
import {
  brokerIdOf,
  clusterId,
  type NodeHealth,
  type Stack,
  StackBase,
  type StackOptions,
} from "./stack.ts";
import { Toxiproxy } from "./toxiproxy.ts";
import {
  S3_PROXY_NODE,
  type S3ProxyEndpoints,
  s3ProxyEndpoints,
  s3ProxySpec,
  s3ProxyUp,
  s3ProxyWanted,
} from "./s3_proxy.ts";
import {
  advertiseThroughProxy,
  KAFKA_PROXY_NODE,
  kafkaProxyControlUrl,
  kafkaProxySpec,
  kafkaProxyUp,
  kafkaProxyWanted,
} from "./kafka_proxy_control.ts";
import {
  type Owner,
  readState,
  StackError,
  stackHolding,
  type StackState,
  stateFile,
  writeState,
} from "./local_state.ts";
import { type FaketimeNodes, nodeSpecs, startWatchdog, warnIfEphemeral } from "./local_services.ts";
import { GiveUp, portFree, tcpOpen, waitFor } from "../lib/wait.ts";
import { randomHex } from "../lib/ids.ts";
import {
  clientAddresses,
  type KafkaUsers,
  makeKafkaUsers,
  SCRAM_MECHANISM,
  scramFormatArgs,
  scramSecurity,
  writeJavaArgFile,
} from "./kafka_scram.ts";
import { forgetSecurityFor, useSecurityFor } from "../pipeline/kafka_security.ts";

export interface LocalStackOptions extends StackOptions {
  /** See the module doc. Default "process". */
  owner?: Owner;
  /** Binaries; default: `provision()`. */
  binaries?: Binaries;
  /**
   * Brokers advertise their own ports: clients, replication and the quorum bypass Toxiproxy
   * (which still runs). No network fault reaches Kafka then; for benchmarks, which should not
   * pay for a proxy. Default false.
   */
  direct?: boolean;
  /** These nodes start under libfaketime, for the `clock` fault (faketime.ts). Default: none. */
  faketime?: FaketimeNodes;
  /**
   * The pipeline's S3 traffic goes through the S3 proxy (node `s3proxy`, compose/s3_proxy.ts).
   * Default: true unless `CHAOS_S3_PROXY=off`.
   */
  s3Proxy?: boolean;
  /**
   * Clients reach the brokers through the kafka proxy (node `kafkaproxy`,
   * compose/kafka_proxy_control.ts), for the `kafka_error` fault. Default: off unless
   * `CHAOS_KAFKA_PROXY=on`.
   */
  kafkaProxy?: boolean;
  /**
   * Kafka's own security (compose/kafka_scram.ts): SCRAM users made at format time, the client
   * listener SASL_PLAINTEXT, the StandardAuthorizer, each run's ACLs (kafka_acl.ts). Default true;
   * false: PLAINTEXT and no authorizer (a stack that plays someone else's cluster, with security of
   * its own in `kafka.overrides`).
   */
  scram?: boolean;
  /**
   * MinIO's data on a bounded disk of its own of this many MiB (compose/store_disk.ts), for a
   * graded pipeline. Default 0: none.
   */
  storeDiskMb?: number;
  /**
   * Redis's folder on a bounded disk of its own of this many MiB (compose/redis_disk.ts), for a
   * graded pipeline; 0: none, noted for the grade. Default: none, nothing noted.
   */
  redisDiskMb?: number;
}

export class LocalStack extends StackBase<ProcessNode> implements Stack {
  readonly kind = "local" as const;
  readonly name: string;
  readonly plan: PortPlan;
  readonly endpoints: Endpoints;
  readonly dataDir: string;
  readonly nodes: ReadonlyMap<string, ProcessNode>;
  /** True when `up` found this stack already running and attached to it. */
  readonly reused: boolean;
  readonly toxiproxy: Toxiproxy;
  /** The brokers' and MinIO's lazy disks, when started with `lazyDisks` (this process's). */
  readonly lazyDisks: LazyDisks | undefined;
  #state: StackState;

  private constructor(state: StackState, reused: boolean, lazyDisks?: LazyDisks) {
    super();
    this.#state = state;
    this.lazyDisks = lazyDisks;
    this.name = state.name;
    this.plan = portPlan(state.basePort, state.brokers);
    this.endpoints = state.endpoints;
    this.dataDir = state.dataDir;
    this.reused = reused;
    this.nodes = new Map(state.nodes.map((spec) => [spec.name, new ProcessNode(spec)]));
    this.toxiproxy = new Toxiproxy(state.endpoints.toxiproxy.api);
    // Every Kafka client of this process that connects to the stack is its harness user.
    if (state.kafkaUsers) {
      useSecurityFor(clientAddresses(this.plan), scramSecurity(state.kafkaUsers.harness));
    }
  }

  /**
   * The stack's SCRAM users (kafka_scram.ts): the harness's, a super user, and the pipeline's,
   * whose rights are each run's ACLs (kafka_acl.ts). None: a stack started before they existed.
   */
  get kafkaUsers(): KafkaUsers | undefined {
    return this.#state.kafkaUsers;
  }

  /**
   * The URL the pipeline under test gets for Redis: its own user, without admin or dangerous
   * commands (redis_acl.ts). None: a stack started before Redis had users.
   */
  get redisPipelineUrl(): string | undefined {
    const users = this.#state.redisUsers;
    return users && redisUrl("127.0.0.1", this.plan.redis, PIPELINE_REDIS_USER, users.pipeline);
  }

  /** The pipeline's S3 proxy, when the stack runs one (see `LocalStackOptions.s3Proxy`). */
  get s3Proxy(): S3ProxyEndpoints | undefined {
    return this.nodes.has(S3_PROXY_NODE) ? s3ProxyEndpoints(this.plan) : undefined;
  }

  /** The Kafka settings the stack was started with. */
  get kafkaSettings(): KafkaSettings {
    return this.#state.kafka;
  }

  protected unknownNode(message: string): Error {
    return new StackError(message);
  }

  /** Process state and readiness of every node. */
  async health(): Promise<Record<string, NodeHealth>> {
    const out: Record<string, NodeHealth> = {};
    await Promise.all([...this.nodes.values()].map(async (node) => {
      out[node.name] = { state: node.state(), ready: await this.nodeReady(node.name) };
    }));
    return out;
  }

  /** True when the node's service answers on its own port. */
  async nodeReady(name: string): Promise<boolean> {
    const node = this.node(name);
    if (node.state() !== "running") return false;
    if (name === "redis") {
      return await redisPing(this.plan.redis, "127.0.0.1", 2000, this.#state.redisUsers?.harness);
    }
    if (name === "minio") return await minioReady(this.endpoints.s3.endpoint);
    if (name === "toxiproxy") return await toxiproxyUp(this.endpoints.toxiproxy.api);
    if (name === S3_PROXY_NODE) return await s3ProxyUp(s3ProxyEndpoints(this.plan).control);
    if (name === KAFKA_PROXY_NODE) return await kafkaProxyUp(kafkaProxyControlUrl(this.plan));
    const id = brokerIdOf(name);
    const ports = this.plan.brokers.find((b) => b.id === id);
    return ports ? await tcpOpen(ports.client.real) : false;
  }

  // ------------------------------------------------------------ lifecycle

  /**
   * Starts a stack, or attaches to the running stack of that name (then
   * `reused` is true). A stale stack of that name (some node dead, or its owner
   * gone) is cleaned first.
   */
  static async up(options: LocalStackOptions = {}): Promise<LocalStack> {
    const name = options.name ?? "default";
    const existing = await LocalStack.attach(name);
    if (existing) {
      const nodes = [...existing.nodes.values()];
      if (nodes.every((n) => n.state() !== "dead")) return existing;
      await existing.down({ quiet: true });
    }
    const basePort = options.basePort ??
      Number(Deno.env.get("CHAOS_BASE_PORT") ?? DEFAULT_BASE_PORT);
    const brokers = options.brokers ?? 3;
    const plan = portPlan(basePort, brokers);
    const busy = allPorts(plan).filter((p) => !portFree(p));
    if (busy.length > 0) {
      const holder = await stackHolding(busy);
      throw new StackError(
        `Cannot start stack "${name}": port${busy.length > 1 ? "s" : ""} ${
          busy.join(", ")
        } in use` +
          (holder
            ? ` by stack "${holder}" (stop it with: deno task down --name ${holder})`
            : " (choose another --base-port, or stop what holds them)"),
      );
    }
    warnIfEphemeral(plan);
    const owner = options.owner ?? "process";
    if (options.lazyDisks) {
      const problem = owner === "detached"
        ? "they live only as long as the process that mounts them, and this stack outlives it"
        : options.diskMb
        ? "the data cannot be on a bounded disk too (disk_full and the storage faults do not mix)"
        : lazyfsProblem();
      if (problem) throw new StackError(`Cannot start stack "${name}" on lazy disks: ${problem}`);
    }
    const binaries = options.binaries ?? await provision();
    const dataDir = options.dataDir ?? join(stateDir(), "stacks", name, "data");
    await unmountUnder(dataDir);
    await Deno.remove(dataDir, { recursive: true }).catch(() => {});
    await Deno.mkdir(join(dataDir, "logs"), { recursive: true });
    await Deno.mkdir(join(dataDir, "pids"), { recursive: true });
    if (options.diskMb) await mountDisks(dataDir, plan, options.diskMb);
    const bucket = options.bucket ?? "telemetry";
    const kafkaProxy = kafkaProxyWanted(options.kafkaProxy);
    // SCRAM users made at format time, with random passwords kept in the state file (0600).
    const kafkaUsers = options.scram === false ? undefined : makeKafkaUsers();
    // Redis's users, likewise (redis_acl.ts): the harness as `default`, the pipeline restricted.
    const redisUsers = makeRedisUsers();
    const endpoints: Endpoints = {
      kafka: {
        bootstrap: plan.brokers.map((b) =>
          `127.0.0.1:${kafkaProxy ? b.kafkaProxy : options.direct ? b.client.real : b.client.proxy}`
        ).join(","),
        ...(kafkaUsers ? { sasl: { mechanism: SCRAM_MECHANISM, ...kafkaUsers.harness } } : {}),
      },
      s3: {
        endpoint: `http://127.0.0.1:${plan.minio}`,
        accessKey: Deno.env.get("CHAOS_S3_ACCESS_KEY") ?? `chaos${randomHex(6)}`,
        secretKey: Deno.env.get("CHAOS_S3_SECRET_KEY") ?? randomHex(20),
        bucket,
      },
      redis: { url: redisUrl("127.0.0.1", plan.redis, "default", redisUsers.harness) },
      toxiproxy: { api: `http://127.0.0.1:${plan.toxiproxy}` },
    };
    const state: StackState = {
      name,
      basePort,
      brokers,
      kafka: options.kafka ?? {},
      dataDir,
      owner,
      ownerPid: Deno.pid,
      endpoints,
      kafkaUsers,
      redisUsers,
      nodes: [
        ...await nodeSpecs(plan, dataDir, endpoints, binaries, {
          ...options,
          scram: kafkaUsers && { superUser: kafkaUsers.harness.username },
          redisUsers,
        }),
        ...((options.s3Proxy ?? s3ProxyWanted()) ? [s3ProxySpec(plan, dataDir)] : []),
        ...(kafkaProxy ? [kafkaProxySpec(plan, dataDir, { direct: options.direct })] : []),
      ],
      createdAt: new Date().toISOString(),
    };
    // Through the kafka proxy: the brokers advertise its ports for their client listener.
    if (kafkaProxy) await advertiseThroughProxy(plan, dataDir);
    await writeState(state);
    const stack = new LocalStack(
      state,
      false,
      options.lazyDisks ? new LazyDisks(dataDir) : undefined,
    );
    try {
      if (owner === "process") {
        state.watchdogPid = startWatchdog(dataDir);
        await writeState(state);
      }
      await stack.#boot(binaries, options);
      state.healthyAt = new Date().toISOString();
      await writeState(state);
      return stack;
    } catch (error) {
      await stack.down({ quiet: true }).catch(() => {});
      throw error;
    }
  }

  /** The running (or stale) stack of that name, from its state file. */
  static async attach(name = "default"): Promise<LocalStack | undefined> {
    const state = await readState(name);
    return state ? new LocalStack(state, true) : undefined;
  }

  async #boot(binaries: Binaries, options: LocalStackOptions): Promise<void> {
    const timeoutMs = options.timeoutMs ?? 180_000;
    const signal = options.signal;
    const progress = new Progress(`stack ${this.name}`, { everyMs: 3000 });
    const phase = (text: string) =>
      progress.update(`${text} (${progress.elapsedS().toFixed(1)} s)`);

    phase("starting toxiproxy, redis, minio; formatting kafka storage");
    const toxiproxy = this.node("toxiproxy");
    await toxiproxy.start();
    await this.node("redis").start();
    await this.nodes.get(S3_PROXY_NODE)?.start();
    await this.nodes.get(KAFKA_PROXY_NODE)?.start();
    await this.lazyDisks?.add("minio");
    await this.node("minio").start();
    const id = clusterId();
    await Promise.all(this.brokerIds().map((b) => this.#formatStorage(binaries, b, id)));
    // Formatted first: everything in a backing folder when it is mounted counts as durable.
    for (const b of this.brokerIds()) await this.lazyDisks?.add(`kafka-${b}`);

    await this.#waitNode("toxiproxy", timeoutMs, signal);
    phase("starting brokers");
    for (const b of this.brokerIds()) await this.broker(b).start();

    await this.#waitNode("redis", timeoutMs, signal);
    await this.#waitNode("minio", timeoutMs, signal);
    if (this.nodes.has(S3_PROXY_NODE)) await this.#waitNode(S3_PROXY_NODE, timeoutMs, signal);
    phase("creating bucket");
    await this.#createBucket();

    if (this.nodes.has(KAFKA_PROXY_NODE)) {
      await this.#waitNode(KAFKA_PROXY_NODE, timeoutMs, signal);
    }
    phase("waiting for brokers");
    for (const b of this.brokerIds()) await this.#waitNode(`kafka-${b}`, timeoutMs, signal);
    const want = this.brokerIds().length;
    await waitFor(async () => {
      const ids = await kafkaBrokerIds(this.endpoints.kafka.bootstrap.split(","));
      phase(`metadata lists ${ids.length}/${want} brokers`);
      return ids.length === want;
    }, { what: `metadata to list ${want} brokers`, timeoutMs, signal, intervalMs: 500 });
    progress.done(`healthy in ${progress.elapsedS().toFixed(1)} s`);
  }

  async #waitNode(name: string, timeoutMs: number, signal?: AbortSignal): Promise<void> {
    const node = this.node(name);
    try {
      await waitFor(async () => {
        if (node.state() === "dead") {
          throw new GiveUp(`${name} exited during start-up`);
        }
        return await this.nodeReady(name);
      }, { what: `${name} to be ready`, timeoutMs, signal });
    } catch (error) {
      if (signal?.aborted) throw error;
      throw new StackError(
        `${name} did not become ready: ${(error as Error).message}\n` +
          `--- last lines of ${node.spec.logFile}\n${await node.tail(15)}`,
        { cause: error },
      );
    }
  }

  async #formatStorage(binaries: Binaries, broker: number, id: string): Promise<void> {
    const dir = join(this.dataDir, `kafka-${broker}`);
    // The SCRAM passwords go in an argument file of the harness's only (0600), not on the command
    // line, which every user of the host reads (kafka_scram.ts); removed once StorageTool ran.
    const argFile = join(dir, "format.args");
    await writeJavaArgFile(argFile, [
      "-Xmx256m",
      "-cp",
      binaries.kafkaClasspath,
      "kafka.tools.StorageTool",
      "format",
      "--ignore-formatted",
      "-t",
      id,
      "-c",
      join(dir, "server.properties"),
      ...(this.#state.kafkaUsers ? scramFormatArgs(this.#state.kafkaUsers) : []),
    ]);
    let out: Deno.CommandOutput;
    try {
      out = await new Deno.Command(binaries.java, {
        args: [`@${argFile}`],
        stdout: "piped",
        stderr: "piped",
      }).output();
    } finally {
      await Deno.remove(argFile).catch(() => {});
    }
    if (out.code !== 0) {
      throw new StackError(
        `Cannot format the storage of broker ${broker} (exit ${out.code}): ${
          new TextDecoder().decode(out.stderr).trim().split("\n").slice(-5).join(" | ")
        }`,
      );
    }
  }

  async #createBucket(): Promise<void> {
    const client = new Minio.Client(minioClientOptions(this.endpoints.s3));
    const bucket = this.endpoints.s3.bucket;
    await waitFor(async () => {
      if (!(await client.bucketExists(bucket))) await client.makeBucket(bucket);
      return true;
    }, { what: `bucket ${bucket}`, timeoutMs: 30_000 });
  }

  /**
   * Stops every node and, unless `keep`, removes the data. With `keep`, nodes
   * get SIGTERM (a clean shutdown) so the data can be used again; otherwise
   * SIGKILL, since the data is discarded anyway. `retain` names folders of the
   * data dir that stay anyway (a run keeps `minio` and `logs`, so its store can
   * be re-checked and its logs read after the stack is gone).
   */
  async down(
    options: { keep?: boolean; quiet?: boolean; retain?: string[] } = {},
  ): Promise<string[]> {
    const stopped: string[] = [];
    // Resume paused nodes first: a stopped process cannot act on SIGTERM.
    await Promise.all([...this.nodes.values()].map(async (node) => {
      if (node.state() === "dead") return;
      stopped.push(node.name);
      if (options.keep) await node.stop({ graceMs: 30_000 });
      else await node.kill();
    }));
    if (this.#state.watchdogPid) {
      try {
        Deno.kill(this.#state.watchdogPid, "SIGKILL");
      } catch { /* already gone */ }
    }
    // The nodes are stopped: the lazy disks unmount cleanly, their data back in its place.
    // (What fails to unmount is detached and put back below, as for a dead run.)
    await this.lazyDisks?.unmountAll().catch(() => {});
    if (!options.keep) {
      const retain = new Set(options.retain ?? []);
      await unmountUnder(this.dataDir, [...retain]);
      await restoreBackings(this.dataDir); // of a dead run's lazy disks
      if (retain.size === 0) {
        await Deno.remove(this.dataDir, { recursive: true }).catch(() => {});
      } else {
        for await (const entry of Deno.readDir(this.dataDir)) {
          if (retain.has(entry.name)) continue;
          await Deno.remove(join(this.dataDir, entry.name), { recursive: true }).catch(() => {});
        }
      }
      await Deno.remove(join(stateFile(this.name), ".."), { recursive: true }).catch(() => {});
    } else {
      this.#state.watchdogPid = undefined;
      await writeState(this.#state);
    }
    forgetSecurityFor(clientAddresses(this.plan));
    return stopped.sort();
  }

  /**
   * Hands the stack over to nobody: it outlives this process (for `up` and `--keep-stack`). The
   * nodes on lazy disks are stopped, their disks unmounted and they start again on plain folders
   * first (the layers would die with this process).
   */
  async detach(): Promise<void> {
    const lazy = this.lazyDisks?.nodes ?? [];
    if (lazy.length > 0) {
      await Promise.all(lazy.map((n) => this.node(n).stop({ graceMs: 30_000 })));
      await this.lazyDisks!.unmountAll();
      for (const n of lazy) await this.node(n).start();
      for (const n of lazy) await this.#waitNode(n, 180_000);
    }
    if (this.#state.watchdogPid) {
      try {
        Deno.kill(this.#state.watchdogPid, "SIGKILL");
      } catch { /* already gone */ }
    }
    this.#state.watchdogPid = undefined;
    this.#state.owner = "detached";
    await writeState(this.#state);
  }

  /** Every pid the stack's nodes run as (for tests and leak checks). */
  pids(): number[] {
    return [...this.nodes.values()].map((n) => n.pid()).filter((p): p is number => p !== undefined);
  }
}

/**
 * Stops the named stack if there is one; returns the nodes it stopped and what of its data
 * stayed. A run's stack (`--keep-stack`: its data dir is the run folder's `stack/`) keeps
 * its store and logs, which `validate --run` re-checks, unless `purge`.
 */
export async function downStack(
  name: string,
  options: { keep?: boolean; purge?: boolean } = {},
): Promise<{ stopped: string[]; retained: string[] } | undefined> {
  const stack = await LocalStack.attach(name);
  if (!stack) return undefined;
  const ofRun = await exists(join(stack.dataDir, "..", "history.jsonl"));
  const retained = ofRun && !options.purge && !options.keep ? ["minio", "logs"] : [];
  const stopped = await stack.down({ keep: options.keep, retain: retained });
  return { stopped, retained };
}
