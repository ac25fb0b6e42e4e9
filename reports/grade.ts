/**
 * Graded runs: the submission file, the weighted checks and the score. Pure;
 * `chaos/cli_grade.ts` runs what the submission describes.
 *
 * A submission (YAML) either brings a pipeline that the harness drives
 * (`pipeline: {sink, detector}`: the harness generates the traffic of
 * `scenario`, injects its faults, and checks the store and the alerts against
 * the contract), or lists the phases a team already scripts (`setup`,
 * `start_pipeline`, `run_chaos`, `validate`: each is scored by its exit code).
 *
 * ```yaml
 * name: team-a
 * setup: deno cache pipeline/cli_sink.ts pipeline/cli_detector.ts
 * pipeline:
 *   sink: deno run -A pipeline/cli_sink.ts
 *   detector: deno run -A pipeline/cli_detector.ts
 * scenario: graded-pipeline
 * pass_mark: 80
 * ```
 * @module
 */

import { z } from "zod";
import type { Results } from "../validate/results.ts";
import { parseDuration } from "../lib/duration.ts";
import { esc } from "./svg_chart.ts";

const command = z.string().trim().min(1);
const duration = z.string().refine((s) => parseDuration(s) !== undefined, {
  message: 'must be a duration like "10m" or "90s"',
});

export const SubmissionSchema = z.strictObject({
  name: z.string().regex(/^[\w.-]+$/, { message: "must be letters, digits, dots, dashes" }),
  /** Score needed to pass, 0..100. */
  pass_mark: z.number().min(0).max(100).default(80),
  /** Run first, in the submission's folder; must exit 0. */
  setup: command.optional(),
  /** The harness drives this pipeline (shell commands, the contract's environment). */
  pipeline: z.strictObject({ sink: command, detector: command }).optional(),
  scenario: z.string().default("graded-pipeline"),
  seed: z.number().int().min(0).optional(),
  /** Phases of a pipeline that brings its own harness. */
  start_pipeline: command.optional(),
  run_chaos: command.optional(),
  validate: command.optional(),
  /** Time allowed to each phase. */
  timeout: duration.default("15m"),
}).superRefine((s, ctx) => {
  const phases = s.start_pipeline ?? s.run_chaos ?? s.validate;
  if (s.pipeline && phases) {
    ctx.addIssue({
      code: "custom",
      path: ["pipeline"],
      message: "give either pipeline (the harness drives it) or the phases, not both",
    });
  }
  if (!s.pipeline && !phases) {
    ctx.addIssue({
      code: "custom",
      path: ["(root)"],
      message:
        "needs pipeline: {sink, detector}, or the phases start_pipeline, run_chaos, validate",
    });
  }
  if (!s.pipeline && phases && !(s.start_pipeline && s.run_chaos && s.validate)) {
    ctx.addIssue({
      code: "custom",
      path: ["(root)"],
      message: "the phases are start_pipeline, run_chaos and validate: all three",
    });
  }
});

export interface GradeCheck {
  name: string;
  weight: number;
  passed: boolean;
  detail: string;
}

export interface Grade {
  submission: string;
  score: number;
  pass_mark: number;
  passed: boolean;
  /** The run proved nothing (vacuous, faults not observed, a phase could not run). */
  invalid: boolean;
  checks: GradeCheck[];
  reasons: string[];
}

/** The weighted checks of a driven pipeline (they add up to 100). */
export const WEIGHTS = {
  no_loss: 30,
  no_duplicates: 10,
  store_intact: 10,
  dlq: 10,
  alerts_raised: 25,
  alerts_not_doubled: 5,
  alerts_genuine: 10,
} as const;

