/**
 * The `io_error` fault: a failing disk. A share (`share`, default 1: every
 * one) of the operations of the chosen kinds (`ops`, default all) on the
 * target's data answers EIO instead of running; `share: 1` with `ops: [all]`
 * is the whole log dir failing. It acts in the lazyfs layer under the node's
 * data (compose/lazy_disks.ts, as io_latency: the local stack, or the docker
 * stack on a local engine). Its
 * effect is the layer's count of failed operations: the fault waits (10 s)
 * until every target had one, else it is cleared and reported as without
 * effect (the run is then `unknown`).
 *
 * Kafka's answer to an IOException on a log dir is to take that dir offline;
 * a broker whose only log dir went offline stops (on docker its container
 * exits: the JVM is its first process). That is waited for (30 s)
 * and recorded with the log line that says why (`why`), as disk_full does;
 * MinIO answers its clients errors and stays up. The heal clears the errors
 * and starts again, on its data, a target that stopped.
 * @module
 */

import { z } from "zod";
import {
  byKinds,
  clearAll,
  countedSince,
  countsOf,
  ioOps,
  kindsOf,
  noEffect,
  waitForCounts,
} from "./io_latency.ts";
import {
  brokersStopped,
  dataTargetProblem,
  latestLine,
  lazyMounts,
  lazyStackFaultProblem,
} from "./data_disks.ts";
import { probability } from "./params.ts";
import { aliveBefore, restartDead } from "./signals.ts";
import { defineFault, nodeOf } from "./types.ts";

/** How long a broker whose log dir fails may take to stop. */
const STOP_WAIT_MS = 30_000;

/**
 * The log line that says why Kafka stopped serving its data, the most telling first: the
 * shutdown ("all log dirs ... have failed"), the failed dir, the IO error. The latest of each
 * kind counts; undefined when the log says none of them.
 */
export function whyOffline(log: string): string | undefined {
  return latestLine(log, [
    /Shutdown broker because/,
    /log director(y|ies) (has|have) failed/i,
    /Stopping serving (logs|replicas) in dir/,
    /Input\/output error/,
  ]);
}

export const ioError = defineFault({
  kind: "io_error",
  summary:
    "a failing disk: a `share` of the operations of `ops` on the target's data (brokers, minio; a lazy disk) answers EIO (default every one: the log dir fails, the broker stops); observed by the layer's count of failed operations; healed by clearing it and restarting what stopped",
  targets: ["broker", "service"],
  stacks: ["local", "docker"],
  params: z.strictObject({
    share: probability.refine((s) => s > 0, "must be more than 0").default(1).describe(
      "the share of the operations that fail (1: every one)",
    ),
    ops: ioOps.default(["all"]).describe(
      "the kinds of operations that fail: read, write (and truncate), fsync, meta (open, " +
        "lookup, create, rename...) or all",
    ),
  }),
  problem: (target, stack) =>
    dataTargetProblem("io_error", target) ?? lazyStackFaultProblem("io_error", stack),
  async inject(ctx, nodes, params) {
    const mounts = lazyMounts(ctx, nodes, "io_error");
    const pids = aliveBefore(ctx, nodes, "fail the disk of");
    const kinds = kindsOf(params.ops);
    const before = await countsOf(mounts, "failed");
    let failed: Record<string, number>;
    try {
      for (const mount of mounts.values()) {
        await mount.setIoFaults({ errorShare: byKinds(params.ops, params.share) });
      }
      failed = await waitForCounts(mounts, "failed", before, kinds);
      const none = noEffect("io_error", failed, `${kinds.join("/")} operation failed`);
      if (none) throw none;
    } catch (error) {
      await clearAll(mounts).catch(() => {});
      throw error;
    }
    // A broker whose only log dir fails stops: seen when its process is gone.
    const down = await brokersStopped(ctx, nodes, pids, STOP_WAIT_MS);
    const why: Record<string, string> = {};
    for (const name of nodes.filter((n) => n.startsWith("kafka-"))) {
      const line = whyOffline(await nodeOf(ctx, name).tail(3000).catch(() => ""));
      if (line) why[name] = line;
    }
    return {
      observed: {
        failed,
        share: params.share,
        kinds,
        stopped: down,
        running: nodes.filter((n) => !down.includes(n)),
        why,
      },
      async heal() {
        const during = await countedSince(mounts, "failed", before, kinds);
        await clearAll(mounts);
        const restarted = await restartDead(ctx, nodes);
        return { cleared: nodes, failed: during, restarted };
      },
    };
  },
});
