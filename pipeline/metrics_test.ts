import assert from "node:assert/strict";
import { Registry } from "prom-client";
import { detectorMetrics } from "./detector_metrics.ts";
import { generatorMetrics } from "./generator_metrics.ts";
import { sinkMetrics } from "./sink_metrics.ts";
import { withProcessMetrics } from "./metrics.ts";

/** What is wrong with a metric's name by Prometheus' conventions (pure). */
function nameProblems(name: string, type: string): string[] {
  const problems: string[] = [];
  if (type === "counter" && !name.endsWith("_total")) {
    problems.push(`${name}: a counter's name ends in _total`);
  }
  if (type !== "counter" && name.endsWith("_total")) {
    problems.push(`${name}: only a counter's name ends in _total (this is a ${type})`);
  }
  if (/_(ms|millis|milliseconds|us|ns|minutes|hours)(_|$)/.test(name)) {
    problems.push(`${name}: time in seconds (_seconds), Prometheus' base unit`);
  }
  return problems;
}

Deno.test("nameProblems flags counters without _total and times not in seconds", () => {
  assert.deepEqual(nameProblems("a_events_total", "counter"), []);
  assert.deepEqual(nameProblems("a_lag_seconds", "gauge"), []);
  assert.equal(nameProblems("detector_late_events", "counter").length, 1);
  assert.equal(nameProblems("detector_late_events_total", "gauge").length, 1);
  assert.equal(nameProblems("detector_watermark_lag_ms", "gauge").length, 1);
  assert.equal(nameProblems("detector_alert_fire_to_lock_ms", "histogram").length, 1);
});

Deno.test("the pipeline's own metrics follow Prometheus' naming", async () => {
  const registry = new Registry();
  detectorMetrics(registry);
  sinkMetrics(registry);
  generatorMetrics(registry);
  const metrics = await registry.getMetricsAsJSON();
  assert.ok(metrics.length >= 30);
  assert.deepEqual(metrics.flatMap((m) => nameProblems(m.name, String(m.type))), []);
});

Deno.test("withProcessMetrics adds the process metrics once", () => {
  const registry = new Registry();
  withProcessMetrics(registry);
  const n = registry.getMetricsAsArray().length;
  withProcessMetrics(registry);
  assert.equal(registry.getMetricsAsArray().length, n);
  assert.ok(registry.getSingleMetric("process_cpu_seconds_total"));
});
