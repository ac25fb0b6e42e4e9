/**
 * Part of the graded suite: the leader of the partition that carries the
 * exfiltrating source is SIGKILLed mid-incident (leadership moves under the
 * sink and the detector, the producer retries) and started again 20 s later,
 * and the detector is restarted while the broker is down, during a latency
 * spike. Nothing acknowledged may be lost or doubled, and each incident raises
 * exactly one alert.
 */
import { defineScenario } from "../chaos/scenario.ts";

export default defineScenario({
  name: "graded-broker-loss",
  description:
    "graded suite: the incident's leader killed (leadership moves) and the detector restarted; exfil and latency spike",
  seed: 31,
  workload: {
    eps: 5000,
    duration: "70s",
    incidents: [
      { at: "8s", kind: "exfil", duration: "20s" },
      { at: "14s", kind: "latency_spike", duration: "12s" },
    ],
  },
  faults: [
    { at: "16s", kind: "kill", target: "broker:leader-of-incident(0)", heal_after: "20s" },
    { at: "23s", kind: "restart", target: "detector" },
  ],
});
