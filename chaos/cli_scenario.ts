/**
 * `deno task scenario <name | file> [--set key.path=value ...] [--seed N] [--dry-run] [--json]
 *   [--keep-stack] [--with-prometheus] [--out DIR]
 *   [--stack local|docker|external --endpoints FILE [--keep-topic]]`
 * `deno task scenario --list`
 * `deno task scenario --abort <run id | run folder | scenario name>`
 *
 * Runs one scenario end to end, from the catalog (`scenarios/<name>.ts`) or from
 * a `.ts`, `.json` or `.yaml` file anywhere, with `--set` overrides, and exits
 * with its verdict (`--json`: the verdict object on stdout, as in results.json):
 * 0 pass, 1 a check failed, 2 invalid scenario or flags, 3 the run was invalid
 * or interrupted (Ctrl-C heals and cleans up first).
 *
 * `--abort` stops a run going on in another terminal the way a failing abort probe does: every
 * fault healed at once, the workload stopped, and the run ends `fail` with the reason
 * `aborted: by hand`, recorded in its history. It waits (60 s at most) for the run to confirm.
 * SIGUSR1 to the running process does the same (see abort_watch.ts).
 * @module
 */

import { FAULTS, stackProblems } from "./faults/mod.ts";
import type { Fault } from "./faults/types.ts";
import { paramDocs, paramLine } from "./faults/params.ts";
import { STACK_FLAGS, STACK_USAGE, stackChoice } from "./stack_flags.ts";
import { join } from "node:path";
import { ExitCode, runMain, UsageError, withInterrupt } from "../lib/exit_codes.ts";
import { intFlag, parseFlags } from "../lib/cli.ts";
import { repoRoot } from "../compose/paths.ts";
import { provision } from "../compose/provision.ts";
import { runScenario } from "./engine.ts";
import { formatDuration } from "../lib/duration.ts";
import { expandFaults, plan } from "./planner.ts";
import { type Scenario, validateScenario } from "./scenario.ts";
import { applySets, isScenarioPath, readScenarioInput } from "./scenario_file.ts";
import { requestAbort } from "./abort_watch.ts";
import { findRunDir } from "./run_folder.ts";
import { abortRecord, parseHistory } from "../validate/history.ts";
import { durabilityFigures } from "../validate/commits.ts";
import { waitFor } from "../lib/wait.ts";
import { printable } from "../validate/printable.ts";
import { jsonInChild, jsonOutFile, writeVerdictJson } from "./json_stdout.ts";

const USAGE =
  "usage: deno task scenario <name | file.ts|.json|.yaml> [--set key.path=value ...] [--seed N] [--dry-run]\n" +
  "         [--json] [--keep-stack] [--with-prometheus] [--out DIR]\n" +
  `         ${STACK_USAGE}\n` +
  "       deno task scenario --abort <run | run folder | scenario>   stop a running run (it heals, then judges)\n" +
  "       deno task scenario --list      the scenarios of the catalog\n" +
  "       deno task scenario --faults    the fault kinds a scenario can use";

const dir = join(repoRoot, "scenarios");

/** Names of the scenario files (of `catalogDir`, default the harness's `scenarios/`). */
export async function catalog(catalogDir = dir): Promise<string[]> {
  const names: string[] = [];
  for await (const e of Deno.readDir(catalogDir)) {
    if (e.isFile && e.name.endsWith(".ts") && !e.name.endsWith("_test.ts")) {
      names.push(e.name.slice(0, -3));
    }
  }
  return names.sort();
}

/** True when the scenario asks what only the docker stack can do (netem, tbf, a link...). */
export function needsDocker(scenario: Scenario): boolean {
  return stackProblems(expandFaults(scenario, scenario.seed), "local").length > 0;
}

/**
 * Loads and validates a scenario: `scenarios/<name>.ts`, or a file anywhere (a path, or a name
 * ending in .ts, .json, .yaml or .yml), with `sets` (`key.path=value`) applied first. Both go
 * through one loader (scenario_file.ts, then the one schema): a file that does not load, does
 * not parse or is not a scenario is a UsageError (exit 2) naming it, whichever way it was named.
 */
export async function loadScenario(
  name: string,
  sets: readonly string[] = [],
  options: { catalogDir?: string } = {},
): Promise<Scenario> {
  const withSets = sets.length ? ` (with --set ${sets.join(" ")})` : "";
  if (isScenarioPath(name)) {
    return validateScenario(applySets(await readScenarioInput(name), sets), name + withSets);
  }
  const catalogDir = options.catalogDir ?? dir;
  const names = await catalog(catalogDir);
  if (!names.includes(name)) {
    throw new UsageError(`no scenario "${name}"; the catalog has: ${names.join(", ")}`);
  }
  const file = catalogDir === dir ? `scenarios/${name}.ts` : join(catalogDir, `${name}.ts`);
  const input = await readScenarioInput(join(catalogDir, `${name}.ts`), file);
  const scenario = validateScenario(applySets(input, sets), file + withSets);
  if (scenario.name !== name) {
    throw new UsageError(
      `scenarios/${name}.ts: name is "${scenario.name}", must be "${name}" (the file name)`,
    );
  }
  return scenario;
}

