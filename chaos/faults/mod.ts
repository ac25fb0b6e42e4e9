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
 * | partition    | brokers                          | Toxiproxy proxies disabled |
 * | webhook_fail | webhook                          | receiver answers 503       |
 * @module
 */

import { latency, partition, webhookFail } from "./network.ts";
import { kill, pause, restart, stop } from "./signals.ts";
import type { Fault, TargetKind } from "./types.ts";

export const FAULTS = {
  kill,
  stop,
  restart,
  pause,
  latency,
  partition,
  webhook_fail: webhookFail,
} as const satisfies Record<string, Fault>;

export type FaultKind = keyof typeof FAULTS;
export const FAULT_KINDS = Object.keys(FAULTS) as [FaultKind, ...FaultKind[]];

/** The kind of thing a target string names. */
export function targetKind(target: string): TargetKind {
  if (target.startsWith("broker:") || target === "all-brokers") return "broker";
  if (target === "sink" || target === "detector") return "component";
  if (target === "webhook") return "webhook";
  return "service";
}
