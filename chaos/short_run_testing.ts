/**
 * Test helper: one short catalog scenario through `deno task scenario`, its
 * workload and faults shortened by `--set`, and what a slow test asserts on:
 * the exit code, results.json and an explanation for failed assertions (the
 * run's output, and the sink's own lines and kafkajs's crashes, which say why
 * a sink stopped storing).
 *
 * ```ts
 * const run = await shortRun("broker-log-dir-fails", out, { "workload.duration": "40s" });
 * assert.equal(run.results.completeness?.lost, 0, run.explain);
 * ```
 * @module
 */

import assert from "node:assert/strict";
import { join } from "node:path";
import { type CommandOutput, runDeno } from "../compose/testing.ts";
import type { Results } from "../validate/results.ts";

export interface ShortRun {
  res: CommandOutput;
  results: Results;
  /** The run's folder (`<out>/<name>/latest`). */
  runDir: string;
  explain: string;
}

/** Runs scenario `name` into `out` with `sets` (a string as it is, anything else as JSON). */
export async function shortRun(
  name: string,
  out: string,
  sets: Record<string, unknown>,
): Promise<ShortRun> {
  const args = Object.entries(sets).flatMap(([key, value]) => [
    "--set",
    `${key}=${typeof value === "string" ? value : JSON.stringify(value)}`,
  ]);
  const res = await runDeno(["chaos/cli_scenario.ts", name, "--out", out, ...args]);
  return await readRun(res, join(out, name, "latest"));
}

/**
 * Runs a scenario given as an object (written to `<out>/<name>.json`) with more flags (e.g.
 * `--stack docker`) and environment.
 */
export async function scenarioRun(
  scenario: { name: string },
  out: string,
  args: string[] = [],
  env: Record<string, string> = {},
): Promise<ShortRun> {
  await Deno.mkdir(out, { recursive: true });
  const file = join(out, `${scenario.name}.json`);
  await Deno.writeTextFile(file, JSON.stringify(scenario));
  const res = await runDeno(["chaos/cli_scenario.ts", file, "--out", out, ...args], env);
  return await readRun(res, join(out, scenario.name, "latest"));
}

/** The fault `kind`'s evidence in a run's results, asserted observed. */
export function observedDetail(
  run: ShortRun,
  kind: string,
): Record<string, unknown> & { heal: Record<string, unknown> } {
  const fault = run.results.faults.find((f) => f.kind === kind);
  assert.ok(fault?.observed, `${kind} not observed\n${run.explain}`);
  return fault.detail as Record<string, unknown> & { heal: Record<string, unknown> };
}

/** A finished run's results and the explanation of its failed assertions. */
async function readRun(res: CommandOutput, runDir: string): Promise<ShortRun> {
  const sinkLog = await Deno.readTextFile(join(runDir, "logs", "sink.log")).catch(() => "");
  const sinkLines = sinkLog.split("\n").filter((l) => /^sink:|Crash/.test(l)).slice(-20);
  const explain = `${res.stdout.slice(-4000)}\n${res.stderr.slice(-3000)}\nsink:\n${
    sinkLines.join("\n")
  }`;
  const results = JSON.parse(await Deno.readTextFile(join(runDir, "results.json"))) as Results;
  return { res, results, runDir, explain };
}
