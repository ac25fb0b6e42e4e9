/**
 * The docker stack's place on the engine: where the engine is, the stack's
 * bridge network, whether its kernel has netem, and removing what a stack left.
 * @module
 */

import type { Images } from "./images.ts";
import {
  dockerClient,
  DockerError,
  OWNER_LABEL,
  ownerLabel,
  removeLabelled,
  requireDocker,
  ROLE_LABEL,
  runThrowaway,
  STACK_LABEL,
} from "./docker.ts";

/** The engine's host when `DOCKER_HOST` is a TCP address; undefined for a local socket. */
export function remoteEngineHost(): string | undefined {
  const where = Deno.env.get("DOCKER_HOST");
  if (!where || !/^(tcp|https?):\/\//.test(where)) return undefined;
  return new URL(where.replace(/^tcp:/, "http:")).hostname;
}

/**
 * Creates the stack's bridge network with a subnet of its own (10.231.x.0/24,
 * the first free one): a container disconnected by a fault can then be
 * connected again at the same address, which needs a user-configured subnet.
 */
export async function createNetwork(name: string, labels: Record<string, string>): Promise<void> {
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
