/**
 * The alert webhook answers 503 for 40 s while two incidents alert: the
 * outbox retries, and each incident still counts exactly one distinct alert
 * (retries of one alert_id are deliveries, not doubles).
 */
import { defineScenario } from "../chaos/scenario.ts";

export default defineScenario({
  name: "flaky-webhook",
  description: "the webhook answers 503 for 40 s: alerts are retried, one per incident",
  seed: 19,
  workload: {
    eps: 8000,
    duration: "110s",
    incidents: [
      { at: "10s", kind: "exfil", duration: "20s" },
      { at: "15s", kind: "port_scan", duration: "5s" },
    ],
  },
  faults: [{
    at: "20s",
    kind: "webhook_fail",
    target: "webhook",
    params: { status: 503 },
    heal_after: "40s",
  }],
});
