/**
 * Grades: what a graded submission's runs amount to. Pure; `chaos/cli_grade.ts`
 * runs the submission (reports/submission.ts) through the grader's suite
 * (reports/suite.ts) and hands the results here.
 *
 * The grade follows the verdict: a submission passes only when the verdict of
 * every scenario of the suite passes (and the mean score reaches the suite's
 * pass mark). Any loss, duplicate over the bound, altered or foreign record,
 * missed, doubled or false alert fails the grade whatever the points. Points
 * say which checks held and rank passing submissions. A submission that does
 * not start, crashes or never joins its groups fails (its own fault); only a
 * run that proved nothing for the harness's own reasons is invalid (exit 3).
 *
 * ```ts
 * import { gradeScenario, gradeSubmission } from "./grade.ts";
 * const g = gradeSubmission("team", rules, [gradeScenario(results, runDir)]);
 * g.verdict; // "pass" | "fail" | "invalid"
 * ```
 * @module
 */

import type { Results } from "../validate/results.ts";
import { CONTRACT_VERSION } from "../validate/contract.ts";
import { esc } from "./svg_chart.ts";
import { printable } from "../validate/printable.ts";

export interface GradeCheck {
  name: string;
  weight: number;
  passed: boolean;
  detail: string;
}

/** One scenario of the suite, as the submission did in it. */
export interface ScenarioGrade {
  scenario: string;
  seed: number;
  verdict: "pass" | "fail" | "unknown";
  /** The submission failed (did not start, crashed, never joined): a fail, never unknown. */
  submission_failed: boolean;
  score: number;
  checks: GradeCheck[];
  reasons: string[];
  run_dir: string | null;
  /**
   * Whether the run's folder is sealed with the harness's key (chaos/run_context.ts `sealRun`);
   * a run whose seal could not be written or does not verify proves no pass. Absent in grades
   * written before it was checked, and for a scenario that never ran.
   */
  sealed?: boolean;
}

/** What the grader decided the grade is judged by. */
export interface GradeRules {
  suite: string;
  seed: number;
  /** Whether the seed was drawn at random (false: fixed by the grader with --seed). */
  seed_drawn: boolean;
  pass_mark: number;
}

/** A phase's exit code as the submission's own scripts reported it (never decides a grade). */
export interface SelfReported {
  phase: string;
  exit: number | null;
  note?: string;
}

export interface Grade {
  submission: string;
  contract_version: number;
  suite: string;
  seed: number;
  seed_drawn: boolean;
  verdict: "pass" | "fail" | "invalid";
  passed: boolean;
  /** The harness could not prove anything (its own environment failed): exit 3. */
  invalid: boolean;
  /** Mean of the scenarios' scores, 0..100. */
  score: number;
  pass_mark: number;
  /** Why the verdict is what it is, first the failing scenarios' findings. */
  reasons: string[];
  scenarios: ScenarioGrade[];
  /** Each weighted check, held only when it held in every scenario. */
  checks: GradeCheck[];
  self_reported: SelfReported[];
  /**
   * The submission ran in the grading's sandbox (compose/sandbox.ts); false when the grader
   * asked for `--unsandboxed`. Absent in grades written before the sandbox.
   */
  sandboxed?: boolean;
  /** What the sandbox could not enforce on the grader's host (compose/sandbox.ts `sandboxGaps`). */
  sandbox_gaps?: string[];
}

/** The weighted checks of a run (they add up to 100). */
export const WEIGHTS = {
  no_loss: 30,
  no_duplicates: 10,
  store_intact: 10,
  dlq: 10,
  alerts_raised: 25,
  alerts_not_doubled: 5,
  alerts_genuine: 10,
} as const;

