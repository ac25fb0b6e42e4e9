/**
 * The `restart` fault: SIGKILL and start at once (one-shot: nothing to heal).
 * Observed only when the old process is gone (a node with a cgroup: every
 * member of it, the cgroup empty) and a new one runs; a new pid alone proves
 * nothing (a worker that dodged the kill would still run beside it).
 * @module
 */

import {
  aliveBefore,
  cgroupMembers,
  expectMembersHit,
  expectState,
  PROCESS_TARGETS,
} from "./signals.ts";
import { NO_PARAMS } from "./params.ts";
import { BOTH_STACKS, defineFault, nodeOf } from "./types.ts";

export const restart = defineFault({
  kind: "restart",
  summary: "SIGKILL and start at once (one-shot)",
  oneShot: true,
  targets: PROCESS_TARGETS,
  stacks: BOTH_STACKS,
  external: "container",
  params: NO_PARAMS,
  async inject(ctx, nodes) {
    const before = aliveBefore(ctx, nodes, "restart");
    const after: Record<string, number> = {};
    const members: Record<string, number[]> = {};
    for (const name of nodes) {
      const node = nodeOf(ctx, name);
      const old = cgroupMembers(node);
      if (old) members[name] = old.map((m) => m.pid);
      await node.kill();
      expectState(node, "dead", "restart (SIGKILL) of");
      expectMembersHit(node, old, "dead", "restart (SIGKILL) of");
      await node.start();
      after[name] = node.pid() ?? -1;
      if (node.state() === "dead" || after[name] === before[name]) {
        throw new Error(`restart of ${name} had no effect: pid ${before[name]} -> ${after[name]}`);
      }
    }
    return {
      observed: {
        restarted: before,
        now: after,
        ...(Object.keys(members).length > 0 ? { cgroup_members: members } : {}),
      },
      heal: () => Promise.resolve({}),
    };
  },
});
