/**
 * What the Kafka admin faults (`reassign`, `add_partitions`, `elect_preferred`,
 * `decommission`) share: running one of Kafka's own tools from the tools jar the
 * stack already has (`java -cp <kafka classpath> org.apache.kafka.tools.…`,
 * as elect_unclean.ts and compose/quorum.ts do), an admin client of the
 * stack, a topic's partitions as the metadata has them, and the brokers the
 * cluster has registered (`kafka-cluster.sh list-endpoints`). The pure parts
 * (parsing the tools' output, comparing leaders) are tested beside it.
 *
 * ```ts
 * const run = await kafkaTool(ctx.binaries, "org.apache.kafka.tools.ClusterTool",
 *   ["list-endpoints", "--bootstrap-server", bootstrap, "--include-fenced-brokers"]);
 * console.log(parseEndpoints(run.out));
 * ```
 * @module
 */

import type { Admin } from "kafkajs";
import type { Binaries } from "../../compose/provision.ts";
import { kafkaToolProperties, securityFor } from "../../pipeline/kafka_security.ts";
import { kafkaClient } from "../../pipeline/kafka.ts";
import { TOPIC } from "../run_names.ts";
import type { FaultContext } from "./types.ts";

/** The topic the admin faults act on by default: the workload's (a run's own stack). */
export const WORKLOAD_TOPIC = TOPIC;

/** What one run of a Kafka tool did: its exit code and its output (stdout, then stderr). */
export interface ToolRun {
  code: number;
  out: string;
}

/** One of Kafka's tools (a class of the tools jar) failed. */
export class KafkaToolError extends Error {
  constructor(tool: string, run: ToolRun) {
    super(`${tool.split(".").at(-1)} exited ${run.code}: ${toolSaid(run.out) || "(no output)"}`);
    this.name = "KafkaToolError";
  }
}

/** The last `lines` non-empty lines of a tool's output on one line, for evidence and errors. */
export function toolSaid(out: string, lines = 5): string {
  return out.trim().split("\n").map((l) => l.trim()).filter(Boolean).slice(-lines).join(" / ");
}

/**
 * Runs Kafka's tool `main` (a class name) with `args` (the cluster's client properties added as
 * `--command-config` when the environment asks for SASL or TLS, as compose/quorum.ts does).
 */
export async function kafkaTool(
  binaries: Binaries,
  main: string,
  args: string[],
  options: { configFlag?: string } = {},
): Promise<ToolRun> {
  // The security of the cluster the tool is pointed at (its stack's user, or the environment's).
  const at = args.indexOf("--bootstrap-server");
  const properties = kafkaToolProperties(securityFor(at >= 0 ? args[at + 1] ?? "" : ""));
  const config = properties ? await Deno.makeTempFile({ suffix: ".properties" }) : undefined;
  if (config) await Deno.writeTextFile(config, properties!, { mode: 0o600 });
  try {
    const out = await new Deno.Command(binaries.java, {
      args: [
        "-Xmx128m",
        "-Dorg.slf4j.simpleLogger.defaultLogLevel=warn",
        "-cp",
        binaries.kafkaClasspath,
        main,
        ...args,
        ...(config ? [options.configFlag ?? "--command-config", config] : []),
      ],
      stdout: "piped",
      stderr: "piped",
    }).output();
    const text = new TextDecoder();
    return { code: out.code, out: text.decode(out.stdout) + text.decode(out.stderr) };
  } finally {
    if (config) await Deno.remove(config).catch(() => {});
  }
}

/** Runs `fn` with a connected admin client of the stack, disconnected afterwards. */
export async function withAdmin<T>(
  ctx: FaultContext,
  clientId: string,
  fn: (admin: Admin) => Promise<T>,
): Promise<T> {
  const admin = kafkaClient(ctx.stack.endpoints.kafka.bootstrap.split(","), clientId, {
    logLevel: 0,
  }).admin();
  await admin.connect();
  try {
    return await fn(admin);
  } finally {
    await admin.disconnect().catch(() => {});
  }
}

/** One partition as the metadata has it. */
export interface PartitionState {
  partition: number;
  leader: number;
  replicas: number[];
  isr: number[];
}

/** The partitions of `topic`, in partition order, fresh from the metadata. */
export async function partitionStates(admin: Admin, topic: string): Promise<PartitionState[]> {
  const meta = await admin.fetchTopicMetadata({ topics: [topic] });
  const t = meta.topics.find((x) => x.name === topic);
  if (!t) throw new Error(`the cluster has no topic ${topic}`);
  return t.partitions.map((p) => ({
    partition: p.partitionId,
    leader: p.leader,
    replicas: [...p.replicas],
    isr: [...p.isr],
  })).sort((a, b) => a.partition - b.partition);
}

/** Partitions' replica lists by partition, for evidence: `{"0": [1,2,3], ...}`. */
export function replicaTable(states: readonly PartitionState[]): Record<string, number[]> {
  return Object.fromEntries(states.map((s) => [String(s.partition), s.replicas]));
}

/** Partitions' leaders by partition, for evidence: `{"0": 1, ...}`. */
export function leaderTable(states: readonly PartitionState[]): Record<string, number> {
  return Object.fromEntries(states.map((s) => [String(s.partition), s.leader]));
}

/** The partitions whose leader differs between two readings of the same topic. */
export function leaderChanges(
  before: Readonly<Record<string, number>>,
  after: Readonly<Record<string, number>>,
): string[] {
  return Object.keys(after).filter((p) => p in before && before[p] !== after[p]);
}

/** A broker the cluster has registered, from `kafka-cluster.sh list-endpoints`. */
export interface Registered {
  id: number;
  state: "fenced" | "unfenced";
}

/**
 * Parses `kafka-cluster.sh list-endpoints --include-fenced-brokers` (Kafka 4.x): a header line
 * naming the columns (`ID HOST PORT RACK STATE ENDPOINT_TYPE`), then one line per broker
 * endpoint. Throws when there is no such table.
 */
export function parseEndpoints(out: string): Registered[] {
  const lines = out.split("\n").map((l) => l.trim()).filter(Boolean);
  const at = lines.findIndex((l) => /^ID\s/.test(l));
  if (at < 0) throw new Error(`list-endpoints printed no table: ${toolSaid(out)}`);
  const columns = lines[at].split(/\s+/);
  const state = columns.indexOf("STATE");
  const byId = new Map<number, Registered>();
  for (const line of lines.slice(at + 1)) {
    const cells = line.split(/\s+/);
    if (!/^\d+$/.test(cells[0])) continue;
    const id = Number(cells[0]);
    const s = state >= 0 && cells[state] === "fenced" ? "fenced" : "unfenced";
    byId.set(id, { id, state: s });
  }
  return [...byId.values()].sort((a, b) => a.id - b.id);
}

/** The brokers the cluster has registered (fenced ones too), from Kafka's own tool. */
export async function registeredBrokers(
  binaries: Binaries,
  bootstrap: string,
): Promise<Registered[]> {
  const run = await kafkaTool(binaries, "org.apache.kafka.tools.ClusterTool", [
    "list-endpoints",
    "--bootstrap-server",
    bootstrap,
    "--include-fenced-brokers",
  ], { configFlag: "--config" });
  if (run.code !== 0) throw new KafkaToolError("ClusterTool list-endpoints", run);
  return parseEndpoints(run.out);
}
