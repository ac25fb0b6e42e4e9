/**
 * Part of the graded suite: all four incident kinds while Redis is SIGKILLed
 * for 20 s (alerts fall due meanwhile and must fire once it is back), a
 * webhook that answers a quarter of deliveries 503 and 15% of them 1.5 s late
 * for the whole run (no fault: the contract says it does), and the detector
 * restarted after Redis is back (what its outbox holds must still go out, once).
 */
import { defineScenario } from "../chaos/scenario.ts";

export default defineScenario({
  name: "graded-services",
  description:
    "graded suite: Redis down 20 s, webhook 503s and slow answers, the detector restarted; all four incident kinds",
  seed: 41,
  workload: {
    eps: 5000,
    duration: "75s",
    incidents: [
      { at: "8s", kind: "exfil", duration: "20s" },
      { at: "10s", kind: "port_scan", duration: "5s" },
      { at: "14s", kind: "latency_spike", duration: "12s" },
      { at: "18s", kind: "reset_storm", duration: "12s" },
    ],
  },
  webhook: { error_share: 0.25, slow_share: 0.15, slow_ms: 1500 },
  faults: [
    { at: "16s", kind: "kill", target: "redis", heal_after: "20s" },
    { at: "42s", kind: "restart", target: "detector" },
  ],
});
