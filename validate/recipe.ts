/**
 * The one recipe of a run's verdict: the run itself, `deno task validate
 * --run` and grading all call `judgeRun` with the settings the run recorded
 * (`results.json` → `settings`) and the evidence it kept (the ledger, the
 * topic audit, the store, the deliveries, the faults, the samples), so a
 * re-check of an untouched run gives exactly the run's verdict.
 *
 * ```ts
 * import { judgeRun } from "./recipe.ts";
 * const judged = judgeRun(settings, { ledger, table, stored, deliveries, faults, samples, workload });
 * judged.verdict; // "pass" | "fail" | "unknown"
 * ```
 * @module
 */

import type { Ledger } from "../pipeline/ledger.ts";
import { type AlertResult, checkAlerts } from "./alerts.ts";
import { checkDurability, type CommitEvidence, type DurabilityResult } from "./commits.ts";
import { checkCompleteness, type CompletenessResult } from "./completeness.ts";
import { checkProbes, type Probe, type ProbesResult } from "./probes.ts";
import { checkRecovery, type RecoveryResult } from "./recovery.ts";
import type { Sample } from "./samples.ts";
import type { StoreCheck } from "./store_check.ts";
import type { TopicTable } from "./topic_table.ts";
import { runVerdict, type Verdict } from "./verdict.ts";
import type { Delivery } from "../pipeline/webhook_receiver.ts";

/** What a run is judged by, resolved from its scenario and recorded in results.json. */
export interface VerdictSettings {
  min_acked: number;
  max_duplicates: number;
  /** Reorders within a producer session are reported, not failed (order.ts); older runs: no. */
  allow_reorder?: boolean;
  max_unknown_share: number;
  /** Whether alerts are checked. */
  alerts: boolean;
  /** The scenario's steady-state probes, and the workload's target rate they refer to. */
  probes: Probe[];
  target_eps: number;
  /** Recovery is a hypothesis (fails the run) when set. */
  recovery_within_ms: number | null;
  /** The detector's out-of-orderness bound (for the delay after the watermark); older runs: none. */
  out_of_order_ms?: number;
  /** The detector's WINDOW_SIZE and WINDOW_SLIDE: every alert's window claims them; older runs: none. */
  window_ms?: number;
  slide_ms?: number;
}

/** A fault as the recipe needs it. */
export interface FaultOutcome {
  kind: string;
  target: string;
  injected_at: number | null;
  healed_at: number | null;
  observed: boolean;
  detail?: Record<string, unknown>;
}

export interface RunEvidence {
  ledger: Ledger;
  table: TopicTable;
  stored: StoreCheck;
  deliveries: readonly Delivery[];
  faults: readonly FaultOutcome[];
  samples: readonly Sample[];
  /** Epoch ms of the workload's start and end. */
  workload: { started_at: number | null; ended_at: number | null };
  /** The run's abort, from its history (`abortRecord` of history.ts); older runs: none. */
  aborted?: { detail: string } | null;
  /** The sink group's commits sampled during the run (commits.jsonl); older runs: none. */
  commits?: CommitEvidence | null;
}

export interface Judged {
  verdict: Verdict;
  reasons: string[];
  completeness: CompletenessResult;
  alerts: AlertResult | null;
  probes: ProbesResult | null;
  recovery: RecoveryResult | null;
  /** Commits held against the store's object times (commits.ts). */
  durability: DurabilityResult;
}

export function judgeRun(settings: VerdictSettings, e: RunEvidence): Judged {
  const completeness = checkCompleteness(e.ledger, e.table, e.stored, {
    minAcked: settings.min_acked,
    maxDuplicates: settings.max_duplicates,
    allowReorder: settings.allow_reorder ?? false,
    maxUnknownShare: settings.max_unknown_share,
  });
  const alerts = settings.alerts
    ? checkAlerts(e.ledger.incidents, e.deliveries, {
      outOfOrderMs: settings.out_of_order_ms,
      windowMs: settings.window_ms,
      slideMs: settings.slide_ms,
    })
    : null;
  const { probes, recovery } = checkTimeline(settings, e.faults, e.samples, e.workload);
  const durability = checkDurability(
    e.commits ?? null,
    e.stored.ranges ?? null,
    e.table.data.partitions,
  );
  const { verdict, reasons } = runVerdict({
    completeness,
    alerts,
    faults: e.faults,
    probes,
    recovery,
    recoveryIsHypothesis: settings.recovery_within_ms !== null,
    aborted: e.aborted?.detail ?? null,
    durability,
  });
  return { verdict, reasons, completeness, alerts, probes, recovery, durability };
}

/** Probes and recovery of a run, from its faults and per-second samples (pure). */
function checkTimeline(
  settings: Pick<VerdictSettings, "probes" | "target_eps" | "recovery_within_ms">,
  faults: readonly FaultOutcome[],
  samples: readonly Sample[],
  workload: { started_at: number | null; ended_at: number | null },
): { probes: ProbesResult | null; recovery: RecoveryResult | null } {
  if (workload.started_at === null || workload.ended_at === null) {
    return { probes: null, recovery: null };
  }
  const injected = faults.map((f) => f.injected_at).filter((t): t is number => t !== null);
  const healed = faults.map((f) => f.healed_at ?? f.injected_at).filter((t): t is number =>
    t !== null
  );
  const probes = settings.probes.length
    ? checkProbes(settings.probes, samples, {
      workloadStart: workload.started_at,
      workloadEnd: workload.ended_at,
      firstInject: injected.length ? Math.min(...injected) : null,
      lastHeal: healed.length ? Math.max(...healed) : null,
    }, settings.target_eps)
    : null;
  const recovery = faults.length
    ? checkRecovery(
      faults.map((f) => ({
        label: `${f.kind} ${f.target}`,
        injected_at: f.injected_at,
        healed_at: f.healed_at,
      })),
      samples,
      {
        workloadEnd: workload.ended_at,
        targetEps: settings.target_eps,
        withinMs: settings.recovery_within_ms ?? undefined,
      },
    )
    : null;
  return { probes, recovery };
}
