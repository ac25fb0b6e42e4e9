/**
 * SIGKILL Redis while an incident's alert is due, for 30 s. The detector keeps
 * consuming, holds the alert (nothing committed past it) and fires it once
 * Redis is back: one alert, not none, not two.
 */
import { defineScenario } from "../chaos/scenario.ts";

export default defineScenario({
  name: "redis-outage",
  description: "SIGKILL Redis for 30 s while an alert is due: it fires once when Redis is back",
  seed: 17,
  workload: {
    eps: 8000,
    duration: "120s",
    incidents: [{ at: "10s", kind: "exfil", duration: "25s" }],
  },
  faults: [{ at: "20s", kind: "kill", target: "redis", heal_after: "30s" }],
});
