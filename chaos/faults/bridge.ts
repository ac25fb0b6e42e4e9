/**
 * The `bridge` fault: the brokers split into two halves that share one broker,
 * the target (Jepsen's bridge): the bridge talks to both halves, the halves
 * not to each other. `left` names one half (broker ids); the other is every
 * broker but the bridge and `left`; by default the others split by id (3
 * brokers, bridge 2: {1} and {3}).
 *
 * What is cut between each pair of brokers across the halves, both ways:
 * - docker stack: replication and the quorum (iptables, as `partition` cuts
 *   `link:<a>-<b>`, docker_net.ts); clients reach every broker.
 * - local stack: the quorum only (each broker reaches each controller through
 *   a Toxiproxy proxy of its own per direction: those proxies are disabled).
 *   Replication between the halves is not cut: a follower fetches through its
 *   leader's `internal` proxy, which every follower shares, so one follower
 *   cannot be cut off there alone. The evidence says so (`not_cut`).
 * Evidence: the proxies disabled as Toxiproxy reports them (local), the
 * iptables rules per broker (docker); the heal enables them again (removes
 * the rules).
 * @module
 */

import { z } from "zod";
import { brokerIdOf, quorumProxy } from "../../compose/stack.ts";
import { partitionDocker } from "./docker_net.ts";
import { BOTH_STACKS, defineFault, type Injected } from "./types.ts";

/** A bridge's halves that cannot be made. */
export class BridgeError extends Error {
  override name = "BridgeError";
}

/** The two halves around `bridge`: `left`, and every other broker but the bridge. */
export function halves(
  ids: readonly number[],
  bridge: number,
  left?: readonly number[],
): [number[], number[]] {
  const others = ids.filter((i) => i !== bridge).sort((a, b) => a - b);
  const l = left ? [...left] : others.slice(0, Math.ceil(others.length / 2));
  const unknown = l.filter((i) => !others.includes(i));
  if (unknown.length) {
    throw new BridgeError(
      `left names broker(s) ${unknown.join(", ")}: not a broker other than the bridge ${bridge}`,
    );
  }
  const r = others.filter((i) => !l.includes(i));
  if (l.length === 0 || r.length === 0) {
    throw new BridgeError(
      `a bridge needs two halves besides broker ${bridge}: got [${l}] and [${r}] of ${ids.length}`,
    );
  }
  return [l, r];
}

/** Every pair across the halves. */
export function crossPairs(left: readonly number[], right: readonly number[]): [number, number][] {
  return left.flatMap((a) => right.map((b) => [a, b] as [number, number]));
}

/** The quorum proxies between the halves, both ways (what the local stack disables). */
export function bridgeProxies(left: readonly number[], right: readonly number[]): string[] {
  return crossPairs(left, right).flatMap(([a, b]) => [quorumProxy(a, b), quorumProxy(b, a)]);
}

export const bridge = defineFault({
  kind: "bridge",
  summary: "two halves of the brokers that share one, the target: the halves cut from each " +
    "other (docker: replication and quorum; local: quorum only)",
  targets: ["broker"],
  stacks: BOTH_STACKS,
  params: z.strictObject({
    left: z.array(z.number().int().min(1).max(9)).min(1).optional().describe(
      "the broker ids of one half (default: the first half of the others by id)",
    ),
  }),
  problem: (target) =>
    target === "all-brokers"
      ? "a bridge is one broker: target broker:<id> (or broker:controller, broker:random, ...)"
      : undefined,
  async inject(ctx, nodes, params): Promise<Injected> {
    if (nodes.length !== 1) throw new BridgeError(`a bridge is one broker, got ${nodes.length}`);
    const id = brokerIdOf(nodes[0]);
    const [left, right] = halves(ctx.stack.brokerIds(), id, params.left);
    const shape = { bridge: id, halves: [left, right] };
    if (ctx.stack.kind === "docker") {
      const cut: Injected[] = [];
      const heal = async () => {
        const out = [];
        for (const c of cut) out.push(await c.heal());
        return { healed: out };
      };
      try {
        for (const pair of crossPairs(left, right)) {
          cut.push(await partitionDocker(ctx, [], { listeners: [] }, pair));
        }
      } catch (error) {
        await heal().catch(() => {});
        throw error;
      }
      return { observed: { ...shape, cut: cut.map((c) => c.observed) }, heal };
    }
    const tp = ctx.stack.toxiproxy;
    const proxies: string[] = [];
    const heal = async () => {
      for (const p of proxies) await tp.setEnabled(p, true);
      return { enabled: [...proxies] };
    };
    try {
      for (const p of bridgeProxies(left, right)) {
        await tp.setEnabled(p, false);
        proxies.push(p);
      }
      const now = await tp.proxies();
      const open = proxies.filter((p) => now[p]?.enabled !== false);
      if (open.length) throw new Error(`proxies still enabled: ${open.join(", ")}`);
    } catch (error) {
      await heal().catch(() => {});
      throw error;
    }
    return {
      observed: {
        ...shape,
        disabled: [...proxies],
        not_cut: "replication between the halves (each leader's internal proxy is shared by " +
          "all its followers; the docker stack cuts it)",
      },
      heal,
    };
  },
});
