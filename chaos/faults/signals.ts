/**
 * What the process faults (`kill`, `stop`, `restart`, `pause`) share: the
 * targets they act on, the check of their effect, and `signalFault`, a fault
 * made of one action and its undoing. A fault counts only by its effect: the
 * target must be alive before (a kill of what is already dead proves nothing:
 * `NotRunningError`) and in the expected state after (gone, frozen, or running
 * as a new process); otherwise the inject throws and the fault is recorded as
 * never observed. A node with a cgroup of its own (a pipeline component) is hit
 * only when every process of the cgroup was: each member seen before the fault
 * must be gone after `kill`, `stop` and `restart` (its pid and start time, so a
 * recycled pid is no alibi), and still in the frozen cgroup after `pause`.
 * @module
 */

import {
  NotRunningError,
  ProcessNode,
  processStartTime,
  type ProcessState,
  processState,
} from "../../compose/process_node.ts";
import type { StackNode } from "../../compose/stack.ts";
import { NO_PARAMS } from "./params.ts";
import { BOTH_STACKS, defineFault, type FaultContext, nodeOf } from "./types.ts";

/** The targets' states, throwing NotRunningError when one is not running: nothing to act on. */
export function aliveBefore(
  ctx: FaultContext,
  nodes: string[],
  what: string,
): Record<string, number> {
  const pids: Record<string, number> = {};
  for (const name of nodes) {
    const node = nodeOf(ctx, name);
    const state = node.state();
    if (state === "dead") throw new NotRunningError(name, what);
    pids[name] = node.pid() ?? -1;
  }
  return pids;
}

/** A process of a node's cgroup as seen before a fault: its pid and start time. */
export interface Member {
  pid: number;
  start: string | undefined;
}

/** The members of `node`'s cgroup now (undefined: the node has no cgroup of its own). */
export function cgroupMembers(node: StackNode): Member[] | undefined {
  if (!(node instanceof ProcessNode)) return undefined;
  return node.members()?.map((pid) => ({ pid, start: processStartTime(pid) }));
}

/**
 * What of `before` (a node's cgroup members before a fault) the fault missed: for `dead`, each
 * that still runs (the same pid and start time); for `paused`, each that runs outside the node's
 * cgroup now (it left it, so the freezer did not hold it).
 */
export function missed(
  node: StackNode,
  before: readonly Member[],
  expected: ProcessState,
): number[] {
  const alive = before.filter((m) => processState(m.pid, m.start) !== "dead").map((m) => m.pid);
  if (expected === "dead") return alive;
  const inside = new Set(node instanceof ProcessNode ? node.members() ?? [] : []);
  return alive.filter((pid) => !inside.has(pid));
}

/** Throws unless the fault reached every member of `before` (see `missed`). */
export function expectMembersHit(
  node: StackNode,
  before: readonly Member[] | undefined,
  expected: ProcessState,
  what: string,
): void {
  if (!before) return;
  const left = missed(node, before, expected);
  if (left.length > 0) {
    const how = expected === "dead" ? "still running" : "running outside its frozen cgroup";
    throw new Error(`${what} ${node.name} missed pid(s) ${left.join(", ")}: ${how}`);
  }
}

/** Throws unless `node` is now in `expected` (the fault's effect was not seen). */
export function expectState(node: StackNode, expected: ProcessState, what: string): void {
  const state = node.state();
  if (state !== expected) {
    throw new Error(`${what} ${node.name} had no effect: it is ${state}, not ${expected}`);
  }
}

export const PROCESS_TARGETS = ["broker", "component", "service"] as const;

/** Starts again, on its data, each target that died of a fault (a heal's rollback); their names. */
export async function restartDead(ctx: FaultContext, nodes: readonly string[]): Promise<string[]> {
  const restarted: string[] = [];
  for (const name of nodes) {
    const node = nodeOf(ctx, name);
    if ((await node.refresh()) === "dead") {
      await node.start();
      restarted.push(name);
    }
  }
  return restarted;
}

/**
 * A process fault: `act` on each target, which must then be in `expected`
 * (`signal` names it in the error); healed by `undo` on each. Its observation
 * is the targets' pids before, under `observed`.
 */
export function signalFault(f: {
  kind: string;
  summary: string;
  signal: string;
  act(node: StackNode): Promise<void>;
  expected: ProcessState;
  observed: string;
  undo(node: StackNode): Promise<void>;
  undone: string;
}) {
  return defineFault({
    kind: f.kind,
    summary: f.summary,
    targets: PROCESS_TARGETS,
    stacks: BOTH_STACKS,
    external: "container",
    params: NO_PARAMS,
    async inject(ctx, nodes) {
      const pids = aliveBefore(ctx, nodes, f.kind);
      const members: Record<string, number[]> = {};
      for (const name of nodes) {
        const node = nodeOf(ctx, name);
        const before = cgroupMembers(node);
        if (before) members[name] = before.map((m) => m.pid);
        await f.act(node);
        expectState(node, f.expected, `${f.signal} of`);
        expectMembersHit(node, before, f.expected, `${f.signal} of`);
      }
      return {
        // With cgroups: every process each held, all of them hit.
        observed: {
          [f.observed]: pids,
          ...(Object.keys(members).length > 0 ? { cgroup_members: members } : {}),
        },
        async heal() {
          for (const name of nodes) await f.undo(nodeOf(ctx, name));
          return { [f.undone]: nodes };
        },
      };
    },
  });
}
