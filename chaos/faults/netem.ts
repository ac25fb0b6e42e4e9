/**
 * The `netem` fault (docker stack): `tc qdisc ... netem` delay (`latency_ms`,
 * `jitter_ms`) and loss (`loss_pct`) in the container's namespace. Kernels
 * without `sch_netem` cannot: such a scenario is rejected before the run
 * (exit 2), pointing at Toxiproxy's `latency`.
 * @module
 */

import { z } from "zod";
import { netnsFault } from "./docker_net.ts";
import { lossPct } from "./loss.ts";
import { millis } from "./params.ts";

export const netem = netnsFault("netem", {
  summary: "tc netem delay (latency_ms, jitter_ms) and loss (loss_pct) in the container",
  params: z.strictObject({
    latency_ms: millis(60_000).optional().describe("delay added to each packet sent"),
    jitter_ms: millis(60_000).optional().describe("± this much (normal distribution)"),
    loss_pct: lossPct.optional().describe("share of packets dropped, in percent"),
  }).refine((p) => p.latency_ms !== undefined || p.loss_pct !== undefined, {
    message: "is required for netem (or loss_pct)",
    path: ["latency_ms"],
  }),
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
