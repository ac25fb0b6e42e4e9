/**
 * The recovery checker: for each fault, how long until acknowledged events/s
 * were back at `threshold` (90%) of the rate before it, and how long until the
 * sink's lag was back under `lagBoundS` seconds of that rate. Pure, over the
 * per-second samples.
 *
 * The baseline is the median rate of the 10 s before the fault, capped at the
 * target rate. A fault's window runs from its injection to the next fault's
 * injection, 60 s after its heal, or the end of the workload, whichever comes
 * first. The rate (a 3-second moving average) dips when it first falls under
 * the threshold before the heal; it is back at the first moment after that
 * from which it stays over the threshold for 5 s. No dip: back at once (0);
 * still under when the window ends: never back (null). A dip the heal itself
 * causes (a restarted broker taking its leaderships back) is not the fault's. With `withinMs` (a scenario's `recovery_within`), a fault not
 * back in time fails the check, and a fault without a rate before it to
 * compare with is `unknown`; without it the figures are only reported.
 *
 * ```ts
 * import { checkRecovery } from "./recovery.ts";
 * const r = checkRecovery(faults, samples, { workloadEnd, withinMs: 30_000 });
 * ```
 * @module
 */

import { quantile } from "../lib/stats.ts";
import type { Sample } from "./samples.ts";
import { combine, type Verdict } from "./verdict.ts";

export interface FaultSpan {
  label: string;
  injected_at: number | null;
  healed_at: number | null;
}

export interface RecoveryOptions {
  /** Epoch ms the workload ended. */
  workloadEnd: number;
  withinMs?: number;
  /** Default 0.9. */
  threshold?: number;
  /** How long before the fault the baseline rate is averaged. Default 10 s. */
  baselineMs?: number;
  /** Lag bound in seconds of the baseline rate. Default 10. */
  lagBoundS?: number;
  /** The workload's target events/s: the baseline never exceeds it. */
  targetEps?: number;
}

export interface FaultRecovery {
  fault: string;
  verdict: Verdict;
  baseline_eps: number | null;
  /** Lowest smoothed rate in the window. */
  min_eps: number | null;
  /** From injection until the rate was back; 0 when it never dipped; null when never back. */
  recovered_ms: number | null;
  /** From the heal until the rate was back (0 when it was back before). */
  after_heal_ms: number | null;
  /** From injection until the sink's lag was back under the bound; null when never back or unread. */
  lag_back_ms: number | null;
}

export interface RecoveryResult {
  verdict: Verdict;
  faults: FaultRecovery[];
  reasons: string[];
}

const END_TAIL_MS = 2000;
const STABLE_MS = 5000;
const AFTER_HEAL_MS = 60_000;

function smooth(samples: readonly Sample[]): number[] {
  return samples.map((_, i) => {
    const w = samples.slice(Math.max(0, i - 1), i + 2);
    return w.reduce((s, x) => s + x.acked_eps, 0) / w.length;
  });
}

export function checkRecovery(
  faults: readonly FaultSpan[],
  samples: readonly Sample[],
  options: RecoveryOptions,
): RecoveryResult {
  const threshold = options.threshold ?? 0.9;
  const baselineMs = options.baselineMs ?? 10_000;
  const lagBoundS = options.lagBoundS ?? 10;
  const sorted = [...samples].sort((a, b) => a.t - b.t);
  const rate = smooth(sorted);
  const injections = faults.map((f) => f.injected_at).filter((t): t is number => t !== null)
    .sort((a, b) => a - b);
  const reasons: string[] = [];

  const results = faults.filter((f) => f.injected_at !== null).map((f): FaultRecovery => {
    const inject = f.injected_at!;
    const before = sorted.filter((s) => s.t >= inject - baselineMs && s.t < inject);
    // The median before the fault, capped at the target: a paced generator catching up runs
    // above its target for a moment, and that is no rate to come back to.
    const median = quantile(before.map((s) => s.acked_eps), 0.5);
    const baseline = median === null ? null : Math.min(median, options.targetEps ?? Infinity);
    const next = injections.find((t) => t > inject) ?? Infinity;
    const end = Math.min(
      options.workloadEnd - END_TAIL_MS,
      next,
      (f.healed_at ?? inject) + AFTER_HEAL_MS,
    );
    const idx = sorted.map((s, i) => [s, i] as const).filter(([s]) => s.t >= inject && s.t < end)
      .map(([, i]) => i);
    const out: FaultRecovery = {
      fault: f.label,
      verdict: "pass",
      baseline_eps: baseline === null ? null : Math.round(baseline),
      min_eps: idx.length ? Math.round(Math.min(...idx.map((i) => rate[i]))) : null,
      recovered_ms: null,
      after_heal_ms: null,
      lag_back_ms: null,
    };
    if (baseline === null || baseline <= 0 || idx.length === 0) {
      // Nothing to compare with: unknown when a bound was claimed, otherwise just no figures.
      if (options.withinMs !== undefined) {
        out.verdict = "unknown";
        reasons.push(`${f.label}: no throughput before the fault or no samples after it`);
      }
      return out;
    }
    // The first dip starts before the heal (or the window's end); recovery is the first moment
    // after it from which the rate stays at the threshold for STABLE_MS.
    const healAt = f.healed_at ?? end;
    const firstLow = idx.find((i) => sorted[i].t < healAt && rate[i] < threshold * baseline);
    if (firstLow === undefined) {
      out.recovered_ms = 0;
    } else {
      const after = idx.filter((i) => i > firstLow);
      for (let k = 0; k < after.length; k++) {
        const from = sorted[after[k]].t;
        const run = after.slice(k).filter((i) => sorted[i].t < from + STABLE_MS);
        const spans = sorted[run.at(-1)!].t - from >= STABLE_MS - 1500;
        if (spans && run.every((i) => rate[i] >= threshold * baseline)) {
          out.recovered_ms = from - inject;
          break;
        }
      }
    }
    if (out.recovered_ms !== null && f.healed_at !== null) {
      out.after_heal_ms = Math.max(0, inject + out.recovered_ms - f.healed_at);
    }
    const bound = lagBoundS * baseline;
    const lags = idx.filter((i) => sorted[i].sink_lag !== null);
    const lastHigh = lags.filter((i) => sorted[i].sink_lag! > bound).at(-1);
    if (lags.length) {
      if (lastHigh === undefined) out.lag_back_ms = 0;
      else if (lastHigh !== lags.at(-1)) out.lag_back_ms = sorted[lastHigh].t + 1000 - inject;
    }
    if (options.withinMs !== undefined) {
      if (out.recovered_ms === null) {
        out.verdict = "fail";
        reasons.push(
          `${f.label}: acknowledged events/s never came back to ${
            Math.round(threshold * 100)
          }% of ${out.baseline_eps}/s`,
        );
      } else if (out.recovered_ms > options.withinMs) {
        out.verdict = "fail";
        reasons.push(
          `${f.label}: throughput back after ${
            (out.recovered_ms / 1000).toFixed(1)
          } s, more than the ${options.withinMs / 1000} s allowed`,
        );
      }
    }
    return out;
  });
  const verdicts = results.map((r) => r.verdict);
  const verdict = combine(verdicts);
  return { verdict, faults: results, reasons };
}
