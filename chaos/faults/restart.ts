/**
 * The `restart` fault: SIGKILL and start at once (one-shot: nothing to heal).
 * Observed only when a new process runs.
 * @module
 */

import { aliveBefore, PROCESS_TARGETS } from "./signals.ts";
import { BOTH_STACKS, type Fault, nodeOf } from "./types.ts";

export const restart: Fault = {
  kind: "restart",
  summary: "SIGKILL and start at once (one-shot)",
  oneShot: true,
  targets: PROCESS_TARGETS,
  stacks: BOTH_STACKS,
  external: "container",
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
