/**
 * A rolling restart as operators do it: each broker in turn gets SIGTERM
 * (controlled shutdown), is down 10 s, and comes back before the next goes.
 */
import { defineScenario } from "../chaos/scenario.ts";

export default defineScenario({
  name: "rolling-restart",
  description: "SIGTERM each broker in turn, 10 s down, 30 s apart: nothing lost",
  seed: 14,
  workload: {
    eps: 8000,
    duration: "130s",
    incidents: [{ at: "10s", kind: "reset_storm", duration: "15s" }],
  },
  faults: [
    { at: "20s", kind: "stop", target: "broker:1", heal_after: "10s" },
    { at: "50s", kind: "stop", target: "broker:2", heal_after: "10s" },
    { at: "80s", kind: "stop", target: "broker:3", heal_after: "10s" },
  ],
});
