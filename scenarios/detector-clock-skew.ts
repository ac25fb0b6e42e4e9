/**
 * The detector's wall clock jumps 90 s ahead in the middle of an exfiltration
 * (its alert is due about 11 s in) and back 30 s later, after a port scan and
 * before a latency spike (libfaketime: the detector alone runs under it; event
 * times, Redis and the webhook receiver keep the real clock). Its windows and
 * watermark follow event time, its alerts' `fired_at_ms` and its watermark lag
 * follow its own clock, the Redis lock's TTL follows Redis's: still exactly
 * one alert per incident, none lost, none doubled by the jump back.
 */
import { defineScenario } from "../chaos/scenario.ts";

export default defineScenario({
  name: "detector-clock-skew",
  description: "the detector's clock 90 s ahead for 30 s, then back: one alert per incident",
  seed: 30,
  workload: {
    eps: 8000,
    duration: "100s",
    incidents: [
      { at: "15s", kind: "exfil", duration: "30s" },
      { at: "35s", kind: "port_scan", duration: "20s" },
      { at: "65s", kind: "latency_spike", duration: "15s" },
    ],
  },
  faults: [{
    at: "20s",
    kind: "clock",
    target: "detector",
    params: { offset_s: 90 },
    heal_after: "30s",
  }],
});
