/**
 * The docker stack: the same topology as the local stack (three KRaft brokers,
 * MinIO, Redis, Toxiproxy in front of every broker listener and quorum link),
 * as containers on a network of the stack's own, through the Docker API
 * (dockerode). Scenarios run on it unchanged: the endpoints, the proxies and
 * the node names are the local stack's.
 *
 * - Addresses: on a local engine the harness reaches the containers at their
 *   own addresses on the stack's bridge network (no published ports, nothing
 *   bound on the host). With `DOCKER_HOST=tcp://host:port` the services are
 *   published on the engine's host at the port plan's numbers instead.
 * - Data: each node's data is a bind mount of `<dataDir>/<node>`, so a killed
 *   broker starts again on its own log, and `down({retain: ["minio"]})` keeps
 *   the store for `validate --run` (bind mounts need the engine's file system:
 *   a remote engine keeps the data on its own host).
 * - Lazy disks (`lazyDisks`, for `power_loss`, `io_latency`, `io_error`): each
 *   broker's log dir and MinIO's data mounted through the lazyfs layer on the
 *   host before its container starts (lazy_disks.ts); the binds take the
 *   mounts in. A local engine only; `down` unmounts them once the containers
 *   are gone.
 * - Proxies on the host: the pipeline's S3 proxy (unless `CHAOS_S3_PROXY=off`)
 *   and, for `kafka_error`, the kafka proxy run as processes of the harness on
 *   the host's loopback in front of the containers (docker_proxies.ts), as on
 *   the local stack: the pipeline's `S3_ENDPOINT` and each component's
 *   bootstrap are theirs, the brokers advertise the kafka proxy's ports, and
 *   Toxiproxy stays behind it. They are `hostNodes`, killed by `down` and, if
 *   the harness dies, by its watchdog.
 * - Clean-up: every container and the network carry the label
 *   `org.chaos-harness.stack=<name>`; `down`, a Ctrl-C and the next `up` of that
 *   name remove them. Logs are collected into `<dataDir>/logs` first.
 *
 * ```ts
 * import { DockerStack } from "./docker_stack.ts";
 * const stack = await DockerStack.up({ name: "demo" });
 * await stack.broker(1).pause();
 * await stack.broker(1).resume();
 * await stack.down();
 * ```
 * @module
 */

import { join } from "node:path";
import * as Minio from "minio";
import {
  dockerClient,
  DockerError,
  OWNER_LABEL,
  ownerLabel,
  removeLabelled,
  removeOrphans,
  requireDocker,
  ROLE_LABEL,
  runThrowaway,
  STACK_LABEL,
} from "./docker.ts";
import { type Endpoints, minioClientOptions } from "../pipeline/endpoints.ts";
import { ensureImages, type Images } from "./images.ts";
import type { KafkaSettings } from "./kafka_config.ts";
import { startWatchdog } from "./local_services.ts";
import { mountDisks, unmountUnder } from "./disk.ts";
import { LazyDisks, lazyStackProblem, restoreBackings } from "./lazy_disks.ts";
import { lazyfsProblem } from "./lazyfs.ts";
import { readDockerState, removeDockerState, writeDockerState } from "./docker_state.ts";
import { DEFAULT_BASE_PORT, type PortPlan, portPlan } from "./ports.ts";
import { kafkaBrokerIds, minioReady, redisPing, toxiproxyUp } from "./probes.ts";
import { Progress } from "../lib/progress.ts";
import {
  brokerIdOf,
  brokerNode,
  clusterId,
  type NodeHealth,
  type Stack,
  StackBase,
  type StackOptions,
} from "./stack.ts";
import { Toxiproxy } from "./toxiproxy.ts";
import { DockerNode } from "./docker_node.ts";
import {
  hostProxyReady,
  hostProxySpecs,
  proxiedBootstrap,
  startHostProxies,
  stopHostProxies,
} from "./docker_proxies.ts";
import { ProcessNode } from "./process_node.ts";
import {
  S3_PROXY_NODE,
  type S3ProxyEndpoints,
  s3ProxyEndpoints,
  s3ProxyWanted,
} from "./s3_proxy.ts";
import { advertiseThroughProxy, kafkaProxyWanted } from "./kafka_proxy_control.ts";
import {
  brokerSpec,
  type ContainerSpec,
  createContainer,
  formatSpec,
  minioSpec,
  redisSpec,
  toxiproxySpec,
  writeBrokerConfig,
} from "./docker_services.ts";
import { createNetwork, probeNetem, remoteEngineHost } from "./docker_network.ts";
import { tcpOpen, waitFor } from "../lib/wait.ts";
import { randomHex } from "../lib/ids.ts";

