/**
 * What a run is judged by, resolved from its scenario and recorded in
 * results.json, so that `validate --run` re-checks with the same.
 * @module
 */

import { DEFAULT_MAX_UNKNOWN_SHARE } from "../validate/completeness.ts";
import type { VerdictSettings } from "../validate/recipe.ts";
import { ms, type Scenario } from "./scenario.ts";

/** What the run is judged by, resolved from the scenario (recorded in results.json). */
export function verdictSettings(scenario: Scenario): VerdictSettings {
  return {
    min_acked: scenario.checks.min_acked ??
      Math.floor((scenario.workload.eps * ms(scenario.workload.duration)) / 1000 / 2),
    max_duplicates: scenario.checks.max_duplicates,
    // Idempotence off promises no order (retries with several requests in flight reorder).
    allow_reorder: scenario.checks.allow_reorder || !scenario.stack.idempotent,
    max_unknown_share: scenario.checks.max_unknown_share ?? DEFAULT_MAX_UNKNOWN_SHARE,
    alerts: scenario.checks.alerts,
    probes: scenario.probes,
    target_eps: scenario.workload.eps,
    recovery_within_ms: scenario.checks.recovery_within === undefined
      ? null
      : ms(scenario.checks.recovery_within),
    out_of_order_ms: ms(scenario.detector.out_of_order),
    window_ms: ms(scenario.detector.window),
    slide_ms: ms(scenario.detector.slide),
  };
}
