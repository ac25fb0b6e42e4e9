/**
 * Cut the leader of partition 0 off from clients, followers and the quorum
 * for 30 s. With acks=all and min ISR 2 it cannot acknowledge alone; the
 * controller fences it and elects another leader. Nothing acknowledged may be
 * lost when it rejoins.
 */
import { defineScenario } from "../chaos/scenario.ts";

export default defineScenario({
  name: "partition-leader",
  description: "isolate the leader of partition 0 for 30 s: a new leader, nothing lost",
  seed: 20,
  workload: {
    eps: 8000,
    duration: "110s",
    incidents: [{ at: "10s", kind: "exfil", duration: "20s" }],
  },
  faults: [
    {
      at: "25s",
      kind: "partition",
      target: "broker:leader(network-telemetry,0)",
      heal_after: "30s",
    },
  ],
});
