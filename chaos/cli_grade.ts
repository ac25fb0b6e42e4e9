/**
 * `deno task grade --submission <file.yaml> [--out DIR] [--seed N]
 *   [--stack local|docker|external --endpoints FILE [--keep-topic]]`
 *
 * Grades a pipeline (see `grade.ts` for the submission file, docs/grading.md and
 * docs/contract.md for the contract): runs `setup`, then either drives the
 * submission's sink and detector through a scenario and scores the store and
 * the alerts, or runs its phases and scores their exit codes. Prints the
 * score out of 100 with every weighted check, writes `grade.json` and
 * `junit.xml` to the output folder.
 *
 * Exit codes: 0 at or above the pass mark, 1 below it, 2 invalid submission or
 * flags, 3 the run proved nothing or was interrupted.
 * @module
 */

import { dirname, join, resolve } from "node:path";
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
import { say } from "../lib/progress.ts";
import { loadScenario } from "./cli_scenario.ts";
import { runScenario } from "./engine.ts";
import { STACK_FLAGS, STACK_USAGE, stackChoice } from "./stack_flags.ts";
import { parseStrict } from "./scenario.ts";
import { parseDuration } from "../lib/duration.ts";
import {
  type Grade,
  gradeJunit,
  gradePhases,
  gradeRun,
  SubmissionSchema,
} from "../reports/grade.ts";
import { stamp as timestamp } from "./run_folder.ts";

const USAGE = "usage: deno task grade --submission <file.yaml> [--out DIR] [--seed N]\n" +
  `         ${STACK_USAGE}`;

/** Runs a shell command in `cwd`; its exit code, or null when it ran out of time. */
async function shell(
  cmd: string,
  cwd: string,
  timeoutMs: number,
  log: string,
  signal: AbortSignal,
): Promise<number | null> {
  const file = await Deno.open(log, { create: true, append: true });
  const child = new Deno.Command("setsid", {
    args: ["bash", "-c", cmd],
    cwd,
    // A clean environment: nothing of the harness's own reaches a submission.
    env: {
      PATH: `${dirname(Deno.execPath())}:${Deno.env.get("PATH") ?? "/usr/bin:/bin"}`,
      HOME: Deno.env.get("HOME") ?? "/root",
    },
    clearEnv: true,
    stdout: "piped",
    stderr: "piped",
    stdin: "null",
  }).spawn();
  const copy = Promise.all(
    [child.stdout, child.stderr].map((s) =>
      s.pipeTo(new WritableStream({ write: (c) => void file.writeSync(c) }))
    ),
  );
  const killGroup = () => {
    try {
      Deno.kill(-child.pid, "SIGKILL");
    } catch { /* gone */ }
  };
  const timer = setTimeout(killGroup, timeoutMs);
  signal.addEventListener("abort", killGroup, { once: true });
  const status = await child.status;
  clearTimeout(timer);
  signal.removeEventListener("abort", killGroup);
  await copy.catch(() => {});
  file.close();
  return status.signal === "SIGKILL" ? null : status.code;
}

function print(g: Grade, out: string) {
  console.log(
    `${g.submission}: ${g.score}/100 (pass mark ${g.pass_mark}): ${
      g.invalid ? "INVALID" : g.passed ? "PASS" : "FAIL"
    }`,
  );
  for (const c of g.checks) {
    console.log(`  ${c.passed ? "ok  " : "FAIL"} ${c.name} (${c.weight}): ${c.detail}`);
  }
  for (const r of g.reasons) console.log(`  - ${r}`);
  console.log(`  grade: ${join(out, "grade.json")}`);
}

if (import.meta.main) {
  await runMain(async () => {
    const { values } = parseFlags(Deno.args, {
      submission: { type: "string" },
      out: { type: "string" },
      seed: { type: "string" },
      ...STACK_FLAGS,
    }, USAGE);
    if (!values.submission) throw new UsageError(USAGE);
    const choice = await stackChoice(values);
    const file = resolve(values.submission);
    let raw: unknown;
    try {
      raw = parseYaml(await Deno.readTextFile(file));
    } catch (error) {
      throw new UsageError(`cannot read the submission ${file}: ${(error as Error).message}`);
    }
    const sub = parseStrict(SubmissionSchema, raw, file);
    const seed = intFlag("seed", values.seed, { min: 0 }) ?? sub.seed;
    const scenario = sub.pipeline ? await loadScenario(sub.scenario) : undefined;
    const cwd = dirname(file);
    const stamp = timestamp();
    const out = values.out ?? join(repoRoot, "reports", "runs", "grade", sub.name, stamp);
    await Deno.mkdir(out, { recursive: true });
    const timeoutMs = parseDuration(sub.timeout)!;

    const grade = await withInterrupt(async (signal): Promise<Grade | undefined> => {
      if (sub.setup) {
        say(`grade ${sub.name}: setup`);
        const code = await shell(sub.setup, cwd, timeoutMs, join(out, "setup.log"), signal);
        if (signal.aborted) throw new InterruptedError("SIGINT");
        if (code !== 0) {
          console.log(
            `${sub.name}: 0/100: setup ${code === null ? "timed out" : `exited ${code}`}`,
          );
          return undefined;
        }
      }
      if (sub.pipeline && scenario) {
        await provision();
        say(`grade ${sub.name}: scenario ${scenario.name} drives the submitted pipeline`);
        const { results, runDir } = await runScenario(scenario, {
          seed,
          outDir: join(out, "runs"),
          signal,
          stack: choice.kind,
          external: choice.external,
          pipeline: { ...sub.pipeline, cwd },
        });
        const graded = gradeRun(sub.name, sub.pass_mark, results);
        graded.reasons.push(`run folder: ${runDir}`);
        return graded;
      } else {
        say(`grade ${sub.name}: start_pipeline, run_chaos, validate`);
        const log = join(out, "phases.log");
        let started: number | null | undefined;
        const stopPipeline = new AbortController();
        const pipeline = shell(
          sub.start_pipeline!,
          cwd,
          timeoutMs * 3,
          log,
          AbortSignal.any([signal, stopPipeline.signal]),
        ).then((c) => (started = c));
        const chaos = await shell(sub.run_chaos!, cwd, timeoutMs, log, signal);
        const alive = started === undefined;
        const validate = chaos === null
          ? null
          : await shell(sub.validate!, cwd, timeoutMs, log, signal);
        stopPipeline.abort(); // ends start_pipeline's process group
        await pipeline;
        if (signal.aborted) throw new InterruptedError("SIGINT");
        return gradePhases(sub.name, sub.pass_mark, {
          start_alive: alive,
          run_chaos: chaos,
          validate,
        });
      }
    });
    if (!grade) return ExitCode.CheckFailed; // setup failed: graded 0, said above
    await Deno.writeTextFile(join(out, "grade.json"), JSON.stringify(grade, null, 2));
    await Deno.writeTextFile(join(out, "junit.xml"), gradeJunit(grade));
    print(grade, out);
    return grade.invalid
      ? ExitCode.RunInvalid
      : grade.passed
      ? ExitCode.Pass
      : ExitCode.CheckFailed;
  });
}
