/** SIGKILL the active KRaft controller; a new one is elected; restart it 20 s later. */
import { defineScenario } from "../chaos/scenario.ts";

export default defineScenario({
  name: "controller-kill",
  description: "SIGKILL the active controller, restart it 20 s later: nothing lost, one alert",
  seed: 13,
  workload: {
    eps: 8000,
    duration: "100s",
    incidents: [{ at: "10s", kind: "exfil", duration: "20s" }],
  },
  faults: [{ at: "25s", kind: "kill", target: "broker:controller", heal_after: "20s" }],
  checks: { recovery_within: "30s" },
});
