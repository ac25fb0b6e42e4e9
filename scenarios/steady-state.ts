/** The baseline: no fault. Nothing lost, one alert per incident of each kind, nothing else. */
import { defineScenario } from "../chaos/scenario.ts";

export default defineScenario({
  name: "steady-state",
  description: "no fault: nothing lost, one alert per incident of each kind, no other alert",
  seed: 1,
  workload: {
    eps: 8000,
    duration: "110s",
    chaos_mode: true,
    malformed_prob: 0.002,
    incidents: [
      { at: "10s", kind: "exfil", duration: "20s" },
      { at: "15s", kind: "port_scan", duration: "5s" },
      { at: "20s", kind: "latency_spike", duration: "15s" },
      { at: "25s", kind: "reset_storm", duration: "15s" },
    ],
  },
});