/** `--abort`: asks the run named `name` to stop, and waits for it to say it did. */
async function abortRun(name: string, outDir?: string): Promise<ExitCode> {
  const runDir = await findRunDir(name, outDir);
  if (!runDir) {
    throw new UsageError(`--abort: no run "${name}" (a run id, a run folder or a scenario)`);
  }
  if (await Deno.stat(join(runDir, "results.json")).catch(() => null)) {
    throw new UsageError(`--abort: the run in ${runDir} has already ended`);
  }
  await requestAbort(runDir, `scenario --abort from pid ${Deno.pid}`);
  console.error(`asked the run in ${runDir} to stop; waiting for it to confirm`);
  const confirmed = await waitFor(async () => {
    const text = await Deno.readTextFile(join(runDir, "history.jsonl")).catch(() => "");
    return abortRecord(parseHistory(text)) ?? undefined;
  }, { what: "the run's abort", timeoutMs: 60_000, intervalMs: 500 }).catch(() => undefined);
  if (!confirmed) {
    console.error(`the run has not confirmed within 60 s: is it still running? (${runDir})`);
    return ExitCode.RunInvalid;
  }
  console.log(`aborted: ${confirmed.detail}; the run heals every fault and goes on to its verdict`);
  return ExitCode.Pass;
}

if (import.meta.main) {
  await runMain(async () => {
    const { values, positionals } = parseFlags(Deno.args, {
      list: { type: "boolean", default: false },
      faults: { type: "boolean", default: false },
      seed: { type: "string" },
      "dry-run": { type: "boolean", default: false },
      "keep-stack": { type: "boolean", default: false },
      "with-prometheus": { type: "boolean", default: false },
      out: { type: "string" },
      ...STACK_FLAGS,
      set: { type: "string", multiple: true, default: [] },
      json: { type: "boolean", default: false },
      abort: { type: "string" },
    }, USAGE);
    if (values.abort !== undefined) return await abortRun(values.abort, values.out);
    if (values.faults) {
      for (const f of Object.values(FAULTS) as Fault[]) {
        console.log(
          `${f.kind.padEnd(14)} ${f.summary}\n${"".padEnd(14)} targets: ${f.targets.join(", ")}; ` +
            `stacks: ${f.stacks.join(", ")}` +
            (f.external ? `, external (through its ${f.external})` : "") +
            (f.oneShot ? "; one-shot" : "") +
            (paramDocs(f.params).map((p) =>
              `\n${"".padEnd(14)} param ${paramLine(p)}${p.description ? `: ${p.description}` : ""}`
            ).join("") || `\n${"".padEnd(14)} params: none`),
        );
      }
      return ExitCode.Pass;
    }
    if (values.list) {
      for (const name of await catalog()) {
        const s = await loadScenario(name);
        console.log(
          `${name.padEnd(32)} ${s.expect === "fail" ? "[negative control] " : ""}${
            needsDocker(s) ? "[--stack docker] " : ""
          }${s.description}`,
        );
      }
      return ExitCode.Pass;
    }
    if (positionals.length !== 1) throw new UsageError(USAGE);
    const choice = await stackChoice(values);
    const scenario = await loadScenario(positionals[0], values.set);
    const seed = intFlag("seed", values.seed, { min: 0 });
    if (values["dry-run"]) {
      console.log(
        JSON.stringify(
          {
            scenario: { ...scenario, seed: seed ?? scenario.seed },
            plan: plan(scenario, seed ?? scenario.seed).map(({ at_ms, ...step }) => ({
              at: formatDuration(at_ms),
              ...step,
            })),
          },
          null,
          2,
        ),
      );
      return ExitCode.Pass;
    }
    // With --json, stdout carries only the verdict object: the run goes on in a child whose
    // stdout is our stderr (json_stdout.ts), which writes the verdict object to a file.
    if (values.json && !jsonOutFile()) {
      return await jsonInChild(import.meta.filename!) as ExitCode; // the child's, passed on
    }
    await provision();
    return await withInterrupt(async (signal) => {
      const { results, runDir, exitCode } = await runScenario(scenario, {
        seed,
        keepStack: values["keep-stack"],
        withPrometheus: values["with-prometheus"],
        outDir: values.out,
        stack: choice.kind,
        external: choice.external,
        signal,
      });
      // With --json, stdout carries only the verdict object; the summary joins the progress.
      // What a pipeline wrote (alert rules and entities in the reasons) is shown, never obeyed.
      const say = (line: string) => (values.json ? console.error : console.log)(printable(line));
      if (values.json) writeVerdictJson(JSON.stringify(results, null, 2));
      const c = results.completeness;
      const a = results.alerts;
      say(`${results.scenario}: ${results.verdict.toUpperCase()}`);
      if (c) {
        say(
          `  completeness: acked ${c.acked}, lost ${c.lost}, duplicates ${c.duplicates}, unexpected ${c.unexpected}`,
        );
      }
      if (a) {
        say(
          `  alerts: incidents ${a.incidents}, matched ${a.matched}, missed ${a.missed}, duplicated ${a.duplicated}, false positives ${a.false_positives}`,
        );
      }
      if (results.durability) say(`  durability: ${durabilityFigures(results.durability)}`);
      const t = results.throughput;
      say(
        `  throughput: ${t.acked_eps} acked/s over the workload` +
          (t.first_ack_ms == null ? "" : `, first ack after ${t.first_ack_ms} ms`),
      );
      for (const r of results.reasons) say(`  - ${r}`);
      for (const n of results.probes?.notes ?? []) say(`  - note: ${n}`);
      for (const n of results.durability?.notes ?? []) say(`  - note: ${n}`);
      say(`  report: ${join(runDir, "report.md")}`);
      return exitCode;
    });
  });
}
