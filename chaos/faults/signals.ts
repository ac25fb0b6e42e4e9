/**
 * What the process faults (`kill`, `stop`, `restart`, `pause`) share: the
 * targets they act on, the check of their effect, and `signalFault`, a fault
 * made of one action and its undoing. A fault counts only by its effect: the
 * target must be alive before (a kill of what is already dead proves nothing)
 * and in the expected state after (gone, frozen, or running as a new process);
 * otherwise the inject throws and the fault is recorded as never observed.
 * @module
 */

import type { ProcessState } from "../../compose/process_node.ts";
import type { StackNode } from "../../compose/stack.ts";
import { BOTH_STACKS, type Fault, type FaultContext, nodeOf } from "./types.ts";

/** The targets' states, throwing when one is not running: there is nothing to act on. */
export function aliveBefore(
  ctx: FaultContext,
  nodes: string[],
  what: string,
): Record<string, number> {
  const pids: Record<string, number> = {};
  for (const name of nodes) {
    const node = nodeOf(ctx, name);
    const state = node.state();
    if (state === "dead") throw new Error(`cannot ${what} ${name}: it is not running`);
    pids[name] = node.pid() ?? -1;
  }
  return pids;
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
}): Fault {
  return {
    kind: f.kind,
    summary: f.summary,
    targets: PROCESS_TARGETS,
    stacks: BOTH_STACKS,
    external: "container",
    params: [],
    async inject(ctx, nodes) {
      const pids = aliveBefore(ctx, nodes, f.kind);
      for (const name of nodes) {
        await f.act(nodeOf(ctx, name));
        expectState(nodeOf(ctx, name), f.expected, `${f.signal} of`);
      }
      return {
        observed: { [f.observed]: pids },
        async heal() {
          for (const name of nodes) await f.undo(nodeOf(ctx, name));
          return { [f.undone]: nodes };
        },
      };
    },
  };
}
