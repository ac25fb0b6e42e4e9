/**
 * `deno task grade --submission <file.yaml> [--suite NAME|FILE] [--seed N] [--pass-mark N]
 *   [--out DIR] [--unsandboxed] [--stack local|docker|external --endpoints FILE [--keep-topic]]`
 *
 * Grades a pipeline (docs/grading.md; the contract is docs/contract.md). The
 * grader sets the rules: the suite of scenarios (`scenarios/suites/`, default
 * `default`), the seed (drawn at random per grading unless `--seed` fixes it;
 * incident and fault times vary with it) and the pass mark (the suite's, or
 * `--pass-mark`). The submission file holds only the team's name, setup and
 * commands (reports/submission.ts).
 *
 * Runs `setup`, then each scenario of the suite with the submission's sink and
 * detector (or, for a phase submission with `follows_contract: true`, the
 * pipeline its `start_pipeline` starts) under the harness's own traffic and
 * faults, and judges the store and the alerts. The grade follows the verdict:
 * a submission passes only when every scenario's verdict passes. A phase
 * submission's own exit codes are shown as self-reported and never pass.
 * Writes `grade.json` and `junit.xml` to the output folder.
 *
 * Every command of the submission runs in a sandbox of the grading's own
 * (compose/sandbox.ts): its own uid, a copy of its folder as the only writable
 * place, the harness read-only, the run folders and the grader's /proc hidden,
 * the network limited to the contract's endpoints (`setup`: also the package
 * registries). A pipeline with separate sink and detector commands gets one
 * more box per component after `setup`, each with its own copy of what setup
 * built and only its own Kafka ports (a phase submission's `start_pipeline`
 * keeps the setup's box). Where it cannot be made (not root, tools missing)
 * the grading is refused (exit 2) unless `--unsandboxed` asks for it, which
 * the grade records (`sandboxed: false`).
 *
 * Grading on the docker stack is refused (exit 2): its Kafka has no authorizer
 * and its Redis no user of the pipeline's own, so a submission would hold the
 * admin rights over what decides its grade. On an external stack the pipeline
 * gets the endpoints file's credentials, whatever they may do; the grade
 * records that as a gap.
 *
 * Exit codes: 0 pass, 1 fail (also a submission that does not start or
 * crashes), 2 invalid submission, suite or flags, 3 the harness itself could
 * not prove anything (its environment failed; also a run that passed but whose
 * folder has no seal that verifies: no evidence) or the grading was interrupted.
 * @module
 */

import { join, resolve } from "node:path";
import { parse as parseYaml } from "yaml";
import {
  ExitCode,
  InterruptedError,
  runMain,
  UsageError,
  withInterrupt,
} from "../lib/exit_codes.ts";
import { intFlag, parseFlags } from "../lib/cli.ts";
import { repoRoot } from "../compose/paths.ts";
import { provision } from "../compose/provision.ts";
import { storeDiskGaps } from "../compose/store_disk.ts";
import { redisDiskGaps } from "../compose/redis_disk.ts";
import { say } from "../lib/progress.ts";
import { loadScenario } from "./cli_scenario.ts";
import { DEFAULT_RUN_BASE_PORT, runBasePort, runScenario } from "./engine.ts";
import { SocketGuard } from "./socket_guard.ts";
import { History } from "../validate/history.ts";
import { ephemeralRange, portsInRange } from "../compose/local_services.ts";
import { STACK_FLAGS, STACK_USAGE, stackChoice } from "./stack_flags.ts";
import { varyScenario } from "./vary.ts";
import type { Scenario } from "./scenario.ts";
import {
  type Grade,
  gradeJunit,
  type GradeRules,
  gradeScenario,
  gradeSubmission,
  gradeText,
  scenarioError,
  type ScenarioGrade,
  type SealState,
  type SelfReported,
} from "../reports/grade.ts";
import { checkSeal } from "../validate/seal.ts";
import { loadHarnessKey } from "../lib/harness_key.ts";
import { parseSubmission, type Submission } from "../reports/submission.ts";
import { DEFAULT_SUITE, loadSuite } from "../reports/suite.ts";
import { stamp as timestamp } from "./run_folder.ts";
import { shell, tailOf } from "./submission_shell.ts";
import {
  openSandbox,
  type Sandbox,
  SandboxError,
  sandboxGaps,
  sandboxSupport,
} from "../compose/sandbox.ts";

