/**
 * SIGKILL the sink three times while it batches (restarted at once each
 * time): commit-after-upload and offset-named objects must leave every
 * acknowledged event in MinIO exactly once, and malformed ones only in dlq/.
 */
import { defineScenario } from "../chaos/scenario.ts";

export default defineScenario({
  name: "sink-kill-mid-batch",
  description: "SIGKILL the sink three times mid-batch: every event stored exactly once",
  seed: 15,
  workload: {
    eps: 8000,
    duration: "100s",
    chaos_mode: true,
    malformed_prob: 0.005,
    incidents: [{ at: "10s", kind: "exfil", duration: "20s" }],
  },
  faults: [
    { at: "20s", kind: "restart", target: "sink" },
    { at: "37s", kind: "restart", target: "sink" },
    { at: "58s", kind: "restart", target: "sink" },
  ],
});
