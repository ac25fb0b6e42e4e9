/**
 * The table of faults: the one place the scenario loader, the planner, the
 * stack check, `--list` and the docs look faults up (no registration by import
 * side effects). Each fault kind is one module that declares what it is (see
 * `Fault` in types.ts), its params' schema included; adding one is one module
 * and one line here. The
 * mechanisms several kinds share live beside them: signals.ts (process
 * effects), toxics.ts (Toxiproxy), docker_net.ts (network namespaces and
 * iptables of the docker stack). `faultTable()` renders the table.
 * @module
 */

import { addPartitions } from "./add_partitions.ts";
import { bandwidth } from "./bandwidth.ts";
import { bridge } from "./bridge.ts";
import { clock } from "./clock.ts";
import { cpu } from "./cpu.ts";
import { decommission } from "./decommission.ts";
import { disconnect } from "./disconnect.ts";
import { diskFull } from "./disk_full.ts";
import { electPreferred } from "./elect_preferred.ts";
import { electUnclean } from "./elect_unclean.ts";
import { freeze } from "./freeze.ts";
import { ioError } from "./io_error.ts";
import { ioLatency } from "./io_latency.ts";
import { kafkaError } from "./kafka_error.ts";
import { kill } from "./kill.ts";
import { latency } from "./latency.ts";
import { loss } from "./loss.ts";
import { memory } from "./memory.ts";
import { netem } from "./netem.ts";
import { oneWay } from "./one_way.ts";
import { partition } from "./partition.ts";
import { pause } from "./pause.ts";
import { reassign } from "./reassign.ts";
import { powerLoss } from "./power_loss.ts";
import { reset } from "./reset.ts";
import { restart } from "./restart.ts";
import { s3Fault } from "./s3_fault.ts";
import { stop } from "./stop.ts";
import { tbf } from "./tbf.ts";
import { timeout } from "./timeout.ts";
import { webhookFail } from "./webhook_fail.ts";
import { type Fault, type Listener, LISTENERS, type StackName, type TargetKind } from "./types.ts";
import { paramDocs, paramLine } from "./params.ts";
import type { ExternalNode } from "../../compose/external_endpoints.ts";

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
  one_way: oneWay,
  bridge,
  freeze,
  elect_unclean: electUnclean,
  webhook_fail: webhookFail,
  netem,
  tbf,
  loss,
  disconnect,
  cpu,
  memory,
  disk_full: diskFull,
  power_loss: powerLoss,
  io_latency: ioLatency,
  io_error: ioError,
  kafka_error: kafkaError,
  clock,
  reassign,
  add_partitions: addPartitions,
  elect_preferred: electPreferred,
  decommission,
  s3_fault: s3Fault,
} as const satisfies Record<string, Fault>;

/** A table of faults by kind: the harness's (`FAULTS`), or a test's with more. */
export type FaultTable = Readonly<Record<string, Fault>>;

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

/**
 * What a scenario asks that the stack it runs on cannot do, as messages (the
 * engine rejects the run with exit 2 before it starts anything). `netem`: whether
 * the kernel has `sch_netem` (undefined: not probed).
 */
export function stackProblems(
  faults: readonly { kind: string; target: string }[],
  stack: StackName,
  netem?: boolean,
  table: FaultTable = FAULTS,
): string[] {
  const problems: string[] = [];
  for (const [i, f] of faults.entries()) {
    const fault = table[f.kind];
    if (!fault.stacks.includes(stack)) {
      problems.push(
        `faults.${i}: ${f.kind} needs the ${fault.stacks.join(" or ")} stack: run with --stack ${
          fault.stacks[0]
        }`,
      );
    }
    const problem = fault.problem?.(f.target, stack, { netem });
    if (problem) {
      problems.push(`faults.${i}${f.target.startsWith("link:") ? ".target" : ""}: ${problem}`);
    }
  }
  return problems;
}

/** A fault's params in one table cell, from its schema: `name` (bounds, required or default). */
export function paramsCell(fault: Fault): string {
  return paramDocs(fault.params).map((p) => paramLine(p).replace(p.name, `\`${p.name}\``))
    .join("<br>").replaceAll("|", "\\|") || "—";
}

