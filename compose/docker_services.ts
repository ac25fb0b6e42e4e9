/**
 * The containers of the docker stack: what each service runs (image, command,
 * environment, data bind mounts, ports published on a remote engine), and
 * creating a container of the stack from such a spec (labelled, on the
 * stack's network, with its node name as alias). Secrets stay off every
 * command line (`docker inspect` shows it): Redis's users are an ACL file in
 * its data folder (redis_acl.ts), the brokers' SCRAM users an argument file
 * the format container reads and the stack removes (kafka_scram.ts).
 *
 * ```ts
 * import { formatSpec } from "./docker_services.ts";
 * const spec = formatSpec(images, 1, "Mk3OEYBSD34fcwNTJENDM2Qk", "/tmp/docker-demo", { scram: true });
 * ```
 * @module
 */

import { join } from "node:path";
import type Docker from "dockerode";
import { dockerClient } from "./docker.ts";
import type { Images } from "./images.ts";
import { brokerProperties, kafkaJvmArgs, type KafkaSettings } from "./kafka_config.ts";
import { type KafkaUsers, scramFormatArgs } from "./kafka_scram.ts";
import type { PortPlan } from "./ports.ts";
import { type RedisUsers, writeRedisAclFile } from "./redis_acl.ts";
import { brokerNode, REDIS_DURABILITY, toxiproxyConfig } from "./stack.ts";

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

/** Where Redis's ACL file is, in its data folder (the official image's entrypoint owns it). */
export const REDIS_ACL_FILE = "users.acl";

/**
 * Redis with an append-only file and the stack's users (redis_acl.ts): the harness as `default`,
 * the pipeline restricted; nobody without a password.
 */
export async function redisSpec(
  images: Images,
  plan: PortPlan,
  dataDir: string,
  users: RedisUsers,
): Promise<ContainerSpec> {
  await Deno.mkdir(join(dataDir, "redis"), { recursive: true });
  await writeRedisAclFile(join(dataDir, "redis", REDIS_ACL_FILE), users);
  return {
    image: images.redis,
    cmd: [
      ...["redis-server", "--port", String(plan.redis), "--bind", "0.0.0.0"],
      ...["--protected-mode", "no", "--aclfile", `/data/${REDIS_ACL_FILE}`],
      ...["--dir", "/data", ...REDIS_DURABILITY],
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

/**
 * Writes broker `id`'s server.properties into `<dataDir>/kafka-<id>/`; with `scram`, its CLIENT
 * listener SCRAM-SHA-512 and the StandardAuthorizer, that user a super user (kafka_config.ts).
 */
export async function writeBrokerConfig(
  plan: PortPlan,
  id: number,
  dataDir: string,
  kafka: KafkaSettings,
  clientHost: string,
  scram?: { superUser: string },
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
      scram,
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

/** The file of StorageTool's `--add-scram` arguments, in a broker's folder while it is formatted. */
export const SCRAM_ARGS_FILE = "scram.args";

/**
 * Writes broker `id`'s `--add-scram` arguments (kafka_scram.ts) for `formatSpec` to read, mode
 * 0600; the stack removes the file once the storage is formatted. Returns its path.
 */
export async function writeScramArgs(
  dataDir: string,
  id: number,
  users: KafkaUsers,
): Promise<string> {
  const file = join(dataDir, brokerNode(id), SCRAM_ARGS_FILE);
  // One argument a line; names and passwords are plain (scramFormatArgs refuses anything else).
  await Deno.writeTextFile(file, scramFormatArgs(users).join("\n") + "\n", { mode: 0o600 });
  await Deno.chmod(file, 0o600);
  return file;
}

/**
 * A one-off container formatting broker `id`'s storage for cluster `cluster` (StorageTool); with
 * `scram`, adding the users of `<dataDir>/kafka-<id>/scram.args` (`writeScramArgs`): read by the
 * container's shell, so no password is on its command line.
 */
export function formatSpec(
  images: Images,
  id: number,
  cluster: string,
  dataDir: string,
  options: { scram?: boolean } = {},
): ContainerSpec {
  const format = [
    ...["java", "-Xmx256m", "-cp", "/opt/kafka/libs/*", "kafka.tools.StorageTool", "format"],
    ...["--ignore-formatted", "-t", cluster, "-c", "/data/server.properties"],
  ];
  if (!/^[A-Za-z0-9_-]+$/.test(cluster)) throw new RangeError(`cluster id "${cluster}"`);
  return {
    image: images.kafka,
    // `set -f`: the arguments' `[name=…]` is no glob; split on the file's new lines only.
    cmd: options.scram
      ? [
        "sh",
        "-c",
        `set -f; IFS='\n'; exec ${
          format.map((a) => a.includes("*") ? `'${a}'` : a).join(" ")
        } $(cat /data/${SCRAM_ARGS_FILE})`,
      ]
      : format,
    binds: [`${join(dataDir, brokerNode(id))}:/data`],
  };
}
