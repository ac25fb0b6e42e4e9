/**
 * A storm of preferred-leader elections: from 25 s, six rounds 4 s apart,
 * each rotating every replica list of the topic (a reassignment that moves no
 * data) and then running Kafka's LeaderElectionCommand (`--election-type
 * preferred --all-topic-partitions`), so every partition's leader moves six
 * times while the workload produces and an exfiltration is under way. The
 * producers and consumers chase NOT_LEADER_OR_FOLLOWER each time. The fault
 * counts only when elections moved leaders (its evidence: the leader changes
 * per round, seen in the metadata). Expected: PASS (nothing acknowledged
 * lost, no duplicate, the incident alerted exactly once).
 */
import { defineScenario } from "../chaos/scenario.ts";

export default defineScenario({
  name: "preferred-election-storm",
  description: "six preferred-leader elections 4 s apart move every leader: nothing lost",
  seed: 47,
  workload: {
    eps: 5000,
    duration: "90s",
    incidents: [{ at: "20s", kind: "exfil", duration: "25s" }],
  },
  faults: [
    {
      at: "25s",
      kind: "elect_preferred",
      target: "all-brokers",
      params: { count: 6, interval_ms: 4000 },
    },
  ],
  checks: { max_duplicates: 0, alerts: true },
});
