/**
 * What the faults on a target's data disk share (`disk_full`, `power_loss`,
 * `io_latency`, `io_error`): the targets that have one (brokers and MinIO),
 * the stacks whose data can be on lazy disks (local, and docker on a local
 * engine), the lazy disk of each target, and a broker seen to stop when its
 * only log dir fails (a process gone, or a container exited), with the log
 * line that says why.
 * @module
 */

import { remoteEngineHost } from "../../compose/docker_network.ts";
import { lazyDisk, lazyStackProblem } from "../../compose/lazy_disks.ts";
import type { LazyMount } from "../../compose/lazyfs.ts";
import { sleep } from "../../lib/wait.ts";
import { type FaultContext, nodeOf } from "./types.ts";

/** Why `kind` cannot act on `target`, or undefined (brokers and MinIO have data disks). */
export function dataTargetProblem(kind: string, target: string): string | undefined {
  if (target.startsWith("broker:") || target === "all-brokers" || target === "minio") return;
  return `${kind} acts on brokers and minio, not ${target}`;
}

/**
 * Why the lazy-disk fault `kind` cannot run on `stack` here, or undefined: the docker stack
 * needs a local engine (its containers bind the host's FUSE mounts).
 */
export function lazyStackFaultProblem(
  kind: string,
  stack: "local" | "docker",
  remoteEngine: string | undefined = remoteEngineHost(),
): string | undefined {
  const problem = lazyStackProblem({ kind: stack, remoteEngine });
  return problem && `${kind} needs its targets' data on lazy disks, and ${problem}`;
}

/** The lazy disk of each target; an error naming a target whose data is on none. */
export function lazyMounts(
  ctx: FaultContext,
  nodes: readonly string[],
  kind: string,
): Map<string, LazyMount> {
  const mounts = new Map<string, LazyMount>();
  for (const name of nodes) {
    const mount = lazyDisk(ctx.stack, name);
    if (!mount?.mounted) {
      throw new Error(
        `${kind} needs the data of ${name} on a lazy disk, and it is on none: a run whose ` +
          `scenario uses ${kind} gets them (stack.lazy_disks: true; not on a stack of ` +
          "`deno task up`, whose lazy disks would die with the process that mounted them)",
      );
    }
    mounts.set(name, mount);
  }
  return mounts;
}

/** The latest line of `log` matching the first of `patterns` that any line matches (300 chars). */
export function latestLine(log: string, patterns: readonly RegExp[]): string | undefined {
  const lines = log.split("\n");
  for (const pattern of patterns) {
    const line = lines.findLast((l) => pattern.test(l));
    if (line) return line.trim().slice(0, 300);
  }
  return undefined;
}

/**
 * Waits up to `waitMs` until every broker among `nodes` runs another process than `pids` (a
 * broker whose only log dir failed stops: its process is gone, or on docker its container
 * exited, since Kafka's JVM is the container's first process); the brokers that stopped.
 */
export async function brokersStopped(
  ctx: FaultContext,
  nodes: readonly string[],
  pids: Record<string, number | undefined>,
  waitMs: number,
): Promise<string[]> {
  const brokers = nodes.filter((n) => n.startsWith("kafka-"));
  const stopped = () => brokers.filter((n) => nodeOf(ctx, n).pid() !== pids[n]);
  const deadline = performance.now() + waitMs;
  while (stopped().length < brokers.length && performance.now() < deadline) {
    await Promise.all(brokers.map((n) => nodeOf(ctx, n).refresh()));
    await sleep(250);
  }
  return stopped();
}
