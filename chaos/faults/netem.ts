/**
 * The `netem` fault (docker stack): `tc qdisc ... netem` delay (`latency_ms`,
 * `jitter_ms`) and loss (`loss_pct`) in the container's namespace. Kernels
 * without `sch_netem` cannot: such a scenario is rejected before the run
 * (exit 2), pointing at Toxiproxy's `latency`.
 * @module
 */

import { netnsFault } from "./docker_net.ts";

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