/** `dataDir` is bind-mounted (default a temp folder); `basePort` numbers the ports inside the
 * containers, published on the engine's host only for a remote engine. */
export interface DockerStackOptions extends StackOptions {
  images?: Images;
  /**
   * "detached": the stack outlives this process (`deno task up --stack docker`): no later `up`
   * takes its containers for orphans, and `persist()` makes it findable by name. Default
   * "process".
   */
  owner?: "process" | "detached";
  /** The pipeline's S3 traffic through the host's S3 proxy. Default: unless CHAOS_S3_PROXY=off. */
  s3Proxy?: boolean;
  /** Clients through the kafka proxy on the host (kafka_error). Default: `CHAOS_KAFKA_PROXY=on`. */
  kafkaProxy?: boolean;
}

export class DockerStack extends StackBase<DockerNode> implements Stack {
  readonly kind = "docker" as const;
  readonly name: string;
  readonly plan: PortPlan;
  readonly endpoints: Endpoints;
  readonly dataDir: string;
  readonly nodes: Map<string, DockerNode> = new Map();
  /** The stack's processes on this host: the S3 and kafka proxies (docker_proxies.ts). */
  hostNodes: Map<string, ProcessNode> = new Map();
  toxiproxy: Toxiproxy;
  readonly kafkaSettings: KafkaSettings;
  readonly images: Images;
  readonly network: string;
  /** True when this kernel has `sch_netem` (probed at start-up in the stack's network). */
  netem = false;
  /** Kills the run's own processes (sink, detector: `<dataDir>/pids`) if the harness dies. */
  watchdogPid: number | undefined;
  /** The brokers' and MinIO's lazy disks, when started with `lazyDisks` (this process's). */
  lazyDisks: LazyDisks | undefined;

  private constructor(
    name: string,
    plan: PortPlan,
    endpoints: Endpoints,
    dataDir: string,
    kafka: KafkaSettings,
    images: Images,
  ) {
    super();
    this.name = name;
    this.plan = plan;
    this.endpoints = endpoints;
    this.dataDir = dataDir;
    this.kafkaSettings = kafka;
    this.images = images;
    this.network = `chaos-${name}`;
    this.toxiproxy = new Toxiproxy(endpoints.toxiproxy.api);
  }

  protected unknownNode(message: string): Error {
    return new DockerError(message);
  }

  /** The pipeline's S3 proxy, when the stack runs one (see `DockerStackOptions.s3Proxy`). */
  get s3Proxy(): S3ProxyEndpoints | undefined {
    return this.hostNodes.has(S3_PROXY_NODE) ? s3ProxyEndpoints(this.plan) : undefined;
  }

  /** The stack `deno task up --stack docker` left running under `name`, or undefined. */
  static async attach(name: string): Promise<DockerStack | undefined> {
    const state = await readDockerState(name);
    if (!state) return undefined;
    await requireDocker();
    const plan = portPlan(state.basePort, state.brokers);
    const stack = new DockerStack(
      name,
      plan,
      state.endpoints,
      state.dataDir,
      state.kafka,
      state.images,
    );
    stack.netem = state.netem;
    stack.hostNodes = new Map((state.hostNodes ?? []).map((s) => [s.name, new ProcessNode(s)]));
    const docker = dockerClient();
    for (
      const node of [
        "toxiproxy",
        "redis",
        "minio",
        ...plan.brokers.map((b) => brokerNode(b.id)),
      ]
    ) {
      stack.nodes.set(node, new DockerNode(node, docker.getContainer(stack.containerName(node))));
    }
    await Promise.all([...stack.nodes.values()].map((n) => n.refresh()));
    return stack;
  }