const USAGE =
  "usage: deno task grade --submission <file.yaml> [--suite NAME|FILE] [--seed N] [--pass-mark N]\n" +
  `         [--out DIR] [--unsandboxed] ${STACK_USAGE}\n\n` +
  "The grader sets the suite (scenarios/suites/, default: default), the seed (random unless\n" +
  "given) and the pass mark (the suite's unless given); the submission only its commands.\n" +
  "The submission runs sandboxed (docs/grading.md); --unsandboxed runs it as this user, recorded.";

/** Why `--stack docker` grades nothing (yet): the stack cannot keep a pipeline to its rights. */
export const DOCKER_REFUSED =
  "grading on the docker stack is refused: its Kafka has no authorizer and its Redis no user " +
  "of the pipeline's own, so a submission would hold admin rights over what decides its grade " +
  "(docs/stacks.md)\nhint: grade on the local stack (the default: drop --stack docker)";

/** What a grade on someone else's cluster cannot promise. */
export const EXTERNAL_GAP =
  "external stack: the pipeline had the endpoints file's credentials and whatever rights they " +
  "carry there (the harness made no users of the pipeline's own)";

/** The ports a local stack takes from its base port (compose/ports.ts). */
const STACK_SPAN = 300;

/**
 * Why `grade` refuses a local stack at `base` (its ports `base`..`base`+299) whose ports lie in
 * the kernel's ephemeral port `range`, or undefined: a sandboxed pipeline may bind port 0 (its
 * Landlock domain allows it) and so take, from the range, a service's port while a fault has the
 * service down, then answer its clients. Pure.
 */
export function ephemeralStackRefusal(
  base: number,
  range: readonly [number, number] | undefined,
): string | undefined {
  if (!range) return undefined;
  const ports = Array.from({ length: STACK_SPAN }, (_, i) => base + i);
  const inside = portsInRange(ports, range);
  if (inside.length === 0) return undefined;
  const [lo, hi] = range;
  const below = lo - STACK_SPAN >= 1024 ? `from 1024 to ${lo - STACK_SPAN}` : undefined;
  const above = hi + 1 + STACK_SPAN <= 65535
    ? `from ${hi + 1} to ${65535 - STACK_SPAN}`
    : undefined;
  return `cannot grade on a stack whose ports lie in the kernel's ephemeral port range: ports ` +
    `${inside[0]}-${
      inside.at(-1)
    } of the stack at base port ${base} (CHAOS_RUN_BASE_PORT) are in ` +
    `${lo}-${hi} (net.ipv4.ip_local_port_range), where a sandboxed pipeline's bind(0) could take ` +
    `a service's port while a fault has the service down\nhint: set CHAOS_RUN_BASE_PORT to a ` +
    `base port ${[below, above].filter(Boolean).join(" or ") || "outside the range"} ` +
    `(the default is ${DEFAULT_RUN_BASE_PORT})`;
}

/** A seed drawn at random (recorded in the grade, so a grading can be repeated). */
function drawSeed(): number {
  return crypto.getRandomValues(new Uint32Array(1))[0] % 2_147_483_647;
}

interface Plan {
  sub: Submission;
  scenarios: Scenario[];
  seed: number;
  out: string;
  choice: Awaited<ReturnType<typeof stackChoice>>;
  /** The grading's sandbox (setup's, the phases'); undefined with --unsandboxed. */
  sandbox?: Sandbox;
  /** Every box the grading opened (closed at its end, also on Ctrl-C). */
  boxes: Sandbox[];
  /** The sink's and the detector's own boxes (a `pipeline` submission), once made after setup. */
  sandboxes?: { sink: Sandbox; detector: Sandbox };
}

/**
 * One box per component for a `pipeline` submission, each a copy of the setup's box (what setup
 * built in its folder and HOME); the setup's box then reaches nothing. Each is in `p.boxes` as
 * soon as it exists.
 */
async function componentBoxes(p: Plan): Promise<{ sink: Sandbox; detector: Sandbox } | undefined> {
  const from = p.sandbox;
  if (!from || !p.sub.pipeline) return undefined;
  await from.network({ kind: "none" });
  const open = async () => {
    const box = await openSandbox({ source: p.sub.cwd, hide: [p.out], from });
    p.boxes.push(box);
    return box;
  };
  const sink = await open();
  const detector = await open();
  say(`grade ${p.sub.name}: the sink runs as uid ${sink.uid}, the detector as uid ${detector.uid}`);
  return { sink, detector };
}

