/**
 * Freeze (SIGSTOP) the leader of partition 0 for 40 s, longer than the
 * broker session timeout: the controller fences it and moves leadership;
 * when it thaws it rejoins as a follower. Nothing acknowledged may be lost.
 */
import { defineScenario } from "../chaos/scenario.ts";

export default defineScenario({
  name: "leader-pause",
  description: "SIGSTOP the leader of partition 0 for 40 s: fenced, leadership moves, nothing lost",
  seed: 12,
  workload: {
    eps: 8000,
    duration: "110s",
    incidents: [{ at: "15s", kind: "port_scan", duration: "10s" }],
  },
  faults: [
    { at: "25s", kind: "pause", target: "broker:leader(network-telemetry,0)", heal_after: "40s" },
  ],
});
