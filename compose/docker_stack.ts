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
import type Docker from "dockerode";
import * as Minio from "minio";
import {
  demux,
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
import { brokerProperties, kafkaJvmArgs, type KafkaSettings } from "./kafka_config.ts";
import { startWatchdog } from "./local_stack.ts";
import { DEFAULT_BASE_PORT, type PortPlan, portPlan } from "./ports.ts";
import type { ProcessState } from "./process_node.ts";
import { kafkaBrokerIds, minioReady, redisPing, toxiproxyUp } from "./probes.ts";
import { Progress } from "../lib/progress.ts";
import {
  brokerIdOf,
  clusterId,
  type NodeHealth,
  REDIS_DURABILITY,
  type Stack,
  StackBase,
  type StackNode,
  type StackOptions,
  toxiproxyConfig,
} from "./stack.ts";
import { Toxiproxy } from "./toxiproxy.ts";
import { tcpOpen, waitFor } from "../lib/wait.ts";
import { randomHex } from "../lib/ids.ts";

/** `dataDir` is bind-mounted (default a temp folder); `basePort` numbers the ports inside the
 * containers, published on the engine's host only for a remote engine. */
export interface DockerStackOptions extends StackOptions {
  images?: Images;
}

/** A container of the stack, with the node interface the faults use. */
export class DockerNode implements StackNode {
  readonly name: string;
  readonly container: Docker.Container;
  #state: ProcessState = "dead";
  #pid: number | undefined;
  #ip: string | undefined;

  constructor(name: string, container: Docker.Container) {
    this.name = name;
    this.container = container;
  }

  /** Reads the container's state from the engine (state() is the last one read). */
  async refresh(): Promise<ProcessState> {
    try {
      const info = await this.container.inspect();
      this.#state = info.State.Paused ? "paused" : info.State.Running ? "running" : "dead";
      this.#pid = info.State.Pid || undefined;
      const nets = Object.values(info.NetworkSettings.Networks ?? {}) as { IPAddress?: string }[];
      this.#ip = nets[0]?.IPAddress || this.#ip;
    } catch {
      this.#state = "dead";
      this.#pid = undefined;
    }
    return this.#state;
  }

  state(): ProcessState {
    return this.#state;
  }

  pid(): number | undefined {
    return this.#state === "dead" ? undefined : this.#pid;
  }

  /** The container's address on the stack network (known once it ran). */
  ip(): string | undefined {
    return this.#ip;
  }

  async start(): Promise<void> {
    const state = await this.refresh();
    if (state === "paused") await this.container.unpause();
    else if (state === "dead") await this.container.start();
    await this.refresh();
  }

  async kill(): Promise<void> {
    const state = await this.refresh();
    if (state === "dead") return;
    await this.container.kill({ signal: "SIGKILL" }).catch(() => {});
    await waitFor(async () => (await this.refresh()) === "dead", {
      what: `${this.name} to die`,
      timeoutMs: 20_000,
      intervalMs: 100,
    });
  }

  async stop(options: { graceMs?: number } = {}): Promise<void> {
    const state = await this.refresh();
    if (state === "dead") return;
    if (state === "paused") await this.container.unpause();
    await this.container.stop({ t: Math.ceil((options.graceMs ?? 10_000) / 1000) }).catch(
      () => {},
    );
    await this.refresh();
  }

  async restart(): Promise<void> {
    await this.kill();
    await this.start();
  }

  /**
   * Freezes the container (the cgroup freezer). Under load runc now and then gives up with
   * "unable to freeze" (a task did not stop in its time, e.g. a JVM deep in I/O) and thaws
   * the cgroup again: the pause is then tried again, for up to 20 s.
   */
  pause(): Promise<void> {
    return this.#until("pause", (s) => s === "paused", () => this.container.pause());
  }

  /** Thaws the container, tried again like `pause` until it is no longer paused. */
  resume(): Promise<void> {
    return this.#until("resume", (s) => s !== "paused", () => this.container.unpause());
  }

  /** Calls `act` until the engine reports a state that satisfies `reached` (at most 20 s). */
  async #until(
    what: string,
    reached: (state: ProcessState) => boolean,
    act: () => Promise<unknown>,
  ): Promise<void> {
    await waitFor(async () => {
      if (reached(await this.refresh())) return true;
      await act();
      return reached(await this.refresh());
    }, { what: `${this.name} to ${what}`, timeoutMs: 20_000, intervalMs: 500 });
  }

  async tail(lines = 20): Promise<string> {
    try {
      const buf = await this.container.logs({
        stdout: true,
        stderr: true,
        tail: lines,
        follow: false,
      }) as unknown as Uint8Array;
      return demux([buf]);
    } catch (error) {
      return `(no logs: ${(error as Error).message})`;
    }
  }
}