/**
 * Closes every box, the last opened first; one that cannot be closed does not keep the others
 * open (its error is thrown after). Survivors are said.
 */
async function closeBoxes(name: string, boxes: Sandbox[]): Promise<void> {
  const errors: unknown[] = [];
  for (const box of [...boxes].reverse()) {
    const closed = await box.close().catch((error) => void errors.push(error));
    if (closed && closed.survivors.length > 0) {
      say(
        `grade ${name}: processes of the sandbox's uid ${box.uid} survived: ` +
          closed.survivors.join(", "),
      );
    }
  }
  if (errors.length > 0) throw errors[0];
}

/**
 * Whether the run folder `runDir` is sealed under `key` (validate/seal.ts `checkSeal`), and if not,
 * why: a pass the seal does not vouch for is no pass (reports/grade.ts `gradeScenario`). The run's
 * own word counts too: `exitCode` 3 with a verdict that is not unknown is a seal it could not write.
 */
export async function sealState(
  runDir: string,
  key: () => Uint8Array,
  run: { exitCode: number; verdict: string },
): Promise<SealState> {
  if (run.exitCode === 3 && run.verdict !== "unknown") {
    return { ok: false, why: "the run could not write its seal" };
  }
  try {
    const check = await checkSeal(runDir, key());
    if (check.ok) return { ok: true };
    if (!check.fingerprintOk) return { ok: false, why: "seal.json is made with another key" };
    const list = (what: string, paths: string[]) =>
      paths.length
        ? [`${what}: ${paths.slice(0, 5).join(", ")}${paths.length > 5 ? ", …" : ""}`]
        : [];
    const why = [
      ...list("missing", check.missing),
      ...list("altered", check.altered),
      ...list("not sealed", check.added),
    ].join("; ");
    return { ok: false, why };
  } catch (error) {
    return {
      ok: false,
      why: `the seal could not be checked: ${(error as Error).message ?? error}`,
    };
  }
}

/** Runs the suite's scenarios against the submission's pipeline; one grade per scenario. */
async function runSuite(
  p: Plan,
  signal: AbortSignal,
  selfReported: SelfReported[],
): Promise<ScenarioGrade[]> {
  const { sub } = p;
  await provision();
  // The key the runs seal their folders with (made by the first run when there is none yet).
  const key = () => loadHarnessKey(undefined, { create: false });
  const grades: ScenarioGrade[] = [];
  for (const [i, base] of p.scenarios.entries()) {
    const seed = (p.seed + i) % 2_147_483_647;
    const scenario = varyScenario(base, seed);
    say(
      `grade ${sub.name}: scenario ${i + 1}/${p.scenarios.length} ${scenario.name} (seed ${seed})`,
    );
    const validate = sub.phases?.validate;
    try {
      const { results, runDir, exitCode } = await runScenario(scenario, {
        seed,
        outDir: join(p.out, "runs"),
        signal,
        stack: p.choice.kind,
        external: p.choice.external,
        pipeline: sub.pipeline
          ? { ...sub.pipeline, cwd: sub.cwd, sandbox: p.sandbox, sandboxes: p.sandboxes }
          : { combined: sub.phases!.start_pipeline, cwd: sub.cwd, sandbox: p.sandbox },
        afterJudge: validate
          ? async ({ env, signal }) => {
            const log = join(p.out, `validate-${scenario.name}.log`);
            const exit = await shell(
              validate,
              sub.cwd,
              sub.timeoutMs,
              log,
              signal,
              env,
              p.sandbox,
            );
            selfReported.push({ phase: `validate (${scenario.name})`, exit });
          }
          : undefined,
      });
      // A pass is graded only with its seal: the signed evidence of what the judge saw.
      const seal = await sealState(runDir, key, { exitCode, verdict: results.verdict });
      grades.push(gradeScenario(results, runDir, seal));
    } catch (error) {
      if (signal.aborted || error instanceof InterruptedError) throw error;
      if (error instanceof UsageError) throw error;
      grades.push(scenarioError(scenario.name, seed, String((error as Error).message ?? error)));
    }
  }
  return grades;
}

