/**
 * The sink's Prometheus metrics (served on its metrics port; the harness's
 * Grafana dashboard and `metrics.jsonl` read them).
 * @module
 */

import { Counter, Gauge, Histogram, type Registry } from "prom-client";

/** Registers the sink's metrics in `registry`. */
export function sinkMetrics(registry: Registry) {
  const registers = [registry];
  return {
    consumed: new Counter({
      name: "sink_records_consumed_total",
      help: "records read",
      registers,
    }),
    valid: new Counter({ name: "sink_records_valid_total", help: "valid events", registers }),
    invalid: new Counter({
      name: "sink_records_invalid_total",
      help: "records sent to the DLQ",
      registers,
    }),
    batches: new Counter({
      name: "sink_batches_total",
      help: "batches stored and committed",
      registers,
    }),
    bytes: new Counter({
      name: "sink_bytes_uploaded_total",
      help: "gzip bytes uploaded",
      registers,
    }),
    retries: new Counter({
      name: "sink_upload_retries_total",
      help: "upload retries",
      registers,
    }),
    upload: new Histogram({
      name: "sink_upload_seconds",
      help: "object upload time",
      buckets: [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5],
      registers,
    }),
    rewinds: new Counter({
      name: "sink_rewinds_total",
      help: "open batches dropped because the fetch position went back to the committed offset",
      registers,
    }),
    staleBatches: new Counter({
      name: "sink_stale_batches_total",
      help: "batches not stored or not committed because the group generation changed " +
        "(their records are fetched again from the committed offset)",
      registers,
    }),
    commitFailures: new Counter({
      name: "sink_commit_failures_total",
      help: "commits Kafka refused (a rebalance, no coordinator): the next commit covers them",
      registers,
    }),
    breaker: new Gauge({
      name: "sink_breaker_open",
      help: "1 while MinIO uploads fail",
      registers,
    }),
    lag: new Gauge({
      name: "sink_consumer_lag",
      help: "high watermark minus the last consumed offset",
      labelNames: ["partition"],
      registers,
    }),
  };
}

export type SinkMetrics = ReturnType<typeof sinkMetrics>;
