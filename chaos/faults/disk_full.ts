/**
 * The `disk_full` fault: the target's data disk (a broker's log dir, MinIO's
 * data) filled with a ballast file until `free_mb` MiB are left (default 0:
 * full). The disk is bounded (compose/disk.ts): a run whose scenario uses this
 * fault gets one per broker and for MinIO; a stack of `deno task up` gets them
 * with `--disk-mb`. Kafka's expected answer, the log directory going offline
 * and the broker stopping, is waited for (20 s) and recorded with the log line
 * that says why (`why`; with `cause` when the log names the full disk); MinIO refuses writes and stays up. The heal removes the
 * ballast and starts again, on its data, a target that stopped.
 * @module
 */

import {
  type Ballast,
  dataDiskPath,
  diskProblem,
  diskSpace,
  fillDisk,
  isMounted,
  MiB,
} from "../../compose/disk.ts";
import { sleep } from "../../lib/wait.ts";
import { aliveBefore, restartDead } from "./signals.ts";
import { z } from "zod";
import { BOTH_STACKS, defineFault, nodeOf } from "./types.ts";

/** How long a broker on a full disk may take to stop. */
const STOP_WAIT_MS = 20_000;

/**
 * The log lines that say why Kafka stopped, the most telling first: the shutdown ("all log dirs
 * ... have failed"), the failed dir, the full disk. The latest of each kind counts.
 */
function whyStopped(log: string): string | undefined {
  const lines = log.split("\n");
  for (const pattern of [/Shutdown broker because/, /log directory has failed/, /No space left/]) {
    const line = lines.findLast((l) => pattern.test(l));
    if (line) return line.trim().slice(0, 300);
  }
  return undefined;
}

export const diskFull = defineFault({
  kind: "disk_full",
  summary:
    "the data disk (a bounded disk per broker and MinIO) filled to `free_mb` free (default 0): a broker stops; healed by removing the ballast and restarting it",
  targets: ["broker", "service"],
  stacks: BOTH_STACKS,
  params: z.strictObject({
    free_mb: z.number().int().min(0).max(1_048_576).default(0).describe(
      "the free space left on the target's data disk, in MiB (0: full)",
    ),
  }),
  problem(target) {
    if (!target.startsWith("broker:") && target !== "all-brokers" && target !== "minio") {
      return `disk_full acts on brokers and minio, not ${target}`;
    }
    return diskProblem();
  },
  async inject(ctx, nodes, params) {
    const freeMb = params.free_mb;
    const pids = aliveBefore(ctx, nodes, "fill the disk of");
    const paths: Record<string, string> = {};
    for (const name of nodes) {
      const path = dataDiskPath(ctx.stack.dataDir, name);
      if (!path || !isMounted(path)) {
        throw new Error(
          `the data of ${name} is not on a bounded disk (${path ?? "none"}): start the stack ` +
            "with bounded disks (deno task up --disk-mb 2048; a scenario using disk_full gets them)",
        );
      }
      paths[name] = path;
    }
    const ballasts = new Map<string, Ballast>();
    const filled: Record<string, { ballast_mb: number; free_mb: number }> = {};
    try {
      for (const name of nodes) {
        const b = await fillDisk(paths[name], freeMb);
        ballasts.set(name, b);
        filled[name] = {
          ballast_mb: Math.round(b.bytes / MiB),
          free_mb: Math.round((b.availBytes / MiB) * 10) / 10,
        };
      }
    } catch (error) {
      for (const b of ballasts.values()) await b.remove();
      throw error;
    }
    // A broker whose only log dir fails stops: seen when its process is gone.
    const brokers = nodes.filter((n) => n.startsWith("kafka-"));
    const stopped = () => brokers.filter((n) => nodeOf(ctx, n).pid() !== pids[n]);
    const deadline = performance.now() + STOP_WAIT_MS;
    while (freeMb === 0 && stopped().length < brokers.length && performance.now() < deadline) {
      await Promise.all(brokers.map((n) => nodeOf(ctx, n).refresh()));
      await sleep(250);
    }
    const why: Record<string, string> = {};
    const cause: Record<string, string> = {};
    for (const name of stopped()) {
      const log = await nodeOf(ctx, name).tail(3000).catch(() => "");
      const line = whyStopped(log);
      if (line) why[name] = line;
      if (/No space left on device/.test(log)) cause[name] = "No space left on device";
    }
    return {
      observed: {
        filled,
        stopped: stopped(),
        running: nodes.filter((n) => !stopped().includes(n)),
        why,
        cause,
      },
      async heal() {
        for (const b of ballasts.values()) await b.remove();
        const restarted = await restartDead(ctx, nodes);
        const free: Record<string, number> = {};
        for (const name of nodes) {
          free[name] = Math.round((await diskSpace(paths[name])).avail / MiB);
        }
        return { ballast_removed: nodes, restarted, free_mb: free };
      },
    };
  },
});
