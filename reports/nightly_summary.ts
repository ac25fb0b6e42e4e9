/**
 * What a nightly records per scenario in `<night>/summary.json`: the verdict
 * and the figures the page, the regressions, the notification and the
 * Prometheus export read (`figuresOf` takes them from a run's results).
 * Fields added later are optional: older summaries lack them.
 *
 * ```ts
 * import { figuresOf } from "./nightly_summary.ts";
 * tonight.scenarios[scenario.name] = figuresOf(results, "runs/flagship-…");
 * ```
 * @module
 */

import type { Results } from "../validate/results.ts";

export interface Figures {
  verdict: Results["verdict"];
  expect: Results["expect"];
  as_expected: boolean;
  seed: number;
  lost: number | null;
  /** The slowest recovery after a fault (ms); null when none came back or there were no faults. */
  recovery_ms: number | null;
  acked_eps: number;
  /** p99 of the time to detect: an incident's first event to its alert's first delivery (ms). */
  detection_p99_ms: number | null;
  /** The run folder, relative to the night's folder. */
  run: string;
  /** Events acknowledged (absent from summaries written before it was recorded). */
  acked?: number | null;
  /** The stack it ran on, for the replay command (absent before it was recorded). */
  stack?: Results["stack"];
}

export interface NightSummary {
  date: string;
  scenarios: Record<string, Figures>;
}

export function figuresOf(r: Results, run: string): Figures {
  const recoveries = (r.recovery?.faults ?? []).map((f) => f.recovered_ms);
  return {
    verdict: r.verdict,
    expect: r.expect,
    as_expected: r.as_expected,
    seed: r.seed,
    lost: r.completeness?.lost ?? null,
    acked: r.completeness?.acked ?? null,
    recovery_ms: recoveries.length && recoveries.every((x) => x !== null)
      ? Math.max(...(recoveries as number[]))
      : null,
    acked_eps: r.throughput.acked_eps,
    detection_p99_ms: r.alerts?.detect_ms_p99 ?? null,
    run,
    stack: r.stack,
  };
}
