/**
 * The planner: turns a validated scenario and a seed into the list of faults
 * (the timeline's, then the random chaos block's) and a timeline of steps, in
 * order. Pure: the same scenario and seed give the same plan.
 *
 * Random chaos: from `start` to `end`, every `every`, one action picked from
 * `actions` on one target picked from the `targets` it can act on, lasting
 * `duration` (seeded with `<seed>/chaos`), with the keys of the block's
 * params its schema reads, parsed. Faults without `heal_after` are
 * healed when the workload ends (and, whatever happens, by the final heal).
 *
 * ```ts
 * import { plan } from "./planner.ts";
 * for (const step of plan(scenario, 7)) console.log(step.at_ms, step.action, step.kind, step.target);
 * ```
 * @module
 */

import { formatDuration } from "../lib/duration.ts";
import { Rng } from "../pipeline/rng.ts";
import { fits, ms, paramsFor, type Scenario, type ScenarioFault } from "./scenario.ts";
import type { RawParams } from "./faults/types.ts";
import { FAULTS, type FaultTable } from "./faults/mod.ts";

export interface Step {
  at_ms: number;
  action: "inject" | "heal";
  /** Index of the fault in `expandFaults(scenario, seed)`. */
  fault: number;
  kind: string;
  target: string;
  /** As the kind's schema parsed them. */
  params: RawParams;
}

/** A fault of the run: from the timeline or drawn by the random chaos block. */
export type PlannedFault = ScenarioFault & { source: "timeline" | "random" };

/** The scenario's faults followed by the random chaos block's, drawn with `seed`. */
export function expandFaults(
  scenario: Scenario,
  seed: number = scenario.seed,
  table: FaultTable = FAULTS,
): PlannedFault[] {
  const faults: PlannedFault[] = scenario.faults.map((f) => ({ ...f, source: "timeline" }));
  const c = scenario.chaos;
  if (!c) return faults;
  const rng = new Rng(`${seed}/chaos`);
  const end = c.end === undefined ? ms(scenario.workload.duration) : ms(c.end);
  const every = ms(c.every);
  const lasting = ms(c.duration);
  for (let at = ms(c.start); at + lasting <= end; at += every) {
    const kind = rng.pick(c.actions);
    const target = rng.pick(c.targets.filter((t) => fits(kind, t, table)));
    faults.push({
      at: formatDuration(at),
      kind,
      target,
      heal_after: formatDuration(lasting),
      params: paramsFor(table[kind], c.params),
      source: "random",
    });
  }
  return faults;
}

/** The steps of the run, in order; one-shot faults (per `table`) get no heal. */
export function plan(
  scenario: Scenario,
  seed: number = scenario.seed,
  table: FaultTable = FAULTS,
): Step[] {
  const end = ms(scenario.workload.duration);
  const steps: Step[] = [];
  expandFaults(scenario, seed, table).forEach((f, i) => {
    const at = ms(f.at);
    const base = { fault: i, kind: f.kind, target: f.target, params: f.params };
    steps.push({ at_ms: at, action: "inject", ...base });
    const healAt = f.heal_after === undefined ? end : Math.min(end, at + ms(f.heal_after));
    if (!table[f.kind].oneShot) {
      steps.push({ at_ms: Math.max(at, healAt), action: "heal", ...base });
    }
  });
  // By time; at the same time, heals first (a fault healed and another injected at t), then by fault.
  return steps.sort((a, b) =>
    a.at_ms - b.at_ms || (a.action === b.action ? 0 : a.action === "heal" ? -1 : 1) ||
    a.fault - b.fault
  );
}
