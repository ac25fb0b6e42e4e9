/**
 * Settling after the workload: the sink is given the scenario's settle time to
 * commit the whole topic; then (when the scenario checks alerts) the detector
 * to empty its Redis outbox and either alert every incident or commit the
 * whole topic (a detector may commit only behind closed windows, and the last
 * windows close only with later events); then 5 s for a doubled alert to
 * arrive. Deliveries are read again at teardown, so a late double still counts.
 * @module
 */

import { Redis } from "ioredis";
import { sleep, waitFor } from "../lib/wait.ts";
import type { Incident } from "../pipeline/anomalies.ts";
import type { WebhookReceiver } from "../pipeline/webhook_receiver.ts";
import { checkAlerts } from "../validate/alerts.ts";
import type { History } from "../validate/history.ts";
import type { Admin } from "./run_stack.ts";
import type { RunNames } from "./run_names.ts";

/**
 * Whether `group` has committed every partition of `topic` up to `highs` (a partition that
 * received nothing needs no commit).
 */
async function groupCaughtUp(
  admin: Admin,
  group: string,
  topic: string,
  highs: ReadonlyMap<number, number>,
): Promise<boolean> {
  const offsets = await admin.fetchOffsets({ groupId: group, topics: [topic] });
  const committed = new Map(offsets[0].partitions.map((p) => [p.partition, Number(p.offset)]));
  return [...highs].every(([p, high]) => high === 0 || (committed.get(p) ?? -1) >= high);
}

/** The harness's Redis commands here are answered within this, or fail. */
export const REDIS_COMMAND_TIMEOUT_MS = 3000;
/** One check of a settle wait may take this long. */
export const CHECK_TIMEOUT_MS = 10_000;

export interface SettleOptions {
  admin: Admin;
  names: RunNames;
  redisUrl: string;
  receiver: WebhookReceiver;
  incidents: readonly Incident[];
  /** Whether the scenario checks alerts (then the detector is waited for too). */
  alerts: boolean;
  settleMs: number;
  history: History;
  signal?: AbortSignal;
}

/** Waits (bounded) for the pipeline to catch up; a component that does not is recorded, not thrown. */
export async function settle(o: SettleOptions): Promise<void> {
  const { topic, sinkGroup, detectorGroup } = o.names;
  const highs = new Map(
    (await o.admin.fetchTopicOffsets(topic)).map((p) => [p.partition, Number(p.high)]),
  );
  // One check that hangs (a Redis or broker that stopped answering) is left behind after
  // CHECK_TIMEOUT_MS: it cannot hold the run.
  const bounded = (what: string, late: string, until: () => Promise<boolean>) =>
    waitFor(until, {
      what,
      timeoutMs: o.settleMs,
      signal: o.signal,
      intervalMs: 500,
      checkTimeoutMs: CHECK_TIMEOUT_MS,
    }).catch(
      (e) => {
        if (o.signal?.aborted) throw e;
        o.history.record("info", "settle", late);
      },
    );
  await bounded(
    "the sink to store the whole topic",
    // The verdict's finding comes from the sampled commits (validate/commits.ts), not from here.
    "the sink did not commit the whole topic within settle",
    () => groupCaughtUp(o.admin, sinkGroup, topic, highs),
  );
  if (!o.alerts) return;
  const redis = new Redis(o.redisUrl, {
    lazyConnect: true,
    maxRetriesPerRequest: 2,
    // A command is answered or fails within REDIS_COMMAND_TIMEOUT_MS, never queued while the
    // connection is down: a Redis that stopped answering cannot hang the settle.
    commandTimeout: REDIS_COMMAND_TIMEOUT_MS,
    connectTimeout: REDIS_COMMAND_TIMEOUT_MS,
    enableOfflineQueue: false,
  });
  redis.on("error", () => {}); // an unreachable Redis reads as an empty outbox
  // A Redis busy running the pipeline's script is not read as an empty outbox: the settle waits
  // while the guard ends the script (redis_guard.ts; the run fails for it).
  const outbox = () =>
    redis.hlen(`outbox:${detectorGroup}`).catch((e) =>
      /^BUSY\s/.test(String((e as Error).message)) ? 1 : 0
    );
  try {
    await redis.connect().catch(() => {}); // retried by ioredis in the background
    await bounded(
      "the detector to deliver its alerts",
      "the detector did not catch up in time",
      async () =>
        await outbox() === 0 &&
        (checkAlerts(o.incidents, o.receiver.deliveries()).missed === 0 ||
          await groupCaughtUp(o.admin, detectorGroup, topic, highs)),
    );
  } finally {
    redis.disconnect();
  }
  await sleep(5000, o.signal); // a doubled alert would arrive now
}