  /** Writes the state file `attach` reads (a stack started with `owner: "detached"`). */
  async persist(): Promise<void> {
    await writeDockerState({
      kind: "docker",
      name: this.name,
      basePort: this.plan.base,
      brokers: this.plan.brokers.length,
      dataDir: this.dataDir,
      endpoints: this.endpoints,
      kafka: this.kafkaSettings,
      images: this.images,
      netem: this.netem,
      hostNodes: [...this.hostNodes.values()].map((n) => n.spec),
      createdAt: new Date().toISOString(),
    });
  }

  /** The container name of a node. */
  containerName(node: string): string {
    return `chaos-${this.name}-${node}`;
  }

  async health(): Promise<Record<string, NodeHealth>> {
    const out: Record<string, NodeHealth> = {};
    await Promise.all([...this.nodes.values()].map(async (node) => {
      const state = await node.refresh();
      out[node.name] = { state, ready: state === "running" && await this.nodeReady(node.name) };
    }));
    for (const node of this.hostNodes.values()) {
      const state = node.state();
      out[node.name] = {
        state,
        ready: state === "running" && await hostProxyReady(this.plan, node.name),
      };
    }
    return out;
  }

  async nodeReady(name: string): Promise<boolean> {
    const node = this.node(name);
    if (node.state() !== "running") return false;
    const host = this.#hostOf(node);
    if (name === "redis") {
      const password = decodeURIComponent(new URL(this.endpoints.redis.url).password) || undefined;
      return await redisPing(this.plan.redis, host, 2000, password);
    }
    if (name === "minio") return await minioReady(this.endpoints.s3.endpoint);
    if (name === "toxiproxy") return await toxiproxyUp(this.endpoints.toxiproxy.api);
    const id = brokerIdOf(name);
    const ports = this.plan.brokers.find((b) => b.id === id);
    if (!ports) return false;
    // A remote engine publishes the client proxies only; a running broker container counts.
    return remoteEngineHost() ? true : await tcpOpen(ports.client.real, host);
  }

