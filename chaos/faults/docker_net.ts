/**
 * The mechanism of the docker stack's network faults (`netem`, `tbf`, `loss`,
 * `disconnect`, and `partition` there): commands in the target container's
 * own network namespace, from a helper container that shares it (`--network
 * container:<target>`, NET_ADMIN), so the target image needs no tools.
 * `netem`, `tbf` and `loss` also act on an external stack's nodes that name
 * their container: the helper runs on the node's own engine.
 *
 * `partition` (docker): iptables DROP on the broker's listener ports and on
 * the proxies it reaches its peers through, by listener (client, internal,
 * controller); `link:<a>-<b>` cuts only the replication and quorum traffic
 * between brokers a and b, both ways, and leaves both reachable by clients
 * and by the third broker.
 *
 * Every qdisc and rule is removed on heal; a failed inject removes what it
 * added before it throws.
 * @module
 */

import type { z } from "zod";
import type { DockerStack } from "../../compose/docker_stack.ts";
import {
  defineFault,
  type Fault,
  type FaultContext,
  type Injected,
  type Listener,
  type ParamsSchema,
} from "./types.ts";
import { brokerIdOf, brokerNode, type NetnsHost, netnsHostOf } from "../../compose/stack.ts";

export const STACK_NODES = ["broker", "service"] as const;

/** A comment on every rule the harness adds, so a heal finds exactly its own. */
export const COMMENT = "chaos-harness";

export function dockerStack(ctx: FaultContext, kind: string): DockerStack {
  if (ctx.stack.kind !== "docker") {
    throw new Error(`${kind} needs the docker stack (--stack docker)`);
  }
  return ctx.stack as DockerStack;
}

/** The stack's way into its nodes' network namespaces (docker; external with containers). */
function netnsHost(ctx: FaultContext, kind: string): NetnsHost {
  const host = netnsHostOf(ctx.stack);
  if (!host) throw new Error(`${kind} needs the docker stack (--stack docker) or an external one`);
  return host;
}

/** Runs a shell script in node's network namespace; fails with its output. */
async function inNetns(stack: NetnsHost, node: string, script: string): Promise<string> {
  const result = await stack.inNetns(node, script);
  if (result.code !== 0) {
    throw new Error(
      `in ${node}'s network namespace: ${script}: exit ${result.code}: ${result.out}`,
    );
  }
  return result.out;
}

/**
 * A fault that runs `add` in each target's namespace and `remove` on heal; `scripts` gets the
 * params its schema (`meta.params`) parsed.
 */
export function netnsFault<S extends ParamsSchema>(
  kind: string,
  meta: Pick<Fault<S>, "summary" | "params" | "problem">,
  scripts: (params: z.output<S>) => { add: string; remove: string },
) {
  return defineFault<S>({
    kind,
    ...meta,
    targets: STACK_NODES,
    stacks: ["docker"],
    // On an external stack: a helper on the node's own engine, in its container's namespace.
    external: "netns",
    async inject(ctx, nodes, params): Promise<Injected> {
      const stack = netnsHost(ctx, kind);
      if (kind === "netem" && stack.netem === false) {
        throw new Error("this kernel has no sch_netem; use the latency fault (Toxiproxy)");
      }
      const { add, remove } = scripts(params);
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
  });
}

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

/** `partition` on the docker stack: iptables in the brokers' namespaces. */
export async function partitionDocker(
  ctx: FaultContext,
  nodes: string[],
  params: { listeners: readonly Listener[] },
  link?: [number, number],
): Promise<Injected> {
  const stack = dockerStack(ctx, "partition");
  const cuts: { node: string; rules: string[] }[] = [];
  if (link) {
    // Only the pair: each side stops sending replication and quorum traffic to the other.
    const [a, b] = link;
    for (const [from, to] of [[a, b], [b, a]]) {
      cuts.push({
        node: brokerNode(from),
        rules: partitionRules(stack, from, ["internal", "controller"], [to]),
      });
    }
  } else {
    for (const node of nodes) {
      const id = brokerIdOf(node);
      const peers = stack.brokerIds().filter((p) => p !== id);
      cuts.push({ node, rules: partitionRules(stack, id, params.listeners, peers) });
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
