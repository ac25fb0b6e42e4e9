/**
 * The `power_loss` fault: the targets (one broker, all of them at once, or
 * MinIO) lose power together. Every target process is SIGKILLed at once (its
 * whole cgroup, as `kill`; on docker, `docker kill` of each container), then
 * each target's lazy disk (compose/lazy_disks.ts;
 * a run whose scenario uses this fault puts every broker's log dir and MinIO's
 * data on one) throws away everything written and not fsynced since, and is
 * mounted again on what was durable. It is observed only when the layer
 * reported the drop on every target (`lost`: bytes cut off, files deleted or
 * reverted, per node).
 *
 * The heal is the power coming back: each target starts again on what its disk
 * kept and is waited for (its port answers) for up to 120 s; how long each took
 * is `back_after_ms`, what it logged about recovering its logs is `recovery`,
 * and a target that did not come back is named in `not_back` with the last
 * lines of its log (what Kafka said). On docker the lazy disks are mounted on
 * the host and bind-mounted into the containers; a container started again
 * binds anew, so it gets the mount of what was durable, and what it logged
 * since its start is read from the engine (by timestamp). A remote Docker
 * engine is refused with exit 2 (it cannot bind this host's mounts).
 *
 * ```ts
 * const injected = await powerLoss.inject(ctx, ["kafka-1", "kafka-2", "kafka-3"], {});
 * // injected.observed.lost["kafka-1"].bytes_dropped
 * await injected.heal(); // { restarted: [...], back_after_ms: {...}, recovery: {...} }
 * ```
 * @module
 */

import { demux } from "../../compose/docker.ts";
import { DockerNode } from "../../compose/docker_node.ts";
import { lazyfsProblem, type PowerLossReport } from "../../compose/lazyfs.ts";
import { ProcessNode } from "../../compose/process_node.ts";
import type { StackNode } from "../../compose/stack.ts";
import { sleep } from "../../lib/wait.ts";
import { dataTargetProblem, lazyMounts, lazyStackFaultProblem } from "./data_disks.ts";
import { NO_PARAMS } from "./params.ts";
import { aliveBefore, cgroupMembers, expectMembersHit, expectState } from "./signals.ts";
import { defineFault, type FaultContext, nodeOf } from "./types.ts";

/** How long a target may take to come back after the power does. */
export const BACK_WITHIN_MS = 120_000;

/** Why `power_loss` cannot act on `target`, or undefined (brokers and MinIO only). */
export function targetProblem(target: string): string | undefined {
  return dataTargetProblem("power_loss", target);
}

/** What the layer dropped on one target, as the run's history records it. */
export function lossEvidence(report: PowerLossReport): Record<string, number> {
  return {
    bytes_dropped: report.bytesDropped,
    files_deleted: report.filesDeleted,
    files_reverted: report.filesReverted,
    pages_restored: report.pagesRestored,
    files_restored: report.filesRestored,
    durable_entries: report.durableEntries,
    missing: report.missing,
    ms: report.ms,
  };
}

/**
 * Lines of a log that tell how a restarted broker recovered its logs (Kafka's LogManager and
 * LogLoader: "Recovering 18 logs from … since no clean shutdown file was found", "Recovering
 * unflushed segment 0", truncations, corrupt records) or failed to start.
 */
const RECOVERY =
  /Recovering \d+ logs|no clean shutdown|Recovering unflushed|[Tt]runcat|[Cc]orrupt|Found invalid|\b(ERROR|FATAL)\b/;

/** A log line without its folder names (long, and the same on every line), shortened. */
function shorten(line: string): string {
  return line.trim().replace(/,? dir=[^\]\s]*/g, "").replace(/ from \/\S+/, "").slice(0, 240);
}

/**
 * What a restarted node said about its recovery, from its log since the start: the number of
 * such lines and the first and last few of them (shortened).
 */
export function recoveryLines(log: string, keep = 4): { count: number; lines: string[] } {
  const lines = log.split("\n").filter((l) => RECOVERY.test(l)).map(shorten);
  const shown = lines.length <= 2 * keep
    ? lines
    : [...lines.slice(0, keep), `… ${lines.length - 2 * keep} more …`, ...lines.slice(-keep)];
  return { count: lines.length, lines: shown };
}

/**
 * The lines of a container's log (the engine's, with `timestamps`: each line starts with its
 * RFC 3339 time) written at or after `sinceMs` (epoch ms), without their timestamps. A line
 * without a timestamp goes with the line before it.
 */
