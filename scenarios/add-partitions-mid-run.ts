/**
 * Partitions added mid-run: 30 s in, the topic grows from 6 to 9 partitions
 * (kafkajs `createPartitions`) while the workload produces and an
 * exfiltration is under way. The sink and the detector must take the new
 * partitions: each refreshes its metadata every 5 s, sees them, and rejoins
 * its group, dropping what it had open and reading again from its committed
 * offsets. The fault counts only when both groups had every partition
 * assigned within 60 s (its evidence: the partition count before and after,
 * and when each group took them, and the records on the new partitions by
 * then). The harness's generator re-reads the partition count every 5 s, so
 * some keys move to the new partitions, as a real producer's do; the checks
 * read every partition the topic has at the end. Expected: PASS
 * (nothing acknowledged lost, no duplicate, the incident alerted exactly once).
 */
import { defineScenario } from "../chaos/scenario.ts";

export default defineScenario({
  name: "add-partitions-mid-run",
  description:
    "the topic grows from 6 to 9 partitions mid-run: both groups take them, nothing lost",
  seed: 43,
  workload: {
    eps: 5000,
    duration: "90s",
    incidents: [{ at: "25s", kind: "exfil", duration: "20s" }],
  },
  faults: [
    { at: "30s", kind: "add_partitions", target: "all-brokers", params: { count: 3 } },
  ],
  checks: { max_duplicates: 0, alerts: true },
});
