/**
 * The `pause` fault: SIGSTOP the target (docker: pause); healed by SIGCONT.
 * @module
 */

import { aliveBefore, expectState, PROCESS_TARGETS } from "./signals.ts";
import { BOTH_STACKS, type Fault, nodeOf } from "./types.ts";

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
