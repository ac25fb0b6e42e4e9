/**
 * Partitions reassigned under load: on 4 brokers (RF 3, min ISR 2), 30 s in,
 * every replica of the topic moves to the next broker of the ring ([1,2,3] →
 * [2,3,4]) with Kafka's own ReassignPartitionsCommand while the workload
 * produces and an exfiltration is under way: each partition's data is copied
 * to a broker that had none, the old replica is dropped and, where it was the
 * leader, leadership moves. The fault counts only when the reassignment
 * completed (every list the planned one, all in sync) within 2 minutes; its
 * evidence is the replica lists before and after. Expected: PASS (nothing
 * acknowledged lost, no duplicate, the incident alerted exactly once, no
 * partition offline).
 */
import { defineScenario } from "../chaos/scenario.ts";

export default defineScenario({
  name: "reassign-under-load",
  description: "every replica moves to the next broker under load: nothing lost, one alert",
  seed: 41,
  stack: { brokers: 4, partitions: 6, replication_factor: 3, min_insync_replicas: 2 },
  workload: {
    eps: 4000,
    duration: "100s",
    incidents: [{ at: "25s", kind: "exfil", duration: "20s" }],
  },
  faults: [
    { at: "30s", kind: "reassign", target: "all-brokers", params: { mode: "shift" } },
  ],
  checks: { max_duplicates: 0, alerts: true },
  probes: [
    {
      name: "no partition goes offline",
      metric: "offline_partitions",
      stat: "max",
      op: "<=",
      value: 0,
      phase: "during",
    },
  ],
});
