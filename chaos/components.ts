/**
 * The pipeline's long-running components, the sink and the detector, as
 * supervised processes of the run: the built-in ones (`pipeline/cli_*.ts`), or
 * a graded pipeline's own commands. Each gets the pipeline contract's
 * environment (docs/contract.md) and nothing else of the harness's but PATH
 * and HOME, and must join its consumer group before the workload starts. A
 * graded pipeline given a sandbox (compose/sandbox.ts) runs in it, and reaches
 * the network only at the contract's endpoints; the builtin one never does.
 * Given one sandbox per component, the sink and the detector each run in their
 * own, and each reaches only its own Kafka ports (a fault tells them apart).
 * A graded component's log keeps its first 64 MiB (compose/log_cap.ts), and
 * says when its sandbox's processes were OOM-killed at the box's memory bound.
 * @module
 */

import { securityEnv } from "../pipeline/kafka_security.ts";
import { roleSecurity } from "../compose/kafka_scram.ts";
import { basename, join } from "node:path";
import { repoRoot } from "../compose/paths.ts";
import type { S3Keys } from "../compose/minio_users.ts";
import { ProcessNode } from "../compose/process_node.ts";
import { faketimeEnv, faketimeFile, REAL_CLOCK, writeFaketime } from "../compose/faketime.ts";
import { ensureFaketime } from "../compose/host_tools.ts";
import { clockNodes } from "./faults/clock.ts";
import { expandFaults } from "./planner.ts";
import type { Stack } from "../compose/stack.ts";
import { waitFor } from "../lib/wait.ts";
import { randomHex } from "../lib/ids.ts";
import { WebhookReceiver } from "../pipeline/webhook_receiver.ts";
import type { RunContext } from "./run_context.ts";
import { SubmissionError } from "./submission_error.ts";
import { listenerBootstrap } from "../compose/kafka_proxy_control.ts";
import { submissionCommand } from "./submission_shell.ts";
import { cappedArgv } from "../compose/log_cap.ts";
import type { Sandbox } from "../compose/sandbox.ts";
import type { Admin } from "./run_stack.ts";
import type { RunNames } from "./run_names.ts";
import type { Scenario } from "./scenario.ts";

/** A graded pipeline's commands, run in `cwd` (see docs/contract.md). */
export interface OwnPipeline {
  sink?: string;
  detector?: string;
  /**
   * A phase submission's `start_pipeline`: one bash script that starts sink and detector
   * together; it is the node behind both names, so a fault on either hits the whole pipeline.
   */
  combined?: string;
  cwd?: string;
  /** The grading's sandbox: the commands run in it (its copy of `cwd`). Default: none. */
  sandbox?: Sandbox;
  /**
   * One sandbox per component: the sink's and the detector's own commands each run in theirs
   * (in place of `sandbox`, which then runs only a combined pipeline). Default: none.
   */
  sandboxes?: { sink: Sandbox; detector: Sandbox };
}

/**
 * The sandbox component `name` of a graded pipeline runs in: the combined pipeline's (`sandbox`),
 * the component's own (`sandboxes`), else the one of both; none for a built-in component.
 */
export function sandboxOf(
  own: OwnPipeline | undefined,
  name: "sink" | "detector",
): Sandbox | undefined {
  if (!own) return undefined;
  if (own.combined) return own.sandbox;
  if (!own[name]) return undefined;
  return own.sandboxes?.[name] ?? own.sandbox;
}

export interface ComponentsOptions {
  stack: Stack;
  receiver: WebhookReceiver;
  /** The webhook's HMAC secret. */
  secret: string;
  runDir: string;
  names: RunNames;
  own?: OwnPipeline;
  /** The pipeline's own MinIO keys (limited to the bucket). Default: the stack's. */
  s3Keys?: S3Keys;
  /** The run's id, naming the components' cgroups `chaos-<run id>/<node>`. Default: runDir's name. */
  runId?: string;
  /**
   * Components a clock fault may hit, started under libfaketime `lib` (compose/faketime.ts; their
   * clock files written first). Default: none.
   */
  faketime?: { lib: string; nodes: readonly string[] };
}

/**
 * The freezer cgroup of component `name` (compose/freezer.ts): every process it starts, in any
 * session, is in it, so that a fault hits them all and none outlives the run.
 */
export function componentCgroup(
  o: Pick<ComponentsOptions, "runId" | "runDir">,
  name: string,
): string {
  return `chaos-${o.runId ?? basename(o.runDir)}/${name}`;
}

/** Metrics ports of the components: the run's metrics base + 1 (sink), + 2 (detector). */
export function metricsPorts(stack: Stack): { sink: number; detector: number } {
  return { sink: stack.plan.metrics + 1, detector: stack.plan.metrics + 2 };
}

