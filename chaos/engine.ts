/**
 * The scenario engine: brings up the stack, starts the pipeline (webhook
 * receiver, sink and detector as supervised processes, the generator), checks
 * the steady state, follows the fault timeline, heals, lets the pipeline
 * settle, validates, and writes the run folder. Healing and cleanup run on
 * success, failure, exceptions and abort (Ctrl-C) alike.
 *
 * Run folder `reports/runs/<scenario>/<timestamp>/`: history.jsonl,
 * results.json, ledger.json, deliveries.jsonl, report.md, junit.xml, logs/.
 *
 * ```ts
 * import { runScenario } from "./engine.ts";
 * const result = await runScenario(scenario, { signal });
 * Deno.exit(result.exitCode);
 * ```
 * @module
 */

import { dirname, join } from "node:path";
import { DockerStack, probeNetem } from "../compose/docker_stack.ts";
import { ensureImages } from "../compose/images.ts";
import { LocalStack } from "../compose/local_stack.ts";
import type { Stack, StackKind, StackNode } from "../compose/stack.ts";
import { repoRoot } from "../compose/paths.ts";
import { ProcessNode } from "../compose/process_node.ts";
import { sleep, waitFor } from "../lib/wait.ts";
import { Generator } from "../pipeline/generator.ts";
import { DEFAULT_KAFKA_CLIENT, kafkaClientKind } from "../pipeline/producer_client.ts";
import { createTopicsAndWait, fileLogCreator, kafkaClient } from "../pipeline/kafka.ts";
import type { Ledger } from "../pipeline/ledger.ts";
import { Rng } from "../pipeline/rng.ts";
import { objectStore } from "../pipeline/store.ts";
import { StatusLine } from "../pipeline/status_line.ts";
import { WebhookReceiver } from "../pipeline/webhook_receiver.ts";
import { acceptedAlerts, type AlertResult, checkAlerts } from "../validate/alerts.ts";
import { type CompletenessResult, DEFAULT_MAX_UNKNOWN_SHARE } from "../validate/completeness.ts";
import { checkStore } from "../validate/store_check.ts";
import { auditTopic } from "../validate/kafka_audit.ts";
import { judgeRun, type RunEvidence, type VerdictSettings } from "../validate/recipe.ts";
import { tolerateAbandonedRequests } from "./rejections.ts";
import { exitCodeOf, type Verdict } from "../validate/verdict.ts";
import { EnvironmentError, InterruptedError, UsageError } from "../lib/exit_codes.ts";
import { FAULTS, stackProblems } from "./faults/mod.ts";
import type { FaultContext, Injected } from "./faults/types.ts";
import { History } from "./history.ts";
import { expandFaults, ONE_SHOT, plan, type Step } from "./planner.ts";
import { Sampler } from "./sampler.ts";
import { MetricsSampler } from "./metrics_sampler.ts";
import { Gauge, Registry } from "prom-client";
import { serveMetrics } from "../pipeline/metrics.ts";
import { prometheusArgs, prometheusConfig } from "../compose/prometheus.ts";
import { say } from "../lib/progress.ts";
import type { ProbesResult } from "../validate/probes.ts";
import type { RecoveryResult } from "../validate/recovery.ts";
import type { Sample } from "../validate/samples.ts";
import { ensurePrometheus, provision } from "../compose/provision.ts";
import { ms, type Scenario } from "./scenario.ts";
import { resolveTarget } from "./targets.ts";
import { writeReports } from "../reports/write.ts";
import { AUDIT_FILE } from "../validate/evidence.ts";
import type { FaultRecord, Results } from "../validate/results.ts";
import { Redis } from "ioredis";

/** How long a fault's target may stay unresolvable (no leader, no quorum answer) before the fault is given up. */
const RESOLVE_TIMEOUT_MS = 20_000;

