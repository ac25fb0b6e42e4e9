/**
 * The `memory` fault: the target's memory limited to `limit_mb` (local stack:
 * a memory cgroup of the harness around its process tree; docker stack: the
 * container's own cgroup), see compose/memory.ts. A pipeline component, which
 * runs in a cgroup of its own, is limited as that cgroup: every member (cgroup
 * v1: moved into the memory cgroup, each made an OOM candidate; v2: the limit
 * set on its own cgroup, an OOM kill taking the whole group). Below what the
 * target holds, the kernel's OOM killer kills it, and the fault records it by
 * name (`oom_killed`: a process of it seen before is gone), waiting up to 15 s
 * for it. The heal lifts the limit and starts again, on its data, a target
 * that died (as `kill`'s heal does), recording the cgroup's OOM kills.
 * @module
 */

import { descendants, readProcesses } from "../../compose/cpu.ts";
import { MemoryLimit, memoryLimitProblem, MiB, residentBytes } from "../../compose/memory.ts";
import { ProcessNode, processState } from "../../compose/process_node.ts";
import type { StackNode } from "../../compose/stack.ts";
import { sleep } from "../../lib/wait.ts";
import {
  aliveBefore,
  cgroupMembers,
  type Member,
  PROCESS_TARGETS,
  restartDead,
} from "./signals.ts";
import { z } from "zod";
import { BOTH_STACKS, defineFault, nodeOf } from "./types.ts";

/**
 * The memory cgroup for `node` (leader `pid`): a container's own; a node with a cgroup of its
 * own as that cgroup (v2: in place; v1: every member moved, followed); else the process tree.
 */
async function limitOf(
  node: StackNode,
  pid: number,
  container: boolean,
): Promise<{ limit: MemoryLimit; pids: () => number[]; inCgroup: boolean }> {
  if (container) return { limit: MemoryLimit.of(pid), pids: () => [pid], inCgroup: true };
  const cg = node instanceof ProcessNode ? node.cgroup() : undefined;
  if (cg && node instanceof ProcessNode) {
    const members = () => node.members() ?? [];
    if (cg.version === 2) {
      return { limit: await MemoryLimit.inPlace(cg.base, cg.dir), pids: members, inCgroup: true };
    }
    const limit = await MemoryLimit.own(`${node.name}-${pid}`, members);
    return { limit, pids: members, inCgroup: false };
  }
  const tree = [pid, ...descendants(readProcesses(), pid)];
  return {
    limit: await MemoryLimit.own(`${node.name}-${pid}`, tree),
    pids: () => tree,
    inCgroup: false,
  };
}

/** How long an OOM kill expected from ballast may take to show. */
const OOM_WAIT_MS = 15_000;

export const memory = defineFault({
  kind: "memory",
  summary:
    "memory limited to `limit_mb` (a memory cgroup; below what it holds: OOM-killed, restarted by the heal)",
  targets: PROCESS_TARGETS,
  stacks: BOTH_STACKS,
  params: z.strictObject({
    limit_mb: z.number().int().min(1).max(1_048_576).describe(
      "the target's memory limit, in MiB (below what it holds: the OOM killer acts)",
    ),
  }),
  problem: () => memoryLimitProblem(),
  async inject(ctx, nodes, params) {
    const bytes = params.limit_mb * MiB;
    const pids = aliveBefore(ctx, nodes, "limit the memory of");
    const limits = new Map<string, MemoryLimit>();
    const applied: Record<string, { limit_mb: number; held_mb: number; ballast: boolean }> = {};
    const liftAll = async () => {
      for (const limit of limits.values()) await limit.lift();
    };
    // A node with a cgroup: the processes it held, by pid and start time (a pid may be reused).
    const members = new Map<string, Member[]>();
    try {
      for (const name of nodes) {
        const pid = pids[name];
        const node = nodeOf(ctx, name);
        const container = ctx.stack.kind === "docker" && !ctx.components.has(name);
        const { limit, pids: held, inCgroup } = await limitOf(node, pid, container);
        limits.set(name, limit);
        const before = cgroupMembers(node);
        if (before) members.set(name, before);
        // What it holds: its resident memory (its own cgroup: what that cgroup holds).
        const heldBytes = inCgroup ? await limit.usage() : residentBytes(held());
        // Every process of a node's cgroup is a candidate for the OOM killer, not its leader only.
        const a = await limit.apply(bytes, heldBytes, before ? held() : [pid]);
        if (!a.ballast && a.limitBytes > bytes) {
          throw new Error(`memory limit of ${name} had no effect: it reads ${a.limitBytes} bytes`);
        }
        applied[name] = {
          limit_mb: params.limit_mb,
          held_mb: Math.round(a.usageBytes / MiB),
          ballast: a.ballast,
        };
      }
    } catch (error) {
      await liftAll();
      throw error;
    }
    // Below what a target held, its OOM kill is the effect: seen when its process is gone.
    const expected = nodes.filter((n) => applied[n].ballast);
    const deadline = performance.now() + OOM_WAIT_MS;
    const killed = () =>
      nodes.filter((n) => {
        const before = members.get(n);
        if (before) return before.some((m) => processState(m.pid, m.start) === "dead");
        return nodeOf(ctx, n).pid() !== pids[n];
      });
    while (expected.some((n) => !killed().includes(n)) && performance.now() < deadline) {
      await Promise.all(expected.map((n) => nodeOf(ctx, n).refresh()));
      await sleep(250);
    }
    const oomKilled = killed();
    const alive = expected.filter((n) => !oomKilled.includes(n));
    if (alive.length > 0) {
      await liftAll();
      throw new Error(
        `memory limit had no effect: ${alive.join(", ")} still running ${
          OOM_WAIT_MS / 1000
        } s after its memory was taken`,
      );
    }
    return {
      observed: {
        limited: pids,
        limits: applied,
        oom_killed: oomKilled,
        ...(members.size > 0
          ? {
            cgroup_members: Object.fromEntries(
              [...members].map(([n, ms]) => [n, ms.map((m) => m.pid)]),
            ),
          }
          : {}),
      },
      async heal() {
        const kills: Record<string, number | null> = {};
        for (const [name, limit] of limits) kills[name] = await limit.oomKills();
        await liftAll();
        const restarted = await restartDead(ctx, nodes);
        return { lifted: nodes, oom_kills: kills, died: killed(), restarted };
      },
    };
  },
});
