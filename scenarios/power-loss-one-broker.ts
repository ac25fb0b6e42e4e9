/**
 * One broker loses power mid-load, with Kafka's default flush settings: what
 * it had not fsynced is gone from its disk, but the two others (RF 3, min ISR
 * 2, acks=all) hold every acknowledged record, and the restarted broker
 * truncates to and catches up from them. Nothing acknowledged may be lost and
 * the exfiltration under way is alerted once.
 */
import { defineScenario } from "../chaos/scenario.ts";

export default defineScenario({
  name: "power-loss-one-broker",
  description: "broker 2 loses power, default flush: the others keep the data, nothing lost",
  seed: 32,
  workload: {
    eps: 4000,
    duration: "90s",
    incidents: [{ at: "20s", kind: "exfil", duration: "20s" }],
  },
  faults: [
    { at: "30s", kind: "power_loss", target: "broker:2", heal_after: "10s" },
  ],
  checks: { max_duplicates: 0, alerts: true },
  probes: [
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
