/**
 * What the process faults (`kill`, `stop`, `restart`, `pause`) share: the
 * targets they act on, the check of their effect, and `signalFault`, a fault
 * made of one action and its undoing. A fault counts only by its effect: the
 * target must be alive before (a kill of what is already dead proves nothing:
 * `NotRunningError`) and in the expected state after (gone, frozen, or running
 * as a new process); otherwise the inject throws and the fault is recorded as
 * never observed. A node with a cgroup of its own (a pipeline component) is hit
 * only when every process of the cgroup was: each member seen before the fault
 * must be gone after `kill`, `stop` and `restart` (its pid and start time, so a
 * recycled pid is no alibi), and still in the frozen cgroup after `pause`.
 * The faults that kill as a side effect (`memory`, `disk_full`, `io_error`) heal by
 * `restartDead`, which waits until what it started answers its health probe.
 * @module
 */

import {
  NotRunningError,
  ProcessNode,
  processStartTime,
  type ProcessState,
  processState,
} from "../../compose/process_node.ts";
import type { StackNode } from "../../compose/stack.ts";
import { EnvironmentError } from "../../lib/exit_codes.ts";
import { Progress } from "../../lib/progress.ts";
import { boundedCheck, GiveUp, waitFor } from "../../lib/wait.ts";
import { NO_PARAMS } from "./params.ts";
import { BOTH_STACKS, defineFault, type FaultContext, nodeOf } from "./types.ts";

/** The targets' states, throwing NotRunningError when one is not running: nothing to act on. */
export function aliveBefore(
  ctx: FaultContext,
  nodes: string[],
  what: string,
): Record<string, number> {
  const pids: Record<string, number> = {};
  for (const name of nodes) {
    const node = nodeOf(ctx, name);
    const state = node.state();
    if (state === "dead") throw new NotRunningError(name, what);
    pids[name] = node.pid() ?? -1;
  }
  return pids;
}

/** A process of a node's cgroup as seen before a fault: its pid and start time. */
export interface Member {
  pid: number;
  start: string | undefined;
}

/** The members of `node`'s cgroup now (undefined: the node has no cgroup of its own). */
export function cgroupMembers(node: StackNode): Member[] | undefined {
  if (!(node instanceof ProcessNode)) return undefined;
  return node.members()?.map((pid) => ({ pid, start: processStartTime(pid) }));
}

/**
 * What of `before` (a node's cgroup members before a fault) the fault missed: for `dead`, each
 * that still runs (the same pid and start time); for `paused`, each that runs outside the node's
 * cgroup now (it left it, so the freezer did not hold it).
 */
export function missed(
  node: StackNode,
  before: readonly Member[],
  expected: ProcessState,
): number[] {
  const alive = before.filter((m) => processState(m.pid, m.start) !== "dead").map((m) => m.pid);
  if (expected === "dead") return alive;
  const inside = new Set(node instanceof ProcessNode ? node.members() ?? [] : []);
  return alive.filter((pid) => !inside.has(pid));
}

/** Throws unless the fault reached every member of `before` (see `missed`). */
export function expectMembersHit(
  node: StackNode,
  before: readonly Member[] | undefined,
  expected: ProcessState,
  what: string,
): void {
  if (!before) return;
  const left = missed(node, before, expected);
  if (left.length > 0) {
    const how = expected === "dead" ? "still running" : "running outside its frozen cgroup";
    throw new Error(`${what} ${node.name} missed pid(s) ${left.join(", ")}: ${how}`);
  }
}

/** Throws unless `node` is now in `expected` (the fault's effect was not seen). */
export function expectState(node: StackNode, expected: ProcessState, what: string): void {
  const state = node.state();
  if (state !== expected) {
    throw new Error(`${what} ${node.name} had no effect: it is ${state}, not ${expected}`);
  }
}

export const PROCESS_TARGETS = ["broker", "component", "service"] as const;

/** How long a heal waits for each service it restarted to answer its health probe. */
export const RESTART_ANSWER_MS = 90_000;

/** A node as a heal's probe sees it: answering, or why not (`gone`: it is dead). */
export type Answer = { ok: true } | { ok: false; why: string; gone?: boolean };

/** Probes one node: its service answers, or why not. */
export type AnswerProbe = (name: string) => Promise<Answer>;

/** Probes seen dead in a row after which a restarted node is given up (it died again). */
const GONE_PROBES = 3;

/**
 * The probe the rollback's health check uses (`stack.nodeReady`: a broker's port, Redis's PING,
 * MinIO's health), after the node's state; a pipeline component answers when it runs.
 */
export function serviceProbe(ctx: FaultContext): AnswerProbe {
  return async (name) => {
    const node = nodeOf(ctx, name);
    const state = await node.refresh();
    if (state !== "running") return { ok: false, why: `it is ${state}`, gone: state === "dead" };
    if (ctx.components.has(name)) return { ok: true };
    try {
      if (await ctx.stack.nodeReady(name)) return { ok: true };
      return { ok: false, why: "it runs, but its service does not answer its health probe" };
    } catch (error) {
      return { ok: false, why: `its health probe failed: ${(error as Error).message ?? error}` };
    }
  };
}

