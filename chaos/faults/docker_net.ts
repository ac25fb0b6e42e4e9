/**
 * Network faults of the docker stack, in the target container's own network
 * namespace, from a helper container that shares it (`--network
 * container:<target>`, NET_ADMIN): the target image needs no tools.
 *
 * - `netem`: `tc qdisc ... netem` delay (`latency_ms`, `jitter_ms`) and loss
 *   (`loss_pct`) on the container's interface. Kernels without `sch_netem`
 *   (as on the machine this was built on) cannot: a scenario asking for it is
 *   rejected before the run (exit 2), pointing at Toxiproxy's `latency`.
 * - `tbf`: a token-bucket bandwidth limit (`rate_kbps`, KiB/s as for
 *   `bandwidth`) on what the container sends.
 * - `loss`: iptables `-m statistic --mode random` drops `loss_pct` % of the
 *   packets in and out.
 * - `partition` (docker): iptables DROP on the broker's listener ports and on
 *   the proxies it reaches its peers through, by listener (client, internal,
 *   controller); `link:<a>-<b>` cuts only the replication and quorum traffic
 *   between brokers a and b, both ways, and leaves both reachable by clients
 *   and by the third broker.
 * - `disconnect`: the container is disconnected from the stack network through
 *   the Docker API, and connected again with the same address on heal.
 *
 * Every qdisc and rule is removed on heal; a failed inject removes what it
 * added before it throws.
 * @module
 */

import type { DockerStack } from "../../compose/docker_stack.ts";
import { dockerClient } from "../../compose/docker.ts";
import {
  type Fault,
  type FaultContext,
  type FaultParams,
  type Injected,
  type Listener,
  requires,
} from "./types.ts";
import { LISTENERS } from "./types.ts";

const STACK_NODES = ["broker", "service"] as const;

/** A comment on every rule the harness adds, so a heal finds exactly its own. */
const COMMENT = "chaos-harness";

function dockerStack(ctx: FaultContext, kind: string): DockerStack {
  if (ctx.stack.kind !== "docker") {
    throw new Error(`${kind} needs the docker stack (--stack docker)`);
  }
  return ctx.stack as DockerStack;
}

/** Runs a shell script in node's network namespace; fails with its output. */
async function inNetns(stack: DockerStack, node: string, script: string): Promise<string> {
  const result = await stack.runHelper(stack.images.nethelper, ["sh", "-c", script], {
    netnsOf: node,
  });
  if (result.code !== 0) {
    throw new Error(
      `in ${node}'s network namespace: ${script}: exit ${result.code}: ${result.out}`,
    );
  }
  return result.out;
}

/** A fault that runs `add` in each target's namespace and `remove` on heal. */
function netnsFault(
  kind: string,
  meta: Pick<Fault, "summary" | "params" | "missing" | "problem">,
  scripts: (params: FaultParams, stack: DockerStack) => { add: string; remove: string },
): Fault {
  return {
    kind,
    ...meta,
    targets: STACK_NODES,
    stacks: ["docker"],
    async inject(ctx, nodes, params): Promise<Injected> {
      const stack = dockerStack(ctx, kind);
      if (kind === "netem" && !stack.netem) {
        throw new Error("this kernel has no sch_netem; use the latency fault (Toxiproxy)");
      }
      const { add, remove } = scripts(params, stack);
      const done: string[] = [];
      const heal = async () => {
        for (const node of done) await inNetns(stack, node, remove).catch(() => {});
        return { removed_from: [...done] };
      };
      try {
        for (const node of nodes) {
          done.push(node);
          await inNetns(stack, node, add);
        }
      } catch (error) {
        await heal();
        throw error;
      }
      return { observed: { nodes: [...done], command: add }, heal };
    },
  };
}

export const netem = netnsFault("netem", {
  summary: "tc netem delay (latency_ms, jitter_ms) and loss (loss_pct) in the container",
  params: ["latency_ms", "jitter_ms", "loss_pct"],
  missing: (p) =>
    p.latency_ms === undefined && p.loss_pct === undefined ? ["latency_ms or loss_pct"] : [],
  problem: (_target, stack, host) =>
    stack === "docker" && host.netem === false
      ? "netem needs the kernel module sch_netem, which this kernel does not have " +
        '("Specified qdisc kind is unknown"); use the latency fault (Toxiproxy) instead: ' +
        '{ kind: "latency", params: { latency_ms, jitter_ms } }'
      : undefined,
}, (p) => {
  const delay = p.latency_ms
    ? ` delay ${p.latency_ms}ms${p.jitter_ms ? ` ${p.jitter_ms}ms distribution normal` : ""}`
    : "";
  const loss = p.loss_pct ? ` loss ${p.loss_pct}%` : "";
  return {
    add: `tc qdisc add dev eth0 root netem${delay}${loss}`,
    remove: "tc qdisc del dev eth0 root",
  };
});

export const tbf = netnsFault("tbf", {
  summary: "tc tbf bandwidth limit: rate_kbps KiB/s of what the container sends",
  params: ["rate_kbps"],
  missing: requires("rate_kbps"),
}, (p) => {
  const kbit = (p.rate_kbps ?? 1) * 8;
  // The bucket holds 20 ms of traffic (at least an MTU); a packet waits 500 ms at most.
  const burst = Math.max(1600, Math.ceil((kbit * 1000) / 8 / 50));
  return {
    add: `tc qdisc add dev eth0 root tbf rate ${kbit}kbit burst ${burst} latency 500ms`,
    remove: "tc qdisc del dev eth0 root",
  };
});

