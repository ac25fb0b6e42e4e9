/**
 * Steady-state probes (Chaos Toolkit's hypothesis): a scenario states, per
 * phase, a bound on a metric of the per-second samples, for example "acked
 * events/s at least 8000 before the faults" or "p95 produce latency at most
 * 2000 ms during them". Pure.
 *
 * Phases: `before` = from 5 s into the workload to the first injection;
 * `during` = from the first injection to the last heal; `after` = from 10 s
 * after the last heal to the end of the workload. A probe whose phase has no
 * sample says `unknown`. A `before` probe that fails makes the run `unknown`
 * (the system was never in its steady state, so the experiment proves
 * nothing); `during` and `after` probes that fail make it `fail`. An advisory
 * probe (`advisory: true`, e.g. "the machine kept the target rate") is
 * measured and reported the same way but never enters the verdict: what it
 * did not hold is a note, not a reason.
 *
 * An abort probe (`abort: true`, Litmus's stopOnFailure, k6's abortOnFail) is
 * also checked live, every second, on the samples of its phase so far, once
 * the phase has lasted `grace_s` (default 5 s): `abortingProbe` names the
 * first that does not hold, and the run stops there (chaos/abort_watch.ts).
 *
 * ```ts
 * import { checkProbes } from "./probes.ts";
 * const r = checkProbes(probes, samples, { firstInject, lastHeal, workloadEnd });
 * ```
 * @module
 */

import { quantile } from "../lib/stats.ts";
import type { Sample } from "./samples.ts";
import { combine, type Verdict } from "./verdict.ts";

export const PROBE_METRICS = [
  "acked_eps",
  "p95_send_ms",
  "sink_lag_s",
  "under_replicated",
  "offline_partitions",
  "min_isr",
] as const;
export const PROBE_STATS = ["mean", "min", "max", "p95"] as const;
export const PROBE_PHASES = ["before", "during", "after"] as const;

export interface Probe {
  name?: string;
  metric: typeof PROBE_METRICS[number];
  stat: typeof PROBE_STATS[number];
  op: ">=" | "<=";
  value: number;
  phase: typeof PROBE_PHASES[number];
  /** Reported, never part of the verdict. */
  advisory?: boolean;
  /** Checked every second while the run goes on: when it does not hold, the run stops. */
  abort?: boolean;
  /** Seconds its phase must have lasted before an abort probe is checked live; default 5. */
  grace_s?: number;
}

export interface Phases {
  /** Epoch ms of the workload's start and end. */
  workloadStart: number;
  workloadEnd: number;
  /** Epoch ms of the first injection and the last heal; null without faults. */
  firstInject: number | null;
  lastHeal: number | null;
}

export interface ProbeResult {
  name: string;
  metric: Probe["metric"];
  phase: Probe["phase"];
  verdict: Verdict;
  /** The statistic measured; null without samples. */
  measured: number | null;
  expected: string;
  samples: number;
  /** An advisory probe: its verdict says whether it held, the run's verdict ignores it. */
  advisory?: true;
}

export interface ProbesResult {
  verdict: Verdict;
  probes: ProbeResult[];
  reasons: string[];
  /** What advisory probes measured when they did not hold. */
  notes?: string[];
}

const WARMUP_MS = 5000;
const AFTER_GRACE_MS = 10_000;
const ABORT_GRACE_S = 5;

/** The window [from, to) of a phase, in epoch ms. */
function phaseWindow(phase: Probe["phase"], p: Phases): [number, number] {
  const first = p.firstInject ?? p.workloadEnd;
  const last = p.lastHeal ?? p.firstInject ?? p.workloadStart;
  if (phase === "before") return [p.workloadStart + WARMUP_MS, first];
  if (phase === "during") return [first, p.lastHeal ?? first];
  return [last + AFTER_GRACE_MS, p.workloadEnd];
}

function valueOf(s: Sample, metric: Probe["metric"], eps: number): number | null {
  if (metric === "acked_eps") return s.acked_eps;
  if (metric === "p95_send_ms") return s.p95_send_ms;
  if (metric === "sink_lag_s") return s.sink_lag === null ? null : s.sink_lag / Math.max(1, eps);
  return s[metric] ?? null;
}

