/**
 * The CPU each part of a run uses while the workload runs: every second the
 * CPU seconds of each stack node, component and the harness (which runs the
 * generator) so far, and the machine's busy and idle seconds, appended to
 * `metrics.jsonl` as `{t, component: "cpu", values}`, and each part's resident
 * MB now as `{t, component: "rss", values}`. At the end, the cost: CPU seconds
 * per million acknowledged events for each, its peak resident MB, and the
 * machine's idle share over the workload (results.json `cost`, the reports'
 * cost table).
 *
 * Process trees are read from this machine's /proc: on a remote Docker engine
 * the containers are not there, and only the harness is counted.
 * @module
 */

import { CpuMeter, machineCpu } from "../compose/cpu.ts";
import type { StackNode } from "../compose/stack.ts";
import type { RunCost } from "../validate/results.ts";

export interface CpuSamplerOptions {
  file: string;
  /** The nodes to measure, read again each second (a restarted node has a new pid). */
  nodes(): Iterable<StackNode>;
}

export class CpuSampler {
  readonly #o: CpuSamplerOptions;
  readonly #meter = new CpuMeter();
  #timer?: ReturnType<typeof setInterval>;
  #machine0 = machineCpu();
  #t0 = Date.now();

  constructor(options: CpuSamplerOptions) {
    this.#o = options;
  }

  start(everyMs = 1000): void {
    this.#t0 = Date.now();
    this.#machine0 = machineCpu();
    this.#sample();
    this.#timer = setInterval(() => this.#sample(), everyMs);
  }

  /** Stops sampling; the cost of the time since `start`, per million of `events`. */
  stop(events: number): RunCost {
    clearInterval(this.#timer);
    this.#sample();
    const machine = machineCpu();
    const busy = machine.busyS - this.#machine0.busyS;
    const idle = machine.idleS - this.#machine0.idleS;
    const perMillion = (s: number) =>
      events > 0 ? Math.round((s / (events / 1e6)) * 100) / 100 : null;
    const peaks = this.#meter.peakRssMb();
    const components = Object.entries(this.#meter.totals())
      .map(([name, cpu_s]) => ({
        name,
        cpu_s,
        cpu_s_per_million: perMillion(cpu_s),
        peak_rss_mb: peaks[name] ?? null,
      }))
      .sort((a, b) => b.cpu_s - a.cpu_s);
    return {
      window_s: Math.round((Date.now() - this.#t0) / 100) / 10,
      events,
      components,
      machine: {
        busy_s: Math.round(busy * 100) / 100,
        idle_s: Math.round(idle * 100) / 100,
        idle_share: busy + idle > 0 ? Math.round((idle / (busy + idle)) * 1000) / 1000 : null,
        cpu_s_per_million: perMillion(busy),
      },
    };
  }

  #sample(): void {
    try {
      const roots = new Map<string, number | undefined>([["harness", Deno.pid]]);
      for (const node of this.#o.nodes()) if (!node.remote) roots.set(node.name, node.pid());
      this.#meter.sample(roots, new Set(["harness"]));
      const machine = machineCpu();
      const line = JSON.stringify({
        t: Date.now(),
        component: "cpu",
        values: {
          ...this.#meter.totals(),
          machine_busy_s: Math.round(machine.busyS * 100) / 100,
          machine_idle_s: Math.round(machine.idleS * 100) / 100,
        },
      });
      const rss = JSON.stringify({ t: Date.now(), component: "rss", values: this.#meter.rssMb() });
      Deno.writeTextFileSync(this.#o.file, line + "\n" + rss + "\n", { append: true });
    } catch { /* no /proc (not Linux), or the run folder went away */ }
  }
}
