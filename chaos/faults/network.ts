/**
 * Network faults of the local stack, through Toxiproxy in front of every
 * broker listener (client, inter-broker "internal", controller):
 *
 * - `latency`: a latency toxic with jitter;
 * - `bandwidth`: a bandwidth toxic (`rate_kbps` KiB/s left);
 * - `timeout`: connections stall and close after `timeout_ms` (0: stall);
 * - `reset`: connections are reset (TCP RST) as soon as data flows;
 * - `partition`: (on the docker stack: iptables, see docker_net.ts) the broker's proxies disabled, so clients, followers and the
 *   quorum lose it, and its own quorum links, so it cannot heartbeat either
 *   and the controller fences it; `listeners: ["internal"]` cuts only
 *   replication from it (followers fall out of its ISR while clients still
 *   write to it).
 *
 * Toxics act on the client and internal listeners unless `listeners` says
 * otherwise; `toxicity` (0..1) is the share of connections they touch.
 * @module
 */

import type { Toxic } from "../../compose/toxiproxy.ts";
import { partitionDocker } from "./docker_net.ts";
import {
  BOTH_STACKS,
  type Fault,
  type FaultContext,
  type FaultParams,
  type Injected,
  type Listener,
  requires,
} from "./types.ts";

const brokerId = (name: string) => Number(name.replace("kafka-", ""));

/**
 * The proxies of the target brokers' listeners. The quorum runs over one proxy
 * per pair and direction (see compose/ports.ts), so "controller" means the
 * links into the broker, and with `both` also the links out of it.
 */
function proxiesOf(
  ctx: FaultContext,
  nodes: string[],
  listeners: Listener[],
  quorum: "into" | "both",
): string[] {
  return nodes.flatMap((name) => {
    const id = brokerId(name);
    const p = ctx.stack.brokerProxies(id);
    return listeners.flatMap((l) =>
      l !== "controller" ? [p[l]] : [p.controller, ...ctx.stack.quorumLinks(id, quorum)]
    );
  });
}

/** A fault that adds one toxic to the chosen listeners of the target brokers. */
function toxicFault(
  kind: string,
  meta: Pick<Fault, "summary" | "params" | "missing">,
  toxic: (params: FaultParams) => Omit<Toxic, "name">,
): Fault {
  const name = `chaos-${kind}`;
  return {
    kind,
    ...meta,
    params: [...meta.params, "toxicity", "listeners"],
    targets: ["broker"],
    stacks: BOTH_STACKS,
    async inject(ctx, nodes, params): Promise<Injected> {
      const spec = toxic(params);
      const added: string[] = [];
      const heal = async () => {
        for (const proxy of added) {
          await ctx.stack.toxiproxy.removeToxic(proxy, name).catch(() => {});
        }
        return { removed: [...added] };
      };
      try {
        const listeners = params.listeners ?? ["client", "internal"];
        for (const proxy of proxiesOf(ctx, nodes, listeners, "into")) {
          await ctx.stack.toxiproxy.addToxic(proxy, {
            name,
            toxicity: params.toxicity ?? 1,
            ...spec,
          });
          added.push(proxy);
        }
        // Observed only when Toxiproxy reports the toxic on every proxy.
        const proxies = await ctx.stack.toxiproxy.proxies();
        const missing = added.filter((p) => !proxies[p]?.toxics?.some((t) => t.name === name));
        if (missing.length) throw new Error(`toxic ${name} is not on ${missing.join(", ")}`);
      } catch (error) {
        await heal();
        throw error;
      }
      return { observed: { toxics: [...added], ...spec.attributes }, heal };
    },
  };
}

export const latency = toxicFault("latency", {
  summary: "Toxiproxy latency toxic (latency_ms ± jitter_ms) on the brokers' listeners",
  params: ["latency_ms", "jitter_ms"],
  missing: requires("latency_ms"),
}, (p) => ({
  type: "latency",
  attributes: { latency: p.latency_ms ?? 0, jitter: p.jitter_ms ?? 0 },
}));

export const bandwidth = toxicFault("bandwidth", {
  summary: "Toxiproxy bandwidth toxic: rate_kbps KiB/s left",
  params: ["rate_kbps"],
  missing: requires("rate_kbps"),
}, (p) => ({
  type: "bandwidth",
  attributes: { rate: p.rate_kbps ?? 0 },
}));

export const timeout = toxicFault("timeout", {
  summary: "Toxiproxy timeout toxic: connections stall, closed after timeout_ms (0: never)",
  params: ["timeout_ms"],
}, (p) => ({
  type: "timeout",
  attributes: { timeout: p.timeout_ms ?? 0 },
}));

export const reset = toxicFault("reset", {
  summary: "Toxiproxy reset_peer toxic: connections reset as data flows",
  params: [],
}, () => ({
  type: "reset_peer",
  attributes: { timeout: 0 },
}));

export const partition: Fault = {
  kind: "partition",
  summary:
    "brokers cut off (local: Toxiproxy proxies disabled; docker: iptables, also link:<a>-<b>)",
  targets: ["broker", "link"],
  stacks: BOTH_STACKS,
  params: ["listeners"],
  problem: (target, stack) =>
    stack === "local" && target.startsWith("link:")
      ? `${target}: the local stack cannot cut one link between two brokers ` +
        "(its Toxiproxy proxies sit in front of each broker's listeners, shared by all its " +
        "peers); the docker stack cuts one pair with iptables: run with --stack docker, or " +
        "partition one broker from all: broker:<id>"
      : undefined,
  async inject(ctx, nodes, params) {
    const link = nodes[0]?.match(/^link:(\d+)-(\d+)$/);
    if (ctx.stack.kind === "docker") {
      return await partitionDocker(
        ctx,
        nodes,
        params,
        link ? [Number(link[1]), Number(link[2])] : undefined,
      );
    }
    if (link) throw new Error("the local stack cannot cut one link (use --stack docker)");
    const proxies: string[] = [];
    const heal = async () => {
      for (const proxy of proxies) await ctx.stack.toxiproxy.setEnabled(proxy, true);
      return { enabled: [...proxies] };
    };
    try {
      // Both ways: the isolated broker can neither be reached nor heartbeat, so it is fenced.
      const listeners = params.listeners ?? ["client", "internal", "controller"];
      for (const proxy of proxiesOf(ctx, nodes, listeners, "both")) {
        await ctx.stack.toxiproxy.setEnabled(proxy, false);
        proxies.push(proxy);
      }
      const now = await ctx.stack.toxiproxy.proxies();
      const open = proxies.filter((p) => now[p]?.enabled !== false);
      if (open.length) throw new Error(`proxies still enabled: ${open.join(", ")}`);
    } catch (error) {
      await heal();
      throw error;
    }
    return { observed: { disabled: [...proxies] }, heal };
  },
};

export const webhookFail: Fault = {
  kind: "webhook_fail",
  summary: "the webhook receiver answers `status` (default 503), or answers after delay_ms",
  targets: ["webhook"],
  stacks: BOTH_STACKS,
  params: ["status", "delay_ms"],
  inject(ctx, _nodes, params) {
    // An error status, or with delay_ms a slow answer (of that status; 200 keeps it a success).
    const status = params.status ?? (params.delay_ms ? 200 : 503);
    ctx.receiver.failUntil(Number.MAX_SAFE_INTEGER, { status, delayMs: params.delay_ms });
    return Promise.resolve({
      observed: { status, delay_ms: params.delay_ms ?? 0 },
      heal() {
        ctx.receiver.failUntil(0);
        return Promise.resolve({ answering: 200 });
      },
    });
  },
};
