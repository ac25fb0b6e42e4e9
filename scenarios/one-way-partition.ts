/**
 * The leader of partition 0 hears but is not heard for 30 s (`one_way`, drop
 * "sent", every listener): clients' requests, followers' fetches and the
 * controllers' answers reach it, but what it answers clients and followers,
 * its heartbeats and its votes are dropped by Toxiproxy. The active
 * controller stops hearing it and fences it; leadership moves to an in-sync
 * follower. What it appended meanwhile never reached a follower, so acks=all
 * never acknowledged it. The heal removes the toxics and closes every
 * connection the toxics broke mid-request; it rejoins as a follower and
 * truncates what it alone held. Expected: PASS (nothing acknowledged lost,
 * no duplicate stored, the exfiltration alerted exactly once).
 */
import { defineScenario } from "../chaos/scenario.ts";

export default defineScenario({
  name: "one-way-partition",
  description: "the leader of partition 0 hears but is not heard for 30 s: fenced, nothing lost",
  seed: 41,
  workload: {
    eps: 6000,
    duration: "100s",
    incidents: [{ at: "15s", kind: "exfil", duration: "20s" }],
  },
  faults: [
    {
      at: "25s",
      kind: "one_way",
      target: "broker:leader(network-telemetry,0)",
      params: { drop: "sent" },
      heal_after: "30s",
    },
  ],
  checks: { max_duplicates: 0, alerts: true },
});
