/**
 * The docker stack's processes on the harness's host: the S3 proxy
 * (s3_proxy.ts, for `s3_fault`) and the kafka proxy (kafka_proxy_control.ts,
 * for `kafka_error`), run as on the local stack, as processes of the harness
 * listening on the host's loopback, in front of the containers:
 *
 * - the pipeline → S3 proxy (127.0.0.1:base+12) → MinIO's container (its
 *   address on the stack's network, or the remote engine's published port);
 * - clients → kafka proxy (127.0.0.1:base+100+10i+6, a component's +7..+9) →
 *   the broker's Toxiproxy client port in Toxiproxy's container → the broker:
 *   the local stack's chain, so latency and the other Toxiproxy faults still
 *   act behind the kafka proxy. The brokers then advertise the proxy's ports
 *   for their client listener (127.0.0.1: clients on this host).
 *
 * They are the stack's `hostNodes` (not `nodes`: those are containers), with
 * pid files in `<dataDir>/pids`, so the stack's watchdog kills them when the
 * harness dies; `down` kills them first, before the containers go. The S3
 * proxy runs unless `CHAOS_S3_PROXY=off` (as on the local stack); the kafka
 * proxy when asked (a run whose scenario uses `kafka_error`) or with
 * `CHAOS_KAFKA_PROXY=on`.
 * @module
 */

import { DockerError } from "./docker.ts";
import {
  KAFKA_PROXY_NODE,
  kafkaProxyControlUrl,
  kafkaProxySpec,
  kafkaProxyUp,
} from "./kafka_proxy_control.ts";
import { PROXY_LISTENERS } from "./kafka_proxy_mode.ts";
import { listenerPort } from "./kafka_proxy_routes.ts";
import type { PortPlan } from "./ports.ts";
import { ProcessNode, type ProcessSpec } from "./process_node.ts";
import { S3_PROXY_NODE, s3ProxyEndpoints, s3ProxySpec, s3ProxyUp } from "./s3_proxy.ts";
import { GiveUp, portFree, waitFor } from "../lib/wait.ts";

/** Which proxies run, and where their upstreams are. */
export interface HostProxies {
  /** MinIO's host (its container's address, or the remote engine's); undefined: no S3 proxy. */
  s3?: string;
  /** Toxiproxy's host (likewise); undefined: no kafka proxy. */
  kafka?: string;
}

/** The specs of the proxies' processes on a docker stack of `plan`. */
export function hostProxySpecs(
  plan: PortPlan,
  dataDir: string,
  proxies: HostProxies,
): ProcessSpec[] {
  return [
    ...(proxies.s3 ? [s3ProxySpec(plan, dataDir, { upstreamHost: proxies.s3 })] : []),
    ...(proxies.kafka ? [kafkaProxySpec(plan, dataDir, { upstreamHost: proxies.kafka })] : []),
  ];
}

/** The host ports the proxies of `names` listen on. */
export function hostProxyPorts(plan: PortPlan, names: readonly string[]): number[] {
  const ports: number[] = [];
  if (names.includes(S3_PROXY_NODE)) ports.push(plan.s3Proxy, plan.s3ProxyControl);
  if (names.includes(KAFKA_PROXY_NODE)) {
    ports.push(plan.kafkaProxyControl);
    for (const b of plan.brokers) {
      ports.push(...PROXY_LISTENERS.map((l) => listenerPort(b.kafkaProxy, l)));
    }
  }
  return ports;
}

/** The stack's bootstrap through the kafka proxy: the harness's listener of each broker. */
export function proxiedBootstrap(plan: PortPlan): string {
  return plan.brokers.map((b) => `127.0.0.1:${b.kafkaProxy}`).join(",");
}

/** Whether a host proxy answers on its control API. */
export async function hostProxyReady(plan: PortPlan, name: string): Promise<boolean> {
  if (name === S3_PROXY_NODE) return await s3ProxyUp(s3ProxyEndpoints(plan).control);
  if (name === KAFKA_PROXY_NODE) return await kafkaProxyUp(kafkaProxyControlUrl(plan));
  return false;
}

/**
 * Starts the proxies of `specs` (their ports checked free first) and waits until each answers;
 * returns them by name. On a failure those started are killed again.
 */
export async function startHostProxies(
  plan: PortPlan,
  specs: readonly ProcessSpec[],
  options: { timeoutMs?: number; signal?: AbortSignal } = {},
): Promise<Map<string, ProcessNode>> {
  const busy = hostProxyPorts(plan, specs.map((s) => s.name)).filter((p) => !portFree(p));
  if (busy.length > 0) {
    throw new DockerError(
      `the S3 and kafka proxies run on this host, and port${busy.length > 1 ? "s" : ""} ${
        busy.join(", ")
      } of 127.0.0.1 ${busy.length > 1 ? "are" : "is"} in use (choose another base port)`,
    );
  }
  const nodes = new Map(specs.map((s) => [s.name, new ProcessNode(s)]));
  try {
    for (const node of nodes.values()) await node.start();
    for (const node of nodes.values()) {
      await waitFor(async () => {
        if (node.state() === "dead") {
          throw new GiveUp(`${node.name} exited during start-up:\n${await node.tail(15)}`);
        }
        return await hostProxyReady(plan, node.name);
      }, {
        what: `${node.name} to be ready`,
        timeoutMs: options.timeoutMs ?? 30_000,
        signal: options.signal,
      });
    }
    return nodes;
  } catch (error) {
    await stopHostProxies(nodes);
    throw error;
  }
}

/** Kills the proxies (a proxy holds nothing worth a clean stop). */
export async function stopHostProxies(nodes: ReadonlyMap<string, ProcessNode>): Promise<string[]> {
  const stopped: string[] = [];
  await Promise.all([...nodes.values()].map(async (node) => {
    if (node.state() === "dead") return;
    stopped.push(node.name);
    await node.kill().catch(() => {});
  }));
  return stopped.sort();
}
