/**
 * The `cpu` fault: the target gets at most `cores` of a core (local stack: a
 * cgroup CFS quota on its process tree, see compose/cgroup.ts; a pipeline
 * component: on its own cgroup, every process of it; docker stack: the
 * container's CPU limit), until the heal lifts the limit. It counts by its
 * effect: the limit must read back as asked. The heal records the CPU the
 * target really used over the fault, in cores, beside the limit.
 * @module
 */

import { type CpuLimitHandle, cpuLimitProblem } from "../../compose/cgroup.ts";
import { readProcesses, treeCpu } from "../../compose/cpu.ts";
import { ProcessNode } from "../../compose/process_node.ts";
import { aliveBefore, PROCESS_TARGETS } from "./signals.ts";
import { z } from "zod";
import { BOTH_STACKS, defineFault, type FaultContext, nodeOf } from "./types.ts";

/** CPU seconds of each target's process tree now (a node with a cgroup: of its members). */
function cpuSeconds(ctx: FaultContext, nodes: readonly string[]): Map<string, number> {
  const processes = readProcesses();
  const roots = new Map<string, number>();
  const out = new Map<string, number>();
  for (const name of nodes) {
    const node = nodeOf(ctx, name);
    const members = node instanceof ProcessNode ? node.members() : undefined;
    if (members) {
      const inside = new Set(members);
      if (inside.size > 0) {
        out.set(name, processes.filter((p) => inside.has(p.pid)).reduce((s, p) => s + p.cpuS, 0));
      }
      continue;
    }
    const pid = node.pid();
    if (pid !== undefined) roots.set(name, pid);
  }
  for (const [name, s] of treeCpu(processes, roots)) out.set(name, s);
  return out;
}

export const cpu = defineFault({
  kind: "cpu",
  summary: "at most `cores` of a core (a cgroup CPU quota; docker: the container's limit)",
  targets: PROCESS_TARGETS,
  stacks: BOTH_STACKS,
  external: "container",
  params: z.strictObject({
    cores: z.number().min(0.01).max(64).describe(
      "the most CPU the target gets, in cores (0.2: a fifth of one core)",
    ),
  }),
  problem: (_target, stack) => (stack === "local" ? cpuLimitProblem() : undefined),
  async inject(ctx, nodes, params) {
    const cores = params.cores;
    const pids = aliveBefore(ctx, nodes, "starve");
    const limits = new Map<string, CpuLimitHandle>();
    const liftAll = async () => {
      for (const limit of limits.values()) await limit.lift();
    };
    try {
      for (const name of nodes) {
        const limit = await nodeOf(ctx, name).limitCpu(cores);
        limits.set(name, limit);
        if (Math.abs(limit.cores - cores) > 0.011) {
          throw new Error(
            `cpu limit of ${name} had no effect: it reads ${limit.cores}, not ${cores}`,
          );
        }
      }
    } catch (error) {
      await liftAll();
      throw error;
    }
    const before = cpuSeconds(ctx, nodes);
    const t0 = performance.now();
    return {
      observed: {
        limited: pids,
        cores: Object.fromEntries([...limits].map(([n, l]) => [n, l.cores])),
      },
      async heal() {
        const seconds = (performance.now() - t0) / 1000;
        const after = cpuSeconds(ctx, nodes);
        await liftAll();
        const used: Record<string, number | null> = {};
        for (const name of nodes) {
          const a = after.get(name);
          const b = before.get(name);
          // A target restarted meanwhile is a new tree: its use is not comparable.
          used[name] = a === undefined || b === undefined || a < b
            ? null
            : Math.round(((a - b) / Math.max(seconds, 0.001)) * 1000) / 1000;
        }
        return { lifted: nodes, cores_used: used, over_s: Math.round(seconds * 10) / 10 };
      },
    };
  },
});
