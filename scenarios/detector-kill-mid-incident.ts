/**
 * SIGKILL the detector in the middle of an exfiltration and just as a latency
 * spike starts (it needs about 5 s of events before even an early alert could
 * fire), and start it 10 s later: replay from committed offsets and the Redis
 * lock must give exactly one alert each, neither none nor two.
 */
import { defineScenario } from "../chaos/scenario.ts";

export default defineScenario({
  name: "detector-kill-mid-incident",
  description: "SIGKILL the detector mid-incident, start it 10 s later: exactly one alert",
  seed: 16,
  workload: {
    eps: 8000,
    duration: "110s",
    incidents: [
      { at: "15s", kind: "exfil", duration: "30s" },
      { at: "28s", kind: "latency_spike", duration: "15s" },
    ],
  },
  faults: [{ at: "30s", kind: "kill", target: "detector", heal_after: "10s" }],
});
