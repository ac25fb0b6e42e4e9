/**
 * A bridge for 30 s: brokers 1 and 3 cannot reach each other, broker 2
 * reaches both (`bridge`, target broker:2). Whichever broker is the active
 * controller, one of the halves loses it but for the bridge: a controller
 * that only the bridge still reaches keeps its quorum (2 of 3), and the
 * broker across from it is fenced and its partitions move (its votes go
 * through the bridge, which still hears the leader: pre-vote keeps the
 * leader). On the docker stack replication between the halves is cut too
 * (iptables); on the local stack only the quorum (a follower fetches through
 * its leader's shared internal proxy: see chaos/faults/bridge.ts). Expected:
 * PASS (nothing acknowledged lost, no duplicate stored, alerts exact).
 */
import { defineScenario } from "../chaos/scenario.ts";

export default defineScenario({
  name: "bridge-partition",
  description: "brokers 1 and 3 cut from each other, broker 2 the bridge, for 30 s: nothing lost",
  seed: 43,
  workload: {
    eps: 6000,
    duration: "100s",
    incidents: [{ at: "15s", kind: "exfil", duration: "20s" }],
  },
  faults: [
    { at: "25s", kind: "bridge", target: "broker:2", heal_after: "30s" },
  ],
  checks: { max_duplicates: 0, alerts: true },
});