/** The checks of one run, from its results. */
export function runChecks(r: Results): GradeCheck[] {
  const c = r.completeness;
  const a = r.alerts;
  const lost = Object.entries(c?.lost_sample ?? {}).map(([p, s]) => `${p}: ${s.join(", ")}`);
  const notChecked = "not checked";
  return [
    {
      name: "no_loss",
      weight: WEIGHTS.no_loss,
      passed: !!c && c.lost === 0 && c.gaps.length === 0,
      detail: c
        ? `${c.lost} of ${c.acked} acknowledged events missing${
          lost.length ? ` (${lost.join("; ")})` : ""
        }, ${c.gaps.length} gaps`
        : notChecked,
    },
    {
      name: "no_duplicates",
      weight: WEIGHTS.no_duplicates,
      passed: !!c && c.duplicates === 0 && c.overlap_offsets === 0,
      detail: c
        ? `${c.duplicates} extra stored copies, ${c.overlap_offsets} offsets in overlapping objects`
        : notChecked,
    },
    {
      name: "store_intact",
      weight: WEIGHTS.store_intact,
      passed: !!c && intact(c).length === 0,
      detail: c
        ? intact(c).join(", ") || "every stored record is the topic's, in its object's range"
        : notChecked,
    },
    {
      name: "dlq",
      weight: WEIGHTS.dlq,
      passed: !!c && c.dlq_found === c.dlq_expected && c.malformed_in_events === 0 &&
        c.valid_in_dlq === 0,
      detail: c
        ? `${c.dlq_found}/${c.dlq_expected} malformed events in dlq/, ${c.malformed_in_events} in events/, ` +
          `${c.valid_in_dlq} valid events in dlq/`
        : notChecked,
    },
    {
      name: "alerts_raised",
      weight: WEIGHTS.alerts_raised,
      passed: !!a && a.incidents > 0 && a.missed === 0,
      detail: a ? `${a.matched}/${a.incidents} incidents alerted, ${a.missed} missed` : notChecked,
    },
    {
      name: "alerts_not_doubled",
      weight: WEIGHTS.alerts_not_doubled,
      passed: !!a && a.duplicated === 0,
      detail: a ? `${a.duplicated} incidents alerted more than once` : notChecked,
    },
    {
      name: "alerts_genuine",
      weight: WEIGHTS.alerts_genuine,
      passed: !!a && a.false_positives === 0 && a.unsigned === 0 && a.malformed === 0 &&
        a.conflicting === 0,
      detail: a
        ? `${a.false_positives} alerts without an incident, ${a.unsigned} unsigned, ` +
          `${a.malformed} malformed and ${a.conflicting} conflicting deliveries`
        : notChecked,
    },
  ];
}

/** What is wrong with the stored records themselves (empty when nothing is). */
function intact(c: NonNullable<Results["completeness"]>): string[] {
  const figures: [number, string][] = [
    [c.unexpected, "unexpected"],
    [c.altered, "altered"],
    [c.not_an_event, "not events"],
    [c.misplaced, "outside their object's range"],
    [c.unreadable, "unreadable lines"],
    [c.corrupt_objects, "corrupt objects"],
    [c.foreign_objects.length, "foreign objects"],
  ];
  return figures.filter(([n]) => n > 0).map(([n, what]) => `${n} ${what}`);
}

/** What an order finding is, in a graded run: never the submission's. */
export const NOT_THE_SUBMISSIONS =
  "the order of the records in Kafka is the harness's generator's and Kafka's, never the " +
  "submission's (its sink and detector only read the topic)";

/**
 * The run's findings that are the order check's (validate/order.ts: reorders, a seq appended
 * twice in one idempotent session), and whether they are all it found.
 */
export function orderFindings(r: Results): { reasons: string[]; only: boolean } {
  const order = r.completeness?.reordered;
  if (!order || order.verdict !== "fail") return { reasons: [], only: false };
  const reasons = r.reasons.filter((x) => order.reasons.includes(x));
  return { reasons, only: r.verdict === "fail" && reasons.length === r.reasons.length };
}

/** A run folder's seal as the grader found it after the run: verified, or why not. */
export type SealState = { ok: true } | { ok: false; why: string };

/**
 * One scenario's grade from its run's results. A run whose only findings are the order check's
 * is `unknown` (it proved nothing of the submission), not the submission's fail; beside other
 * findings, they are named as not the submission's. A run whose folder has no seal that
 * verifies (`seal.ok` false) is evidence of nothing it passed: `unknown`, the harness's error
 * (the grade is invalid, exit 3); a fail stays a fail.
 */
