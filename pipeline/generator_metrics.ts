/**
 * The generator's Prometheus metrics (the harness serves them with the
 * faults' gauge; `metrics.jsonl` and the Grafana dashboard read them).
 * @module
 */

import { Counter, Gauge, Histogram, type Registry } from "prom-client";

/** Registers the generator's metrics in `registry`. */
export function generatorMetrics(registry: Registry) {
  const reg = [registry];
  return {
    attempted: new Counter({
      name: "generator_events_produced_total",
      help: "events handed to Kafka",
      registers: reg,
    }),
    acked: new Counter({
      name: "generator_events_acked_total",
      help: "events Kafka acknowledged",
      registers: reg,
    }),
    failed: new Counter({
      name: "generator_events_failed_total",
      help: "events Kafka refused",
      registers: reg,
    }),
    unknown: new Counter({
      name: "generator_events_unknown_total",
      help: "events whose fate is unknown (timeout, lost connection)",
      registers: reg,
    }),
    malformed: new Counter({
      name: "generator_events_malformed_total",
      help: "deliberately malformed events",
      registers: reg,
    }),
    anomalies: new Counter({
      name: "generator_anomalies_total",
      help: "incidents injected, by kind",
      labelNames: ["kind"],
      registers: reg,
    }),
    latency: new Histogram({
      name: "generator_send_latency_seconds",
      help: "produce request round trip",
      buckets: [0.002, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30],
      registers: reg,
    }),
    inFlight: new Gauge({
      name: "generator_in_flight_requests",
      help: "produce requests awaiting an answer",
      registers: reg,
    }),
    target: new Gauge({
      name: "generator_target_eps",
      help: "target events per second",
      registers: reg,
    }),
  };
}

export type GeneratorMetrics = ReturnType<typeof generatorMetrics>;