export const loss = netnsFault("loss", {
  summary: "iptables random drops: loss_pct % of packets in and out",
  params: ["loss_pct"],
  missing: requires("loss_pct"),
}, (p) => {
  const probability = ((p.loss_pct ?? 0) / 100).toFixed(4);
  const rule = (chain: string) =>
    `${chain} -m statistic --mode random --probability ${probability} ` +
    `-m comment --comment ${COMMENT} -j DROP`;
  return {
    add: `iptables -A ${rule("INPUT")} && iptables -A ${rule("OUTPUT")}`,
    remove: `iptables -D ${rule("INPUT")}; iptables -D ${rule("OUTPUT")}`,
  };
});

/**
 * The iptables rules that cut broker `id` off on `listeners`: what reaches
 * its own listener ports, and what it sends to the proxies of its peers
 * (`peers`) for replication and the quorum. Traffic between brokers goes
 * through Toxiproxy, so a peer is told apart by the proxy port it is reached
 * through.
 */
export function partitionRules(
  stack: Pick<DockerStack, "plan">,
  id: number,
  listeners: readonly Listener[],
  peers: number[],
): string[] {
  const me = stack.plan.brokers.find((b) => b.id === id)!;
  const rules: string[] = [];
  const drop = (chain: string, match: string) =>
    `${chain} -p tcp ${match} -m comment --comment ${COMMENT} -j DROP`;
  for (const l of listeners) {
    // What the others and the clients send to it.
    if (peers.length === stack.plan.brokers.length - 1 || l === "client") {
      rules.push(drop("INPUT", `--dport ${me[l].real}`));
    }
    for (const peer of peers) {
      const p = stack.plan.brokers.find((b) => b.id === peer)!;
      if (l === "internal") rules.push(drop("OUTPUT", `--dport ${p.internal.proxy}`));
      if (l === "controller") rules.push(drop("OUTPUT", `--dport ${me.quorum[peer]}`));
    }
  }
  return rules;
}

const brokerId = (name: string) => Number(name.replace("kafka-", ""));

/** `partition` on the docker stack: iptables in the brokers' namespaces. */
export async function partitionDocker(
  ctx: FaultContext,
  nodes: string[],
  params: FaultParams,
  link?: [number, number],
): Promise<Injected> {
  const stack = dockerStack(ctx, "partition");
  const cuts: { node: string; rules: string[] }[] = [];
  if (link) {
    // Only the pair: each side stops sending replication and quorum traffic to the other.
    const [a, b] = link;
    for (const [from, to] of [[a, b], [b, a]]) {
      cuts.push({
        node: `kafka-${from}`,
        rules: partitionRules(stack, from, ["internal", "controller"], [to]),
      });
    }
  } else {
    const listeners = params.listeners ?? [...LISTENERS];
    for (const node of nodes) {
      const id = brokerId(node);
      const peers = stack.brokerIds().filter((p) => p !== id);
      cuts.push({ node, rules: partitionRules(stack, id, listeners, peers) });
    }
  }
  const added: { node: string; rules: string[] }[] = [];
  const heal = async () => {
    for (const cut of added) {
      const script = cut.rules.map((r) => `iptables -D ${r}`).join("; ");
      await inNetns(stack, cut.node, script).catch(() => {});
    }
    return { removed: added.map((c) => `${c.node}: ${c.rules.length} rules`) };
  };
  try {
    for (const cut of cuts) {
      added.push(cut);
      await inNetns(stack, cut.node, cut.rules.map((r) => `iptables -A ${r}`).join(" && "));
    }
  } catch (error) {
    await heal();
    throw error;
  }
  return {
    observed: { iptables: Object.fromEntries(cuts.map((c) => [c.node, c.rules])) },
    heal,
  };
}

export const disconnect: Fault = {
  kind: "disconnect",
  summary: "the container disconnected from the stack network (Docker API)",
  targets: STACK_NODES,
  stacks: ["docker"],
  params: [],
  async inject(ctx, nodes) {
    const stack = dockerStack(ctx, "disconnect");
    const network = dockerClient().getNetwork(stack.network);
    const gone: { node: string; ip: string }[] = [];
    const heal = async () => {
      for (const { node, ip } of gone) {
        await network.connect({
          Container: stack.containerName(node),
          EndpointConfig: { IPAMConfig: { IPv4Address: ip }, Aliases: [node] },
        }).catch(() => {});
      }
      return { connected: gone.map((g) => `${g.node} ${g.ip}`) };
    };
    try {
      for (const node of nodes) {
        const handle = stack.node(node);
        await handle.refresh();
        const ip = handle.ip();
        if (!ip) throw new Error(`${node} has no address on ${stack.network}`);
        await network.disconnect({ Container: stack.containerName(node), Force: true });
        gone.push({ node, ip });
      }
    } catch (error) {
      await heal();
      throw error;
    }
    return { observed: { disconnected: gone.map((g) => `${g.node} ${g.ip}`) }, heal };
  },
};
