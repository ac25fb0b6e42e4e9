/**
 * The `partition` fault: the target brokers cut off. On the local stack their
 * Toxiproxy proxies are disabled, both ways, so clients, followers and the
 * quorum lose them and they cannot heartbeat either (the controller fences
 * them). `listeners` chooses what is cut, exactly:
 * - `["client"]`, a client-only cut: clients lose the broker (its client
 *   proxy); replication and the quorum go on, so it stays a leader the
 *   controller sees alive while no client reaches it.
 * - `["internal"]`, a replication-only cut: followers cannot fetch from it
 *   (its internal proxy), so they leave its partitions' ISR; clients and the
 *   quorum still reach it, and it still fetches as a follower from other
 *   leaders (their internal proxies are shared by all their followers).
 * - `["controller"]`: its quorum links both ways (heartbeats, votes).
 * One-way cuts are `one_way` (one_way.ts), two halves with a broker between
 * them `bridge` (bridge.ts). On the docker stack iptables DROP, which can
 * also cut one `link:<a>-<b>` (docker_net.ts). Evidence: each proxy disabled
 * as Toxiproxy reports it; the heal enables them again.
 * @module
 */

import { proxiesOf } from "./toxics.ts";
import { partitionDocker } from "./docker_net.ts";
import { z } from "zod";
import { listeners } from "./params.ts";
import { BOTH_STACKS, defineFault, LISTENERS } from "./types.ts";

export const partition = defineFault({
  kind: "partition",
  summary:
    "brokers cut off (local: Toxiproxy proxies disabled; docker: iptables, also link:<a>-<b>)",
  targets: ["broker", "link"],
  stacks: BOTH_STACKS,
  external: "proxies",
  params: z.strictObject({
    listeners: listeners.default([...LISTENERS]).describe(
      "the brokers' listeners cut (internal alone: replication only)",
    ),
  }),
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
      for (const proxy of proxiesOf(ctx, nodes, params.listeners, "both")) {
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
});