/** The engine's host when `DOCKER_HOST` is a TCP address; undefined for a local socket. */
export function remoteEngineHost(): string | undefined {
  const where = Deno.env.get("DOCKER_HOST");
  if (!where || !/^(tcp|https?):\/\//.test(where)) return undefined;
  return new URL(where.replace(/^tcp:/, "http:")).hostname;
}

export class DockerStack extends StackBase<DockerNode> implements Stack {
  readonly kind = "docker" as const;
  readonly name: string;
  readonly plan: PortPlan;
  readonly endpoints: Endpoints;
  readonly dataDir: string;
  readonly nodes: Map<string, DockerNode> = new Map();
  toxiproxy: Toxiproxy;
  readonly kafkaSettings: KafkaSettings;
  readonly images: Images;
  readonly network: string;
  /** True when this kernel has `sch_netem` (probed at start-up in the stack's network). */
  netem = false;
  /** Kills the run's own processes (sink, detector: `<dataDir>/pids`) if the harness dies. */
  watchdogPid: number | undefined;

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
    const docker = dockerClient();
    const owner = ownerLabel();
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
    try {
      const create = async (
        node: string,
        image: string,
        cmd: string[],
        extra: {
          env?: Record<string, string>;
          binds?: string[];
          /** Ports published on a remote engine's host; `local` ones on its loopback only. */
          publish?: number[];
          local?: number[];
          memoryMb?: number;
        } = {},
      ): Promise<DockerNode> => {
        const ports = [...(extra.publish ?? []), ...(extra.local ?? [])];
        const exposed = Object.fromEntries(ports.map((p) => [`${p}/tcp`, {}]));
        const container = await docker.createContainer({
          name: stack.containerName(node),
          Hostname: node,
          Image: image,
          Cmd: cmd,
          Env: Object.entries(extra.env ?? {}).map(([k, v]) => `${k}=${v}`),
          Labels: labels(node),
          ExposedPorts: remote ? exposed : undefined,
          HostConfig: {
            NetworkMode: network,
            Binds: extra.binds,
            PortBindings: remote
              ? Object.fromEntries([
                ...(extra.publish ?? []).map((p) => [`${p}/tcp`, [{ HostPort: String(p) }]]),
                ...(extra.local ?? []).map((p) => [
                  `${p}/tcp`,
                  [{ HostIp: "127.0.0.1", HostPort: String(p) }],
                ]),
              ])
              : undefined,
            Memory: extra.memoryMb ? extra.memoryMb * 1024 * 1024 : undefined,
            RestartPolicy: { Name: "no" },
          },
          NetworkingConfig: { EndpointsConfig: { [network]: { Aliases: [node] } } },
        });
        const handle = new DockerNode(node, container);
        stack.nodes.set(node, handle);
        return handle;
      };
      const hostOf = (node: DockerNode) => remote ?? node.ip()!;

      phase("starting toxiproxy, redis, minio");
      const toxiproxyFile = join(dataDir, "toxiproxy", "toxiproxy.json");
      await Deno.mkdir(join(dataDir, "toxiproxy"), { recursive: true });
      await Deno.writeTextFile(
        toxiproxyFile,
        JSON.stringify(toxiproxyConfig(plan, "0.0.0.0", (id) => `kafka-${id}`), null, 2),
      );
      const toxiproxy = await create("toxiproxy", images.toxiproxy, [
        "toxiproxy",
        "-host",
        "0.0.0.0",
        "-port",
        String(plan.toxiproxy),
        "-config",
        "/data/toxiproxy.json",
      ], {
        binds: [`${join(dataDir, "toxiproxy")}:/data`],
        // Toxiproxy's API has no authentication: on a remote engine it is published on the
        // engine host's loopback only, unless CHAOS_TOXIPROXY_API_PUBLIC=1 (a trusted network).
        publish: [
          ...plan.brokers.map((b) => b.client.proxy),
          ...(Deno.env.get("CHAOS_TOXIPROXY_API_PUBLIC") === "1" ? [plan.toxiproxy] : []),
        ],
        local: Deno.env.get("CHAOS_TOXIPROXY_API_PUBLIC") === "1" ? [] : [plan.toxiproxy],
      });
      await Deno.mkdir(join(dataDir, "redis"), { recursive: true });
      // Published on a remote engine's host: then only with a password of this run's.
      const redisPassword = remote ? randomHex(20) : undefined;
      const redis = await create("redis", images.redis, [
        "redis-server",
        "--port",
        String(plan.redis),
        "--bind",
        "0.0.0.0",
        "--protected-mode",
        "no",
        ...(redisPassword ? ["--requirepass", redisPassword] : []),
        "--dir",
        "/data",
        ...REDIS_DURABILITY,
      ], { binds: [`${join(dataDir, "redis")}:/data`], publish: [plan.redis] });
      await Deno.mkdir(join(dataDir, "minio"), { recursive: true });
      const minio = await create("minio", images.minio, [
        "minio",
        "server",
        "/data",
        "--address",
        `0.0.0.0:${plan.minio}`,
        "--console-address",
        `0.0.0.0:${plan.minioConsole}`,
        "--quiet",
      ], {
        env: {
          MINIO_ROOT_USER: accessKey,
          MINIO_ROOT_PASSWORD: secretKey,
          MINIO_BROWSER: "off",
          MINIO_UPDATE: "off",
          MINIO_CALLHOME_ENABLE: "off",
        },
        binds: [`${join(dataDir, "minio")}:/data`],
        publish: [plan.minio],
      });
      await Promise.all([toxiproxy.start(), redis.start(), minio.start()]);
      endpoints.kafka.bootstrap = plan.brokers.map((b) => `${hostOf(toxiproxy)}:${b.client.proxy}`)
        .join(",");
      endpoints.s3.endpoint = `http://${hostOf(minio)}:${plan.minio}`;
      endpoints.redis.url = redisPassword
        ? `redis://:${redisPassword}@${hostOf(redis)}:${plan.redis}`
        : `redis://${hostOf(redis)}:${plan.redis}`;
      endpoints.toxiproxy.api = `http://${hostOf(toxiproxy)}:${plan.toxiproxy}`;
      stack.toxiproxy = new Toxiproxy(endpoints.toxiproxy.api);

      phase("formatting kafka storage");
      const id = clusterId();
      const heap = options.heapMb ?? 1024;
      for (const b of plan.brokers) {
        const dir = join(dataDir, `kafka-${b.id}`);
        await Deno.mkdir(dir, { recursive: true });
        await Deno.writeTextFile(
          join(dir, "server.properties"),
          brokerProperties(plan, b.id, {
            ...options.kafka,
            logDir: "/data/log",
            listenHost: "0.0.0.0",
            clientHost: hostOf(toxiproxy),
            peerHost: "toxiproxy",
          }),
        );
      }
      await Promise.all(plan.brokers.map((b) => stack.#format(b.id, id)));

      phase("starting brokers");
      for (const b of plan.brokers) {
        await create(
          `kafka-${b.id}`,
          images.kafka,
          ["java", ...kafkaJvmArgs(heap, "/opt/kafka/libs/*", "/data/server.properties")],
          { binds: [`${join(dataDir, `kafka-${b.id}`)}:/data`] },
        );
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
    const result = await this.runHelper(this.images.kafka, [
      "java",
      "-Xmx256m",
      "-cp",
      "/opt/kafka/libs/*",
      "kafka.tools.StorageTool",
      "format",
      "--ignore-formatted",
      "-t",
      cluster,
      "-c",
      "/data/server.properties",
    ], { binds: [`${join(this.dataDir, `kafka-${id}`)}:/data`], network: this.network });
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

  /**
   * Undoes every network fault the harness may have left on the stack: nodes
   * back on the network (same address), every iptables rule tagged
   * `chaos-harness` and the root qdisc removed from each namespace. For tests
   * and clean-up; a fault's own heal undoes exactly what it did.
   */
  async clearNetworkFaults(): Promise<void> {
    const network = dockerClient().getNetwork(this.network);
    for (const node of this.nodes.values()) {
      const info = await node.container.inspect().catch(() => undefined);
      if (!info) continue;
      if (!info.NetworkSettings.Networks?.[this.network] && node.ip()) {
        await network.connect({
          Container: this.containerName(node.name),
          EndpointConfig: { IPAMConfig: { IPv4Address: node.ip()! }, Aliases: [node.name] },
        }).catch(() => {});
      }
      if (!info.State.Running || info.State.Paused) continue;
      await this.runHelper(this.images.nethelper, [
        "sh",
        "-c",
        "iptables -S | grep chaos-harness | sed 's/^-A /-D /' | while read -r r; do iptables $r; done; " +
        "tc qdisc del dev eth0 root 2>/dev/null; true",
      ], { netnsOf: node.name }).catch(() => {});
    }
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
    const stopped: string[] = [];
    if (this.watchdogPid) {
      try {
        Deno.kill(this.watchdogPid, "SIGKILL");
      } catch { /* gone */ }
      this.watchdogPid = undefined;
    }
    await Deno.mkdir(join(this.dataDir, "logs"), { recursive: true }).catch(() => {});
    await Promise.all([...this.nodes.values()].map(async (node) => {
      const log = await node.tail(100_000).catch(() => "");
      await Deno.writeTextFile(join(this.dataDir, "logs", `${node.name}.log`), log).catch(() => {});
      if ((await node.refresh()) !== "dead") stopped.push(node.name);
    }));
    if (options.keep) {
      for (const node of this.nodes.values()) await node.stop({ graceMs: 30_000 });
      return stopped.sort();
    }
    await removeLabelled(this.name);
    const retain = new Set(options.retain ?? []);
    for await (const entry of Deno.readDir(this.dataDir)) {
      if (retain.has(entry.name)) continue;
      await Deno.remove(join(this.dataDir, entry.name), { recursive: true }).catch(() => {});
    }
    if (retain.size === 0) await Deno.remove(this.dataDir, { recursive: true }).catch(() => {});
    return stopped.sort();
  }

  /** Leaves the containers running after this process (`--keep-stack`). */
  detach(): Promise<void> {
    if (this.watchdogPid) {
      try {
        Deno.kill(this.watchdogPid, "SIGKILL");
      } catch { /* gone */ }
      this.watchdogPid = undefined;
    }
    return Promise.resolve();
  }
}

/**
 * Creates the stack's bridge network with a subnet of its own (10.231.x.0/24,
 * the first free one): a container disconnected by a fault can then be
 * connected again at the same address, which needs a user-configured subnet.
 */
async function createNetwork(name: string, labels: Record<string, string>): Promise<void> {
  const docker = dockerClient();
  const start = [...name].reduce((h, c) => (h * 31 + c.charCodeAt(0)) >>> 0, 7) % 250;
  let last: unknown;
  for (let i = 0; i < 250; i++) {
    const x = (start + i) % 250 + 1;
    try {
      await docker.createNetwork({
        Name: name,
        Driver: "bridge",
        CheckDuplicate: true,
        Labels: labels,
        IPAM: { Driver: "default", Config: [{ Subnet: `10.231.${x}.0/24` }] },
      });
      return;
    } catch (error) {
      last = error;
      if (!/overlap/i.test(String((error as Error).message))) break;
    }
  }
  throw new DockerError(`cannot create network ${name}: ${(last as Error).message}`, {
    cause: last,
  });
}

/**
 * True when the kernel under the engine has `sch_netem`: `tc qdisc ... netem`
 * in a throwaway container's own namespace (its loopback).
 */
export async function probeNetem(images: Images): Promise<boolean> {
  const probe = await runThrowaway(
    images.nethelper,
    ["sh", "-c", "tc qdisc add dev lo root netem delay 1ms && tc qdisc del dev lo root"],
    { NetworkMode: "none", CapAdd: ["NET_ADMIN"] },
    { [STACK_LABEL]: "netem-probe", [ROLE_LABEL]: "helper", [OWNER_LABEL]: ownerLabel() },
  );
  return probe.code === 0;
}

/** Removes what stack `name` left on the engine (containers, helpers, the network). */
export async function downDockerStack(name: string): Promise<string[]> {
  await requireDocker();
  return await removeLabelled(name);
}
