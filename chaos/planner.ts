/**
 * The planner: turns a validated scenario into a timeline of steps, in order.
 * Pure: the same scenario gives the same plan. Faults without `heal_after` are
 * healed when the workload ends (and, whatever happens, by the final heal).
 *
 * ```ts
 * import { plan } from "./planner.ts";
 * for (const step of plan(scenario)) console.log(step.at_ms, step.action, step.kind, step.target);
 * ```
 * @module
 */

import { ms, type Scenario } from "./scenario.ts";
import type { FaultParams } from "./faults/types.ts";

export interface Step {
  at_ms: number;
  action: "inject" | "heal";
  /** Index of the fault in the scenario. */
  fault: number;
  kind: string;
  target: string;
  params: FaultParams;
}

export function plan(scenario: Scenario): Step[] {
  const end = ms(scenario.workload.duration);
  const steps: Step[] = [];
  scenario.faults.forEach((f, i) => {
    const at = ms(f.at);
    const base = { fault: i, kind: f.kind, target: f.target, params: f.params ?? {} };
    steps.push({ at_ms: at, action: "inject", ...base });
    const healAt = f.heal_after === undefined ? end : Math.min(end, at + ms(f.heal_after));
    if (f.kind !== "restart") steps.push({ at_ms: Math.max(at, healAt), action: "heal", ...base });
  });
  // By time; at the same time, heals first (a fault healed and another injected at t), then by fault.
  return steps.sort((a, b) =>
    a.at_ms - b.at_ms || (a.action === b.action ? 0 : a.action === "heal" ? -1 : 1) ||
    a.fault - b.fault
  );
}