export interface RunOptions {
  /** Default `reports/runs`. */
  outDir?: string;
  keepStack?: boolean;
  signal?: AbortSignal;
  /** Default `$CHAOS_RUN_BASE_PORT` or 29600. */
  basePort?: number;
  /**
   * A pipeline of the user's instead of the built-in sink and detector (graded runs): shell
   * commands run in `cwd` with the contract's environment (see the README).
   */
  pipeline?: { sink?: string; detector?: string; cwd?: string };
  /** Also run Debian's Prometheus over the run's components (see compose/prometheus.ts). */
  withPrometheus?: boolean;
  seed?: number;
  /** Where the stack runs: supervised processes ("local", the default) or containers ("docker"). */
  stack?: StackKind;
}

export interface RunResult {
  results: Results;
  runDir: string;
  exitCode: 0 | 1 | 2 | 3;
}

/**
 * The scenario's rollback after every fault was healed: start what is left dead (components
 * and stack nodes) and wait for every node to be healthy. Not healthy in time: the environment
 * did not come back, so nothing after it can be trusted (EnvironmentError: the run is unknown).
 */
async function rollBack(
  scenario: Scenario,
  stack: Stack,
  components: ReadonlyMap<string, StackNode>,
  history: History,
  signal?: AbortSignal,
): Promise<void> {
  const started: string[] = [];
  if (scenario.rollback.restart_dead) {
    await stack.health(); // the docker stack reads its containers' states from the engine
    for (const node of [...stack.nodes.values(), ...components.values()]) {
      if (node.state() === "paused") await node.resume();
      if (node.state() === "dead") {
        await node.start();
        started.push(node.name);
      }
    }
  }
  try {
    await waitFor(async () => {
      const health = await stack.health();
      return Object.values(health).every((h) => h.state === "running" && h.ready);
    }, {
      what: "every node of the stack to be healthy after the rollback",
      timeoutMs: ms(scenario.rollback.healthy_within),
      signal,
      intervalMs: 1000,
    });
  } catch (error) {
    if (signal?.aborted) throw error;
    const health = await stack.health();
    const sick = Object.entries(health).filter(([, h]) => h.state !== "running" || !h.ready)
      .map(([n, h]) => `${n} (${h.state})`);
    history.record("fail", "rollback", { started, unhealthy: sick });
    throw new EnvironmentError(
      `the stack was not healthy ${scenario.rollback.healthy_within} after the rollback: ${
        sick.join(", ")
      }`,
      { cause: error },
    );
  }
  history.record("ok", "rollback", { started });
}

/** What the run is judged by, resolved from the scenario (recorded in results.json). */
export function verdictSettings(scenario: Scenario): VerdictSettings {
  return {
    min_acked: scenario.checks.min_acked ??
      Math.floor((scenario.workload.eps * ms(scenario.workload.duration)) / 1000 / 2),
    max_duplicates: scenario.checks.max_duplicates,
    max_unknown_share: scenario.checks.max_unknown_share ?? DEFAULT_MAX_UNKNOWN_SHARE,
    alerts: scenario.checks.alerts,
    probes: scenario.probes,
    target_eps: scenario.workload.eps,
    recovery_within_ms: scenario.checks.recovery_within === undefined
      ? null
      : ms(scenario.checks.recovery_within),
  };
}

/**
 * Whether `group` has committed every partition of `topic` up to `highs` (a partition that
 * received nothing needs no commit).
 */
async function groupCaughtUp(
  admin: ReturnType<ReturnType<typeof kafkaClient>["admin"]>,
  group: string,
  topic: string,
  highs: ReadonlyMap<number, number>,
): Promise<boolean> {
  const offsets = await admin.fetchOffsets({ groupId: group, topics: [topic] });
  const committed = new Map(offsets[0].partitions.map((p) => [p.partition, Number(p.offset)]));
  return [...highs].every(([p, high]) => high === 0 || (committed.get(p) ?? -1) >= high);
}

function stamp(d = new Date()): string {
  return d.toISOString().replace(/[-:]/g, "").replace(/\.\d+Z$/, "Z");
}

