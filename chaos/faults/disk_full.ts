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
import { brokersStopped, dataTargetProblem, latestLine } from "./data_disks.ts";
import { aliveBefore, restartDead } from "./signals.ts";
import { z } from "zod";
import { BOTH_STACKS, defineFault, nodeOf } from "./types.ts";

/** How long a broker on a full disk may take to stop. */
const STOP_WAIT_MS = 20_000;

/** The log lines that say why Kafka stopped, the most telling first (the latest of each counts). */
const WHY_STOPPED = [/Shutdown broker because/, /log directory has failed/, /No space left/];

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
    return dataTargetProblem("disk_full", target) ?? diskProblem();
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
    const stopped = await brokersStopped(ctx, nodes, pids, freeMb === 0 ? STOP_WAIT_MS : 0);
    const why: Record<string, string> = {};
    const cause: Record<string, string> = {};
    for (const name of stopped) {
      const log = await nodeOf(ctx, name).tail(3000).catch(() => "");
      const line = latestLine(log, WHY_STOPPED);
      if (line) why[name] = line;
      if (/No space left on device/.test(log)) cause[name] = "No space left on device";
    }
    return {
      observed: {
        filled,
        stopped,
        running: nodes.filter((n) => !stopped.includes(n)),
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
