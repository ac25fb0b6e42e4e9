/**
 * The default traffic and faults of a graded run (`deno task grade`): both
 * kinds of record (1% malformed), an exfiltration and a port scan, the sink
 * restarted mid-batch and the detector restarted mid-incident. Short enough to
 * grade a submission in about two minutes.
 */
import { defineScenario } from "../chaos/scenario.ts";

export default defineScenario({
  name: "graded-pipeline",
  description: "graded runs: malformed records, two incidents, sink and detector restarted",
  seed: 23,
  workload: {
    eps: 5000,
    duration: "95s",
    chaos_mode: true,
    malformed_prob: 0.01,
    incidents: [
      { at: "8s", kind: "exfil", duration: "20s" },
      { at: "12s", kind: "port_scan", duration: "5s" },
    ],
  },
  faults: [
    { at: "20s", kind: "restart", target: "detector" },
    { at: "35s", kind: "restart", target: "sink" },
  ],
});