/**
 * Rejects (UsageError, exit 2) a scenario that asks what its stack cannot do,
 * before anything starts: docker-only faults or a `link:` partition on the
 * local stack, netem where the kernel has no `sch_netem`.
 */
export async function checkStackSupport(
  scenario: Scenario,
  seed: number,
  kind: StackKind,
): Promise<void> {
  const faults = expandFaults(scenario, seed);
  let netem: boolean | undefined;
  if (kind === "docker" && faults.some((f) => f.kind === "netem")) {
    netem = await probeNetem(await ensureImages());
  }
  const problems = stackProblems(faults, kind, netem);
  if (problems.length > 0) {
    throw new UsageError(
      `scenario ${scenario.name} cannot run on the ${kind} stack:\n  ${problems.join("\n  ")}`,
    );
  }
}

export async function runScenario(
  scenario: Scenario,
  options: RunOptions = {},
): Promise<RunResult> {
  const seed = options.seed ?? scenario.seed;
  await checkStackSupport(scenario, seed, options.stack ?? "local");
  const started = new Date();
  const runDir = join(
    options.outDir ?? join(repoRoot, "reports", "runs"),
    scenario.name,
    stamp(started),
  );
  await Deno.mkdir(join(runDir, "logs"), { recursive: true });
  const history = new History(join(runDir, "history.jsonl"));
  const signal = options.signal;
  const tolerating = tolerateAbandonedRequests({
    log: (message) => history.record("info", "rejection", message),
    signal,
  });
  const line = new StatusLine({ everyMs: 10_000 });
  const status = { phase: "starting", active: new Set<string>(), next: "" };
  let generator: Generator | undefined;
  let sampler: Sampler | undefined;
  const show = () => {
    const g = generator?.status();
    const lag = sampler?.samples.at(-1)?.sink_lag;
    line.show(
      `${scenario.name} | ${status.phase}${
        g ? ` ${g.elapsed_s.toFixed(0)}s | ${g.acked_eps} ev/s acked` : ""
      }${lag === undefined || lag === null ? "" : ` | sink lag ${lag}`}` +
        ` | faults: ${[...status.active].join(", ") || "none"}${
          status.next ? ` | next: ${status.next}` : ""
        }`,
    );
  };
  const ticker = setInterval(show, 1000);
  const phase = (name: string) => {
    status.phase = name;
    history.record("info", "phase", name);
    show();
  };

  const runId = `${scenario.name}-${stamp(started)}`.toLowerCase();
  // Checked before anything starts: a bad value is a usage error (exit 2), not a failed run.
  const producingClient = scenario.stack.kafka_client ??
    kafkaClientKind(Deno.env.get("KAFKA_CLIENT") ?? DEFAULT_KAFKA_CLIENT, "KAFKA_CLIENT");
  const topic = "network-telemetry";
  const faults: FaultRecord[] = expandFaults(scenario, seed).map((f) => ({
    kind: f.kind,
    target: f.target,
    source: f.source,
    nodes: [],
    injected_at: null,
    healed_at: null,
    observed: false,
    detail: {},
  }));
  const injected = new Map<number, Injected>();
  const reasons: string[] = [];
  let stack: Stack | undefined;
  let receiver: WebhookReceiver | undefined;
  const components = new Map<string, ProcessNode>();
  let ledger: Ledger | undefined;
  let completeness: CompletenessResult | null = null;
  let alerts: AlertResult | null = null;
  let probes: ProbesResult | null = null;
  let recovery: RecoveryResult | null = null;
  let samples: Sample[] = [];
  let metricsSampler: MetricsSampler | undefined;
  let metricsServer: { shutdown(): Promise<void> } | undefined;
  let prometheus: ProcessNode | undefined;
  // chaos_fault_active{kind,target}: 1 while a fault is in force (Grafana draws them as annotations).
  const faultRegistry = new Registry();
  const faultGauge = new Gauge({
    name: "chaos_fault_active",
    help: "1 while the fault is in force",
    labelNames: ["kind", "target"],
    registers: [faultRegistry],
  });
  const workload = { started_at: null as number | null, ended_at: null as number | null };
  let verdict: Verdict = "unknown";
  let ackedEps = 0;
  const settings = verdictSettings(scenario);
  let audit: Results["audit"] = null;
  let evidence: RunEvidence | undefined;

  const healAll = async () => {
    for (const [i, inj] of [...injected].reverse()) {
      try {
        const detail = await inj.heal();
        faults[i].healed_at = Date.now();
        Object.assign(faults[i].detail, { heal: detail });
        history.record("ok", `heal:${faults[i].kind}`, { target: faults[i].target, ...detail });
      } catch (error) {
        history.record("fail", `heal:${faults[i].kind}`, { error: String(error) });
      }
      injected.delete(i);
      status.active.delete(`${faults[i].kind} ${faults[i].target}`);
      faultGauge.set({ kind: faults[i].kind, target: faults[i].target }, 0);
    }
  };

  try {
    phase("stack");
    const binaries = await provision();
    const stackOptions = {
      name: runId,
      basePort: options.basePort ?? Number(Deno.env.get("CHAOS_RUN_BASE_PORT") ?? 29600),
      brokers: scenario.stack.brokers,
      dataDir: join(runDir, "stack"),
      signal,
      kafka: {
        defaultReplicationFactor: scenario.stack.replication_factor,
        minInsyncReplicas: scenario.stack.min_insync_replicas,
        uncleanLeaderElection: scenario.stack.unclean_leader_election,
        numPartitions: scenario.stack.partitions,
        overrides: scenario.stack.broker_overrides,
      },
    };
    stack = options.stack === "docker"
      ? await DockerStack.up(stackOptions)
      : await LocalStack.up({ ...stackOptions, binaries, owner: "process" });
    history.record("ok", "stack-up", {
      // No secret in the run folder: S3 keys left out, a Redis password masked.
      endpoints: {
        ...stack.endpoints,
        s3: { endpoint: stack.endpoints.s3.endpoint },
        redis: { url: stack.endpoints.redis.url.replace(/\/\/:[^@]*@/, "//:***@") },
      },
    });
    const brokers = stack.endpoints.kafka.bootstrap.split(",");
    // The harness's own Kafka clients (admin, audit, the generator) log to the run folder.
    const kafka = kafkaClient(brokers, `engine-${runId}`, {
      logCreator: fileLogCreator(join(runDir, "logs", "harness-kafka.log")),
    });
    const admin = kafka.admin();
    await admin.connect();
    await createTopicsAndWait(admin, {
      topics: [{
        topic,
        numPartitions: scenario.stack.partitions,
        replicationFactor: scenario.stack.replication_factor,
        configEntries: [
          { name: "min.insync.replicas", value: String(scenario.stack.min_insync_replicas) },
          {
            name: "unclean.leader.election.enable",
            value: String(scenario.stack.unclean_leader_election),
          },
        ],
      }],
    });

    phase("pipeline");
    const secret = Array.from(
      crypto.getRandomValues(new Uint8Array(16)),
      (b) => b.toString(16).padStart(2, "0"),
    ).join("");
    receiver = new WebhookReceiver({ secret, logFile: join(runDir, "deliveries.jsonl") });
    const s3 = stack.endpoints.s3;
    // Each component serves its metrics on the run's metrics ports (base+50..): sink +1, detector +2.
    const metricsPort = { sink: stack.plan.metrics + 1, detector: stack.plan.metrics + 2 };
    // The pipeline contract (README, "Grading a pipeline"): every component gets these.
    const contract = {
      KAFKA_BROKERS: stack.endpoints.kafka.bootstrap,
      KAFKA_TOPIC: topic,
      S3_ENDPOINT: s3.endpoint,
      S3_ACCESS_KEY: s3.accessKey,
      S3_SECRET_KEY: s3.secretKey,
      S3_BUCKET: s3.bucket,
      REDIS_URL: stack.endpoints.redis.url,
      WEBHOOK_URL: receiver.url,
      WEBHOOK_SECRET: secret,
      SINK_GROUP: "telemetry-sink",
      DETECTOR_GROUP: "telemetry-detector",
      WINDOW_SIZE: scenario.detector.window,
      WINDOW_SLIDE: scenario.detector.slide,
      OUT_OF_ORDER: scenario.detector.out_of_order,
      CHAOS_QUIET: "1",
      KAFKA_LOG_LEVEL: Deno.env.get("KAFKA_LOG_LEVEL") ?? "warn",
    };
    const component = (name: "sink" | "detector", script: string, args: string[]) => {
      const own = options.pipeline?.[name];
      // A clean environment: the contract's variables, PATH and HOME, nothing else of the
      // harness's own (which would otherwise change what a component does).
      const env = {
        ...contract,
        METRICS_PORT: String(metricsPort[name]),
        PATH: `${dirname(Deno.execPath())}:${Deno.env.get("PATH") ?? "/usr/bin:/bin"}`,
        HOME: Deno.env.get("HOME") ?? "/root",
      };
      const files = {
        logFile: join(runDir, "logs", `${name}.log`),
        pidFile: join(stack!.dataDir, "pids", `${name}.pid`),
      };
      if (own) {
        // A pipeline under grading: its command (one program, exec'ed by bash so that signals
        // reach it), in its folder, with the contract's env and this Deno first on PATH.
        return new ProcessNode({
          name,
          cmd: "bash",
          args: ["-c", `exec ${own}`],
          env,
          clearEnv: true,
          cwd: options.pipeline?.cwd ?? repoRoot,
          ...files,
        });
      }
      return new ProcessNode({
        name,
        cmd: Deno.execPath(),
        args: [
          "run",
          "-A",
          script,
          "--brokers",
          stack!.endpoints.kafka.bootstrap,
          "--topic",
          topic,
          ...args,
        ],
        env,
        clearEnv: true,
        cwd: repoRoot,
        ...files,
      });
    };
    components.set(
      "sink",
      component("sink", "pipeline/cli_sink.ts", [
        "--group",
        "telemetry-sink",
        "--metrics-port",
        String(metricsPort.sink),
      ]),
    );
    components.set(
      "detector",
      component("detector", "pipeline/cli_detector.ts", [
        "--group",
        "telemetry-detector",
        "--redis",
        stack.endpoints.redis.url,
        "--webhook",
        receiver.url,
        "--window",
        scenario.detector.window,
        "--slide",
        scenario.detector.slide,
        "--out-of-order",
        scenario.detector.out_of_order,
        "--metrics-port",
        String(metricsPort.detector),
      ]),
    );
    for (const c of components.values()) await c.start();
    await waitFor(async () => {
      const groups = await admin.describeGroups(["telemetry-sink", "telemetry-detector"]);
      return groups.groups.every((g) => g.state === "Stable");
    }, {
      what: "the sink and the detector to join their groups",
      timeoutMs: 60_000,
      signal,
      intervalMs: 500,
    });
    history.record("ok", "pipeline-up", { components: [...components.keys()] });

    phase("steady-state");
    const health = await stack.health();
    const sick = Object.entries(health).filter(([, h]) => h.state !== "running" || !h.ready).map((
      [n],
    ) => n);
    if (sick.length) {
      throw new EnvironmentError(
        `steady state not met before the faults: ${sick.join(", ")} not healthy`,
      );
    }
    history.record("ok", "steady-state:before", health);

    phase("workload");
    const incidents = scenario.workload.incidents.map((i) => ({
      kind: i.kind,
      at_ms: ms(i.at),
      duration_ms: ms(i.duration),
      entity: i.entity,
    }));
    generator = new Generator({
      brokers,
      topic,
      eps: scenario.workload.eps,
      workers: scenario.workload.workers,
      durationMs: ms(scenario.workload.duration),
      seed: String(seed),
      runId,
      chaosMode: scenario.workload.chaos_mode,
      malformedProb: scenario.workload.malformed_prob,
      probabilities: { exfil: 0, port_scan: 0, latency_spike: 0, reset_storm: 0 },
      incidents,
      acks: ({ all: -1, "1": 1, "0": 0 } as const)[scenario.stack.acks],
      idempotent: scenario.stack.idempotent,
      sendMode: scenario.stack.send_mode,
      client: producingClient,
      kafka,
      kafkaLogFile: join(runDir, "logs", "harness-kafka.log"),
    });
    const t0 = performance.now();
    workload.started_at = Date.now();
    sampler = new Sampler({
      file: join(runDir, "samples.jsonl"),
      generator,
      admin,
      topic,
      group: "telemetry-sink",
      active: () => [...status.active],
    });
    sampler.start();
    const harnessMetrics = Registry.merge([generator.metrics, faultRegistry]);
    if (options.withPrometheus) {
      // The harness (generator + faults) on base+50, Prometheus on base+59, data in the run folder.
      metricsServer = serveMetrics(harnessMetrics, stack.plan.metrics);
      const dir = join(runDir, "prometheus");
      await Deno.mkdir(dir, { recursive: true });
      await Deno.writeTextFile(
        join(dir, "prometheus.yml"),
        prometheusConfig({
          harness: `127.0.0.1:${stack.plan.metrics}`,
          sink: `127.0.0.1:${metricsPort.sink}`,
          detector: `127.0.0.1:${metricsPort.detector}`,
        }),
      );
      prometheus = new ProcessNode({
        name: "prometheus",
        cmd: await ensurePrometheus(),
        args: prometheusArgs(
          join(dir, "prometheus.yml"),
          join(dir, "data"),
          stack.plan.metrics + 9,
        ),
        logFile: join(runDir, "logs", "prometheus.log"),
        pidFile: join(stack.dataDir, "pids", "prometheus.pid"),
      });
      await prometheus.start();
      const url = `http://127.0.0.1:${stack.plan.metrics + 9}`;
      history.record("ok", "prometheus", { url });
      say(`prometheus: ${url}`);
    }
    metricsSampler = new MetricsSampler(join(runDir, "metrics.jsonl"), {
      harness: harnessMetrics,
      sink: `http://127.0.0.1:${metricsPort.sink}/metrics`,
      detector: `http://127.0.0.1:${metricsPort.detector}/metrics`,
    });
    metricsSampler.start();
    history.record("invoke", "workload", {
      eps: scenario.workload.eps,
      duration: scenario.workload.duration,
    });
    const running = generator.run(signal);
    const rng = new Rng(`${seed}/targets`);
    const fctx: FaultContext = { stack, binaries, components, receiver };
    const applyStep = async (step: Step, n: number) => {
      const f = faults[step.fault];
      const label = `${step.kind} ${step.target}`;
      if (step.action === "inject") {
        history.record("invoke", `fault:${step.kind}`, { target: step.target, step: n });
        try {
          // Resolving only reads (metadata, the quorum): retried through a moment where the
          // cluster cannot answer (an election, a slow broker) instead of losing the fault.
          const resolved = await waitFor(() =>
            resolveTarget(step.target, {
              stack: stack!,
              binaries,
              admin,
              topic,
              rng,
              incidents: generator!.ledger.incidents,
            }), {
            what: `the target ${step.target}`,
            timeoutMs: RESOLVE_TIMEOUT_MS,
            intervalMs: 1000,
            signal,
          });
          f.nodes = resolved.nodes;
          const inj = await FAULTS[step.kind as keyof typeof FAULTS].inject(
            fctx,
            resolved.nodes,
            step.params,
          );
          injected.set(step.fault, inj);
          f.injected_at = Date.now();
          f.observed = true;
          f.detail = { ...resolved.observed, ...inj.observed };
          if (!ONE_SHOT.has(step.kind)) {
            status.active.add(label);
            faultGauge.set({ kind: step.kind, target: step.target }, 1);
          }
          history.record("ok", `fault:${step.kind}`, {
            target: step.target,
            nodes: resolved.nodes,
            ...f.detail,
          });
        } catch (error) {
          f.detail = { error: String((error as Error).message ?? error) };
          console.error(
            `${scenario.name} | fault ${label} could not be injected: ${f.detail.error}`,
          );
          history.record("fail", `fault:${step.kind}`, {
            target: step.target,
            error: String(error),
          });
        }
      } else {
        const inj = injected.get(step.fault);
        if (!inj) return;
        history.record("invoke", `heal:${step.kind}`, { target: step.target });
        try {
          const detail = await inj.heal();
          f.healed_at = Date.now();
          Object.assign(f.detail, { heal: detail });
          history.record("ok", `heal:${step.kind}`, { target: step.target, ...detail });
        } catch (error) {
          history.record("fail", `heal:${step.kind}`, {
            target: step.target,
            error: String(error),
          });
        }
        injected.delete(step.fault);
        status.active.delete(label);
        faultGauge.set({ kind: step.kind, target: step.target }, 0);
      }
    };
    // Each step starts on time; a slow one (a fault that waits for an effect) delays only the
    // later steps of its own fault: a heal always runs after its inject.
    const steps = plan(scenario, seed);
    const inflight = new Map<number, Promise<void>>();
    for (const [n, step] of steps.entries()) {
      status.next = `${step.action} ${step.kind} ${step.target} at ${
        (step.at_ms / 1000).toFixed(0)
      }s`;
      const wait = step.at_ms - (performance.now() - t0);
      if (wait > 0) await sleep(wait, signal);
      const previous = inflight.get(step.fault) ?? Promise.resolve();
      inflight.set(step.fault, previous.then(() => applyStep(step, n)));
    }
    status.next = "";
    await Promise.all(inflight.values());
    ledger = await running;
    workload.ended_at = Date.now();
    samples = sampler.stop();
    signal?.throwIfAborted();
    const totals = ledger.totals();
    ackedEps = totals.acked /
      (((ledger.meta.ended_at_ms ?? 0) - (ledger.meta.started_at_ms ?? 0)) / 1000 || 1);
    history.record("ok", "workload", totals);
    await Deno.writeTextFile(join(runDir, "ledger.json"), JSON.stringify(ledger));
    await objectStore(s3).putText(
      `ledger/${runId}/ledger.json`,
      JSON.stringify(ledger),
      "application/json",
    );

    phase("heal");
    await healAll();
    await rollBack(scenario, stack, components, history, signal);

    phase("settle");
    const settleMs = ms(scenario.checks.settle);
    const highs = new Map(
      (await admin.fetchTopicOffsets(topic)).map((p) => [p.partition, Number(p.high)]),
    );
    await waitFor(() => groupCaughtUp(admin, "telemetry-sink", topic, highs), {
      what: "the sink to store the whole topic",
      timeoutMs: settleMs,
      signal,
      intervalMs: 500,
    }).catch((e) => {
      if (signal?.aborted) throw e;
      history.record("info", "settle", "the sink did not catch up in time");
    });
    if (scenario.checks.alerts) {
      // Deliveries are read once the detector's outbox is empty and it has either committed
      // the whole topic or alerted every incident (a detector may commit only behind closed
      // windows, and the last windows close only with later events), bounded by the settle
      // time; and again at teardown: a late double still flips the verdict.
      const redis = new Redis(stack.endpoints.redis.url, {
        lazyConnect: true,
        maxRetriesPerRequest: 2,
      });
      redis.on("error", () => {}); // an unreachable Redis reads as an empty outbox
      await waitFor(
        async () =>
          await redis.hlen("outbox:telemetry-detector").catch(() => 0) === 0 &&
          (checkAlerts(ledger!.incidents, receiver!.deliveries()).missed === 0 ||
            await groupCaughtUp(admin, "telemetry-detector", topic, highs)),
        {
          what: "the detector to deliver its alerts",
          timeoutMs: settleMs,
          signal,
          intervalMs: 500,
        },
      ).catch((e) => {
        if (signal?.aborted) throw e;
        history.record("info", "settle", "the detector did not catch up in time");
      }).finally(() => redis.disconnect());
      await sleep(5000, signal); // a doubled alert would arrive now
    }
    const after = await stack.health();
    const unhealthy = Object.entries(after).filter(([, h]) => h.state !== "running" || !h.ready);
    history.record(unhealthy.length ? "fail" : "ok", "steady-state:after", after);

    phase("validate");
    const audited = await auditTopic(kafka, topic);
    audit = { records: audited.records, took_ms: audited.took_ms };
    await Deno.writeFile(join(runDir, AUDIT_FILE), audited.table.encode());
    history.record("ok", "kafka-audit", audit);
    const stored = await checkStore(objectStore(s3), topic, audited.table);
    evidence = {
      ledger,
      table: audited.table,
      stored,
      deliveries: receiver.deliveries(),
      faults,
      samples,
      workload,
    };
    const judged = judgeRun(settings, evidence);
    ({ completeness, alerts, probes, recovery, verdict } = judged);
    reasons.push(...judged.reasons);
    history.record(
      verdict === "fail" ? "fail" : verdict === "pass" ? "ok" : "info",
      "verdict",
      verdict,
    );
    await admin.disconnect();
  } catch (error) {
    verdict = "unknown";
    if (signal?.aborted) {
      reasons.push("interrupted");
      history.record("info", "interrupted", String(signal.reason));
    } else {
      reasons.push(`the run failed: ${(error as Error).message}`);
      history.record("fail", "run", String((error as Error).stack ?? error));
    }
  } finally {
    sampler?.stop();
    metricsSampler?.stop();
    await metricsServer?.shutdown().catch(() => {});
    await prometheus?.stop({ graceMs: 10_000 }).catch(() => {});
    clearInterval(ticker);
    line.clear();
    status.phase = "cleanup";
    await healAll();
    for (const c of components.values()) await c.stop({ graceMs: 10_000 }).catch(() => {});
    await receiver?.stop().catch(() => {});
    if (stack) {
      if (options.keepStack) await stack.detach();
      // The store and the logs stay with the run, so `validate --run` works after the stack is gone.
      else await stack.down({ quiet: true, retain: ["minio", "logs"] }).catch(() => {});
    }
  }

  if (evidence && receiver && receiver.deliveries().length > evidence.deliveries.length) {
    // Deliveries that came in after the verdict (up to the detector's stop) count too.
    const late = receiver.deliveries().length - evidence.deliveries.length;
    const judged = judgeRun(settings, { ...evidence, deliveries: receiver.deliveries() });
    ({ completeness, alerts, probes, recovery, verdict } = judged);
    reasons.splice(0, reasons.length, ...judged.reasons);
    history.record("info", "late-deliveries", { late, verdict });
  }
  const interrupted = signal?.aborted ?? false;
  const results: Results = {
    scenario: scenario.name,
    description: scenario.description,
    seed,
    stack: options.stack ?? "local",
    expect: scenario.expect,
    verdict,
    as_expected: verdict === scenario.expect,
    reasons,
    run_id: runId,
    started_at: started.toISOString(),
    ended_at: new Date().toISOString(),
    completeness,
    alerts,
    faults,
    probes,
    recovery,
    throughput: { acked_eps: Math.round(ackedEps) },
    workload,
    settings,
    audit,
  };
  await writeReports(runDir, {
    results,
    samples,
    incidents: ledger?.incidents ?? [],
    alerts: acceptedAlerts(receiver?.deliveries() ?? []),
  });
  const latest = join(runDir, "..", "latest");
  await Deno.remove(latest).catch(() => {});
  await Deno.symlink(stamp(started), latest).catch(() => {});
  tolerating();
  if (interrupted) throw new InterruptedError("SIGINT");
  return { results, runDir, exitCode: exitCodeOf(verdict) };
}