/** The environment every component gets: the pipeline contract. */
export function contractEnv(scenario: Scenario, o: ComponentsOptions): Record<string, string> {
  const s3 = { ...o.stack.endpoints.s3, ...o.s3Keys };
  return {
    // The sink's own ports on the kafka proxy when it runs (the detector gets its own): a fault
    // targets a component by them (compose/kafka_proxy_routes.ts).
    KAFKA_BROKERS: listenerBootstrap(o.stack, "sink"),
    KAFKA_TOPIC: o.names.topic,
    // Through the stack's S3 proxy when it has one (s3_fault acts there); the harness goes direct.
    S3_ENDPOINT: o.stack.s3Proxy?.endpoint ?? s3.endpoint,
    S3_ACCESS_KEY: s3.accessKey,
    S3_SECRET_KEY: s3.secretKey,
    S3_BUCKET: s3.bucket,
    // Its own Redis user when the stack has one (no CLIENT PAUSE, SHUTDOWN, FLUSHALL: redis_acl.ts).
    REDIS_URL: o.stack.redisPipelineUrl ?? o.stack.endpoints.redis.url,
    WEBHOOK_URL: o.receiver.url,
    WEBHOOK_SECRET: o.secret,
    SINK_GROUP: o.names.sinkGroup,
    DETECTOR_GROUP: o.names.detectorGroup,
    WINDOW_SIZE: scenario.detector.window,
    WINDOW_SLIDE: scenario.detector.slide,
    OUT_OF_ORDER: scenario.detector.out_of_order,
    CHAOS_QUIET: "1",
    KAFKA_LOG_LEVEL: Deno.env.get("KAFKA_LOG_LEVEL") ?? "warn",
    // The cluster's SASL and TLS, when it asks for them (pipeline/kafka_security.ts); on the
    // local stack always: a user of the pipeline's own, with the run's ACLs only (kafka_acl.ts).
    // Each component's node overrides it with its own (see `components`).
    ...securityEnv(roleSecurity(o.stack, "pipeline")),
  };
}

/** The sink and the detector, not started yet. */
export function components(scenario: Scenario, o: ComponentsOptions): Map<string, ProcessNode> {
  const ports = metricsPorts(o.stack);
  const contract = contractEnv(scenario, o);
  /**
   * A component's process: the contract's env (and `extra`), its log, pid file and cgroup. A
   * graded (`own`) one's output is capped (and its box's OOM kills said) by a wrapper of the
   * harness's, outside its sandbox.
   */
  const componentNode = (
    name: string,
    command: { cmd: string; args: string[]; cwd: string },
    extra: Record<string, string> = {},
    sandbox?: Sandbox,
    own = false,
  ) => {
    // The combined pipeline is the node behind both names: a clock fault on either reaches it.
    const clocked = o.faketime?.nodes.some((n) => n === name || name === "pipeline");
    // A boxed component's clock is outside the stack's folder, which its box hides.
    const clockFile = sandbox?.clockFile() ?? faketimeFile(o.stack.dataDir, name);
    const clock = clocked ? faketimeEnv(o.faketime!.lib, clockFile) : {};
    const run = submissionCommand(
      [command.cmd, ...command.args],
      { ...contract, ...extra, ...clock },
      sandbox,
    );
    const argv = own
      ? cappedArgv(run.argv, { who: `the ${name}`, memoryCgroup: sandbox?.memoryCgroup })
      : run.argv;
    return new ProcessNode({
      name,
      cmd: argv[0],
      args: argv.slice(1),
      cwd: sandbox?.cwd ?? command.cwd,
      env: run.env,
      clearEnv: true,
      logFile: join(o.runDir, "logs", `${name}.log`),
      pidFile: join(o.stack.dataDir, "pids", `${name}.pid`),
      cgroup: componentCgroup(o, name),
    });
  };
  const node = (name: "sink" | "detector", script: string, args: string[]) => {
    const own = o.own?.[name];
    const brokers = listenerBootstrap(o.stack, name);
    // A pipeline under grading: its command (one program, exec'ed by bash so that signals
    // reach it), in its folder, with the contract's env and this Deno first on PATH.
    const command = own
      ? { cmd: "bash", args: ["-c", `exec ${own}`], cwd: o.own?.cwd ?? repoRoot }
      : {
        cmd: Deno.execPath(),
        args: [
          "run",
          "-A",
          script,
          "--brokers",
          brokers,
          "--topic",
          contract.KAFKA_TOPIC,
          ...args,
        ],
        cwd: repoRoot,
      };
    return componentNode(
      name,
      command,
      {
        METRICS_PORT: String(ports[name]),
        KAFKA_BROKERS: brokers,
        ...securityEnv(roleSecurity(o.stack, name)),
      },
      sandboxOf(o.own, name),
      Boolean(own),
    );
  };
  const d = scenario.detector;
  if (o.own?.combined) {
    const pipeline = componentNode(
      "pipeline",
      {
        cmd: "bash",
        args: ["-c", o.own.combined],
        cwd: o.own.cwd ?? repoRoot,
      },
      {},
      o.own.sandbox,
      true,
    );
    return new Map([["sink", pipeline], ["detector", pipeline]]);
  }
  return new Map([
    [
      "sink",
      node("sink", "pipeline/cli_sink.ts", [
        "--group",
        contract.SINK_GROUP,
        "--metrics-port",
        String(ports.sink),
      ]),
    ],
    [
      "detector",
      node("detector", "pipeline/cli_detector.ts", [
        // Its Redis URL (with the pipeline's password) from the environment: argv is public.
        ...["--group", contract.DETECTOR_GROUP, "--webhook", o.receiver.url],
        ...["--window", d.window, "--slide", d.slide, "--out-of-order", d.out_of_order],
        ...["--metrics-port", String(ports.detector)],
      ]),
    ],
  ]);
}