/** The probe's statistic over the samples in [from, to), or null without one. */
function measure(
  probe: Probe,
  samples: readonly Sample[],
  [from, to]: [number, number],
  eps: number,
): { measured: number | null; count: number } {
  const values = samples.filter((s) => s.t >= from && s.t < to)
    .map((s) => valueOf(s, probe.metric, eps))
    .filter((v): v is number => v !== null);
  return { measured: stat(values, probe.stat), count: values.length };
}

const holds = (probe: Probe, measured: number) =>
  probe.op === ">=" ? measured >= probe.value : measured <= probe.value;

function stat(values: number[], kind: Probe["stat"]): number | null {
  if (values.length === 0) return null;
  if (kind === "mean") return values.reduce((a, b) => a + b, 0) / values.length;
  if (kind === "min") return Math.min(...values);
  if (kind === "max") return Math.max(...values);
  return quantile(values, 0.95);
}

/**
 * Evaluates every probe. `eps` (the workload's target rate) turns lag in
 * events into lag in seconds for `sink_lag_s`.
 */
export function checkProbes(
  probes: readonly Probe[],
  samples: readonly Sample[],
  phases: Phases,
  eps = 1,
): ProbesResult {
  const results = probes.map((probe): ProbeResult => {
    const { measured, count } = measure(probe, samples, phaseWindow(probe.phase, phases), eps);
    const ok = measured !== null && holds(probe, measured);
    const verdict: Verdict = measured === null
      ? "unknown"
      : ok
      ? "pass"
      : probe.phase === "before"
      ? "unknown"
      : "fail";
    return {
      name: probe.name ?? `${probe.stat} ${probe.metric} ${probe.phase}`,
      metric: probe.metric,
      phase: probe.phase,
      verdict,
      measured: measured === null ? null : Math.round(measured * 100) / 100,
      expected: `${probe.op} ${probe.value}`,
      samples: count,
      ...(probe.advisory ? { advisory: true as const } : {}),
    };
  });
  const explain = (r: ProbeResult) =>
    r.measured === null
      ? `probe "${r.name}" had no samples in its phase`
      : `probe "${r.name}": measured ${r.measured}, expected ${r.expected}` +
        (r.advisory
          ? " (advisory)"
          : r.phase === "before"
          ? " (the steady state was never reached)"
          : "");
  const held = results.filter((r) => !r.advisory);
  const reasons = held.filter((r) => r.verdict !== "pass").map(explain);
  const notes = results.filter((r) => r.advisory && r.verdict !== "pass").map(explain);
  const verdict = combine(held.map((r) => r.verdict));
  return { verdict, probes: results, reasons, notes };
}

/** Where a run is now, for abort probes: phases so far. */
export interface LivePhases {
  workloadStart: number;
  now: number;
  /** Epoch ms of the first injection; null before it. */
  firstInject: number | null;
  /** Epoch ms of the last heal once no fault is left to inject or heal; null before. */
  lastHeal: number | null;
}

/** A phase's window so far, or null when the phase has not begun. */
function liveWindow(phase: Probe["phase"], p: LivePhases): [number, number] | null {
  if (phase === "before") return [p.workloadStart + WARMUP_MS, p.firstInject ?? p.now];
  if (phase === "during") {
    return p.firstInject === null ? null : [p.firstInject, p.lastHeal ?? p.now];
  }
  return p.lastHeal === null ? null : [p.lastHeal + AFTER_GRACE_MS, p.now];
}

/** An abort probe that tripped: what it measured and why the run stops. */
export interface Tripped {
  name: string;
  measured: number;
  expected: string;
  phase: Probe["phase"];
}

/**
 * The first abort probe that does not hold on the samples so far (its phase has begun and
 * lasted its grace), or undefined. Probes without `abort` are not looked at.
 */
export function abortingProbe(
  probes: readonly Probe[],
  samples: readonly Sample[],
  live: LivePhases,
  eps = 1,
): Tripped | undefined {
  for (const probe of probes) {
    if (!probe.abort) continue;
    const window = liveWindow(probe.phase, live);
    if (!window) continue;
    const [from, to] = window;
    if (to - from < (probe.grace_s ?? ABORT_GRACE_S) * 1000) continue;
    const { measured } = measure(probe, samples, window, eps);
    if (measured === null || holds(probe, measured)) continue;
    return {
      name: probe.name ?? `${probe.stat} ${probe.metric} ${probe.phase}`,
      measured: Math.round(measured * 100) / 100,
      expected: `${probe.op} ${probe.value}`,
      phase: probe.phase,
    };
  }
  return undefined;
}
