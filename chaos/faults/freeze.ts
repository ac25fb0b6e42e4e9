/**
 * The `freeze` fault: the whole stack suspended at once, as a VM is: every
 * target broker and the services in `services` (default MinIO and Redis)
 * stop in the same instant, and all go on in the same instant at the heal.
 * Their clocks jump, but no process sees another run meanwhile (a `pause` of
 * each in turn would let the last see the first gone).
 *
 * - local stack: every process of every node (its pid and descendants, or
 *   its own cgroup's members) is moved into one freezer cgroup of the
 *   harness, which is frozen with one write (cgroup v1 `freezer.state`, v2
 *   `cgroup.freeze`) and thawed with one; then each process goes back to the
 *   cgroup it came from and the freezer cgroup is removed.
 * - docker stack: every container paused at once (each is a cgroup freezer
 *   of its own; the pauses are issued together), unpaused together.
 *
 * Evidence: the pids frozen per node and the cgroup's state FROZEN (local),
 * or each container paused; on heal, the state THAWED and every node running.
 * Without a cgroup freezer (not root) the local stack refuses at the inject.
 * @module
 */

import { z } from "zod";
import { joinCgroup, type Layout, leaveCgroup, makeCgroup } from "../../compose/cgroup.ts";
import { descendants, readProcesses } from "../../compose/cpu.ts";
import { Freezer, freezerLayout } from "../../compose/freezer.ts";
import { ProcessNode } from "../../compose/process_node.ts";
import type { StackNode } from "../../compose/stack.ts";
import { aliveBefore } from "./signals.ts";
import { BOTH_STACKS, defineFault, type FaultContext, type Injected, nodeOf } from "./types.ts";

/** A freeze that did not take (or thaw) every process. */
export class FreezeError extends Error {
  override name = "FreezeError";
}

/** Services a freeze may take with the brokers. */
export const FREEZABLE = ["minio", "redis"] as const;

/** Every process of a local node now: its cgroup's members, or its pid and descendants. */
export function processesOf(node: StackNode): number[] {
  if (!(node instanceof ProcessNode)) return [];
  const members = node.members();
  if (members) return members;
  const pid = node.pid();
  return pid === undefined ? [] : [pid, ...descendants(readProcesses(), pid)];
}

/** The local freeze: one freezer cgroup for every node's processes (see the module's doc). */
async function freezeLocal(ctx: FaultContext, names: string[]): Promise<Injected> {
  const layout: Layout | null = freezerLayout();
  if (!layout) throw new FreezeError("this host has no cgroup freezer (freeze needs root)");
  const pids: Record<string, number[]> = {};
  for (const name of names) {
    pids[name] = processesOf(nodeOf(ctx, name));
    if (pids[name].length === 0) throw new FreezeError(`${name} has no process to freeze`);
  }
  const dir = await makeCgroup(layout, "freezer", `freeze-${Deno.pid}-${Date.now()}`);
  const freezer = new Freezer(dir, layout.version, layout.base);
  const origins = new Map<number, string>();
  const heal = async () => {
    const t0 = performance.now();
    const thawed = await freezer.thaw(10_000);
    await leaveCgroup(dir, origins, layout.base);
    if (!thawed) throw new FreezeError(`${dir} did not thaw`);
    return {
      state: "THAWED",
      thaw_ms: Math.round(performance.now() - t0),
      running: names.filter((n) => nodeOf(ctx, n).state() === "running"),
    };
  };
  try {
    await joinCgroup(dir, layout, "freezer", Object.values(pids).flat(), origins);
    const t0 = performance.now();
    if (!(await freezer.freeze(10_000))) throw new FreezeError(`${dir} did not freeze`);
    const took = Math.round(performance.now() - t0);
    const inside = new Set(freezer.members());
    const out = Object.values(pids).flat().filter((p) => !inside.has(p));
    if (out.length) throw new FreezeError(`pid(s) ${out.join(", ")} not in the frozen cgroup`);
    return {
      observed: { state: "FROZEN", cgroup: dir, frozen: pids, freeze_ms: took },
      heal,
    };
  } catch (error) {
    await heal().catch(() => {});
    throw error;
  }
}

/** The docker freeze: every container paused together. */
async function freezeDocker(ctx: FaultContext, names: string[]): Promise<Injected> {
  const nodes = names.map((n) => nodeOf(ctx, n));
  const heal = async () => {
    await Promise.all(nodes.map((n) => n.resume()));
    return { unpaused: names, running: names.filter((n) => nodeOf(ctx, n).state() === "running") };
  };
  // When each container was seen paused (ms after the pauses were issued): how "at once" it was.
  let pausedMs: number[];
  try {
    const t0 = performance.now();
    pausedMs = await Promise.all(
      nodes.map((n) => n.pause().then(() => Math.round(performance.now() - t0))),
    );
    const notPaused = nodes.filter((n) => n.state() !== "paused").map((n) => n.name);
    if (notPaused.length) throw new FreezeError(`not paused: ${notPaused.join(", ")}`);
  } catch (error) {
    await heal().catch(() => {});
    throw error;
  }
  const pausedAfter = Object.fromEntries(names.map((n, i) => [n, pausedMs[i]]));
  return { observed: { paused: names, paused_after_ms: pausedAfter }, heal };
}

export const freeze = defineFault({
  kind: "freeze",
  summary: "the brokers and services frozen at once, a suspended VM (local: one freezer " +
    "cgroup; docker: every container paused together); thawed at once",
  targets: ["broker"],
  stacks: BOTH_STACKS,
  params: z.strictObject({
    services: z.array(z.enum(FREEZABLE)).default([...FREEZABLE]).describe(
      "the services frozen with the brokers",
    ),
  }),
  async inject(ctx, nodes, params) {
    const names = [...nodes, ...params.services];
    const pids = aliveBefore(ctx, names, "freeze");
    const injected = ctx.stack.kind === "docker"
      ? await freezeDocker(ctx, names)
      : await freezeLocal(ctx, names);
    return { observed: { nodes: names, pids, ...injected.observed }, heal: injected.heal };
  },
});
