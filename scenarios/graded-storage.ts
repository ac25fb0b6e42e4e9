/**
 * Part of the graded suite: MinIO SIGKILLed for 20 s while the sink uploads
 * (it must back off and drain, never commit what it did not store), then the
 * sink SIGKILLed mid-batch while it drains the backlog; 0.5% malformed
 * records (only in dlq/), a port scan and a reset storm.
 */
import { defineScenario } from "../chaos/scenario.ts";

export default defineScenario({
  name: "graded-storage",
  description:
    "graded suite: MinIO down 20 s during uploads, then the sink killed mid-batch; malformed records, port scan and reset storm",
  seed: 37,
  workload: {
    eps: 5000,
    duration: "75s",
    chaos_mode: true,
    malformed_prob: 0.005,
    incidents: [
      { at: "8s", kind: "port_scan", duration: "5s" },
      { at: "14s", kind: "reset_storm", duration: "12s" },
    ],
  },
  faults: [
    { at: "13500ms", kind: "kill", target: "minio", heal_after: "20s" },
    { at: "38300ms", kind: "restart", target: "sink" },
  ],
});
