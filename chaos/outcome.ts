/**
 * The outcome of a run once it has ended: the judgement (again, with the
 * deliveries that came in up to the detector's stop), `results.json`'s
 * content, the reports, and the run folder's `latest` link.
 * @module
 */

import type { Ledger } from "../pipeline/ledger.ts";
import { writeReports } from "../reports/write.ts";
import { acceptedAlerts } from "../validate/alerts.ts";
import { type Results, RESULTS_SCHEMA_VERSION } from "../validate/results.ts";
import { rejudge } from "./judge.ts";
import type { Judged } from "../validate/recipe.ts";
import type { RunContext } from "./run_context.ts";
import { linkLatest } from "./run_folder.ts";
import { abortRecord } from "../validate/history.ts";
import { ownRssMb } from "../compose/cpu.ts";

/** Acknowledged events per second over the generator's run. */
function ackedEps(ledger: Ledger): number {
  const seconds = ((ledger.meta.ended_at_ms ?? 0) - (ledger.meta.started_at_ms ?? 0)) / 1000;
  return ledger.totals().acked / (seconds || 1);
}

function firstAckMs(ledger: Ledger | undefined): number | null {
  const { started_at_ms: start, first_ack_at_ms: first } = ledger?.meta ?? {};
  return start === undefined || first === undefined ? null : Math.max(0, first - start);
}

/**
 * A graded pipeline's component that was not running when a fault on it was due had exited by
 * itself: the submission's failure (the run fails), not a fault the harness could not inject.
 * The timeline marks such a fault `not_running` (the fault threw NotRunningError: nothing was
 * left in the component's cgroup). One whose processes made the fault unable to act dodged it:
 * also the submission's failure (the fault threw DodgedFaultError, faults/dodged.ts: marked
 * `dodged`). Any other failure of a fault is the harness's.
 */
export function exitedByItself(
  run: Pick<RunContext, "ownPipeline" | "parts">,
): string | undefined {
  if (!run.ownPipeline) return undefined;
  for (const f of run.parts.timeline?.records() ?? []) {
    if (
      (f.target === "sink" || f.target === "detector") && !f.observed &&
      f.detail?.not_running === true
    ) {
      return `the submission's ${f.target} was not running when the fault ${f.kind} ${f.target} ` +
        `was due: it had exited by itself (see logs/${f.target}.log)`;
    }
    if (
      (f.target === "sink" || f.target === "detector") && !f.observed && f.detail?.dodged === true
    ) {
      return `the submission's ${f.target} dodged the fault ${f.kind} ${f.target}: ${
        String(f.detail.error ?? "")
      }`;
    }
  }
  return undefined;
}

/**
 * The run's verdict. A graded pipeline that failed by itself fails the run (unless the run was
 * interrupted). A judgement of `fail` stands whatever went wrong after it (a harness error, a
 * failed teardown, an interrupt): what the judge proved is not undone by a later error, which is
 * only recorded among the reasons; otherwise a run with a reason to doubt it is unknown.
 */
export function verdictOf(o: {
  submissionFailure?: string;
  aborted: boolean;
  reasons: readonly string[];
  judged?: Pick<Judged, "verdict">;
}): Results["verdict"] {
  if (o.submissionFailure && !o.aborted) return "fail";
  if (o.judged?.verdict === "fail") return "fail";
  return o.reasons.length || !o.judged ? "unknown" : o.judged.verdict;
}

/**
 * The run's results; a run that failed or was interrupted is unknown, unless its judge had
 * already said `fail` (verdictOf).
 */
export function runResults(run: RunContext): Results {
  const { scenario, parts } = run;
  run.submissionFailure ??= exitedByItself(run);
  const deliveries = parts.receiver?.deliveries() ?? [];
  const judged = parts.judgement &&
    (rejudge(run.settings, parts.judgement, deliveries, run.history) ?? parts.judgement.judged);
  const verdict = verdictOf({
    submissionFailure: run.submissionFailure,
    aborted: run.signal?.aborted === true,
    reasons: run.reasons,
    judged: judged || undefined,
  });
  return {
    schema_version: RESULTS_SCHEMA_VERSION,
    scenario: scenario.name,
    description: scenario.description,
    seed: run.seed,
    stack: run.kind,
    topic: run.names.topic,
    expect: scenario.expect,
    verdict,
    as_expected: verdict === scenario.expect,
    reasons: [
      ...(run.submissionFailure ? [`the submission failed: ${run.submissionFailure}`] : []),
      ...(judged?.reasons ?? []),
      ...run.reasons,
    ],
    submission_failure: run.submissionFailure ?? null,
    run_id: run.runId,
    started_at: run.folder.started.toISOString(),
    ended_at: new Date().toISOString(),
    completeness: judged?.completeness ?? null,
    alerts: judged?.alerts ?? null,
    faults: parts.timeline?.records() ?? [],
    probes: judged?.probes ?? null,
    recovery: judged?.recovery ?? null,
    durability: judged?.durability ?? null,
    throughput: {
      acked_eps: Math.round(parts.ledger ? ackedEps(parts.ledger) : 0),
      first_ack_ms: firstAckMs(parts.ledger),
    },
    workload: run.times,
    settings: run.settings,
    audit: parts.judgement?.audit ?? null,
    blame: parts.judgement?.blame ?? null,
    cost: parts.cost ? { ...parts.cost, harness_peak_rss_mb: ownRssMb("VmHWM") } : null,
    aborted: abortRecord(run.history.events),
  };
}

/** Writes the reports beside results.json and points `latest` at the run. */
export async function report(run: RunContext, results: Results): Promise<void> {
  await writeReports(run.runDir, {
    results,
    samples: run.parts.samples ?? [],
    incidents: run.parts.ledger?.incidents ?? [],
    alerts: acceptedAlerts(run.parts.receiver?.deliveries() ?? []),
  });
  await linkLatest(run.folder);
}