export function gradeScenario(
  r: Results,
  runDir: string | null,
  seal?: SealState,
): ScenarioGrade {
  const checks = runChecks(r);
  const failedBySubmission = typeof r.submission_failure === "string";
  const order = orderFindings(r);
  const harnessOnly = !failedBySubmission && order.only;
  const judged = failedBySubmission ? "fail" : harnessOnly ? "unknown" : r.verdict;
  const unsealed = seal?.ok === false;
  const verdict = unsealed && judged !== "fail" ? "unknown" : judged;
  const reasons = r.reasons.map((x) =>
    order.reasons.includes(x) ? `${x} (not the submission's: ${NOT_THE_SUBMISSIONS})` : x
  );
  if (unsealed) {
    reasons.push(
      `the run folder has no seal that verifies (${seal.why}): ${
        judged === "fail"
          ? "its fail stands"
          : `its ${judged} is no evidence; the harness's error, not the submission's`
      }`,
    );
  }
  return {
    scenario: r.scenario,
    seed: r.seed,
    verdict,
    submission_failed: failedBySubmission,
    // Points only where the run proved something: an unknown run scores nothing.
    score: verdict === "unknown" || failedBySubmission
      ? 0
      : checks.reduce((s, c) => s + (c.passed ? c.weight : 0), 0),
    checks,
    reasons,
    run_dir: runDir,
    ...(seal ? { sealed: seal.ok } : {}),
  };
}

/** A scenario the harness could not even start (its error, not the submission's). */
export function scenarioError(scenario: string, seed: number, error: string): ScenarioGrade {
  return {
    scenario,
    seed,
    verdict: "unknown",
    submission_failed: false,
    score: 0,
    checks: [],
    reasons: [`the run could not be made: ${error}`],
    run_dir: null,
  };
}

/** The grade of a submission over the suite's scenarios. */
export function gradeSubmission(
  name: string,
  rules: GradeRules,
  scenarios: readonly ScenarioGrade[],
  selfReported: readonly SelfReported[] = [],
): Grade {
  const failed = scenarios.filter((s) => s.verdict === "fail");
  const unknown = scenarios.filter((s) => s.verdict === "unknown");
  const score = scenarios.length
    ? Math.round(scenarios.reduce((s, g) => s + g.score, 0) / scenarios.length)
    : 0;
  const reasons: string[] = [];
  for (const s of failed) {
    const why = s.reasons.length ? s.reasons : ["its verdict is fail"];
    reasons.push(...why.map((r) => `${s.scenario}: ${r}`));
  }
  let verdict: Grade["verdict"];
  if (scenarios.length === 0) {
    verdict = "fail";
    reasons.push(
      "the harness judged nothing: self-reported exit codes cannot pass a grade " +
        "(a phase submission whose pipeline follows docs/contract.md says follows_contract: true)",
    );
  } else if (failed.length > 0) verdict = "fail";
  else if (unknown.length > 0) {
    verdict = "invalid";
    for (const s of unknown) {
      reasons.push(...s.reasons.map((r) => `${s.scenario}: proved nothing: ${r}`));
    }
  } else if (score < rules.pass_mark) {
    verdict = "fail";
    reasons.push(`score ${score} is under the pass mark ${rules.pass_mark}`);
  } else verdict = "pass";
  const weights = Object.entries(WEIGHTS) as [keyof typeof WEIGHTS, number][];
  const checks = weights.map(([check, weight]) => {
    const per = scenarios.map((s) => ({ s, c: s.checks.find((c) => c.name === check) }));
    const bad = per.filter(({ c }) => !c?.passed);
    return {
      name: check,
      weight,
      passed: scenarios.length > 0 && bad.length === 0,
      detail: scenarios.length === 0
        ? "not judged"
        : bad.length === 0
        ? `held in ${per.length} of ${per.length} scenarios`
        : bad.map(({ s, c }) => `${s.scenario}: ${c?.detail ?? "not checked"}`).join("; "),
    };
  });
  return {
    submission: name,
    contract_version: CONTRACT_VERSION,
    suite: rules.suite,
    seed: rules.seed,
    seed_drawn: rules.seed_drawn,
    verdict,
    passed: verdict === "pass",
    invalid: verdict === "invalid",
    score,
    pass_mark: rules.pass_mark,
    reasons,
    scenarios: [...scenarios],
    checks,
    self_reported: [...selfReported],
  };
}

