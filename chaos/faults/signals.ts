/**
 * Process faults through signals: `kill` (SIGKILL, healed by a start on the
 * same data), `stop` (SIGTERM, healed by a start), `restart` (SIGKILL and
 * start at once), `pause` (SIGSTOP, healed by SIGCONT).
 *
 * A fault counts only by its effect: the target must be alive before (a kill of
 * what is already dead proves nothing) and in the expected state after (gone,
 * frozen, or running as a new process); otherwise the inject throws and the
 * fault is recorded as never observed.
 * @module
 */

import type { ProcessState } from "../../compose/process_node.ts";
import type { StackNode } from "../../compose/stack.ts";
import { BOTH_STACKS, type Fault, type FaultContext, nodeOf } from "./types.ts";

/** The targets' states, throwing when one is not running: there is nothing to act on. */
function aliveBefore(ctx: FaultContext, nodes: string[], what: string): Record<string, number> {
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
function expectState(node: StackNode, expected: ProcessState, what: string): void {
  const state = node.state();
  if (state !== expected) {
    throw new Error(`${what} ${node.name} had no effect: it is ${state}, not ${expected}`);
  }
}

const PROCESS_TARGETS = ["broker", "component", "service"] as const;

export const kill: Fault = {
  kind: "kill",
  summary: "SIGKILL (docker: kill); healed by a start on the same data",
  targets: PROCESS_TARGETS,
  stacks: BOTH_STACKS,
  params: [],
  async inject(ctx, nodes) {
    const pids = aliveBefore(ctx, nodes, "kill");
    for (const name of nodes) {
      await nodeOf(ctx, name).kill();
      expectState(nodeOf(ctx, name), "dead", "SIGKILL of");
    }
    return {
      observed: { killed: pids },
      async heal() {
        for (const name of nodes) await nodeOf(ctx, name).start();
        return { started: nodes };
      },
    };
  },
};

export const stop: Fault = {
  kind: "stop",
  summary: "SIGTERM (docker: stop); healed by a start",
  targets: PROCESS_TARGETS,
  stacks: BOTH_STACKS,
  params: [],
  async inject(ctx, nodes) {
    const pids = aliveBefore(ctx, nodes, "stop");
    for (const name of nodes) {
      await nodeOf(ctx, name).stop({ graceMs: 30_000 });
      expectState(nodeOf(ctx, name), "dead", "SIGTERM of");
    }
    return {
      observed: { stopped: pids },
      async heal() {
        for (const name of nodes) await nodeOf(ctx, name).start();
        return { started: nodes };
      },
    };
  },
};

export const restart: Fault = {
  kind: "restart",
  summary: "SIGKILL and start at once (one-shot)",
  oneShot: true,
  targets: PROCESS_TARGETS,
  stacks: BOTH_STACKS,
  params: [],
  async inject(ctx, nodes) {
    const before = aliveBefore(ctx, nodes, "restart");
    const after: Record<string, number> = {};
    for (const name of nodes) {
      const node = nodeOf(ctx, name);
      await node.restart();
      after[name] = node.pid() ?? -1;
      if (node.state() === "dead" || after[name] === before[name]) {
        throw new Error(`restart of ${name} had no effect: pid ${before[name]} -> ${after[name]}`);
      }
    }
    return { observed: { restarted: before, now: after }, heal: () => Promise.resolve({}) };
  },
};

export const pause: Fault = {
  kind: "pause",
  summary: "SIGSTOP (docker: pause); healed by SIGCONT (unpause)",
  targets: PROCESS_TARGETS,
  stacks: BOTH_STACKS,
  params: [],
  async inject(ctx, nodes) {
    const pids = aliveBefore(ctx, nodes, "pause");
    for (const name of nodes) {
      await nodeOf(ctx, name).pause();
      expectState(nodeOf(ctx, name), "paused", "SIGSTOP of");
    }
    return {
      observed: { paused: pids },
      async heal() {
        for (const name of nodes) await nodeOf(ctx, name).resume();
        return { resumed: nodes };
      },
    };
  },
};
