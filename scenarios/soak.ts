/**
 * An hour's soak: 10,000 events/s for 3,600 s (36 million events) with a
 * broker fault every 4 minutes, kill, pause or 200 ms latency on a broker
 * drawn with the seed, each healed after 45 s, and an incident of each kind
 * spread over the hour. It shows that nothing is lost or doubled over a long
 * run, that every incident still raises one alert, and that the verdict (the
 * audit on every core, the store check) scales to tens of millions of events
 * in bounded memory (validate/bench_scale.ts measures how it grows).
 * Expected: PASS.
 *
 * For the nightly (`deno task nightly`), not the suite. A short proof that it
 * starts and heals:
 * `deno task scenario soak --set workload.duration=150s --set chaos.start=20s
 * --set chaos.every=40s --set chaos.duration=15s --set chaos.end=140s
 * --set workload.incidents.0.at=10s --set workload.incidents.1.at=60s
 * --set workload.incidents.2.at=90s --set workload.incidents.3.at=110s`.
 */
import { defineScenario } from "../chaos/scenario.ts";

export default defineScenario({
  name: "soak",
  description: "an hour at 10,000 events/s, a broker kill, pause or latency every 4 minutes",
  seed: 36,
  workload: {
    eps: 10_000,
    duration: "3600s",
    chaos_mode: true,
    malformed_prob: 0.001,
    incidents: [
      { at: "600s", kind: "exfil", duration: "25s" },
      { at: "1500s", kind: "port_scan", duration: "10s" },
      { at: "2400s", kind: "reset_storm", duration: "20s" },
      { at: "3300s", kind: "latency_spike", duration: "20s" },
    ],
  },
  chaos: {
    start: "120s",
    end: "3500s",
    every: "240s",
    duration: "45s",
    targets: ["broker:random"],
    actions: ["kill", "pause", "latency"],
    params: { latency_ms: 200, jitter_ms: 50 },
  },
});
