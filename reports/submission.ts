/**
 * The submission file of a graded pipeline: only what the team owns (its name,
 * its setup, its commands). What the grade is judged by (the suite of
 * scenarios, the seed, the pass mark) is the grader's: a submission that names
 * one of those keys is refused (exit 2) naming the key.
 *
 * Two forms. A pipeline the harness drives:
 *
 * ```yaml
 * name: team-a
 * setup: npm ci
 * pipeline:
 *   sink: node sink.js
 *   detector: node detector.js
 * ```
 *
 * Or the phases a team already scripts, each a command or a list of commands
 * (`name` defaults to the file's folder). Their exit codes are self-reported
 * and never pass a grade on their own; with `follows_contract: true` the
 * pipeline started by `start_pipeline` reads the harness's topic and writes the
 * contract's store and alerts, and is judged like a driven one:
 *
 * ```yaml
 * setup: [pip install -r requirements.txt]
 * start_pipeline: [python sink.py &, python detector.py &]
 * run_chaos: ./chaos.sh
 * validate: [./check.sh]
 * follows_contract: true
 * ```
 * @module
 */

import { basename, dirname } from "node:path";
import { z } from "zod";
import { parseDuration } from "../lib/duration.ts";
import { UsageError } from "../lib/exit_codes.ts";
import { parseStrict } from "../lib/parse_strict.ts";

const command = z.string().trim().min(1);
/** One command, or a list of commands run in order (the first failure stops the list). */
const commands = z.union([command, z.array(command).min(1)]);
const duration = z.string().refine((s) => parseDuration(s) !== undefined, {
  message: 'must be a duration like "10m" or "90s"',
});
/** A team's name: also a folder of the grade's output, so never "." or "..". */
const NAME = /^(?!\.+$)[\w.-]+$/;
/**
 * The grader's bound on a submission's `timeout` (each phase's time): a longer one would let a
 * submission hold the grader (and its stack) for as long as it likes.
 */
export const MAX_SUBMISSION_TIMEOUT = "2h";
const maxTimeoutMs = parseDuration(MAX_SUBMISSION_TIMEOUT)!;

/** Keys that belong to the grader, with where the grader sets them. */
export const GRADER_KEYS: Readonly<Record<string, string>> = {
  pass_mark: "--pass-mark or the suite file",
  scenario: "--suite (the grader's suite of scenarios)",
  scenarios: "--suite (the grader's suite of scenarios)",
  suite: "--suite",
  seed: "--seed (drawn at random per grading unless the grader fixes it)",
};

export const SubmissionSchema = z.strictObject({
  name: z.string().regex(NAME, { message: "must be letters, digits, dots, dashes (not dots only)" })
    .optional(),
  /** Run first, in the submission's folder; must exit 0. */
  setup: commands.optional(),
  /** The harness drives this pipeline (shell commands, the contract's environment). */
  pipeline: z.strictObject({ sink: command, detector: command }).optional(),
  /** Phases of a pipeline that brings its own scripts. */
  start_pipeline: commands.optional(),
  run_chaos: commands.optional(),
  validate: commands.optional(),
  /**
   * The pipeline `start_pipeline` starts reads the harness's topic and writes the contract's
   * store and alerts: the harness drives its traffic and faults and judges it.
   */
  follows_contract: z.boolean().default(false),
  /** Time allowed to each phase; at most MAX_SUBMISSION_TIMEOUT. */
  timeout: duration.refine((s) => (parseDuration(s) ?? 0) <= maxTimeoutMs, {
    message: `must be at most ${MAX_SUBMISSION_TIMEOUT} (the grader's bound)`,
  }).default("15m"),
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
  if (!s.pipeline && phases && !s.start_pipeline) {
    ctx.addIssue({
      code: "custom",
      path: ["start_pipeline"],
      message: "the phases need start_pipeline (what starts the pipeline)",
    });
  }
  if (s.pipeline && s.follows_contract) {
    ctx.addIssue({
      code: "custom",
      path: ["follows_contract"],
      message: "is for phase submissions (a driven pipeline follows the contract already)",
    });
  }
});

/** A submission ready to grade: lists made scripts, the name filled in. */
export interface Submission {
  name: string;
  /** The folder its commands run in. */
  cwd: string;
  setup?: string;
  pipeline?: { sink: string; detector: string };
  phases?: {
    start_pipeline: string;
    run_chaos?: string;
    validate?: string;
    follows_contract: boolean;
  };
  timeoutMs: number;
}

/** A list of commands as one bash script that stops at the first failure; a string as it is. */
export function script(cmds: string | readonly string[], o: { wait?: boolean } = {}): string {
  if (typeof cmds === "string") return cmds;
  return ["set -e", ...cmds, ...(o.wait ? ["wait"] : [])].join("\n");
}

/**
 * Validates a parsed submission file (`file` is its path): grader keys are refused by name,
 * then the schema is applied strictly (every problem at once). UsageError (exit 2) otherwise.
 */
export function parseSubmission(raw: unknown, file: string): Submission {
  if (raw && typeof raw === "object" && !Array.isArray(raw)) {
    const owned = Object.keys(raw).filter((k) => Object.hasOwn(GRADER_KEYS, k));
    if (owned.length > 0) {
      throw new UsageError(
        `${file} is invalid:\n${
          owned.map((k) =>
            `  ${k}: is the grader's to set (${GRADER_KEYS[k]}), never a submission's`
          ).join("\n")
        }`,
      );
    }
  }
  const s = parseStrict(SubmissionSchema, raw, file);
  const cwd = dirname(file);
  const folder = basename(cwd).replace(/[^\w.-]/g, "-");
  const name = s.name ?? (NAME.test(folder) && folder ? folder : "submission");
  return {
    name,
    cwd,
    setup: s.setup === undefined ? undefined : script(s.setup),
    pipeline: s.pipeline,
    phases: s.start_pipeline === undefined ? undefined : {
      start_pipeline: script(s.start_pipeline, { wait: true }),
      run_chaos: s.run_chaos === undefined ? undefined : script(s.run_chaos),
      validate: s.validate === undefined ? undefined : script(s.validate),
      follows_contract: s.follows_contract,
    },
    timeoutMs: parseDuration(s.timeout)!,
  };
}
