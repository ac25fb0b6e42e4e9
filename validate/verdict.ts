/**
 * Verdicts: every checker returns `pass`, `fail` or `unknown`; combined, fail
 * beats unknown beats pass. A run that could not prove anything is `unknown`.
 *
 * ```ts
 * import { combine } from "./verdict.ts";
 * combine(["pass", "unknown"]); // "unknown"
 * ```
 * @module
 */

export type Verdict = "pass" | "fail" | "unknown";

export function combine(verdicts: Iterable<Verdict>): Verdict {
  let out: Verdict = "pass";
  for (const v of verdicts) {
    if (v === "fail") return "fail";
    if (v === "unknown") out = "unknown";
  }
  return out;
}

/** Exit code of a verdict: pass 0, fail 1, unknown 3. */
export function exitCodeOf(verdict: Verdict): 0 | 1 | 3 {
  return verdict === "pass" ? 0 : verdict === "fail" ? 1 : 3;
}

/** A checker's outcome, as every checker returns it. */
export interface Checked {
  verdict: Verdict;
  reasons: string[];
}

/** What a run's verdict is made of. */
export interface RunChecks {
  completeness: Checked;
  alerts: Checked | null;
  faults: readonly {
    kind: string;
    target: string;
    observed: boolean;
    /** `error`: why the fault could not be injected. */
    detail?: Record<string, unknown>;
  }[];
  probes: Checked | null;
  recovery: Checked | null;
  /** The scenario sets `recovery_within`: recovery is a hypothesis, not only a report. */
  recoveryIsHypothesis: boolean;
  /** Why the run stopped before its end (an abort probe, or by hand); it then fails. */
  aborted?: string | null;
  /** Commits held against the store (validate/commits.ts); absent: not checked. */
  durability?: Checked | null;
}

/**
 * The verdict of a run and its reasons, from every checker: the one recipe the engine
 * (after a run) and `validate --run` (re-checking one) share. A fault never observed makes
 * the run unknown; recovery counts only when it is a hypothesis; a run that was aborted
 * fails, with the abort's reason first.
 */
export function runVerdict(c: RunChecks): Checked {
  // After an abort, the faults it left uninjected were never tried: not a reason of their own.
  const unobserved = c.faults.filter((f) => !f.observed && !(c.aborted && !f.detail?.error));
  const recovery = c.recoveryIsHypothesis
    ? c.recovery ?? { verdict: "unknown" as const, reasons: ["no recovery could be measured"] }
    : null;
  return {
    verdict: combine([
      c.aborted ? "fail" as const : "pass" as const,
      c.completeness.verdict,
      c.alerts?.verdict ?? "pass",
      ...unobserved.map(() => "unknown" as const),
      c.probes?.verdict ?? "pass",
      recovery?.verdict ?? "pass",
      c.durability?.verdict ?? "pass",
    ]),
    reasons: [
      ...(c.aborted ? [`aborted: ${c.aborted}`] : []),
      ...unobserved.map((f) =>
        `fault ${f.kind} ${f.target} was never observed${
          f.detail?.error ? ` (${f.detail.error})` : ""
        }`
      ),
      ...c.completeness.reasons,
      ...(c.alerts?.reasons ?? []),
      ...(c.probes?.reasons ?? []),
      ...(recovery?.reasons ?? []),
      ...(c.durability?.reasons ?? []),
    ],
  };
}
