/**
 * Network faults of the local stack, through Toxiproxy in front of every
 * broker listener: `latency` (a latency toxic with jitter on the client and
 * inter-broker proxies of the target brokers) and `partition` (every proxy of
 * the broker disabled: clients, followers and the quorum lose it).
 * @module
 */

import type { Fault } from "./types.ts";

const brokerId = (name: string) => Number(name.replace("kafka-", ""));

export const latency: Fault = {
  kind: "latency",
  targets: ["broker"],
  async inject(ctx, nodes, params) {
    const toxics: string[] = [];
    for (const name of nodes) {
      const p = ctx.stack.brokerProxies(brokerId(name));
      for (const proxy of [p.client, p.internal]) {
        await ctx.stack.toxiproxy.addToxic(proxy, {
          name: "chaos-latency",
          type: "latency",
          attributes: { latency: params.latency_ms ?? 0, jitter: params.jitter_ms ?? 0 },
        });
        toxics.push(proxy);
      }
    }
    return {
      observed: { toxics, latency_ms: params.latency_ms, jitter_ms: params.jitter_ms ?? 0 },
      async heal() {
        for (const proxy of toxics) {
          await ctx.stack.toxiproxy.removeToxic(proxy, "chaos-latency").catch(() => {});
        }
        return { removed: toxics };
      },
    };
  },
};

export const partition: Fault = {
  kind: "partition",
  targets: ["broker"],
  async inject(ctx, nodes) {
    const proxies: string[] = [];
    for (const name of nodes) {
      const p = ctx.stack.brokerProxies(brokerId(name));
      for (const proxy of [p.client, p.internal, p.controller]) {
        await ctx.stack.toxiproxy.setEnabled(proxy, false);
        proxies.push(proxy);
      }
    }
    return {
      observed: { disabled: proxies },
      async heal() {
        for (const proxy of proxies) await ctx.stack.toxiproxy.setEnabled(proxy, true);
        return { enabled: proxies };
      },
    };
  },
};

export const webhookFail: Fault = {
  kind: "webhook_fail",
  targets: ["webhook"],
  inject(ctx, _nodes, params) {
    const status = params.status ?? 503;
    ctx.receiver.failUntil(Number.MAX_SAFE_INTEGER, { status });
    return Promise.resolve({
      observed: { status },
      heal() {
        ctx.receiver.failUntil(0);
        return Promise.resolve({ answering: 200 });
      },
    });
  },
};