/** A phase submission that does not follow the contract: its phases run, for the record only. */
async function runPhases(p: Plan, signal: AbortSignal): Promise<SelfReported[]> {
  const { sub, sandbox } = p;
  const phases = sub.phases!;
  const log = join(p.out, "phases.log");
  // No stack runs for phases that do not follow the contract: nothing to reach.
  await sandbox?.network({ kind: "none" });
  let started: number | null | undefined;
  const stop = new AbortController();
  const pipeline = shell(
    phases.start_pipeline,
    sub.cwd,
    sub.timeoutMs * 3,
    log,
    AbortSignal.any([signal, stop.signal]),
    {},
    sandbox,
  ).then((c) => (started = c));
  const chaos = phases.run_chaos
    ? await shell(phases.run_chaos, sub.cwd, sub.timeoutMs, log, signal, {}, sandbox)
    : undefined;
  const alive = started === undefined;
  const validate = phases.validate
    ? await shell(phases.validate, sub.cwd, sub.timeoutMs, log, signal, {}, sandbox)
    : undefined;
  stop.abort();
  await pipeline;
  const out: SelfReported[] = [{
    phase: "start_pipeline",
    exit: started ?? null,
    note: alive ? "still running after run_chaos" : "exited before run_chaos ended",
  }];
  if (chaos !== undefined) out.push({ phase: "run_chaos", exit: chaos });
  if (validate !== undefined) out.push({ phase: "validate", exit: validate });
  return out;
}

/** Runs setup, then the suite (or the self-reported phases); the grade. */
async function gradeIn(
  p: Plan,
  rules: GradeRules,
  judged: boolean,
  signal: AbortSignal,
): Promise<Grade> {
  const { sub, out } = p;
  const selfReported: SelfReported[] = [];
  if (sub.setup) {
    say(`grade ${sub.name}: setup`);
    // Setup may reach the package registries, never this host's other ports.
    await p.sandbox?.network({ kind: "setup" });
    const log = join(out, "setup.log");
    // Setup's box shares the host's ports as the components' do: guarded the same way.
    const guard = p.sandbox
      ? SocketGuard.start({
        boxes: [{ name: "setup", box: p.sandbox, log }],
        history: new History(join(out, "setup-history.jsonl")),
      })
      : undefined;
    let code: number | null;
    let held: string | undefined;
    try {
      code = await shell(sub.setup, sub.cwd, sub.timeoutMs, log, signal, {}, p.sandbox);
    } finally {
      held = await guard?.stop();
    }
    if (signal.aborted) throw new InterruptedError("SIGINT");
    if (held) {
      const g = gradeSubmission(sub.name, rules, []);
      g.reasons = [held];
      return g;
    }
    if (code !== 0) {
      const g = gradeSubmission(sub.name, rules, []);
      // Its box's memory bound, when the kernel OOM-killed in it (compose/sandbox_bounds.ts).
      const oom = p.sandbox?.oomEvidence("setup's sandbox");
      g.reasons = [
        `setup ${code === null ? "timed out" : `exited ${code}`}; last lines of ${log}:\n` +
        await tailOf(log),
        ...(oom ? [oom] : []),
      ];
      return g;
    }
  }
  try {
    p.sandboxes = await componentBoxes(p);
  } catch (error) {
    // What setup left (a folder too deep to copy, a name cp cannot stat, …) is the team's doing:
    // the grade fails as a failed setup does, never ends without one.
    if (!(error instanceof SandboxError)) throw error;
    const g = gradeSubmission(sub.name, rules, []);
    g.reasons = [
      `what setup built cannot be copied into the components' sandboxes: ${
        error.message.slice(0, 2000)
      }`,
    ];
    return g;
  }
  if (signal.aborted) throw new InterruptedError("SIGINT");
  if (judged) {
    if (sub.phases?.run_chaos) {
      selfReported.push({
        phase: "run_chaos",
        exit: null,
        note: "not run: the grader's own faults replace it",
      });
    }
    const grades = await runSuite(p, signal, selfReported);
    return gradeSubmission(sub.name, rules, grades, selfReported);
  }
  say(`grade ${sub.name}: start_pipeline, run_chaos, validate (self-reported only)`);
  const phases = await runPhases(p, signal);
  if (signal.aborted) throw new InterruptedError("SIGINT");
  return gradeSubmission(sub.name, rules, [], phases);
}