/** Grades a driven pipeline from its run's results. */
export function gradeRun(name: string, passMark: number, r: Results): Grade {
  const c = r.completeness;
  const a = r.alerts;
  const lost = Object.entries(c?.lost_sample ?? {}).map(([p, s]) => `${p}: ${s.join(", ")}`);
  const checks: GradeCheck[] = [
    {
      name: "no_loss",
      weight: WEIGHTS.no_loss,
      passed: !!c && c.lost === 0 && c.gaps.length === 0,
      detail: c
        ? `${c.lost} of ${c.acked} acknowledged events missing${
          lost.length ? ` (${lost.join("; ")})` : ""
        }`
        : "not checked",
    },
    {
      name: "no_duplicates",
      weight: WEIGHTS.no_duplicates,
      passed: !!c && c.duplicates === 0 && c.overlap_offsets === 0,
      detail: c
        ? `${c.duplicates} extra stored copies, ${c.overlap_offsets} offsets in overlapping objects`
        : "not checked",
    },
    {
      name: "store_intact",
      weight: WEIGHTS.store_intact,
      passed: !!c && intact(c).length === 0,
      detail: c
        ? intact(c).join(", ") || "every stored record is the topic's, in its object's range"
        : "not checked",
    },
    {
      name: "dlq",
      weight: WEIGHTS.dlq,
      passed: !!c && c.dlq_found === c.dlq_expected && c.malformed_in_events === 0 &&
        c.valid_in_dlq === 0,
      detail: c
        ? `${c.dlq_found}/${c.dlq_expected} malformed events in dlq/, ${c.malformed_in_events} in events/, ` +
          `${c.valid_in_dlq} valid events in dlq/`
        : "not checked",
    },
    {
      name: "alerts_raised",
      weight: WEIGHTS.alerts_raised,
      passed: !!a && a.incidents > 0 && a.missed === 0,
      detail: a
        ? `${a.matched}/${a.incidents} incidents alerted, ${a.missed} missed`
        : "not checked",
    },
    {
      name: "alerts_not_doubled",
      weight: WEIGHTS.alerts_not_doubled,
      passed: !!a && a.duplicated === 0,
      detail: a ? `${a.duplicated} incidents alerted more than once` : "not checked",
    },
    {
      name: "alerts_genuine",
      weight: WEIGHTS.alerts_genuine,
      passed: !!a && a.false_positives === 0 && a.unsigned === 0 && a.malformed === 0 &&
        a.conflicting === 0,
      detail: a
        ? `${a.false_positives} alerts without an incident, ${a.unsigned} unsigned, ` +
          `${a.malformed} malformed and ${a.conflicting} conflicting deliveries`
        : "not checked",
    },
  ];
  const unobserved = r.faults.filter((f) => !f.observed);
  const invalid = !c || c.verdict === "unknown" || (a?.verdict === "unknown") ||
    unobserved.length > 0;
  return finish(name, passMark, checks, invalid, r.reasons);
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

/** Grades a pipeline that brings its own phases, by their exit codes. */
export function gradePhases(
  name: string,
  passMark: number,
  phases: { start_alive: boolean; run_chaos: number | null; validate: number | null },
): Grade {
  const code = (c: number | null) => (c === null ? "did not run" : `exit ${c}`);
  const checks: GradeCheck[] = [
    {
      name: "pipeline_survived",
      weight: 30,
      passed: phases.start_alive,
      detail: phases.start_alive
        ? "start_pipeline still running after run_chaos"
        : "start_pipeline exited before run_chaos ended",
    },
    {
      name: "run_chaos",
      weight: 30,
      passed: phases.run_chaos === 0,
      detail: code(phases.run_chaos),
    },
    {
      name: "validate",
      weight: 40,
      passed: phases.validate === 0,
      detail: code(phases.validate),
    },
  ];
  return finish(name, passMark, checks, phases.run_chaos === null, []);
}

function finish(
  name: string,
  passMark: number,
  checks: GradeCheck[],
  invalid: boolean,
  reasons: string[],
): Grade {
  const score = invalid ? 0 : checks.reduce((s, c) => s + (c.passed ? c.weight : 0), 0);
  return {
    submission: name,
    score,
    pass_mark: passMark,
    passed: !invalid && score >= passMark,
    invalid,
    checks,
    reasons: invalid ? ["the run proved nothing (see the reasons): graded 0", ...reasons] : reasons,
  };
}

/** JUnit XML of a grade: one test case per weighted check. */
export function gradeJunit(g: Grade): string {
  const failures = g.checks.filter((c) => !c.passed).length;
  const cases = g.checks.map((c) => {
    const head = `    <testcase classname="grade.${esc(g.submission)}" name="${
      esc(c.name)
    } (${c.weight})">`;
    return c.passed
      ? `${head}\n      <system-out>${esc(c.detail)}</system-out>\n    </testcase>`
      : `${head}\n      <failure message="${esc(c.detail)}"/>\n    </testcase>`;
  });
  return `<?xml version="1.0" encoding="UTF-8"?>\n<testsuites>\n  <testsuite name="grade.${
    esc(g.submission)
  }" tests="${g.checks.length}" failures="${failures}">\n    <properties><property name="score" value="${g.score}"/><property name="pass_mark" value="${g.pass_mark}"/></properties>\n${
    cases.join("\n")
  }\n  </testsuite>\n</testsuites>\n`;
}
