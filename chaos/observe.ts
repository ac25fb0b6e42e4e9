/**
 * Observation of a run while the workload runs: the per-second samples
 * (`samples.jsonl`: acked rate, send latency, sink lag, faults in force), the
 * components' metrics and every part's CPU (`metrics.jsonl`), and on request a Prometheus of the
 * run's own scraping the harness and the components (`--prometheus`).
 * @module
 */

import { join } from "node:path";
import { Registry } from "prom-client";
import { ProcessNode } from "../compose/process_node.ts";
import { prometheusArgs, prometheusConfig } from "../compose/prometheus.ts";
import { ensurePrometheus } from "../compose/host_tools.ts";
import type { Stack, StackNode } from "../compose/stack.ts";
import { say } from "../lib/progress.ts";
import type { Generator } from "../pipeline/generator.ts";
import { serveMetrics, withProcessMetrics } from "../pipeline/metrics.ts";
import type { History } from "../validate/history.ts";
import type { Sample } from "../validate/samples.ts";
import { metricsPorts } from "./components.ts";
import { MetricsSampler } from "./metrics_sampler.ts";
import type { Admin } from "./run_stack.ts";
import type { RunNames } from "./run_names.ts";
import { Sampler } from "./sampler.ts";
import { CpuSampler } from "./cpu_sampler.ts";
import type { RunCost } from "../validate/results.ts";

let harnessProcess: Registry | undefined;
/** The harness process's standard metrics: one registry per process, however many runs. */
function processRegistry(): Registry {
  return harnessProcess ??= withProcessMetrics(new Registry());
}

export interface ObserveOptions {
  stack: Stack;
  /** The pipeline's components, measured beside the stack's nodes. */
  components: ReadonlyMap<string, StackNode>;
  /** The workload's live figures and metrics (its generators as one). */
  generator: Pick<Generator, "status" | "metrics">;
  admin: Admin;
  names: RunNames;
  runDir: string;
  history: History;
  /** The faults in force now, for the samples. */
  active(): string[];
  /** Registries served beside the generator's (the faults' gauge). */
  registries: Registry[];
  withPrometheus?: boolean;
}

export class Observation {
  readonly #sampler: Sampler;
  readonly #metrics: MetricsSampler;
  readonly #cpu: CpuSampler;
  #cost: RunCost | null = null;
  #server?: { shutdown(): Promise<void> };
  #prometheus?: ProcessNode;

  private constructor(sampler: Sampler, metrics: MetricsSampler, cpu: CpuSampler) {
    this.#sampler = sampler;
    this.#metrics = metrics;
    this.#cpu = cpu;
  }

  /** Starts the samplers (and Prometheus when asked). */
  static async start(o: ObserveOptions): Promise<Observation> {
    const ports = metricsPorts(o.stack);
    const sampler = new Sampler({
      file: join(o.runDir, "samples.jsonl"),
      generator: o.generator,
      admin: o.admin,
      topic: o.names.topic,
      group: o.names.sinkGroup,
      active: o.active,
    });
    sampler.start();
    const harness = Registry.merge([
      o.generator.metrics,
      processRegistry(),
      ...o.registries,
    ]);
    const metrics = new MetricsSampler(join(o.runDir, "metrics.jsonl"), {
      harness,
      sink: `http://127.0.0.1:${ports.sink}/metrics`,
      detector: `http://127.0.0.1:${ports.detector}/metrics`,
    });
    const cpu = new CpuSampler({
      file: join(o.runDir, "metrics.jsonl"),
      nodes: () => [...o.stack.nodes.values(), ...new Set(o.components.values())],
    });
    const observation = new Observation(sampler, metrics, cpu);
    if (o.withPrometheus) await observation.#startPrometheus(o, harness);
    metrics.start();
    cpu.start();
    return observation;
  }

  /** The per-second samples so far. */
  samples(): readonly Sample[] {
    return this.#sampler.samples;
  }

  /** The latest per-second sample. */
  last(): Sample | undefined {
    return this.#sampler.samples.at(-1);
  }

  /** Stops sampling the workload; returns the samples (again on later calls). */
  stopSamples(): Sample[] {
    return this.#sampler.stop();
  }

  /** Stops measuring CPU; the cost per million of `events` (the same on later calls). */
  stopCost(events: number): RunCost {
    return this.#cost ??= this.#cpu.stop(events);
  }

  /** Stops everything it started; safe to call twice. */
  async stop(): Promise<void> {
    this.stopSamples();
    this.stopCost(0);
    this.#metrics.stop();
    await this.#server?.shutdown().catch(() => {});
    await this.#prometheus?.stop({ graceMs: 10_000 }).catch(() => {});
  }

  // The harness (generator + faults) on base+50, Prometheus on base+59, data in the run folder.
  async #startPrometheus(o: ObserveOptions, harness: Registry): Promise<void> {
    const base = o.stack.plan.metrics;
    const ports = metricsPorts(o.stack);
    this.#server = serveMetrics(harness, base);
    const dir = join(o.runDir, "prometheus");
    await Deno.mkdir(dir, { recursive: true });
    await Deno.writeTextFile(
      join(dir, "prometheus.yml"),
      prometheusConfig({
        harness: `127.0.0.1:${base}`,
        sink: `127.0.0.1:${ports.sink}`,
        detector: `127.0.0.1:${ports.detector}`,
      }),
    );
    this.#prometheus = new ProcessNode({
      name: "prometheus",
      cmd: await ensurePrometheus(),
      args: prometheusArgs(join(dir, "prometheus.yml"), join(dir, "data"), base + 9),
      logFile: join(o.runDir, "logs", "prometheus.log"),
      pidFile: join(o.stack.dataDir, "pids", "prometheus.pid"),
    });
    await this.#prometheus.start();
    const url = `http://127.0.0.1:${base + 9}`;
    o.history.record("ok", "prometheus", { url });
    say(`prometheus: ${url}`);
  }
}