if (import.meta.main) {
  await runMain(async () => {
    const { values } = parseFlags(Deno.args, {
      submission: { type: "string" },
      suite: { type: "string" },
      seed: { type: "string" },
      "pass-mark": { type: "string" },
      out: { type: "string" },
      unsandboxed: { type: "boolean" },
      ...STACK_FLAGS,
    }, USAGE);
    if (!values.submission) throw new UsageError(USAGE);
    const choice = await stackChoice(values);
    if (choice.kind === "docker") throw new UsageError(DOCKER_REFUSED);
    // Before anything starts: a box must never be able to take a service's port (bind(0)).
    const ephemeral = choice.kind === "local"
      ? ephemeralStackRefusal(runBasePort(), ephemeralRange())
      : undefined;
    if (ephemeral) throw new UsageError(ephemeral);
    const file = resolve(values.submission);
    let raw: unknown;
    try {
      raw = parseYaml(await Deno.readTextFile(file));
    } catch (error) {
      throw new UsageError(`cannot read the submission ${file}: ${(error as Error).message}`);
    }
    const sub = parseSubmission(raw, file);
    const sandboxed = values.unsandboxed !== true;
    const noSandbox = sandboxed ? sandboxSupport() : null;
    if (noSandbox) {
      throw new UsageError(
        `cannot sandbox the submission here: ${noSandbox}\n` +
          "hint: --unsandboxed grades it anyway, as this user with its files, /proc and " +
          "network (the grade records it)",
      );
    }
    const suite = await loadSuite(values.suite ?? DEFAULT_SUITE);
    const fixedSeed = intFlag("seed", values.seed, { min: 0, max: 2_147_483_646 });
    const seed = fixedSeed ?? drawSeed();
    const passMark = intFlag("pass-mark", values["pass-mark"], { min: 0, max: 100 }) ??
      suite.pass_mark;
    const judged = sub.pipeline !== undefined || sub.phases?.follows_contract === true;
    // Every scenario is loaded (and refused, exit 2) before anything runs.
    const scenarios: Scenario[] = [];
    for (const name of suite.scenarios) scenarios.push(await loadScenario(name));
    const out = values.out ??
      join(repoRoot, "reports", "runs", "grade", sub.name, timestamp());
    await Deno.mkdir(out, { recursive: true });
    const rules = {
      suite: suite.name,
      seed,
      seed_drawn: fixedSeed === undefined,
      pass_mark: passMark,
    };
    say(
      `grade ${sub.name}: suite ${suite.name} (${scenarios.length} scenarios), seed ${seed}` +
        `${fixedSeed === undefined ? " (drawn)" : ""}, pass mark ${passMark}`,
    );

    const grade = await withInterrupt(async (signal): Promise<Grade> => {
      // Made under the interrupt's watch: a Ctrl-C from here on closes it again.
      const sandbox = sandboxed ? await openSandbox({ source: sub.cwd, hide: [out] }) : undefined;
      const boxes = sandbox ? [sandbox] : [];
      say(
        sandbox
          ? `grade ${sub.name}: sandboxed as uid ${sandbox.uid} (a copy of ${sub.cwd})`
          : `grade ${sub.name}: UNSANDBOXED (--unsandboxed): it runs as this user`,
      );
      try {
        if (signal.aborted) throw new InterruptedError("SIGINT");
        const plan = { sub, scenarios, seed, out, choice, sandbox, boxes };
        return await gradeIn(plan, rules, judged, signal);
      } finally {
        await closeBoxes(sub.name, boxes);
      }
    });
    grade.sandboxed = sandboxed;
    const gaps = sandboxed ? [...sandboxGaps(), ...storeDiskGaps(), ...redisDiskGaps()] : [];
    if (choice.kind === "external") gaps.push(EXTERNAL_GAP);
    if (gaps.length) grade.sandbox_gaps = gaps;
    await Deno.writeTextFile(join(out, "grade.json"), JSON.stringify(grade, null, 2));
    await Deno.writeTextFile(join(out, "junit.xml"), gradeJunit(grade));
    console.log(gradeText(grade));
    console.log(`  grade: ${join(out, "grade.json")}`);
    return grade.verdict === "pass"
      ? ExitCode.Pass
      : grade.verdict === "invalid"
      ? ExitCode.RunInvalid
      : ExitCode.CheckFailed;
  });
}