export function linesSince(log: string, sinceMs: number): string {
  const out: string[] = [];
  let keep = false;
  for (const line of log.split("\n")) {
    const m = /^(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d)(\.\d+)?(Z|[+-]\d\d:\d\d) ?/.exec(line);
    if (m) {
      const ms = Date.parse(`${m[1]}${(m[2] ?? "").slice(0, 4)}${m[3]}`);
      keep = ms >= sinceMs;
      if (keep) out.push(line.slice(m[0].length));
    } else if (keep && line) out.push(line);
  }
  return out.join("\n");
}

/** Where what a node logs after a restart begins: its log file's length, or the time. */
async function logMark(node: StackNode): Promise<number> {
  if (node instanceof DockerNode) return Date.now();
  if (!(node instanceof ProcessNode)) return 0;
  return (await Deno.stat(node.spec.logFile).catch(() => ({ size: 0 }))).size;
}

/** A node's log from `mark` on (`logMark`). */
async function logSince(node: StackNode, mark: number): Promise<string> {
  if (node instanceof DockerNode) {
    try {
      const buf = await node.container.logs({
        stdout: true,
        stderr: true,
        timestamps: true,
        since: Math.floor(mark / 1000),
        follow: false,
      }) as unknown as Uint8Array;
      return linesSince(demux([buf]), mark);
    } catch {
      return await node.tail(200);
    }
  }
  if (!(node instanceof ProcessNode)) return await node.tail(200);
  const bytes = await Deno.readFile(node.spec.logFile).catch(() => new Uint8Array());
  return new TextDecoder().decode(bytes.subarray(mark));
}

/** Waits until `name` answers again; its time in ms, or undefined (dead, or not within). */
async function waitBack(
  ctx: FaultContext,
  name: string,
  started: number,
): Promise<number | undefined> {
  const node = nodeOf(ctx, name);
  while (performance.now() - started < BACK_WITHIN_MS) {
    if ((await node.refresh()) === "dead") return undefined;
    if (await ctx.stack.nodeReady(name).catch(() => false)) {
      return Math.round(performance.now() - started);
    }
    await sleep(250);
  }
  return undefined;
}

export const powerLoss = defineFault({
  kind: "power_loss",
  summary:
    "the targets lose power together: SIGKILLed, then their lazy disks drop every write not fsynced; healed by starting them on what was durable",
  targets: ["broker", "service"],
  stacks: ["local", "docker"],
  params: NO_PARAMS,
  problem(target, stack) {
    return targetProblem(target) ?? lazyStackFaultProblem("power_loss", stack) ??
      lazyfsProblem();
  },
  async inject(ctx, nodes) {
    const pids = aliveBefore(ctx, nodes, "cut the power of");
    const disks = [...lazyMounts(ctx, nodes, "power_loss").values()];
    // The power goes everywhere at once: every process of every target killed together.
    const members = Object.fromEntries(nodes.map((n) => [n, cgroupMembers(nodeOf(ctx, n))]));
    await Promise.all(nodes.map((n) => nodeOf(ctx, n).kill()));
    for (const name of nodes) {
      const node = nodeOf(ctx, name);
      expectState(node, "dead", "SIGKILL (power loss) of");
      expectMembersHit(node, members[name], "dead", "SIGKILL (power loss) of");
    }
    // Then each disk forgets what was not fsynced; an error here leaves the fault unobserved.
    const reports = await Promise.all(disks.map((disk) => disk.powerLoss()));
    const lost = Object.fromEntries(nodes.map((n, i) => [n, lossEvidence(reports[i])]));
    return {
      observed: {
        killed: pids,
        lost,
        bytes_dropped: reports.reduce((sum, r) => sum + r.bytesDropped, 0),
        files_deleted: reports.reduce((sum, r) => sum + r.filesDeleted, 0),
      },
      async heal() {
        const started = performance.now();
        const from: Record<string, number> = {};
        const restarted: string[] = [];
        for (const name of nodes) {
          const node = nodeOf(ctx, name);
          if ((await node.refresh()) !== "dead") continue;
          from[name] = await logMark(node);
          await node.start();
          restarted.push(name);
        }
        const backAfter: Record<string, number> = {};
        const notBack: Record<string, string> = {};
        const recovery: Record<string, { count: number; lines: string[] }> = {};
        await Promise.all(restarted.map(async (name) => {
          const ms = await waitBack(ctx, name, started);
          const node = nodeOf(ctx, name);
          const log = await logSince(node, from[name]);
          recovery[name] = recoveryLines(log);
          if (ms !== undefined) backAfter[name] = ms;
          else notBack[name] = log.trimEnd().split("\n").slice(-15).join("\n");
        }));
        return {
          restarted,
          back_after_ms: backAfter,
          ...(Object.keys(notBack).length > 0 ? { not_back: notBack } : {}),
          recovery,
        };
      },
    };
  },
});
