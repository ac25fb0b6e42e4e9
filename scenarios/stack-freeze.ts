/**
 * The whole stack suspended for 15 s, as a VM is (`freeze`): the three
 * brokers, MinIO and Redis stop in the same instant (one freezer cgroup on
 * the local stack; every container paused together on the docker stack) and
 * go on in the same instant. The generator, the sink and the detector run on:
 * their requests stall, time out and are retried; the brokers wake with
 * their clocks jumped and none saw another go. Expected: PASS (nothing
 * acknowledged lost, no duplicate stored, the exfiltration alerted exactly
 * once).
 */
import { defineScenario } from "../chaos/scenario.ts";

export default defineScenario({
  name: "stack-freeze",
  description: "brokers, MinIO and Redis frozen at once for 15 s, then thawed: nothing lost",
  seed: 47,
  workload: {
    eps: 6000,
    duration: "100s",
    incidents: [{ at: "15s", kind: "exfil", duration: "20s" }],
  },
  faults: [
    { at: "30s", kind: "freeze", target: "all-brokers", heal_after: "15s" },
  ],
  checks: { max_duplicates: 0, alerts: true },
});
