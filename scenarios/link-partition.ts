/**
 * Docker stack only. Cut the replication and quorum link between brokers 1
 * and 2 (iptables in both namespaces) for 30 s while clients still reach both,
 * then throttle broker 3's outbound traffic to 512 KiB/s (tc tbf) for 20 s.
 * Followers cut off from their leader leave the ISR; a broker cut off from the
 * active controller is fenced and its partitions move. With acks=all and min
 * ISR 2, nothing acknowledged may be lost and every incident must alert once.
 */
import { defineScenario } from "../chaos/scenario.ts";

export default defineScenario({
  name: "link-partition",
  description: "cut the link between brokers 1 and 2 for 30 s, then throttle broker 3 (docker)",
  seed: 31,
  workload: {
    eps: 8000,
    duration: "120s",
    incidents: [{ at: "10s", kind: "exfil", duration: "25s" }],
  },
  faults: [
    { at: "20s", kind: "partition", target: "link:1-2", heal_after: "30s" },
    { at: "55s", kind: "tbf", target: "broker:3", heal_after: "20s", params: { rate_kbps: 512 } },
  ],
});