/** How `waitAnswering` waits; the defaults are written down. */
export interface AnswerWaitOptions {
  /** The bound for each node. Default RESTART_ANSWER_MS (90 s). */
  timeoutMs?: number;
  /** Between two probes of a node. Default 1000. */
  intervalMs?: number;
  /** The longest one probe may take (then it counts as failed). Default 5000. */
  probeTimeoutMs?: number;
  /** Told of the wait while a node does not answer. Default: a progress line on stderr. */
  progress?: (line: string) => void;
}

/**
 * Waits, for each of `nodes` at once, until `probe` says it answers, for `timeoutMs` at most; a
 * node seen dead by three probes in a row is given up (it died again). What did not come back:
 * each node with why, from its last probe (empty: every node answers).
 */
export async function waitAnswering(
  nodes: readonly string[],
  probe: AnswerProbe,
  options: AnswerWaitOptions = {},
): Promise<Record<string, string>> {
  const timeoutMs = options.timeoutMs ?? RESTART_ANSWER_MS;
  const probeTimeoutMs = options.probeTimeoutMs ?? 5000;
  const bar = options.progress ? undefined : new Progress("heal");
  const progress = options.progress ?? ((line: string) => bar!.update(line));
  const started = performance.now();
  const notBack: Record<string, string> = {};
  let waited = false;
  await Promise.all(nodes.map(async (name) => {
    let last = "no probe answered in time";
    let gone = 0;
    try {
      await waitFor(async () => {
        const answer: Answer = await boundedCheck(() => probe(name), probeTimeoutMs).catch(
          (error) => ({ ok: false, why: `its probe failed: ${(error as Error).message ?? error}` }),
        );
        if (answer.ok) return true;
        last = answer.why;
        gone = answer.gone ? gone + 1 : 0;
        waited = true;
        const s = ((performance.now() - started) / 1000).toFixed(0);
        progress(
          `waiting for ${name} to answer after its restart (${s} s of ${
            timeoutMs / 1000
          } s): ${last}`,
        );
        if (gone >= GONE_PROBES) throw new GiveUp(last);
        throw new Error(last);
      }, {
        what: `${name} to answer`,
        timeoutMs,
        intervalMs: options.intervalMs ?? 1000,
      });
    } catch (error) {
      notBack[name] = error instanceof GiveUp
        ? `it died again after its restart (its last probe: ${last})`
        : `it did not answer within ${timeoutMs / 1000} s of its restart (its last probe: ${last})`;
    }
  }));
  if (waited && bar) {
    const s = ((performance.now() - started) / 1000).toFixed(1);
    bar.done(
      `${nodes.map((n) => `${n} ${n in notBack ? "not back" : "answers"}`).join(", ")} ` +
        `${s} s after the restart`,
    );
  }
  return notBack;
}

/** A heal started a node again, but its service did not come back (the run cannot be trusted). */
export class NotBackError extends EnvironmentError {
  constructor(readonly notBack: Record<string, string>) {
    super(
      `restarted by the heal, but not back: ${
        Object.entries(notBack).map(([n, why]) => `${n}: ${why}`).join("; ")
      }`,
    );
  }
}

/**
 * Starts again, on its data, each target that died of a fault (a heal's rollback), then waits
 * until each answers its health probe (`waitAnswering`: 90 s at most); their names. One that did
 * not come back throws NotBackError (an environment problem: the heal is recorded as failed,
 * with the node and its probe's last word). `options.probe` replaces `serviceProbe` (tests).
 */
export async function restartDead(
  ctx: FaultContext,
  nodes: readonly string[],
  options: AnswerWaitOptions & { probe?: AnswerProbe } = {},
): Promise<string[]> {
  const restarted: string[] = [];
  for (const name of nodes) {
    const node = nodeOf(ctx, name);
    if ((await node.refresh()) === "dead") {
      await node.start();
      restarted.push(name);
    }
  }
  const notBack = await waitAnswering(restarted, options.probe ?? serviceProbe(ctx), options);
  if (Object.keys(notBack).length > 0) throw new NotBackError(notBack);
  return restarted;
}

/**
 * A process fault: `act` on each target, which must then be in `expected`
 * (`signal` names it in the error); healed by `undo` on each. Its observation
 * is the targets' pids before, under `observed`.
 */
export function signalFault(f: {
  kind: string;
  summary: string;
  signal: string;
  act(node: StackNode): Promise<void>;
  expected: ProcessState;
  observed: string;
  undo(node: StackNode): Promise<void>;
  undone: string;
}) {
  return defineFault({
    kind: f.kind,
    summary: f.summary,
    targets: PROCESS_TARGETS,
    stacks: BOTH_STACKS,
    external: "container",
    params: NO_PARAMS,
    async inject(ctx, nodes) {
      const pids = aliveBefore(ctx, nodes, f.kind);
      const members: Record<string, number[]> = {};
      for (const name of nodes) {
        const node = nodeOf(ctx, name);
        const before = cgroupMembers(node);
        if (before) members[name] = before.map((m) => m.pid);
        await f.act(node);
        expectState(node, f.expected, `${f.signal} of`);
        expectMembersHit(node, before, f.expected, `${f.signal} of`);
      }
      return {
        // With cgroups: every process each held, all of them hit.
        observed: {
          [f.observed]: pids,
          ...(Object.keys(members).length > 0 ? { cgroup_members: members } : {}),
        },
        async heal() {
          for (const name of nodes) await f.undo(nodeOf(ctx, name));
          return { [f.undone]: nodes };
        },
      };
    },
  });
}
