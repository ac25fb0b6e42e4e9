/**
 * The Docker engine, through dockerode: one client (local socket, or the
 * engine `DOCKER_HOST` names), a reachability check with a message that says
 * what to do, and helpers for streams, exec and labelled clean-up.
 *
 * ```ts
 * import { dockerClient, requireDocker } from "./docker.ts";
 * await requireDocker();
 * console.log((await dockerClient().version()).Version);
 * ```
 * @module
 */

import Docker from "dockerode";
import { unmountUnder } from "./disk.ts";
import { EnvironmentError } from "../lib/exit_codes.ts";
import { processStartTime, processState } from "./process_node.ts";

/** Label every container and network of a stack carries: the stack's name. */
export const STACK_LABEL = "org.chaos-harness.stack";
/** Label naming the role of a container (a node name, or "nethelper"). */
export const ROLE_LABEL = "org.chaos-harness.role";
/** Label naming the harness process that owns the stack: `<hostname> <pid> <start time>`. */
export const OWNER_LABEL = "org.chaos-harness.owner";

/** This process as an owner label. */
export function ownerLabel(detached = false): string {
  if (detached) return `${Deno.hostname()} ${DETACHED}`;
  return `${Deno.hostname()} ${Deno.pid} ${processStartTime(Deno.pid) ?? "?"}`;
}

/** The owner of a stack that outlives its command (`deno task up --stack docker`). */
const DETACHED = "detached";

/**
 * Removes the stacks whose owner (a harness process on this host) is gone: what
 * a SIGKILLed run left. Stacks of other hosts, or without an owner label
 * (`deno task up`-style stacks), are left alone. Returns the stacks removed.
 */
export async function removeOrphans(): Promise<string[]> {
  const docker = dockerClient();
  const filters = JSON.stringify({ label: [OWNER_LABEL] });
  const containers: { Labels: Record<string, string> }[] = await docker.listContainers({
    all: true,
    filters,
  });
  const networks: { Labels: Record<string, string> }[] = await docker.listNetworks({ filters });
  const orphaned = new Set<string>();
  for (const { Labels } of [...containers, ...networks]) {
    const [host, pid, start] = (Labels[OWNER_LABEL] ?? "").split(" ");
    if (host !== Deno.hostname() || !pid || pid === DETACHED || !Labels[STACK_LABEL]) continue;
    if (processState(Number(pid), start === "?" ? undefined : start) === "dead") {
      orphaned.add(Labels[STACK_LABEL]);
    }
  }
  for (const name of orphaned) await removeLabelled(name);
  return [...orphaned].sort();
}

let client: Docker | undefined;

/** The shared client (dockerode reads `DOCKER_HOST`, `DOCKER_CERT_PATH`... itself). */
export function dockerClient(): Docker {
  client ??= new Docker();
  return client;
}

/**
 * A client of the engine at `host` (`unix:///path` or `tcp://host:port`), one per address; the
 * shared client when `host` is undefined.
 */
export function dockerClientAt(host?: string): Docker {
  if (!host) return dockerClient();
  let c = clients.get(host);
  if (!c) {
    const url = new URL(host.replace(/^tcp:/, "http:"));
    c = host.startsWith("unix:")
      ? new Docker({ socketPath: url.pathname })
      : new Docker({ host: url.hostname, port: Number(url.port || 2375), protocol: "http" });
    clients.set(host, c);
  }
  return c;
}
const clients = new Map<string, Docker>();

export class DockerError extends EnvironmentError {
  override name = "DockerError";
}

/** Where the engine is, for messages. */
function dockerWhere(): string {
  return Deno.env.get("DOCKER_HOST") ?? "unix:///var/run/docker.sock";
}

/** Fails with a message that says how to get an engine when none answers. */
export async function requireDocker(): Promise<string> {
  try {
    const v = await dockerClient().version();
    return v.Version;
  } catch (error) {
    throw new DockerError(
      `cannot reach the Docker engine at ${dockerWhere()}: ${(error as Error).message}. ` +
        "Start it (dockerd &) or point DOCKER_HOST at one; `.ci/run` installs docker.io and starts it.",
      { cause: error },
    );
  }
}

