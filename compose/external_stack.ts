/**
 * The external stack: a Kafka cluster, an S3 store and a Redis that someone
 * else runs, named by an endpoints file (external_endpoints.ts). The harness
 * starts nothing of it; it acts on a node only as the file allows: through the
 * node's container on the node's own Docker engine (process faults), or
 * through the Toxiproxy proxies named in front of its listeners (network
 * faults), or through a helper container in the node's network namespace on
 * that engine (`tc`, `iptables`: `netem`, `tbf`, `loss`). Brokers are the
 * cluster's own ids, read from Kafka.
 *
 * It leaves the cluster as it found it: the topics and consumer groups a run
 * created (`own`) are deleted by `down` (kept with `keepTopics`), after every
 * fault was healed. The objects the sink wrote stay in the bucket, under the
 * run's own topic name.
 *
 * ```ts
 * import { ExternalStack } from "./external_stack.ts";
 * import { readExternalEndpoints } from "./external_endpoints.ts";
 * const stack = await ExternalStack.open(await readExternalEndpoints("ep.json"), { name: "r1" });
 * console.log(stack.brokerIds(), await stack.health());
 * await stack.down();
 * ```
 * @module
 */

import { join } from "node:path";
import * as Minio from "minio";
import { UsageError } from "../lib/exit_codes.ts";
import { type Endpoints, minioClientOptions } from "../pipeline/endpoints.ts";
import { kafkaClient } from "../pipeline/kafka.ts";
import {
  dockerClientAt,
  ensureImageOn,
  OWNER_LABEL,
  ownerLabel,
  ROLE_LABEL,
  runThrowaway,
  STACK_LABEL,
} from "./docker.ts";
import { ensureImages } from "./images.ts";
import { DockerNode } from "./docker_node.ts";
import type { ExternalEndpoints } from "./external_endpoints.ts";
import type { KafkaSettings } from "./kafka_config.ts";
import { startWatchdog } from "./local_services.ts";
import { DEFAULT_BASE_PORT, type PortPlan, portPlan } from "./ports.ts";
import { kafkaBrokerIds, redisPing, toxiproxyUp } from "./probes.ts";
import {
  brokerNode,
  type NodeHealth,
  type Stack,
  StackBase,
  type StackNode,
  type StackOptions,
} from "./stack.ts";
import { ObservedNode } from "./observed_node.ts";
import { Toxiproxy } from "./toxiproxy.ts";
import { waitFor } from "../lib/wait.ts";

export interface ExternalStackOptions extends Pick<StackOptions, "name" | "basePort" | "dataDir"> {
  /** Keep the topics and groups the run created (`--keep-topic`). Default false. */
  keepTopics?: boolean;
}

export class ExternalStack extends StackBase<StackNode> implements Stack {
  readonly kind = "external" as const;
  readonly name: string;
  /** Only the harness's own ports (the components' metrics) are used. */
  readonly plan: PortPlan;
  readonly endpoints: Endpoints;
  readonly file: ExternalEndpoints;
  readonly dataDir: string;
  readonly nodes: Map<string, StackNode> = new Map();
  readonly toxiproxy: Toxiproxy;
  /** The cluster's own settings: not the harness's to know. */
  readonly kafkaSettings: KafkaSettings = {};
  readonly #brokerIds: number[];
  readonly #keepTopics: boolean;
  readonly #owned = { topics: [] as string[], groups: [] as string[] };
  #watchdogPid: number | undefined;
  #helper: Promise<string> | undefined;
  /** The data dir is a temp folder of its own, removed by `down`. */
  #temporary = false;
  readonly #engines = new Map<string, Promise<void>>();

  private constructor(
    file: ExternalEndpoints,
    brokerIds: number[],
    o: Required<Pick<ExternalStackOptions, "name" | "dataDir">> & ExternalStackOptions,
  ) {
    super();
    this.name = o.name;
    this.file = file;
    this.dataDir = o.dataDir;
    this.#brokerIds = brokerIds;
    this.#keepTopics = o.keepTopics ?? false;
    this.plan = portPlan(o.basePort ?? DEFAULT_BASE_PORT, Math.min(brokerIds.length, 9));
    // No Toxiproxy: the faults that need one are refused before a run (externalProblems).
    this.endpoints = { ...file, toxiproxy: { api: file.toxiproxy?.api ?? "" } };
    this.toxiproxy = new Toxiproxy(this.endpoints.toxiproxy.api || "http://toxiproxy.invalid");
  }

