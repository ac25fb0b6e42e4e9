/**
 * The `stop` fault: SIGTERM the target and wait for it to exit (docker: stop);
 * healed by starting it again.
 * @module
 */

import { aliveBefore, expectState, PROCESS_TARGETS } from "./signals.ts";
import { BOTH_STACKS, type Fault, nodeOf } from "./types.ts";

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
