/**
 * The table of faults: the one place the scenario loader and the engine look
 * faults up (no registration by import side effects).
 *
 * | kind         | targets                          | local stack does it with   |
 * | ------------ | -------------------------------- | -------------------------- |
 * | kill         | brokers, sink, detector, redis, minio | SIGKILL; heal: start  |
 * | stop         | same                             | SIGTERM; heal: start       |
 * | restart      | same                             | SIGKILL and start          |
 * | pause        | same                             | SIGSTOP; heal: SIGCONT     |
 * | latency      | brokers                          | Toxiproxy latency toxic    |
 * | bandwidth    | brokers                          | Toxiproxy bandwidth toxic  |
 * | timeout      | brokers                          | Toxiproxy timeout toxic    |
 * | reset        | brokers                          | Toxiproxy reset_peer toxic |
 * | partition    | brokers                          | Toxiproxy proxies disabled |
 * | elect_unclean| all-brokers (the cluster)        | LeaderElectionCommand      |
 * | webhook_fail | webhook                          | receiver answers 503       |
 * @module
 */

import { electUnclean } from "./election.ts";
import { bandwidth, latency, partition, reset, timeout, webhookFail } from "./network.ts";
import { kill, pause, restart, stop } from "./signals.ts";
import type { Fault, TargetKind } from "./types.ts";

export const FAULTS = {
  kill,
  stop,
  restart,
  pause,
  latency,
  bandwidth,
  timeout,
  reset,
  partition,
  elect_unclean: electUnclean,
  webhook_fail: webhookFail,
} as const satisfies Record<string, Fault>;

export type FaultKind = keyof typeof FAULTS;
export const FAULT_KINDS = Object.keys(FAULTS) as [FaultKind, ...FaultKind[]];

/** The kind of thing a target string names. */
export function targetKind(target: string): TargetKind {
  if (target.startsWith("broker:") || target.startsWith("link:") || target === "all-brokers") {
    return "broker";
  }
  if (target === "sink" || target === "detector") return "component";
  if (target === "webhook") return "webhook";
  return "service";
}
