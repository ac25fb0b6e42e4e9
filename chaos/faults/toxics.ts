/**
 * The Toxiproxy mechanism of the local stack's network faults: the proxies in
 * front of every broker listener (client, inter-broker "internal",
 * controller), and a fault made of one toxic on them (`latency`, `bandwidth`,
 * `timeout`, `reset`). Toxics act on the client and internal listeners unless
 * `listeners` says otherwise; `toxicity` (0..1) is the share of connections
 * they touch: two params every toxic fault reads besides its own
 * (`TOXIC_PARAMS`). A toxic counts as injected only when Toxiproxy reports it
 * on every proxy.
 * @module
 */

import { z } from "zod";
import type { Toxic } from "../../compose/toxiproxy.ts";
import {
  BOTH_STACKS,
  defineFault,
  type FaultContext,
  type Injected,
  type Listener,
} from "./types.ts";
import { listeners, toxicity } from "./params.ts";
import { brokerIdOf } from "../../compose/stack.ts";

/**
 * The proxies of the target brokers' listeners. The quorum runs over one proxy
 * per pair and direction (see compose/ports.ts), so "controller" means the
 * links into the broker, and with `both` also the links out of it.
 */
export function proxiesOf(
  ctx: FaultContext,
  nodes: string[],
  listeners: Listener[],
  quorum: "into" | "both",
): string[] {
  return nodes.flatMap((name) => {
    const id = brokerIdOf(name);
    const p = ctx.stack.brokerProxies(id);
    return listeners.flatMap((l) =>
      l !== "controller" ? [p[l]] : [p.controller, ...ctx.stack.quorumLinks(id, quorum)]
    );
  });
}

/** The params every toxic fault reads besides its own. */
export const TOXIC_PARAMS = {
  toxicity,
  listeners: listeners.default(["client", "internal"]).describe(
    "the brokers' listeners whose proxies get the toxic",
  ),
};

/**
 * A fault that adds one toxic to the chosen listeners of the target brokers; `params` is the
 * shape of its own params (`TOXIC_PARAMS` are added), `toxic` gets them parsed.
 */
export function toxicFault<Shape extends z.ZodRawShape>(
  kind: string,
  meta: { summary: string; params: Shape },
  toxic: (params: z.output<z.ZodObject<Shape>>) => Omit<Toxic, "name">,
) {
  const name = `chaos-${kind}`;
  return defineFault({
    kind,
    summary: meta.summary,
    params: z.strictObject({ ...meta.params, ...TOXIC_PARAMS }),
    targets: ["broker"],
    stacks: BOTH_STACKS,
    external: "proxies",
    async inject(ctx, nodes, params): Promise<Injected> {
      const spec = toxic(params as z.output<z.ZodObject<Shape>>);
      const added: string[] = [];
      const heal = async () => {
        for (const proxy of added) {
          await ctx.stack.toxiproxy.removeToxic(proxy, name).catch(() => {});
        }
        return { removed: [...added] };
      };
      try {
        const shared = params as z.output<z.ZodObject<typeof TOXIC_PARAMS>>;
        for (const proxy of proxiesOf(ctx, nodes, shared.listeners, "into")) {
          await ctx.stack.toxiproxy.addToxic(proxy, {
            name,
            toxicity: shared.toxicity,
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
  });
}