/** The table as Markdown: kind, targets, stacks, on an external stack, params, what it does. */
export function faultTable(table: FaultTable = FAULTS): string {
  const rows = Object.values(table).map((f) =>
    `| \`${f.kind}\`${f.oneShot ? " (one-shot)" : ""} | ${f.targets.join(", ")} | ${
      f.stacks.join(", ")
    } | ${f.external ?? "—"} | ${paramsCell(f)} | ${f.summary} |`
  );
  return [
    "| kind | targets | stacks | external (through) | params | what it does |",
    "| --- | --- | --- | --- | --- | --- |",
    ...rows,
  ].join("\n");
}

/** What `externalProblems` needs to know of an external stack: its brokers and its file. */
export interface ExternalCluster {
  brokers: readonly number[];
  nodes: Readonly<Record<string, ExternalNode>>;
  toxiproxy: boolean;
}

/**
 * What a scenario asks that an external stack's endpoints file does not allow, as messages
 * naming the fault, the node and what is missing (the run is refused with exit 2 before it
 * starts). A target that resolves when the fault fires (a partition's leader, a random broker)
 * may be any broker, so every broker must allow it.
 */
export function externalProblems(
  faults: readonly { kind: string; target: string; params?: Record<string, unknown> }[],
  cluster: ExternalCluster,
  table: FaultTable = FAULTS,
): string[] {
  const problems: string[] = [];
  for (const [i, f] of faults.entries()) {
    const fault = table[f.kind];
    const at = `faults.${i} (${f.kind} on ${f.target})`;
    if (!fault.external) {
      problems.push(
        `${at}: ${f.kind} cannot act on an external stack (it needs a stack the harness ` +
          `started: ${fault.stacks.join(" or ")})`,
      );
      continue;
    }
    const kind = targetKind(f.target);
    if (kind === "component" || kind === "webhook" || fault.external === "harness") continue;
    if (kind === "link") {
      problems.push(`${at}: one link between two brokers can only be cut on --stack docker`);
      continue;
    }
    const id = f.target.match(/^broker:(\d+)$/)?.[1];
    const nodes = kind === "service"
      ? [f.target]
      : id
      ? [`kafka-${id}`]
      : cluster.brokers.map((b) => `kafka-${b}`);
    for (const node of nodes) {
      const spec = cluster.nodes[node];
      if ((fault.external === "container" || fault.external === "netns") && !spec?.container) {
        problems.push(
          `${at}: nodes.${node}.container is missing (the Docker container it runs in)`,
        );
      }
      if (fault.external === "proxies") {
        problems.push(...proxyProblems(at, node, f, fault, cluster));
      }
    }
  }
  return [...new Set(problems)];
}

/** The proxies a Toxiproxy fault on broker `node` needs that the file does not name. */
function proxyProblems(
  at: string,
  node: string,
  f: { kind: string; params?: Record<string, unknown> },
  fault: Fault,
  cluster: ExternalCluster,
): string[] {
  if (!cluster.toxiproxy) return [`${at}: toxiproxy.api is missing (the faults act on proxies)`];
  if (!node.startsWith("kafka-")) return [`${at}: ${node} has no proxies (brokers only)`];
  // The listeners it acts on, defaults applied by its schema (unparsable: all of them).
  const parsed = fault.params.safeParse(f.params ?? {});
  const listeners: readonly Listener[] = parsed.success && Array.isArray(parsed.data.listeners)
    ? parsed.data.listeners
    : LISTENERS;
  const proxies = cluster.nodes[node]?.proxies ?? {};
  const problems = listeners.filter((l) => !proxies[l]).map((l) =>
    `${at}: nodes.${node}.proxies.${l} is missing`
  );
  if (listeners.includes("controller")) {
    const id = Number(node.slice(6));
    for (const other of cluster.brokers.filter((b) => b !== id)) {
      for (const [from, to] of [[other, id], [id, other]]) {
        if (!cluster.nodes[`kafka-${from}`]?.proxies?.quorum?.[String(to)]) {
          problems.push(`${at}: nodes.kafka-${from}.proxies.quorum.${to} is missing`);
        }
      }
    }
  }
  return problems;
}
