/**
 * Five minutes of seeded random chaos, as teams run chaos scripts: every 40 s
 * one of kill, pause, restart or latency on a random broker, the sink or the
 * detector, for 15 s. The same seed draws the same faults (`--seed` changes
 * them; nightly runs rotate it).
 */
import { defineScenario } from "../chaos/scenario.ts";

export default defineScenario({
  name: "random-chaos",
  description: "5 minutes of seeded random kills, pauses, restarts and latency",
  seed: 21,
  workload: {
    eps: 8000,
    duration: "300s",
    chaos_mode: true,
    malformed_prob: 0.002,
    incidents: [
      { at: "20s", kind: "exfil", duration: "25s" },
      { at: "90s", kind: "port_scan", duration: "10s" },
      { at: "150s", kind: "reset_storm", duration: "20s" },
      { at: "200s", kind: "latency_spike", duration: "20s" },
    ],
  },
  chaos: {
    start: "20s",
    end: "240s",
    every: "40s",
    duration: "15s",
    targets: ["broker:random", "sink", "detector"],
    actions: ["kill", "pause", "restart", "latency"],
    params: { latency_ms: 200, jitter_ms: 50 },
  },
});