/** A grade's terminal text: the verdict and its reasons first, then the points. */
export function gradeText(g: Grade): string {
  const lines = [
    `${g.submission}: ${g.verdict.toUpperCase()} (score ${g.score}/100, pass mark ${g.pass_mark}; ` +
    `suite ${g.suite}, seed ${g.seed}${
      g.seed_drawn ? " drawn" : ""
    }, contract v${g.contract_version})`,
  ];
  if (g.sandboxed === false) {
    lines.push(
      "  UNSANDBOXED (--unsandboxed): the submission ran as the grader, with its files, /proc " +
        "and network; this grade is only as trustworthy as the submission",
    );
  }
  for (const gap of g.sandbox_gaps ?? []) lines.push(`  SANDBOX GAP: ${gap}`);
  for (const r of g.reasons.slice(0, 12)) lines.push(`  - ${r}`);
  if (g.reasons.length > 12) lines.push(`  - … ${g.reasons.length - 12} more in grade.json`);
  for (const s of g.scenarios) {
    lines.push(
      `  scenario ${s.scenario} (seed ${s.seed}): ${s.verdict.toUpperCase()}, ${s.score}/100` +
        (s.submission_failed ? " (the submission failed)" : "") +
        (s.sealed === false ? " (its run folder has no seal that verifies)" : ""),
    );
  }
  for (const c of g.checks) {
    lines.push(`  ${c.passed ? "ok  " : "FAIL"} ${c.name} (${c.weight}): ${c.detail}`);
  }
  for (const p of g.self_reported) {
    lines.push(
      `  self-reported ${p.phase}: ${p.exit === null ? "did not finish" : `exit ${p.exit}`}${
        p.note ? ` (${p.note})` : ""
      } (not part of the grade)`,
    );
  }
  // What a submission's alerts and ids say reaches the terminal shown, never obeyed.
  return lines.map((line) => printable(line)).join("\n");
}

/** JUnit XML of a grade: the verdict first, then one test case per scenario and per check. */
export function gradeJunit(g: Grade): string {
  const cls = `grade.${esc(g.submission)}`;
  const testcase = (name: string, ok: boolean, detail: string) => {
    const head = `    <testcase classname="${cls}" name="${esc(name)}">`;
    return ok
      ? `${head}\n      <system-out>${esc(detail)}</system-out>\n    </testcase>`
      : `${head}\n      <failure message="${esc(detail)}"/>\n    </testcase>`;
  };
  const cases = [
    testcase("verdict", g.verdict === "pass", g.reasons.join("; ") || g.verdict),
    ...g.scenarios.map((s) =>
      testcase(`scenario ${s.scenario}`, s.verdict === "pass", s.reasons.join("; ") || s.verdict)
    ),
    ...g.checks.map((c) => testcase(`${c.name} (${c.weight})`, c.passed, c.detail)),
  ];
  const failures = cases.filter((c) => c.includes("<failure")).length;
  const props = [
    ["verdict", g.verdict],
    ["score", String(g.score)],
    ["pass_mark", String(g.pass_mark)],
    ["suite", g.suite],
    ["seed", String(g.seed)],
    ["contract_version", String(g.contract_version)],
  ].map(([k, v]) => `<property name="${k}" value="${esc(v)}"/>`).join("");
  return `<?xml version="1.0" encoding="UTF-8"?>\n<testsuites>\n  <testsuite name="${cls}" tests="${cases.length}" failures="${failures}">\n    <properties>${props}</properties>\n${
    cases.join("\n")
  }\n  </testsuite>\n</testsuites>\n`;
}
