/**
 * Broker 2's data disk full for 45 s: each broker's log dir is a bounded disk
 * of its own (a size-limited tmpfs; the run gives one to every broker and to
 * MinIO when a scenario fills one), and a ballast file takes what is left.
 * The next append fails, Kafka takes the log dir offline and, its only log
 * dir gone, the broker stops: the ISR shrinks to the other two (RF 3, min ISR
 * 2) and producing goes on. The heal removes the ballast and starts the
 * broker again on its data, and it catches up. Nothing acknowledged may be
 * lost; no partition goes offline; the exfiltration under way is alerted.
 */
import { defineScenario } from "../chaos/scenario.ts";

export default defineScenario({
  name: "disk-full-follower",
  description: "broker 2's disk full for 45 s: it stops, the ISR shrinks, nothing lost, catch-up",
  seed: 29,
  workload: {
    eps: 4000,
    duration: "120s",
    incidents: [{ at: "25s", kind: "exfil", duration: "20s" }],
  },
  faults: [
    { at: "30s", kind: "disk_full", target: "broker:2", heal_after: "45s" },
  ],
  checks: { max_duplicates: 0, alerts: true },
  probes: [
    {
      name: "the ISR shrinks while the disk is full",
      metric: "under_replicated",
      stat: "max",
      op: ">=",
      value: 1,
      phase: "during",
    },
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
