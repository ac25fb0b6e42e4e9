/**
 * The `kill` fault: SIGKILL the target (docker: kill the container); healed by
 * starting it again on the same data.
 * @module
 */

import { aliveBefore, expectState, PROCESS_TARGETS } from "./signals.ts";
import { BOTH_STACKS, type Fault, nodeOf } from "./types.ts";

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
