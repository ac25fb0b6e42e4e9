/**
 * A broker removed and added back: 30 s in, broker 2 is stopped cleanly and
 * unregistered (Kafka's `kafka-cluster.sh unregister`); the cluster lists two
 * brokers, the ISRs shrink to 2 (RF 3, min ISR 2) and producing goes on. 35 s
 * later it is started again on its data: it registers anew and catches up,
 * and the heal waits until it is back in every ISR. Its evidence: the
 * registered brokers before, while removed and after. Expected: PASS (nothing
 * acknowledged lost, no duplicate, the incident alerted exactly once, no
 * partition offline).
 */
import { defineScenario } from "../chaos/scenario.ts";

export default defineScenario({
  name: "broker-decommission",
  description: "broker 2 stopped and unregistered, added back 35 s later: nothing lost",
  seed: 53,
  workload: {
    eps: 4000,
    duration: "100s",
    incidents: [{ at: "25s", kind: "exfil", duration: "20s" }],
  },
  faults: [
    { at: "30s", kind: "decommission", target: "broker:2", heal_after: "35s" },
  ],
  checks: { max_duplicates: 0, alerts: true },
  probes: [
    {
      name: "the ISR shrinks while the broker is gone",
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
  ],
});