export interface ProgressMessage {
  status?: string;
  stream?: string;
  error?: string;
  errorDetail?: { message?: string };
}

/** Reads a JSON-lines progress stream (build, import, pull) to its end. */
export function streamToEnd(stream: NodeJS.ReadableStream): Promise<ProgressMessage[]> {
  return new Promise((resolve, reject) => {
    dockerClient().modem.followProgress(
      stream,
      (error: Error | null, output: ProgressMessage[]) => error ? reject(error) : resolve(output),
    );
  });
}

/**
 * Runs `cmd` to its end in a throwaway container of `image` and returns its
 * exit code and output; the container is removed whatever happens.
 */
export async function runThrowaway(
  image: string,
  cmd: string[],
  hostConfig: Docker.HostConfig,
  labels: Record<string, string>,
  docker: Docker = dockerClient(),
): Promise<{ code: number; out: string }> {
  const container = await docker.createContainer({
    Image: image,
    Cmd: cmd,
    Labels: labels,
    HostConfig: hostConfig,
  });
  try {
    await container.start();
    const status = await container.wait() as { StatusCode: number };
    const buf = await container.logs({
      stdout: true,
      stderr: true,
      follow: false,
    }) as unknown as Uint8Array;
    return { code: status.StatusCode, out: demux([buf]) };
  } finally {
    await container.remove({ force: true }).catch(() => {});
  }
}

/**
 * Makes `image` (built on the default engine) present on the engine `docker`: copied over
 * (`docker save | docker load` through the API) when that engine lacks it.
 */
export async function ensureImageOn(docker: Docker, image: string): Promise<void> {
  if (await docker.getImage(image).inspect().then(() => true, () => false)) return;
  const saved = await dockerClient().getImage(image).get();
  const loading = await docker.loadImage(saved as unknown as NodeJS.ReadableStream);
  await new Promise<void>((resolve, reject) =>
    docker.modem.followProgress(loading, (error: Error | null) => error ? reject(error) : resolve())
  );
}

/**
 * The text of a multiplexed Docker stream (8-byte frame headers), or the raw
 * bytes when it is not multiplexed (a TTY).
 */
export function demux(chunks: Uint8Array[]): string {
  const all = new Uint8Array(chunks.reduce((n, c) => n + c.length, 0));
  let at = 0;
  for (const c of chunks) {
    all.set(c, at);
    at += c.length;
  }
  const parts: Uint8Array[] = [];
  let i = 0;
  while (i + 8 <= all.length && (all[i] === 1 || all[i] === 2) && all[i + 1] === 0) {
    const size = new DataView(all.buffer, all.byteOffset + i + 4, 4).getUint32(0);
    parts.push(all.subarray(i + 8, i + 8 + size));
    i += 8 + size;
  }
  if (i !== all.length) return new TextDecoder().decode(all);
  return parts.map((p) => new TextDecoder().decode(p)).join("");
}

/**
 * Removes every container (forced) and network labelled with stack `name`;
 * returns the names removed.
 */
export async function removeLabelled(name: string): Promise<string[]> {
  const docker = dockerClient();
  const filters = JSON.stringify({ label: [`${STACK_LABEL}=${name}`] });
  const removed: string[] = [];
  const containers: {
    Id: string;
    State: string;
    Names: string[];
    Mounts?: { Type: string; Source: string }[];
  }[] = await docker.listContainers({ all: true, filters });
  await Promise.all(containers.map(async (c) => {
    const container = docker.getContainer(c.Id);
    if (c.State === "paused") await container.unpause().catch(() => {});
    await container.remove({ force: true, v: true }).catch(() => {});
    removed.push(c.Names[0]?.replace(/^\//, "") ?? c.Id);
  }));
  // Bounded disks (disk.ts) under the folders the containers had: unmounted, MinIO's kept.
  const sources = containers.flatMap((c) => c.Mounts ?? []).filter((m) => m.Type === "bind");
  for (const { Source } of sources) await unmountUnder(Source, ["minio"]).catch(() => {});
  const networks = await docker.listNetworks({ filters });
  for (const n of networks) {
    await docker.getNetwork(n.Id).remove().catch(() => {});
    removed.push(`network ${n.Name}`);
  }
  return removed.sort();
}
