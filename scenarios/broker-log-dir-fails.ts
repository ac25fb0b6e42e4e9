/**
 * Broker 2's log dir fails for 40 s: every operation on it (its lazy disk,
 * compose/lazy_disks.ts) answers EIO. Kafka takes the dir offline at its
 * first IOException and, its only log dir gone, the broker stops (the fault
 * waits for that and records Kafka's log line): the ISR shrinks to the other
 * two (RF 3, min ISR 2) and producing goes on. The heal clears the errors and
 * starts the broker again on its data, and it catches up. Nothing
 * acknowledged may be lost; no partition goes offline; the exfiltration
 * under way is alerted. The fault counts as injected only if the layer
 * failed operations of broker 2 (its evidence).
 */
import { defineScenario } from "../chaos/scenario.ts";

export default defineScenario({
  name: "broker-log-dir-fails",
  description: "broker 2's log dir answers EIO for 40 s: it stops, nothing lost, catch-up",
  seed: 37,
  workload: {
    eps: 4000,
    duration: "110s",
    incidents: [{ at: "25s", kind: "exfil", duration: "20s" }],
  },
  faults: [
    { at: "30s", kind: "io_error", target: "broker:2", heal_after: "40s" },
  ],
  checks: { max_duplicates: 0, alerts: true },
  probes: [
    {
      name: "the ISR shrinks while the log dir fails",
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