/** The last lines of each distinct component's log, for a submission's failure. */
async function tails(nodes: ReadonlyMap<string, ProcessNode>): Promise<string> {
  const parts: string[] = [];
  for (const node of new Set(nodes.values())) {
    const state = node.state() === "dead" ? "not running" : "running";
    parts.push(`${node.name} (${state}), last lines of its log:\n${await node.tail(15)}`);
  }
  return parts.join("\n");
}

/**
 * Starts the components and waits until both consumer groups are stable. A graded pipeline
 * that exits or does not join within 60 s is a SubmissionError (its log's last lines in it).
 */
async function startComponents(
  nodes: ReadonlyMap<string, ProcessNode>,
  admin: Admin,
  names: RunNames,
  own: boolean,
  signal?: AbortSignal,
): Promise<void> {
  const distinct = [...new Set(nodes.values())];
  try {
    for (const c of distinct) await c.start();
  } catch (error) {
    if (!own) throw error;
    throw new SubmissionError(
      `the submission's pipeline did not start: ${(error as Error).message}\n${await tails(nodes)}`,
      { cause: error },
    );
  }
  let exited: string | undefined;
  try {
    await waitFor(async () => {
      const dead = distinct.find((c) => c.state() === "dead");
      if (own && dead) {
        exited = dead.name;
        return true;
      }
      const groups = await admin.describeGroups([names.sinkGroup, names.detectorGroup]);
      return groups.groups.every((g) => g.state === "Stable");
    }, {
      what: "the sink and the detector to join their groups",
      timeoutMs: 60_000,
      signal,
      intervalMs: 500,
    });
  } catch (error) {
    if (!own || signal?.aborted) throw error;
    throw new SubmissionError(
      `the submission's sink and detector did not join their groups (${names.sinkGroup}, ` +
        `${names.detectorGroup}) within 60 s\n${await tails(nodes)}`,
      { cause: error },
    );
  }
  if (exited) {
    throw new SubmissionError(
      `the submission's ${exited} exited before joining its group\n${await tails(nodes)}`,
    );
  }
}

/** The contract's endpoints a sandboxed pipeline may reach: Kafka, MinIO, Redis, the webhook. */
export function contractEndpoints(env: Record<string, string>): string[] {
  return [
    ...env.KAFKA_BROKERS.split(",").map((b) => b.trim()).filter(Boolean),
    env.S3_ENDPOINT,
    env.REDIS_URL,
    env.WEBHOOK_URL,
  ];
}

/**
 * What a sandboxed pipeline may reach: the contract's endpoints, with the sink's and the
 * detector's own ports on the kafka proxy, never the harness's or the generator's (a fault
 * targets a component by its ports: compose/kafka_proxy_routes.ts).
 */
export function pipelineEndpoints(
  env: Record<string, string>,
  stack: Parameters<typeof listenerBootstrap>[0],
): string[] {
  const detector = listenerBootstrap(stack, "detector").split(",");
  return [...new Set([...contractEndpoints(env), ...detector])];
}

/**
 * What each sandbox of a graded pipeline may reach: a component's box the endpoints of the
 * environment its node was given (its own Kafka ports, MinIO, Redis, the webhook: the contract
 * gives each component all of them); a box that runs both (a combined pipeline) the sink's and
 * the detector's Kafka ports. Built-in components have no box.
 */
export function sandboxEndpoints(
  nodes: ReadonlyMap<string, { spec: { env?: Record<string, string> } }>,
  own: OwnPipeline | undefined,
  stack: Parameters<typeof listenerBootstrap>[0],
): Map<Sandbox, string[]> {
  const out = new Map<Sandbox, string[]>();
  const names = new Map<Sandbox, Set<string>>();
  for (const name of ["sink", "detector"] as const) {
    const box = sandboxOf(own, name);
    const env = nodes.get(name)?.spec.env;
    if (!box || !env) continue;
    names.set(box, (names.get(box) ?? new Set()).add(name));
    out.set(box, [...new Set([...out.get(box) ?? [], ...contractEndpoints(env)])]);
  }
  for (const [box, both] of names) {
    if (both.size < 2) continue;
    const kafka = ["sink", "detector"] as const;
    const ports = kafka.flatMap((c) => listenerBootstrap(stack, c).split(","));
    out.set(box, [...new Set([...out.get(box)!, ...ports])]);
  }
  return out;
}