  #hostOf(node: DockerNode): string {
    return remoteEngineHost() ?? node.ip() ?? "127.0.0.1";
  }

  // ------------------------------------------------------------ lifecycle

  static async up(options: DockerStackOptions = {}): Promise<DockerStack> {
    await requireDocker();
    const name = options.name ?? "default";
    const progress = new Progress(`docker stack ${name}`, { everyMs: 3000 });
    const phase = (text: string) =>
      progress.update(`${text} (${progress.elapsedS().toFixed(1)} s)`);
    const left = await removeLabelled(name);
    if (left.length > 0) phase(`removed what an earlier run left: ${left.join(", ")}`);
    const orphans = await removeOrphans();
    if (orphans.length > 0) phase(`removed stacks whose harness is gone: ${orphans.join(", ")}`);
    const images = options.images ?? await ensureImages();
    const basePort = options.basePort ??
      Number(Deno.env.get("CHAOS_BASE_PORT") ?? DEFAULT_BASE_PORT);
    const plan = portPlan(basePort, options.brokers ?? 3);
    const dataDir = options.dataDir ?? await Deno.makeTempDir({ prefix: `docker-${name}-` });
    // logs/ for the containers' logs; pids/ for the run's own processes (sink, detector).
    await Deno.mkdir(join(dataDir, "logs"), { recursive: true });
    await Deno.mkdir(join(dataDir, "pids"), { recursive: true });
    if (options.diskMb && remoteEngineHost()) {
      throw new DockerError("bounded data disks (disk_full) need a local Docker engine");
    }
    if (options.lazyDisks) {
      const problem = lazyStackProblem({
        kind: "docker",
        detached: options.owner === "detached",
        diskMb: options.diskMb,
        remoteEngine: remoteEngineHost(),
      }) ?? lazyfsProblem();
      if (problem) throw new DockerError(`Cannot start stack "${name}" on lazy disks: ${problem}`);
    }
    const owner = ownerLabel(options.owner === "detached");
    const labels = (role: string) => ({
      [STACK_LABEL]: name,
      [ROLE_LABEL]: role,
      [OWNER_LABEL]: owner,
    });
    const network = `chaos-${name}`;
    await createNetwork(network, labels("network"));
    const remote = remoteEngineHost();
    const accessKey = Deno.env.get("CHAOS_S3_ACCESS_KEY") ?? `chaos${randomHex(6)}`;
    const secretKey = Deno.env.get("CHAOS_S3_SECRET_KEY") ?? randomHex(20);
    const bucket = options.bucket ?? "telemetry";
    // Endpoints are filled in once the containers have addresses.
    const endpoints: Endpoints = {
      kafka: { bootstrap: "" },
      s3: { endpoint: "", accessKey, secretKey, bucket },
      redis: { url: "" },
      toxiproxy: { api: "" },
    };
    const stack = new DockerStack(
      name,
      plan,
      endpoints,
      dataDir,
      options.kafka ?? {},
      images,
    );
    const timeoutMs = options.timeoutMs ?? 180_000;
    const signal = options.signal;
    // Containers a SIGKILLed harness leaves are removed by the next up (removeOrphans).
    stack.watchdogPid = startWatchdog(dataDir);
    if (options.lazyDisks) stack.lazyDisks = new LazyDisks(dataDir);
    try {
      if (options.diskMb) await mountDisks(dataDir, plan, options.diskMb);
      const create = async (node: string, spec: ContainerSpec): Promise<DockerNode> => {
        const at = {
          container: stack.containerName(node),
          node,
          network,
          labels: labels(node),
          remote,
        };
        const handle = new DockerNode(node, await createContainer(at, spec));
        stack.nodes.set(node, handle);
        return handle;
      };
      const hostOf = (node: DockerNode) => remote ?? node.ip()!;

      phase("starting toxiproxy, redis, minio");
      const toxiproxy = await create("toxiproxy", await toxiproxySpec(images, plan, dataDir));
      // Published on a remote engine's host: then only with a password of this run's.
      const redisPassword = remote ? randomHex(20) : undefined;
      const redis = await create("redis", await redisSpec(images, plan, dataDir, redisPassword));
      const minioContainer = await minioSpec(images, plan, dataDir, { accessKey, secretKey });
      await stack.lazyDisks?.add("minio"); // mounted before its container binds it
      const minio = await create("minio", minioContainer);
      await Promise.all([toxiproxy.start(), redis.start(), minio.start()]);
      // Through the kafka proxy on this host (kafka_error), else Toxiproxy's client ports.
      const kafkaProxy = kafkaProxyWanted(options.kafkaProxy);
      endpoints.kafka.bootstrap = kafkaProxy
        ? proxiedBootstrap(plan)
        : plan.brokers.map((b) => `${hostOf(toxiproxy)}:${b.client.proxy}`).join(",");
      endpoints.s3.endpoint = `http://${hostOf(minio)}:${plan.minio}`;
      endpoints.redis.url = redisPassword
        ? `redis://:${redisPassword}@${hostOf(redis)}:${plan.redis}`
        : `redis://${hostOf(redis)}:${plan.redis}`;
      endpoints.toxiproxy.api = `http://${hostOf(toxiproxy)}:${plan.toxiproxy}`;
      stack.toxiproxy = new Toxiproxy(endpoints.toxiproxy.api);

      phase("formatting kafka storage");
      const id = clusterId();
      for (const b of plan.brokers) {
        await writeBrokerConfig(plan, b.id, dataDir, options.kafka ?? {}, hostOf(toxiproxy));
      }
      // Through the kafka proxy: the brokers advertise its ports for their client listener.
      if (kafkaProxy) await advertiseThroughProxy(plan, dataDir);
      const proxies = hostProxySpecs(plan, dataDir, {
        s3: (options.s3Proxy ?? s3ProxyWanted()) ? hostOf(minio) : undefined,
        kafka: kafkaProxy ? hostOf(toxiproxy) : undefined,
      });
      if (proxies.length) {
        phase(`starting ${proxies.map((p) => p.name).join(", ")} on this host`);
        stack.hostNodes = await startHostProxies(plan, proxies, { signal });
      }
      await Promise.all(plan.brokers.map((b) => stack.#format(b.id, id)));
      // Formatted first: everything in a backing folder when it is mounted counts as durable.
      for (const b of plan.brokers) await stack.lazyDisks?.add(brokerNode(b.id));

      phase("starting brokers");
      for (const b of plan.brokers) {
        await create(brokerNode(b.id), brokerSpec(images, b.id, options.heapMb ?? 1024, dataDir));
      }
      await Promise.all(plan.brokers.map((b) => stack.broker(b.id).start()));

      for (const node of ["toxiproxy", "redis", "minio"]) {
        await waitFor(() => stack.nodeReady(node), {
          what: `${node} to be ready`,
          timeoutMs,
          signal,
        }).catch(async (error) => {
          if (signal?.aborted) throw error;
          throw new DockerError(
            `${node} did not become ready: ${(error as Error).message}\n` +
              `--- last lines of its log\n${await stack.node(node).tail(15)}`,
          );
        });
      }
      phase("creating bucket");
      const client = new Minio.Client(minioClientOptions(endpoints.s3));
      await waitFor(async () => {
        if (!(await client.bucketExists(bucket))) await client.makeBucket(bucket);
        return true;
      }, { what: `bucket ${bucket}`, timeoutMs: 30_000, signal });

      phase("waiting for brokers");
      const want = plan.brokers.length;
      await waitFor(async () => {
        for (const b of plan.brokers) {
          if ((await stack.broker(b.id).refresh()) === "dead") {
            throw new DockerError(
              `kafka-${b.id} exited during start-up:\n${await stack.broker(b.id).tail(15)}`,
            );
          }
        }
        const ids = await kafkaBrokerIds(endpoints.kafka.bootstrap.split(","));
        phase(`metadata lists ${ids.length}/${want} brokers`);
        return ids.length === want;
      }, { what: `metadata to list ${want} brokers`, timeoutMs, signal, intervalMs: 500 });
      stack.netem = await stack.#probeNetem();
      progress.done(`healthy in ${progress.elapsedS().toFixed(1)} s`);
      return stack;
    } catch (error) {
      await stack.down({ quiet: true, retain: ["logs"] }).catch(() => {});
      throw error;
    }
  }

  /** Formats broker `id`'s storage in a one-off container of the Kafka image. */
  async #format(id: number, cluster: string): Promise<void> {
    const spec = formatSpec(this.images, id, cluster, this.dataDir);
    const result = await this.runHelper(spec.image, spec.cmd, {
      binds: spec.binds,
      network: this.network,
    });
    if (result.code !== 0) {
      throw new DockerError(
        `Cannot format the storage of broker ${id} (exit ${result.code}): ${
          result.out.trim().split("\n").slice(-5).join(" | ")
        }`,
      );
    }
  }

  /**
   * Runs a command to its end in a throwaway container labelled with the
   * stack: in the network namespace of node `netnsOf` (with NET_ADMIN, for tc
   * and iptables), or on `network`. Returns its exit code and output.
   */
  runHelper(
    image: string,
    cmd: string[],
    options: { netnsOf?: string; network?: string; binds?: string[] } = {},
  ): Promise<{ code: number; out: string }> {
    return runThrowaway(image, cmd, {
      NetworkMode: options.netnsOf
        ? `container:${this.containerName(options.netnsOf)}`
        : options.network ?? "none",
      CapAdd: options.netnsOf ? ["NET_ADMIN"] : undefined,
      Binds: options.binds,
    }, { [STACK_LABEL]: this.name, [ROLE_LABEL]: "helper", [OWNER_LABEL]: ownerLabel() });
  }

  /** `NetnsHost`: the script in the helper image, in node's network namespace. */
  inNetns(node: string, script: string): Promise<{ code: number; out: string }> {
    return this.runHelper(this.images.nethelper, ["sh", "-c", script], { netnsOf: node });
  }

  /** True when `tc qdisc ... netem` works in this kernel (tried in Toxiproxy's namespace). */
  async #probeNetem(): Promise<boolean> {
    return await probeNetem(this.images);
  }

  /**
   * Collects each container's log into `<dataDir>/logs`, removes every
   * container and the network of the stack, and the data but for `retain`.
   */
  async down(
    options: { keep?: boolean; quiet?: boolean; retain?: string[] } = {},
  ): Promise<string[]> {
    // The host's proxies first: they are the containers' clients.
    const stopped: string[] = await stopHostProxies(this.hostNodes);
    this.#stopWatchdog();
    await Deno.mkdir(join(this.dataDir, "logs"), { recursive: true }).catch(() => {});
    await Promise.all([...this.nodes.values()].map(async (node) => {
      const log = await node.tail(100_000).catch(() => "");
      await Deno.writeTextFile(join(this.dataDir, "logs", `${node.name}.log`), log).catch(() => {});
      if ((await node.refresh()) !== "dead") stopped.push(node.name);
    }));
    if (options.keep) {
      for (const node of this.nodes.values()) await node.stop({ graceMs: 30_000 });
      await this.lazyDisks?.unmountAll(); // the layers would die with this process
      return stopped.sort();
    }
    await removeLabelled(this.name);
    // The containers are gone: the lazy disks unmount cleanly, their data back in its place.
    // (What fails to unmount is detached and put back below, as for a dead run.)
    await this.lazyDisks?.unmountAll().catch(() => {});
    const retain = new Set(options.retain ?? []);
    await unmountUnder(this.dataDir, [...retain]);
    await restoreBackings(this.dataDir).catch(() => {}); // of a dead run's lazy disks
    for await (const entry of Deno.readDir(this.dataDir)) {
      if (retain.has(entry.name)) continue;
      await Deno.remove(join(this.dataDir, entry.name), { recursive: true }).catch(() => {});
    }
    if (retain.size === 0) await Deno.remove(this.dataDir, { recursive: true }).catch(() => {});
    await removeDockerState(this.name);
    return stopped.sort();
  }

  /**
   * Leaves the containers (and the host's proxies) running after this process (`--keep-stack`).
   * The nodes on lazy disks are stopped, their disks unmounted and they start again on plain
   * folders first (the layers would die with this process).
   */
  async detach(): Promise<void> {
    // The host's proxies stay too: the state file names them, so `deno task down` stops them.
    if (this.hostNodes.size) await this.persist();
    const lazy = this.lazyDisks?.nodes ?? [];
    if (lazy.length > 0) {
      await Promise.all(lazy.map((n) => this.node(n).stop({ graceMs: 30_000 })));
      await this.lazyDisks!.unmountAll();
      for (const n of lazy) await this.node(n).start();
      for (const n of lazy) {
        await waitFor(() => this.nodeReady(n), { what: `${n} to be ready`, timeoutMs: 180_000 });
      }
    }
    this.#stopWatchdog();
  }

  #stopWatchdog(): void {
    if (!this.watchdogPid) return;
    try {
      Deno.kill(this.watchdogPid, "SIGKILL");
    } catch { /* gone */ }
    this.watchdogPid = undefined;
  }
}
