/**
 * The `loss` fault (docker stack): iptables `-m statistic --mode random` drops
 * `loss_pct` % of the packets in and out.
 * @module
 */

import { z } from "zod";
import { COMMENT, netnsFault } from "./docker_net.ts";

/** A share of packets, in percent (loss, netem). */
export const lossPct = z.number().min(0).max(100);

export const loss = netnsFault("loss", {
  summary: "iptables random drops: loss_pct % of packets in and out",
  params: z.strictObject({
    loss_pct: lossPct.describe("share of packets dropped, in percent"),
  }),
}, (p) => {
  const probability = (p.loss_pct / 100).toFixed(4);
  const rule = (chain: string) =>
    `${chain} -m statistic --mode random --probability ${probability} ` +
    `-m comment --comment ${COMMENT} -j DROP`;
  return {
    add: `iptables -A ${rule("INPUT")} && iptables -A ${rule("OUTPUT")}`,
    remove: `iptables -D ${rule("INPUT")}; iptables -D ${rule("OUTPUT")}`,
  };
});
