/**
 * The scenario engine: one run of a scenario, as phases (each its own module):
 * the run folder (run_folder.ts); the stack and the topic (run_stack.ts); the
 * pipeline's components (components.ts); the steady state (rollback.ts); the
 * workload (workload.ts) observed (observe.ts) under the fault timeline
 * (timeline.ts); heal and rollback; settle (settle.ts); the verdict
 * (judge.ts); reports. Healing and cleanup run on success, failure,
 * exceptions and abort (Ctrl-C) alike (teardown.ts). The history is the run's
 * record: the faults of results.json are derived from it.
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

import { join } from "node:path";
import { probeNetem } from "../compose/docker_stack.ts";
import { ensureImages } from "../compose/images.ts";
import { provision } from "../compose/provision.ts";
import type { StackKind } from "../compose/stack.ts";
import { InterruptedError, UsageError } from "../lib/exit_codes.ts";
import { randomHex } from "../lib/ids.ts";
import { DEFAULT_KAFKA_CLIENT, kafkaClientKind } from "../pipeline/producer_client.ts";
import { Rng } from "../pipeline/rng.ts";
import { WebhookReceiver } from "../pipeline/webhook_receiver.ts";
import { acceptedAlerts } from "../validate/alerts.ts";
import { History } from "../validate/history.ts";
import type { Results } from "../validate/results.ts";
import { exitCodeOf } from "../validate/verdict.ts";
import { writeReports } from "../reports/write.ts";
import { components, type OwnPipeline, startComponents } from "./components.ts";
import { stackProblems } from "./faults/mod.ts";
import { judge, keepLedger, rejudge, verdictSettings } from "./judge.ts";
import { Observation } from "./observe.ts";
import { expandFaults, plan } from "./planner.ts";
import { tolerateAbandonedRequests } from "./rejections.ts";
import { recordSteadyState, requireSteadyState, rollBack } from "./rollback.ts";
import { createRunFolder, linkLatest } from "./run_folder.ts";
import { openKafka, TOPIC, upRunStack } from "./run_stack.ts";
import type { Scenario } from "./scenario.ts";
import { ms } from "./scenario.ts";
import { settle } from "./settle.ts";
import { RunStatus } from "./status.ts";
import { resolveTarget } from "./targets.ts";
import { type RunParts, teardown } from "./teardown.ts";
import { FaultTimeline } from "./timeline.ts";
import { workload } from "./workload.ts";

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
  pipeline?: OwnPipeline;
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
  const kind = options.stack ?? "local";
  await checkStackSupport(scenario, seed, kind);
  // Checked before anything starts: a bad value is a usage error (exit 2), not a failed run.
  const client = scenario.stack.kafka_client ??
    kafkaClientKind(Deno.env.get("KAFKA_CLIENT") ?? DEFAULT_KAFKA_CLIENT, "KAFKA_CLIENT");
  const folder = await createRunFolder(scenario.name, options.outDir);
  const { dir: runDir, runId } = folder;
  const history = new History(join(runDir, "history.jsonl"));
  const signal = options.signal;
  const tolerating = tolerateAbandonedRequests({
    log: (message) => history.record("info", "rejection", message),
    signal,
  });
  const status = new RunStatus(scenario.name, history);
  const settings = verdictSettings(scenario);
  const run: RunParts = { status, history, reasons: [] };
  const times: Results["workload"] = { started_at: null, ended_at: null };
  try {
    status.phase("stack");
    const binaries = await provision();
    const basePort = options.basePort ?? Number(Deno.env.get("CHAOS_RUN_BASE_PORT") ?? 29600);
    const stack = run.stack = await upRunStack(scenario, {
      kind,
      runId,
      runDir,
      basePort,
      binaries,
      history,
      signal,
    });
    const { kafka, admin } = run.kafka = await openKafka(stack, scenario, { runId, runDir });

    status.phase("pipeline");
    const secret = randomHex(16);
    const receiver = run.receiver = new WebhookReceiver({
      secret,
      logFile: join(runDir, "deliveries.jsonl"),
    });
    const nodes = run.components = components(scenario, {
      stack,
      receiver,
      secret,
      runDir,
      own: options.pipeline,
    });
    await startComponents(nodes, admin, signal);
    history.record("ok", "pipeline-up", { components: [...nodes.keys()] });

    status.phase("steady-state");
    await requireSteadyState(stack, history);

    status.phase("workload");
    const brokers = stack.endpoints.kafka.bootstrap.split(",");
    const generator = workload(scenario, { brokers, kafka, seed, runId, runDir, client });
    const rng = new Rng(`${seed}/targets`);
    const timeline = run.timeline = new FaultTimeline({
      history,
      ctx: { stack, binaries, components: nodes, receiver },
      faults: expandFaults(scenario, seed),
      resolve: (target) =>
        resolveTarget(target, {
          stack,
          binaries,
          admin,
          topic: TOPIC,
          rng,
          incidents: generator.ledger.incidents,
        }),
      warn: (message) => console.error(`${scenario.name} | ${message}`),
    });
    const t0 = performance.now();
    times.started_at = Date.now();
    const observation = run.observation = await Observation.start({
      stack,
      generator,
      admin,
      runDir,
      history,
      active: () => [...timeline.active],
      registries: [timeline.registry],
      withPrometheus: options.withPrometheus,
    });
    status.sources = {
      generator: () => generator.status(),
      sinkLag: () => observation.last()?.sink_lag,
      active: () => [...timeline.active],
      next: () => timeline.next,
    };
    const op = history.invoke("workload", {
      eps: scenario.workload.eps,
      duration: scenario.workload.duration,
    });
    const running = generator.run(signal);
    await timeline.run(plan(scenario, seed), t0, signal);
    const ledger = run.ledger = await running;
    times.ended_at = Date.now();
    run.samples = observation.stopSamples();
    signal?.throwIfAborted();
    history.complete(op, "ok", ledger.totals());
    await keepLedger(ledger, { runDir, runId, s3: stack.endpoints.s3 });

    status.phase("heal");
    await timeline.healAll();
    await rollBack(scenario, stack, nodes, history, signal);

    status.phase("settle");
    await settle({
      admin,
      receiver,
      history,
      signal,
      redisUrl: stack.endpoints.redis.url,
      incidents: ledger.incidents,
      alerts: scenario.checks.alerts,
      settleMs: ms(scenario.checks.settle),
    });
    await recordSteadyState(stack, history);

    status.phase("validate");
    run.judgement = await judge(settings, {
      kafka,
      runDir,
      history,
      s3: stack.endpoints.s3,
      evidence: {
        ledger,
        samples: run.samples,
        workload: times,
        deliveries: receiver.deliveries(),
        faults: timeline.records(),
      },
    });
    await admin.disconnect();
  } catch (error) {
    if (signal?.aborted) {
      run.reasons.push("interrupted");
      history.record("info", "interrupted", String(signal.reason));
    } else {
      run.reasons.push(`the run failed: ${(error as Error).message}`);
      history.record("fail", "run", String((error as Error).stack ?? error));
    }
  } finally {
    await teardown(run, { keepStack: options.keepStack });
  }

  const deliveries = run.receiver?.deliveries() ?? [];
  const judged = run.judgement &&
    (rejudge(settings, run.judgement, deliveries, history) ?? run.judgement.judged);
  // A run that failed or was interrupted is unknown, whatever was judged before.
  const verdict = run.reasons.length || !judged ? "unknown" : judged.verdict;
  const results: Results = {
    scenario: scenario.name,
    description: scenario.description,
    seed,
    stack: kind,
    expect: scenario.expect,
    verdict,
    as_expected: verdict === scenario.expect,
    reasons: [...(judged?.reasons ?? []), ...run.reasons],
    run_id: runId,
    started_at: folder.started.toISOString(),
    ended_at: new Date().toISOString(),
    completeness: judged?.completeness ?? null,
    alerts: judged?.alerts ?? null,
    faults: run.timeline?.records() ?? [],
    probes: judged?.probes ?? null,
    recovery: judged?.recovery ?? null,
    throughput: { acked_eps: Math.round(run.ledger ? ackedEps(run.ledger) : 0) },
    workload: times,
    settings,
    audit: run.judgement?.audit ?? null,
  };
  await writeReports(runDir, {
    results,
    samples: run.samples ?? [],
    incidents: run.ledger?.incidents ?? [],
    alerts: acceptedAlerts(deliveries),
  });
  await linkLatest(folder);
  tolerating();
  if (signal?.aborted) throw new InterruptedError("SIGINT");
  return { results, runDir, exitCode: exitCodeOf(verdict) };
}

/** Acknowledged events per second over the generator's run. */
function ackedEps(ledger: import("../pipeline/ledger.ts").Ledger): number {
  const seconds = ((ledger.meta.ended_at_ms ?? 0) - (ledger.meta.started_at_ms ?? 0)) / 1000;
  return ledger.totals().acked / (seconds || 1);
}
