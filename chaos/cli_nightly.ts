/**
 * `deno task nightly [--scenarios a,b] [--seed N] [--out reports/nightly] [--date YYYY-MM-DD]`
 *
 * Runs the catalog (or the named scenarios) one after another, each on a
 * fresh stack, and writes `<out>/<date>/`: `runs/` (each run's folder),
 * `summary.json` (figures per scenario) and `index.html` (a pass/fail matrix
 * over the last nights, tonight's figures, trends, regressions). Seeds rotate
 * per night (the scenario's seed plus the day number) unless `--seed` fixes
 * them, so each night explores other random draws and a failing one can be
 * replayed with `deno task scenario <name> --seed <seed>`.
 *
 * Exit codes: 0 every scenario as expected and no regression, 1 otherwise,
 * 2 bad flags or scenario names, 3 interrupted (Ctrl-C heals and stops first).
 * @module
 */

import { STACK_FLAGS, STACK_USAGE, stackChoice } from "./stack_flags.ts";
import type { ExternalEndpoints } from "../compose/external_endpoints.ts";
import { externalCluster } from "./run_stack.ts";
import { externalProblems } from "./faults/mod.ts";
import { expandFaults } from "./planner.ts";
import { join, relative } from "node:path";
import { ExitCode, runMain, UsageError, withInterrupt } from "../lib/exit_codes.ts";
import { intFlag, parseFlags } from "../lib/cli.ts";
import { repoRoot } from "../compose/paths.ts";
import { provision } from "../compose/provision.ts";
import { say } from "../lib/progress.ts";
import { catalog, loadScenario, needsDocker } from "./cli_scenario.ts";
import { runScenario } from "./engine.ts";
import type { Scenario } from "./scenario.ts";
import {
  figuresOf,
  findRegressions,
  type NightSummary,
  renderNightlyHtml,
} from "../reports/nightly.ts";

const USAGE =
  "usage: deno task nightly [--scenarios a,b,...] [--seed N] [--out DIR] [--date YYYY-MM-DD]\n" +
  `         ${STACK_USAGE}`;

/** Whether a scenario asks what the external cluster's endpoints file does not allow. */
async function externalFilter(e: ExternalEndpoints): Promise<(s: Scenario) => boolean> {
  const cluster = await externalCluster(e);
  return (s) => externalProblems(expandFaults(s, s.seed), cluster).length > 0;
}

async function earlierNights(out: string, date: string): Promise<NightSummary[]> {
  const nights: NightSummary[] = [];
  try {
    for await (const e of Deno.readDir(out)) {
      if (!e.isDirectory || e.name >= date) continue;
      try {
        nights.push(JSON.parse(await Deno.readTextFile(join(out, e.name, "summary.json"))));
      } catch { /* a night without a summary (interrupted early) */ }
    }
  } catch { /* no nights yet */ }
  return nights;
}

if (import.meta.main) {
  await runMain(async () => {
    const { values } = parseFlags(Deno.args, {
      scenarios: { type: "string" },
      seed: { type: "string" },
      out: { type: "string" },
      date: { type: "string" },
      ...STACK_FLAGS,
    }, USAGE);
    const date = values.date ?? new Date().toISOString().slice(0, 10);
    if (!/^\d{4}-\d{2}-\d{2}$/.test(date)) {
      throw new UsageError(`--date must be YYYY-MM-DD, got "${date}"`);
    }
    const fixedSeed = intFlag("seed", values.seed, { min: 0 });
    const { kind: stack, external } = await stackChoice(values);
    // The whole catalog on an external cluster: what its endpoints file allows.
    const unsupported = external && !values.scenarios
      ? await externalFilter(external.endpoints)
      : () => false;
    const names = values.scenarios
      ? values.scenarios.split(",").map((s) => s.trim()).filter(Boolean)
      : await catalog();
    const scenarios: Scenario[] = [];
    for (const name of names) {
      const scenario = await loadScenario(name); // all invalid input first
      // The whole catalog on the local stack leaves out what only the docker stack can run.
      if (!values.scenarios && stack === "local" && needsDocker(scenario)) continue;
      if (unsupported(scenario)) {
        say(`nightly: ${scenario.name} left out: the endpoints file does not allow its faults`);
        continue;
      }
      scenarios.push(scenario);
    }
    const out = values.out ?? join(repoRoot, "reports", "nightly");
    const nightDir = join(out, date);
    await Deno.mkdir(join(nightDir, "runs"), { recursive: true });
    const day = Math.floor(Date.parse(`${date}T00:00:00Z`) / 86_400_000);
    const earlier = await earlierNights(out, date);
    const tonight: NightSummary = { date, scenarios: {} };

    await provision();
    await withInterrupt(async (signal) => {
      for (const [i, scenario] of scenarios.entries()) {
        const seed = fixedSeed ?? scenario.seed + day;
        say(`nightly ${date}: ${i + 1}/${scenarios.length} ${scenario.name} (seed ${seed})`);
        const { results, runDir } = await runScenario(scenario, {
          seed,
          outDir: join(nightDir, "runs"),
          stack,
          external,
          signal,
        });
        tonight.scenarios[scenario.name] = figuresOf(results, relative(nightDir, runDir));
        say(
          `  ${scenario.name}: ${results.verdict}${
            results.as_expected ? "" : " (NOT as expected)"
          }`,
        );
        const regressions = findRegressions(tonight, earlier);
        await Deno.writeTextFile(join(nightDir, "summary.json"), JSON.stringify(tonight, null, 2));
        await Deno.writeTextFile(
          join(nightDir, "index.html"),
          renderNightlyHtml(tonight, earlier, regressions),
        );
      }
    });
    const regressions = findRegressions(tonight, earlier);
    const failed = Object.entries(tonight.scenarios).filter(([, f]) => !f.as_expected);
    console.log(
      `nightly ${date}: ${Object.keys(tonight.scenarios).length - failed.length} as expected, ` +
        `${failed.length} not, ${regressions.length} regressions`,
    );
    for (const r of regressions) console.log(`  - ${r.scenario}: ${r.why}`);
    console.log(`  index: ${join(nightDir, "index.html")}`);
    return failed.length || regressions.length ? ExitCode.CheckFailed : ExitCode.Pass;
  });
}
