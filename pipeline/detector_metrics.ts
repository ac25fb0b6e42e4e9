/**
 * The detector's Prometheus metrics (served on its metrics port; the Grafana
 * dashboard and `metrics.jsonl` read them).
 * @module
 */

import { Counter, Gauge, Histogram, type Registry } from "prom-client";

/** Registers the detector's metrics in `registry`. */
export function detectorMetrics(registry: Registry) {
  const registers = [registry];
  return {
    events: new Counter({
      name: "detector_events_total",
      help: "valid events windowed",
      registers,
    }),
    invalid: new Counter({
      name: "detector_invalid_total",
      help: "invalid records skipped",
      registers,
    }),
    late: new Counter({
      name: "detector_late_events_total",
      help: "events dropped as late",
      registers,
    }),
    panes: new Gauge({ name: "detector_open_panes", help: "open window panes", registers }),
    watermarkLag: new Gauge({
      name: "detector_watermark_lag_seconds",
      help: "wall clock minus watermark",
      registers,
    }),
    fired: new Counter({
      name: "detector_alerts_fired_total",
      help: "alerts fired (lock taken)",
      labelNames: ["rule"],
      registers,
    }),
    suppressed: new Counter({
      name: "detector_alerts_suppressed_total",
      help: "candidate alerts suppressed by the Redis lock",
      registers,
    }),
    retried: new Counter({
      name: "detector_alerts_retried_total",
      help: "webhook retries",
      registers,
    }),
    outbox: new Gauge({
      name: "detector_outbox_size",
      help: "alerts awaiting delivery",
      registers,
    }),
    latency: new Histogram({
      name: "detector_detection_latency_seconds",
      help: "fired time minus the end of the window that triggered it",
      buckets: [0.5, 1, 2, 5, 10, 20, 30, 60, 120],
      registers,
    }),
    // An alert's steps on the detector's clock (seconds; its deliveries carry them in ms, alert.ts).
    watermarkToFire: stepHistogram(
      "detector_alert_watermark_to_fire_seconds",
      "rule fired minus the watermark passing the window's end (window-close alerts)",
      registers,
    ),
    lock: stepHistogram(
      "detector_alert_fire_to_lock_seconds",
      "lock taken and outbox written minus the rule firing",
      registers,
    ),
    firstAttempt: stepHistogram(
      "detector_alert_lock_to_first_attempt_seconds",
      "first delivery attempt sent minus the lock taken",
      registers,
    ),
    answer: stepHistogram(
      "detector_alert_attempt_to_answer_seconds",
      "webhook's answer minus the attempt sent",
      registers,
    ),
  };
}

/** A histogram of one step of an alert, in seconds (10 ms to a minute). */
function stepHistogram(name: string, help: string, registers: Registry[]) {
  return new Histogram({
    name,
    help,
    buckets: [0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 60],
    registers,
  });
}

export type DetectorMetrics = ReturnType<typeof detectorMetrics>;
