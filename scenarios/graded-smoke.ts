/**
 * The graded suite's smallest scenario, sized for CI (the tests grade their
 * cheating submissions with it): 30 s at 5,000 events/s with 1% malformed
 * records, an exfiltration and a port scan, the sink SIGKILLed and restarted
 * twice while it batches (at times off the second, inside its 2 s batches), and
 * a webhook that answers every other delivery 503 without any fault (one of
 * the first two is refused, so a detector that does not retry misses an alert).
 */
import { defineScenario } from "../chaos/scenario.ts";

export default defineScenario({
  name: "graded-smoke",
  description:
    "graded suite (CI-sized): malformed records, exfil and port scan, the sink killed mid-batch twice, webhook 503s",
  seed: 29,
  workload: {
    eps: 5000,
    duration: "30s",
    chaos_mode: true,
    malformed_prob: 0.01,
    incidents: [
      { at: "6s", kind: "exfil", duration: "12s" },
      { at: "9s", kind: "port_scan", duration: "5s" },
    ],
  },
  webhook: { error_share: 0.5 },
  faults: [
    { at: "13700ms", kind: "restart", target: "sink" },
    { at: "21300ms", kind: "restart", target: "sink" },
  ],
  // An honest pipeline catches up within seconds; a detector that alerts nothing (or a sink that
  // never commits) costs the whole settle, so it is kept short for the tests that grade cheats.
  checks: { settle: "40s" },
});
