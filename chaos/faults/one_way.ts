/**
 * The `one_way` fault: a one-way partition of the target brokers, on the
 * Toxiproxy proxies both stacks put in front of every broker listener. With
 * `drop: "sent"` a broker hears but is not heard: what it sends is dropped,
 * what it receives arrives; `drop: "received"` is the reverse (it is heard but
 * deaf). Each listener in `listeners` (default all) is cut so, exactly:
 *
 * | listener   | proxies                                                     | `sent` drops                                   | `received` drops               |
 * | ---------- | ----------------------------------------------------------- | ---------------------------------------------- | ------------------------------ |
 * | client     | `kafka-<id>-client`                                         | its answers to clients (downstream)            | clients' requests (upstream)   |
 * | internal   | `kafka-<id>-internal`                                       | its fetch answers to followers: replication from it | followers' fetch requests |
 * | controller | `kafka-<id>-controller`, `kafka-<id>-to-<j>-controller`, `kafka-<j>-to-<id>-controller` | its requests to each controller (heartbeats, votes, raft fetches) and its answers as a controller | what each controller answers it and what the others ask it |
 *
 * Not cut: the broker as a follower fetching from other leaders (those go
 * through each leader's own `internal` proxy, shared by all its followers, so
 * one follower cannot be told apart there). The mechanism is a Toxiproxy
 * `timeout` toxic with timeout 0 on one stream of each proxy: the data of that
 * direction is dropped and the connections stay open (TCP itself is whole). A
 * stream that lost bytes mid-request cannot be resumed, so the heal removes
 * every toxic and then closes every connection of those proxies (disabled and
 * enabled again): clients, followers and the quorum reconnect clean. Evidence:
 * each toxic, on its stream, as Toxiproxy reports it; on heal, the toxics gone.
 * @module
 */

import { z } from "zod";
import { listeners } from "./params.ts";
import { BOTH_STACKS, defineFault, type FaultContext, type Listener, LISTENERS } from "./types.ts";
import { brokerIdOf, quorumProxy } from "../../compose/stack.ts";

const NAME = "chaos-one_way";

/** Which side of the broker's traffic is dropped. */
export type Drop = "sent" | "received";

/** One proxy's cut: the stream dropped (upstream: towards the listener; downstream: back). */
export interface StreamCut {
  proxy: string;
  stream: "upstream" | "downstream";
}

/**
 * The proxies and streams that drop what broker `id` sends (or receives) on `listeners`; `ids`:
 * every broker of the stack (the quorum runs over one proxy per pair and direction).
 */
export function oneWayCuts(
  id: number,
  ids: readonly number[],
  listeners: readonly Listener[],
  drop: Drop,
): StreamCut[] {
  // Where the broker is the server (a listener of its own): what it sends goes downstream.
  const served = drop === "sent" ? "downstream" : "upstream";
  // Where it is the client (its links to each controller): what it sends goes upstream.
  const asked = drop === "sent" ? "upstream" : "downstream";
  const cuts: StreamCut[] = [];
  for (const l of listeners) {
    cuts.push({ proxy: `kafka-${id}-${l}`, stream: served });
    if (l !== "controller") continue;
    for (const other of ids.filter((j) => j !== id)) {
      cuts.push({ proxy: quorumProxy(id, other), stream: asked });
      cuts.push({ proxy: quorumProxy(other, id), stream: served });
    }
  }
  return cuts;
}

/**
 * Adds a dropping toxic (`name`) on each cut; observed only when Toxiproxy reports every one on
 * its stream. `heal` removes them and closes the proxies' connections (see the module's doc).
 */
export async function dropStreams(
  ctx: FaultContext,
  cuts: readonly StreamCut[],
  name: string,
): Promise<{ observed: string[]; heal: () => Promise<Record<string, unknown>> }> {
  const tp = ctx.stack.toxiproxy;
  // One toxic per proxy and stream (two targets may cut the link between them both ways).
  const unique = [...new Map(cuts.map((c) => [`${c.proxy}/${c.stream}`, c])).values()];
  const toxic = (c: StreamCut) => `${name}-${c.stream}`;
  const added: StreamCut[] = [];
  const heal = async () => {
    for (const c of added) await tp.removeToxic(c.proxy, toxic(c)).catch(() => {});
    const proxies = [...new Set(added.map((c) => c.proxy))];
    // Streams that lost bytes mid-request cannot resume: every connection starts again.
    for (const p of proxies) await tp.setEnabled(p, false).catch(() => {});
    for (const p of proxies) await tp.setEnabled(p, true);
    const now = await tp.proxies();
    const left = proxies.filter((p) =>
      now[p]?.enabled === false || now[p]?.toxics?.some((t) => t.name.startsWith(name))
    );
    if (left.length) throw new Error(`not healed: ${left.join(", ")}`);
    return { removed: added.map((c) => `${c.proxy}/${c.stream}`), reconnected: proxies };
  };
  try {
    for (const c of unique) {
      await tp.addToxic(c.proxy, {
        name: toxic(c),
        type: "timeout",
        stream: c.stream,
        toxicity: 1,
        attributes: { timeout: 0 },
      });
      added.push(c);
    }
    const now = await tp.proxies();
    const missing = unique.filter((c) =>
      !now[c.proxy]?.toxics?.some((t) => t.name === toxic(c) && t.stream === c.stream)
    );
    if (missing.length) {
      throw new Error(`toxic ${name} is not on ${missing.map((c) => c.proxy).join(", ")}`);
    }
  } catch (error) {
    await heal().catch(() => {});
    throw error;
  }
  return { observed: unique.map((c) => `${c.proxy}/${c.stream}`), heal };
}

export const oneWay = defineFault({
  kind: "one_way",
  summary: "one-way partition: what the brokers send (or receive) dropped by Toxiproxy, " +
    "per listener; the rest flows",
  targets: ["broker"],
  stacks: BOTH_STACKS,
  external: "proxies",
  params: z.strictObject({
    drop: z.enum(["sent", "received"]).default("sent").describe(
      "sent: the broker hears but is not heard; received: it is heard but deaf",
    ),
    listeners: listeners.default([...LISTENERS]).describe(
      "the listeners cut one way (client: clients; internal: replication from it; " +
        "controller: the quorum and heartbeats)",
    ),
  }),
  async inject(ctx, nodes, params) {
    const ids = ctx.stack.brokerIds();
    const cuts = nodes.flatMap((n) =>
      oneWayCuts(brokerIdOf(n), ids, params.listeners, params.drop)
    );
    const { observed, heal } = await dropStreams(ctx, cuts, NAME);
    return { observed: { drop: params.drop, toxics: observed }, heal };
  },
});