/**
 * The TCP ports each box of a graded pipeline may bind (compose/landlock.ts): a component's own
 * box its METRICS_PORT (none without one); a box of both (a combined pipeline) the two ports the
 * run keeps for the components' metrics (`metricsPorts`), never any port: a box that could bind
 * any would take a service's port while a fault has the service down, and answer for it.
 */
export function sandboxListens(
  nodes: ReadonlyMap<string, { spec: { env?: Record<string, string> } }>,
  own: OwnPipeline | undefined,
  reserved: { sink: number; detector: number },
): Map<Sandbox, number[]> {
  const out = new Map<Sandbox, number[]>();
  for (const [box, name] of componentBoxes(own)) {
    const port = Number(nodes.get(name)?.spec.env?.METRICS_PORT);
    out.set(
      box,
      name === "pipeline"
        ? [reserved.sink, reserved.detector]
        : Number.isInteger(port)
        ? [port]
        : [],
    );
  }
  return out;
}

/** The boxes the components of a graded pipeline run in, each with the name of what it runs. */
export function componentBoxes(own: OwnPipeline | undefined): Map<Sandbox, string> {
  const out = new Map<Sandbox, string>();
  for (const name of ["sink", "detector"] as const) {
    const box = sandboxOf(own, name);
    if (box) out.set(box, out.has(box) ? "pipeline" : name);
  }
  return out;
}

/** How many processes the kernel has OOM-killed so far in each box of a graded pipeline. */
export function oomCounts(own: OwnPipeline | undefined): Map<Sandbox, number> {
  const out = new Map<Sandbox, number>();
  for (const box of componentBoxes(own).keys()) out.set(box, box.memory()?.oomKills ?? 0);
  return out;
}

/**
 * The submission's failure when processes of a component's box were OOM-killed since `before`
 * (`oomCounts` at the run's start): the box's memory bound is the submission's to keep. The
 * evidence (bound, kills, peak) is in the message; undefined without a kill.
 */
export function oomFailure(
  own: OwnPipeline | undefined,
  before: ReadonlyMap<Sandbox, number>,
): string | undefined {
  for (const [box, name] of componentBoxes(own)) {
    const line = box.oomEvidence(`the ${name}'s sandbox`, before.get(box) ?? 0);
    if (line) return `${line} (see logs/${name}.log)`;
  }
  return undefined;
}

/** The pipeline phase: the webhook receiver, then the components, started and in their groups. */
export async function startPipeline(
  run: RunContext,
  stack: Stack,
  admin: Admin,
  own?: OwnPipeline,
): Promise<{ receiver: WebhookReceiver; nodes: Map<string, ProcessNode> }> {
  const secret = randomHex(16);
  const receiver = run.parts.receiver = new WebhookReceiver({
    secret,
    logFile: join(run.runDir, "deliveries.jsonl"),
    // The scenario's `webhook` key: 503s and slow answers for the whole run, seeded by the run.
    misbehave: { seed: run.seed, ...run.scenario.webhook },
  });
  const clocked = clockNodes(expandFaults(run.scenario, run.seed), [])
    .filter((n) => n === "sink" || n === "detector");
  const faketime = clocked.length ? { lib: await ensureFaketime(), nodes: clocked } : undefined;
  const nodes = run.parts.components = components(run.scenario, {
    stack,
    receiver,
    secret,
    runDir: run.runDir,
    names: run.names,
    own,
    s3Keys: run.parts.pipelineS3,
    runId: run.runId,
    faketime,
  });
  // Their clocks real until the fault fires.
  for (const node of new Set(faketime ? nodes.values() : [])) {
    await writeFaketime(faketimeFile(stack.dataDir, node.name), REAL_CLOCK);
  }
  const isOwn = Boolean(own?.sink || own?.detector || own?.combined);
  const listens = sandboxListens(nodes, own, metricsPorts(stack));
  for (const [box, endpoints] of sandboxEndpoints(nodes, own, stack)) {
    await box.network({ kind: "pipeline", endpoints, listen: listens.get(box) });
  }
  run.ownPipeline = isOwn;
  const op = run.history.invoke("pipeline-up", { own: isOwn });
  await startComponents(nodes, admin, run.names, isOwn, run.signal);
  run.history.complete(op, "ok", { components: [...nodes.keys()] });
  return { receiver, nodes };
}
