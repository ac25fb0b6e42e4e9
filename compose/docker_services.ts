/**
 * The containers of the docker stack: what each service runs (image, command,
 * environment, data bind mounts, ports published on a remote engine), and
 * creating a container of the stack from such a spec (labelled, on the
 * stack's network, with its node name as alias).
 * @module
 */

import { join } from "node:path";
import type Docker from "dockerode";
import { dockerClient } from "./docker.ts";
import type { Images } from "./images.ts";
import { brokerProperties, kafkaJvmArgs, type KafkaSettings } from "./kafka_config.ts";
import type { PortPlan } from "./ports.ts";
import { brokerNode, REDIS_BOUNDS, REDIS_DURABILITY, toxiproxyConfig } from "./stack.ts";

export interface ContainerSpec {
  image: string;
  cmd: string[];
  env?: Record<string, string>;
  binds?: string[];
  /** Ports published on a remote engine's host; `local` ones on its loopback only. */
  publish?: number[];
  local?: number[];
  memoryMb?: number;
}

/** Where a container of the stack goes. */
export interface Placement {
  container: string;
  node: string;
  network: string;
  labels: Record<string, string>;
  /** The remote engine's host, or undefined for a local engine (nothing published). */
  remote?: string;
}

export async function createContainer(
  at: Placement,
  spec: ContainerSpec,
): Promise<Docker.Container> {
  const ports = [...(spec.publish ?? []), ...(spec.local ?? [])];
  const exposed = Object.fromEntries(ports.map((p) => [`${p}/tcp`, {}]));
  return await dockerClient().createContainer({
    name: at.container,
    Hostname: at.node,
    Image: spec.image,
    Cmd: spec.cmd,
    Env: Object.entries(spec.env ?? {}).map(([k, v]) => `${k}=${v}`),
    Labels: at.labels,
    ExposedPorts: at.remote ? exposed : undefined,
    HostConfig: {
      NetworkMode: at.network,
      Binds: spec.binds,
      PortBindings: at.remote
        ? Object.fromEntries([
          ...(spec.publish ?? []).map((p) => [`${p}/tcp`, [{ HostPort: String(p) }]]),
          ...(spec.local ?? []).map((p) => [
            `${p}/tcp`,
            [{ HostIp: "127.0.0.1", HostPort: String(p) }],
          ]),
        ])
        : undefined,
      Memory: spec.memoryMb ? spec.memoryMb * 1024 * 1024 : undefined,
      RestartPolicy: { Name: "no" },
    },
    NetworkingConfig: { EndpointsConfig: { [at.network]: { Aliases: [at.node] } } },
  });
}

/** Toxiproxy, its proxies from `<dataDir>/toxiproxy/toxiproxy.json` (written here). */
export async function toxiproxySpec(
  images: Images,
  plan: PortPlan,
  dataDir: string,
): Promise<ContainerSpec> {
  const dir = join(dataDir, "toxiproxy");
  await Deno.mkdir(dir, { recursive: true });
  await Deno.writeTextFile(
    join(dir, "toxiproxy.json"),
    JSON.stringify(toxiproxyConfig(plan, "0.0.0.0", brokerNode), null, 2),
  );
  // Toxiproxy's API has no authentication: on a remote engine it is published on the
  // engine host's loopback only, unless CHAOS_TOXIPROXY_API_PUBLIC=1 (a trusted network).
  const apiPublic = Deno.env.get("CHAOS_TOXIPROXY_API_PUBLIC") === "1";
  return {
    image: images.toxiproxy,
    cmd: [
      ...["toxiproxy", "-host", "0.0.0.0", "-port", String(plan.toxiproxy)],
      ...["-config", "/data/toxiproxy.json"],
    ],
    binds: [`${dir}:/data`],
    publish: [...plan.brokers.map((b) => b.client.proxy), ...(apiPublic ? [plan.toxiproxy] : [])],
    local: apiPublic ? [] : [plan.toxiproxy],
  };
}

/** Redis with an append-only file; with `password` (a remote engine) it requires it. */
export async function redisSpec(
  images: Images,
  plan: PortPlan,
  dataDir: string,
  password?: string,
): Promise<ContainerSpec> {
  await Deno.mkdir(join(dataDir, "redis"), { recursive: true });
  return {
    image: images.redis,
    cmd: [
      ...["redis-server", "--port", String(plan.redis), "--bind", "0.0.0.0"],
      ...["--protected-mode", "no"],
      ...(password ? ["--requirepass", password] : []),
      ...["--dir", "/data", ...REDIS_DURABILITY, ...REDIS_BOUNDS],
    ],
    binds: [`${join(dataDir, "redis")}:/data`],
    publish: [plan.redis],
  };
}

/** MinIO with the stack's keys, no console, no update checks. */
export async function minioSpec(
  images: Images,
  plan: PortPlan,
  dataDir: string,
  keys: { accessKey: string; secretKey: string },
): Promise<ContainerSpec> {
  await Deno.mkdir(join(dataDir, "minio"), { recursive: true });
  return {
    image: images.minio,
    cmd: [
      ...["minio", "server", "/data", "--address", `0.0.0.0:${plan.minio}`],
      ...["--console-address", `0.0.0.0:${plan.minioConsole}`, "--quiet"],
    ],
    env: {
      MINIO_ROOT_USER: keys.accessKey,
      MINIO_ROOT_PASSWORD: keys.secretKey,
      MINIO_BROWSER: "off",
      MINIO_UPDATE: "off",
      MINIO_CALLHOME_ENABLE: "off",
    },
    binds: [`${join(dataDir, "minio")}:/data`],
    publish: [plan.minio],
  };
}

/** Writes broker `id`'s server.properties into `<dataDir>/kafka-<id>/`. */
export async function writeBrokerConfig(
  plan: PortPlan,
  id: number,
  dataDir: string,
  kafka: KafkaSettings,
  clientHost: string,
): Promise<void> {
  const dir = join(dataDir, brokerNode(id));
  await Deno.mkdir(dir, { recursive: true });
  await Deno.writeTextFile(
    join(dir, "server.properties"),
    brokerProperties(plan, id, {
      ...kafka,
      logDir: "/data/log",
      listenHost: "0.0.0.0",
      clientHost,
      peerHost: "toxiproxy",
    }),
  );
}

/** Broker `id`: Kafka's JVM on its server.properties and log in `<dataDir>/kafka-<id>`. */
export function brokerSpec(
  images: Images,
  id: number,
  heapMb: number,
  dataDir: string,
): ContainerSpec {
  return {
    image: images.kafka,
    cmd: ["java", ...kafkaJvmArgs(heapMb, "/opt/kafka/libs/*", "/data/server.properties")],
    binds: [`${join(dataDir, brokerNode(id))}:/data`],
  };
}

/** A one-off container formatting broker `id`'s storage for cluster `cluster` (StorageTool). */
export function formatSpec(
  images: Images,
  id: number,
  cluster: string,
  dataDir: string,
): ContainerSpec {
  return {
    image: images.kafka,
    cmd: [
      ...["java", "-Xmx256m", "-cp", "/opt/kafka/libs/*", "kafka.tools.StorageTool", "format"],
      ...["--ignore-formatted", "-t", cluster, "-c", "/data/server.properties"],
    ],
    binds: [`${join(dataDir, brokerNode(id))}:/data`],
  };
}
