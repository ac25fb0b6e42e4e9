/**
 * The `loss` fault (docker stack): iptables `-m statistic --mode random` drops
 * `loss_pct` % of the packets in and out.
 * @module
 */

import { COMMENT, netnsFault } from "./docker_net.ts";
import { requires } from "./types.ts";

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
