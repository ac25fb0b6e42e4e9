/**
 * The sink's memory limited to 48 MiB for 20 s, below what it holds while it
 * batches: the kernel's OOM killer kills it mid-batch (a memory cgroup on its
 * process tree). The heal starts it again, and commit-after-upload with
 * offset-named objects must leave every event stored exactly once (malformed
 * ones only in dlq/); the sink's lag is back after the heal.
 */
import { defineScenario } from "../chaos/scenario.ts";

export default defineScenario({
  name: "sink-memory-pressure",
  description:
    "the sink OOM-killed mid-batch under a 48 MiB limit: every event stored exactly once",
  seed: 25,
  workload: {
    eps: 6000,
    duration: "90s",
    chaos_mode: true,
    malformed_prob: 0.005,
    incidents: [{ at: "10s", kind: "exfil", duration: "20s" }],
  },
  faults: [
    { at: "25s", kind: "memory", target: "sink", params: { limit_mb: 48 }, heal_after: "20s" },
  ],
  checks: { max_duplicates: 0 },
  probes: [
    {
      name: "the sink catches up after the heal",
      metric: "sink_lag_s",
      stat: "min",
      op: "<=",
      value: 5,
      phase: "after",
    },
  ],
});
