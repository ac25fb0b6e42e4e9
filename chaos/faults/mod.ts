/**
 * The table of faults: the one place the scenario loader, the planner, the
 * stack check, `--list` and the docs look faults up (no registration by import
 * side effects). Each fault declares what it is (see `Fault` in types.ts);
 * adding one is one module and one line here. `faultTable()` renders it.
 *
 * On the docker stack `partition` is iptables DROP and can cut one
 * `link:<a>-<b>` (docker_net.ts).
 * @module
 */

import { disconnect, loss, netem, tbf } from "./docker_net.ts";
import { electUnclean } from "./election.ts";
import { bandwidth, latency, partition, reset, timeout, webhookFail } from "./network.ts";
import { kill, pause, restart, stop } from "./signals.ts";
import type { Fault, FaultParams, StackName, TargetKind } from "./types.ts";

export const FAULTS = {
  kill,
  stop,
  restart,
  pause,
  latency,
  bandwidth,
  timeout,
  reset,
  partition,
  elect_unclean: electUnclean,
  webhook_fail: webhookFail,
  netem,
  tbf,
  loss,
  disconnect,
} as const satisfies Record<string, Fault>;

export type FaultKind = keyof typeof FAULTS;
export const FAULT_KINDS = Object.keys(FAULTS) as [FaultKind, ...FaultKind[]];

/** The kind of thing a target string names. */
export function targetKind(target: string): TargetKind {
  if (target.startsWith("link:")) return "link";
  if (target.startsWith("broker:") || target === "all-brokers") {
    return "broker";
  }
  if (target === "sink" || target === "detector") return "component";
  if (target === "webhook") return "webhook";
  return "service";
}

/** Faults that are over as soon as they are done: nothing to heal. */
export const ONE_SHOT: ReadonlySet<string> = new Set(
  Object.values(FAULTS).filter((f: Fault) => f.oneShot).map((f) => f.kind),
);

/** Every param any fault reads. */
export const PARAM_KEYS: ReadonlySet<keyof FaultParams> = new Set(
  Object.values(FAULTS).flatMap((f: Fault) => f.params),
);

/**
 * What a scenario asks that the stack it runs on cannot do, as messages (the
 * engine rejects the run with exit 2 before it starts anything). `netem`: whether
 * the kernel has `sch_netem` (undefined: not probed).
 */
export function stackProblems(
  faults: readonly { kind: string; target: string }[],
  stack: StackName,
  netem?: boolean,
): string[] {
  const problems: string[] = [];
  for (const [i, f] of faults.entries()) {
    const fault: Fault = FAULTS[f.kind as FaultKind];
    if (!fault.stacks.includes(stack)) {
      problems.push(
        `faults.${i}: ${f.kind} needs the ${fault.stacks.join(" or ")} stack: run with --stack ${
          fault.stacks[0]
        }`,
      );
    }
    const problem = fault.problem?.(f.target, stack, { netem });
    if (problem) {
      problems.push(`faults.${i}${f.target.startsWith("link:") ? ".target" : ""}: ${problem}`);
    }
  }
  return problems;
}

/** The table as Markdown: kind, targets, stacks, params, what it does. */
export function faultTable(): string {
  const rows = Object.values(FAULTS).map((f: Fault) =>
    `| \`${f.kind}\`${f.oneShot ? " (one-shot)" : ""} | ${f.targets.join(", ")} | ${
      f.stacks.join(", ")
    } | ${f.params.join(", ") || "—"} | ${f.summary} |`
  );
  return [
    "| kind | targets | stacks | params | what it does |",
    "| --- | --- | --- | --- | --- |",
    ...rows,
  ].join("\n");
}
