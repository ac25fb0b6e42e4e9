/**
 * The `memory` fault: the target's memory limited to `limit_mb` (local stack:
 * a memory cgroup of the harness around its process tree; docker stack: the
 * container's own cgroup), see compose/memory.ts. Below what the target holds,
 * the kernel's OOM killer kills it, and the fault records it by name
 * (`oom_killed`), waiting up to 15 s for it. The heal lifts the limit and
 * starts again, on its data, a target that died (as `kill`'s heal does),
 * recording the cgroup's OOM kills.
 * @module
 */

import { descendants, readProcesses } from "../../compose/cpu.ts";
import { MemoryLimit, memoryLimitProblem, MiB, residentBytes } from "../../compose/memory.ts";
import { sleep } from "../../lib/wait.ts";
import { aliveBefore, PROCESS_TARGETS, restartDead } from "./signals.ts";
import { BOTH_STACKS, type Fault, nodeOf, requires } from "./types.ts";

/** How long an OOM kill expected from ballast may take to show. */
const OOM_WAIT_MS = 15_000;

export const memory: Fault = {
  kind: "memory",
  summary:
    "memory limited to `limit_mb` (a memory cgroup; below what it holds: OOM-killed, restarted by the heal)",
  targets: PROCESS_TARGETS,
  stacks: BOTH_STACKS,
  params: ["limit_mb"],
  missing: requires("limit_mb"),
  problem: () => memoryLimitProblem(),
  async inject(ctx, nodes, params) {
    const bytes = params.limit_mb! * MiB;
    const pids = aliveBefore(ctx, nodes, "limit the memory of");
    const limits = new Map<string, MemoryLimit>();
    const applied: Record<string, { limit_mb: number; held_mb: number; ballast: boolean }> = {};
    const liftAll = async () => {
      for (const limit of limits.values()) await limit.lift();
    };
    try {
      for (const name of nodes) {
        const pid = pids[name];
        const tree = [pid, ...descendants(readProcesses(), pid)];
        const container = ctx.stack.kind === "docker" && !ctx.components.has(name);
        const limit = container
          ? MemoryLimit.of(pid)
          : await MemoryLimit.own(`${name}-${pid}`, tree);
        limits.set(name, limit);
        // What it holds: its resident memory (a container: what its cgroup holds).
        const held = container ? await limit.usage() : residentBytes(tree);
        const a = await limit.apply(bytes, held, [pid]);
        if (!a.ballast && a.limitBytes > bytes) {
          throw new Error(`memory limit of ${name} had no effect: it reads ${a.limitBytes} bytes`);
        }
        applied[name] = {
          limit_mb: params.limit_mb!,
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
    const killed = () => nodes.filter((n) => nodeOf(ctx, n).pid() !== pids[n]);
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
      observed: { limited: pids, limits: applied, oom_killed: oomKilled },
      async heal() {
        const kills: Record<string, number | null> = {};
        for (const [name, limit] of limits) kills[name] = await limit.oomKills();
        await liftAll();
        const restarted = await restartDead(ctx, nodes);
        return { lifted: nodes, oom_kills: kills, died: killed(), restarted };
      },
    };
  },
};
