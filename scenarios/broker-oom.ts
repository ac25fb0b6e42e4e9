/**
 * Broker 2's memory limited to 64 MiB for 30 s, far below the ~350 MiB it
 * holds: the kernel's OOM killer kills it (a memory cgroup on its process
 * tree; docker: the container's cgroup). Kafka goes on with two brokers (RF 3,
 * min ISR 2); the heal lifts the limit and starts it again on its data, and it
 * catches up. Nothing acknowledged may be lost; no partition goes offline; the
 * exfiltration under way is still alerted.
 */
import { defineScenario } from "../chaos/scenario.ts";

export default defineScenario({
  name: "broker-oom",
  description: "broker 2 OOM-killed under a 64 MiB limit, restarted after 30 s: nothing lost",
  seed: 23,
  workload: {
    eps: 4000,
    duration: "110s",
    incidents: [{ at: "25s", kind: "exfil", duration: "20s" }],
  },
  faults: [
    { at: "30s", kind: "memory", target: "broker:2", params: { limit_mb: 64 }, heal_after: "30s" },
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
    {
      name: "the restarted broker catches up",
      metric: "under_replicated",
      stat: "min",
      op: "<=",
      value: 0,
      phase: "after",
    },
  ],
});