  /**
   * Connects to the cluster the file names: its broker ids from Kafka (every broker node the
   * file names must be one of them), a node handle for each broker and service. Exit 2 when the
   * file does not match the cluster; an EnvironmentError-like Error when Kafka does not answer.
   */
  static async open(file: ExternalEndpoints, o: ExternalStackOptions = {}): Promise<ExternalStack> {
    const name = o.name ?? "external";
    const ids = await kafkaBrokerIds(file.kafka.bootstrap.split(","), 15_000);
    if (ids.length === 0) {
      throw new Error(`no Kafka broker answers at ${file.kafka.bootstrap} (the endpoints file)`);
    }
    const strangers = Object.keys(file.nodes).filter((n) =>
      n.startsWith("kafka-") && !ids.includes(Number(n.slice(6)))
    );
    if (strangers.length) {
      throw new UsageError(
        `the endpoints file names ${strangers.join(", ")}, but the cluster's brokers are ` +
          `${ids.map(brokerNode).join(", ")} (name broker nodes kafka-<node.id>)`,
      );
    }
    const temporary = o.dataDir === undefined;
    const dataDir = o.dataDir ?? await Deno.makeTempDir({ prefix: "chaos-external-" });
    await Deno.mkdir(join(dataDir, "pids"), { recursive: true });
    const stack = new ExternalStack(file, ids, { ...o, name, dataDir });
    stack.#temporary = temporary;
    const names = [...ids.map(brokerNode), "minio", "redis"];
    if (file.toxiproxy) names.push("toxiproxy");
    for (const node of names) {
      const spec = file.nodes[node];
      stack.nodes.set(
        node,
        spec?.container
          ? new DockerNode(node, dockerClientAt(spec.docker_host).getContainer(spec.container), {
            remote: isRemoteEngine(spec.docker_host ?? Deno.env.get("DOCKER_HOST")),
          })
          : new ObservedNode(node),
      );
    }
    await stack.health();
    stack.#watchdogPid = startWatchdog(dataDir);
    return stack;
  }

  override brokerIds(): number[] {
    return [...this.#brokerIds];
  }

  override brokerProxies(id: number): { client: string; internal: string; controller: string } {
    const p = this.file.nodes[brokerNode(id)]?.proxies ?? {};
    const name = (l: "client" | "internal" | "controller") => {
      const proxy = p[l];
      if (!proxy) throw new Error(`the endpoints file names no ${l} proxy for ${brokerNode(id)}`);
      return proxy;
    };
    return { client: name("client"), internal: name("internal"), controller: name("controller") };
  }

  /** The quorum proxies between broker `id` and the others, as `nodes.<kafka-n>.proxies.quorum`. */
  override quorumLinks(id: number, direction: "into" | "both"): string[] {
    const link = (from: number, to: number) => {
      const proxy = this.file.nodes[brokerNode(from)]?.proxies?.quorum?.[String(to)];
      if (!proxy) {
        throw new Error(`the endpoints file names no quorum proxy from kafka-${from} to ${to}`);
      }
      return proxy;
    };
    return this.#brokerIds.filter((o) => o !== id).flatMap((o) =>
      direction === "into" ? [link(o, id)] : [link(o, id), link(id, o)]
    );
  }

  /**
   * `NetnsHost`: runs the script in a helper container on the node's own engine, sharing the
   * network namespace of the node's container (NET_ADMIN). The helper image is built here and
   * copied to that engine first when it lacks it (`prepareNetns`).
   */
  async inNetns(node: string, script: string): Promise<{ code: number; out: string }> {
    const spec = this.file.nodes[node];
    if (!spec?.container) {
      throw new Error(`cannot enter ${node}'s network: the endpoints file names no container`);
    }
    const image = await this.prepareNetns([node]);
    return await runThrowaway(
      image,
      ["sh", "-c", script],
      {
        NetworkMode: `container:${spec.container}`,
        CapAdd: ["NET_ADMIN"],
      },
      { [STACK_LABEL]: this.name, [ROLE_LABEL]: "helper", [OWNER_LABEL]: ownerLabel() },
      dockerClientAt(spec.docker_host),
    );
  }

  /**
   * Makes the helper image (tc, iptables) present on the engines of `nodes` (default: every
   * node with a container); its tag. Done before a run whose faults need it, so that no fault
   * waits for an image copy.
   */
  async prepareNetns(nodes?: string[]): Promise<string> {
    this.#helper ??= ensureImages().then((images) => images.nethelper);
    const image = await this.#helper;
    const names = nodes ?? Object.keys(this.file.nodes);
    for (const node of names) {
      const spec = this.file.nodes[node];
      if (!spec?.container) continue;
      const host = spec.docker_host ?? "";
      if (!this.#engines.has(host)) {
        this.#engines.set(host, ensureImageOn(dockerClientAt(spec.docker_host), image));
      }
      await this.#engines.get(host);
    }
    return image;
  }

