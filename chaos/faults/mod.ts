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
 *
 * Docker stack only (docker_net.ts): `netem` (tc netem delay/loss), `tbf` (tc
 * bandwidth), `loss` (iptables random drops), `disconnect` (network
 * disconnect); there `partition` is iptables DROP and can cut one
 * `link:<a>-<b>`.
 * @module
 */

import { disconnect, DOCKER_ONLY, loss, netem, tbf } from "./docker_net.ts";
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
  netem,
  tbf,
  loss,
  disconnect,
} as const satisfies Record<string, Fault>;

export type FaultKind = keyof typeof FAULTS;
export const FAULT_KINDS = Object.keys(FAULTS) as [FaultKind, ...FaultKind[]];

/** The kind of thing a target string names. */
export function targetKind(target: string): TargetKind {
  if (target.startsWith("link:")) return "link";
  if (target.startsWith("broker:") || target === "all-brokers") {
    return "broker";
  }
  if (target === "sink" || target === "detector") return "component";
  if (target === "webhook") return "webhook";
  return "service";
}

export { DOCKER_ONLY };

/**
 * What a scenario asks that the stack it runs on cannot do, as messages (the
 * engine rejects the run with exit 2 before it starts anything).
 */
export function stackProblems(
  faults: readonly { kind: string; target: string }[],
  stack: "local" | "docker",
  netemAvailable?: boolean,
): string[] {
  const problems: string[] = [];
  for (const [i, f] of faults.entries()) {
    if (stack === "local" && DOCKER_ONLY.has(f.kind)) {
      problems.push(`faults.${i}: ${f.kind} needs the docker stack: run with --stack docker`);
    }
    if (stack === "local" && f.target.startsWith("link:")) {
      problems.push(
        `faults.${i}.target: ${f.target}: the local stack cannot cut one link between two brokers ` +
          "(its Toxiproxy proxies sit in front of each broker's listeners, shared by all its " +
          "peers); the docker stack cuts one pair with iptables: run with --stack docker, or " +
          "partition one broker from all: broker:<id>",
      );
    }
    if (stack === "docker" && f.kind === "netem" && netemAvailable === false) {
      problems.push(
        `faults.${i}: netem needs the kernel module sch_netem, which this kernel does not have ` +
          '("Specified qdisc kind is unknown"); use the latency fault (Toxiproxy) instead: ' +
          '{ kind: "latency", params: { latency_ms, jitter_ms } }',
      );
    }
  }
  return problems;
}