  /** Records a topic and groups the run created, for `down` to delete. */
  own(topics: string[], groups: string[] = []): void {
    this.#owned.topics.push(...topics);
    this.#owned.groups.push(...groups);
  }

  protected unknownNode(message: string): Error {
    return new Error(message);
  }

  async health(): Promise<Record<string, NodeHealth>> {
    const live = await kafkaBrokerIds(this.endpoints.kafka.bootstrap.split(","), 5000)
      .catch(() => [] as number[]);
    const out: Record<string, NodeHealth> = {};
    await Promise.all([...this.nodes.values()].map(async (node) => {
      let ready: boolean;
      if (node.name.startsWith("kafka-")) ready = live.includes(Number(node.name.slice(6)));
      else ready = await this.nodeReady(node.name);
      if (node instanceof ObservedNode) node.state_ = ready ? "running" : "dead";
      const state = await node.refresh();
      out[node.name] = { state, ready: state === "running" && ready };
    }));
    return out;
  }

  async nodeReady(name: string): Promise<boolean> {
    if (name === "redis") {
      const url = new URL(this.endpoints.redis.url);
      const password = decodeURIComponent(url.password) || undefined;
      return await redisPing(Number(url.port || 6379), url.hostname, 2000, password);
    }
    if (name === "minio") return await bucketReachable(this.endpoints.s3);
    if (name === "toxiproxy") return await toxiproxyUp(this.endpoints.toxiproxy.api);
    const live = await kafkaBrokerIds(this.endpoints.kafka.bootstrap.split(","), 5000)
      .catch(() => [] as number[]);
    return live.includes(Number(name.replace("kafka-", "")));
  }

  /**
   * Leaves the cluster as the run found it: deletes the topics and groups the run created
   * (unless `keepTopics`); nothing else of the cluster is touched. Returns what it deleted.
   */
  async down(options: { keep?: boolean; quiet?: boolean } = {}): Promise<string[]> {
    this.#stopWatchdog();
    if (this.#temporary) await Deno.remove(this.dataDir, { recursive: true }).catch(() => {});
    if (options.keep || this.#keepTopics) return [];
    const { topics, groups } = this.#owned;
    if (!topics.length && !groups.length) return [];
    const kafka = kafkaClient(this.endpoints.kafka.bootstrap.split(","), `down-${this.name}`);
    const admin = kafka.admin();
    const deleted: string[] = [];
    try {
      await admin.connect();
      if (groups.length) {
        const existing = new Set((await admin.listGroups()).groups.map((g) => g.groupId));
        const mine = groups.filter((g) => existing.has(g));
        // A member killed without leaving keeps its group non-empty until its session expires.
        if (mine.length) {
          await waitFor(() => admin.deleteGroups(mine).then(() => true, () => false), {
            what: `the groups ${mine.join(", ")} to be empty and deleted`,
            timeoutMs: 60_000,
            intervalMs: 2000,
          });
        }
        deleted.push(...mine.map((g) => `group ${g}`));
      }
      if (topics.length) {
        await admin.deleteTopics({ topics, timeout: 30_000 });
        deleted.push(...topics.map((t) => `topic ${t}`));
      }
    } catch (error) {
      if (!options.quiet) console.error(`could not delete ${topics.join(", ")}: ${error}`);
      throw error;
    } finally {
      await admin.disconnect().catch(() => {});
    }
    this.#owned.topics = [];
    this.#owned.groups = [];
    return deleted;
  }

  detach(): Promise<void> {
    this.#stopWatchdog();
    return Promise.resolve();
  }

  #stopWatchdog(): void {
    if (!this.#watchdogPid) return;
    try {
      Deno.kill(this.#watchdogPid, "SIGKILL");
    } catch { /* gone */ }
    this.#watchdogPid = undefined;
  }
}

/** An engine reached over TCP runs on another host (or says it does): its pids are not ours. */
function isRemoteEngine(host: string | undefined): boolean {
  return !!host && !host.startsWith("unix:");
}

/** True when the bucket answers (any S3, not only MinIO's health endpoint). */
async function bucketReachable(s3: Endpoints["s3"]): Promise<boolean> {
  const client = new Minio.Client(minioClientOptions(s3));
  let timer: ReturnType<typeof setTimeout> | undefined;
  try {
    return await Promise.race([
      client.bucketExists(s3.bucket),
      new Promise<boolean>((resolve) => timer = setTimeout(() => resolve(false), 3000)),
    ]);
  } catch {
    return false;
  } finally {
    clearTimeout(timer);
  }
}
