/**
 * The scenario engine: one run of a scenario, as phases (each its own module):
 * the run folder (run_folder.ts); the stack and the topic (run_stack.ts); the
 * pipeline's components (components.ts); the steady state (rollback.ts); the
 * method (method.ts: the workload observed under the fault timeline), with
 * Redis guarded from the stack's start (redis_guard.ts: a script of the
 * pipeline's that blocks Redis fails the run); heal
 * and rollback; settle (settle.ts); the verdict
 * (judge.ts); the outcome and reports (outcome.ts). Healing and cleanup run on
 * success, failure, exceptions and abort (Ctrl-C) alike (`teardown` in
 * run_context.ts). The history is the run's record: the faults of
 * results.json are derived from it.
 *
 * Run folder `reports/runs/<scenario>/<timestamp>/`: history.jsonl,
 * commits.jsonl (the sink's commits, sampled from the workload to the end of settle),
 * results.json, ledger.json, deliveries.jsonl, report.md, junit.xml, logs/, and last
 * seal.json (run_context.ts: `sealRun`). The order at the end: settle, the judge (its store
 * check's listing is what the seal holds: run_context.ts says why), `afterJudge`, teardown
 * (the pipeline stopped, the store listed again: a change since the judge is recorded), the
 * results and reports, the seal. Nothing after the judge undoes a judged fail.
 *
 * ```ts
 * import { runScenario } from "./engine.ts";
 * const result = await runScenario(scenario, { signal });
 * Deno.exit(result.exitCode);
 * ```
 * @module
 */

import { join } from "node:path";
import { probeNetem } from "../compose/docker_network.ts";
import { ensureImages } from "../compose/images.ts";
import type { StackKind } from "../compose/stack.ts";
import { InterruptedError, UsageError } from "../lib/exit_codes.ts";
import { DEFAULT_KAFKA_CLIENT, kafkaClientKind } from "../pipeline/producer_client.ts";
import { abortRecord } from "../validate/history.ts";
import { COMMITS_FILE } from "../validate/commits.ts";
import type { Results } from "../validate/results.ts";
import { exitCodeOf } from "../validate/verdict.ts";
import {
  componentBoxes,
  oomCounts,
  oomFailure,
  type OwnPipeline,
  startPipeline,
} from "./components.ts";
import { storeFull } from "../compose/store_disk.ts";
import { redisFull } from "../compose/redis_disk.ts";
import { externalProblems, stackProblems } from "./faults/mod.ts";
import { CommitSampler } from "./commit_sampler.ts";
import { objectStore } from "../pipeline/store.ts";
import { brokerLogs, judge } from "./judge.ts";
import { runMethod } from "./method.ts";
import { report, runResults } from "./outcome.ts";
import { expandFaults } from "./planner.ts";
import { recordSteadyState, requireSteadyState, rollBack } from "./rollback.ts";
import { endRun, openRun, recordFailure, sealRun } from "./run_context.ts";
import { externalCluster, type ExternalOptions, stackPhase } from "./run_stack.ts";
import { ms, type Scenario } from "./scenario.ts";
import { RedisGuard } from "./redis_guard.ts";
import { SocketGuard } from "./socket_guard.ts";
import { settle } from "./settle.ts";

/** The local stack's base port of a run when neither `basePort` nor CHAOS_RUN_BASE_PORT names one. */
export const DEFAULT_RUN_BASE_PORT = 29600;

/** The base port of a run's local stack: `$CHAOS_RUN_BASE_PORT`, else DEFAULT_RUN_BASE_PORT. */
export function runBasePort(env: { get(name: string): string | undefined } = Deno.env): number {
  return Number(env.get("CHAOS_RUN_BASE_PORT") ?? DEFAULT_RUN_BASE_PORT);
}

export interface RunOptions {
  /** Default `reports/runs`. */
  outDir?: string;
  keepStack?: boolean;
  signal?: AbortSignal;
  /** Default `$CHAOS_RUN_BASE_PORT` or 29600. */
  basePort?: number;
  /**
   * A pipeline of the user's instead of the built-in sink and detector (graded runs): shell
   * commands run in `cwd` with the contract's environment (docs/contract.md).
   */
  pipeline?: OwnPipeline;
  /** Also run Debian's Prometheus over the run's components (see compose/prometheus.ts). */
  withPrometheus?: boolean;
  seed?: number;
  /**
   * Where the stack runs: supervised processes ("local", the default), containers ("docker"), or
   * a cluster someone else runs ("external", with `external`).
   */
  stack?: StackKind;
  /** `--stack external`: the endpoints file, and whether the run's topic is kept. */
  external?: ExternalOptions;
  /**
   * Called once the run is judged, before teardown, with the contract's environment of the
   * pipeline (a phase submission's own `validate` runs here, for the record only).
   */
  afterJudge?: (o: { env: Record<string, string>; signal?: AbortSignal }) => Promise<void>;
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
async function checkStackSupport(
  scenario: Scenario,
  seed: number,
  kind: StackKind,
  external?: ExternalOptions,
): Promise<void> {
  const faults = expandFaults(scenario, seed);
  if (kind === "external") {
    if (!external) throw new UsageError("--stack external needs --endpoints <file>");
    const problems = externalProblems(faults, await externalCluster(external.endpoints));
    if (problems.length > 0) {
      throw new UsageError(
        `scenario ${scenario.name} cannot run on this external stack (--endpoints):\n  ${
          problems.join("\n  ")
        }`,
      );
    }
    return;
  }
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
  await checkStackSupport(scenario, seed, kind, options.external);
  // Checked before anything starts: a bad value is a usage error (exit 2), not a failed run.
  const client = scenario.stack.kafka_client ??
    kafkaClientKind(Deno.env.get("KAFKA_CLIENT") ?? DEFAULT_KAFKA_CLIENT, "KAFKA_CLIENT");
  const run = await openRun(scenario, {
    seed,
    kind,
    outDir: options.outDir,
    signal: options.signal,
  });
  const { history, status, signal } = run;
  let commits: CommitSampler | undefined;
  let redisGuard: RedisGuard | undefined;
  let redisUrl: string | undefined; // the harness's, for Redis's disk at the verdict
  // A graded pipeline's boxes are bounded: an OOM kill in one during the run fails the run.
  const ooms = oomCounts(options.pipeline);
  // And a box that holds more sockets than its bound (the host's ports) is stopped: the failure.
  const sockets = SocketGuard.start({
    boxes: [...componentBoxes(options.pipeline)].map(([box, name]) => ({ name, box })),
    history,
  });
  try {
    status.phase("stack");
    const basePort = options.basePort ?? runBasePort();
    const { stack, kafka, admin, binaries } = await stackPhase(
      run,
      basePort,
      options.external,
      Boolean(options.pipeline?.sandbox || options.pipeline?.sandboxes),
    );
    redisUrl = stack.endpoints.redis.url;
    // A pipeline's script that blocks Redis fails the run, not the harness (redis_guard.ts).
    redisGuard = RedisGuard.start({
      url: stack.endpoints.redis.url,
      history,
      restart: stack.kind === "external" ? undefined : () => stack.node("redis").restart(),
      pid: () => stack.node("redis").remote ? undefined : stack.node("redis").pid(),
    });

    status.phase("pipeline");
    const { receiver, nodes } = await startPipeline(run, stack, admin, options.pipeline);

    status.phase("steady-state");
    await requireSteadyState(stack, history);

    status.phase("workload");
    // The sink group's commits, once a second until the end of settle (durability, commits.ts).
    commits = CommitSampler.start({
      admin,
      topic: run.names.topic,
      group: run.names.sinkGroup,
      file: join(run.runDir, COMMITS_FILE),
      signal,
      listStore: async (store = objectStore(stack.endpoints.s3)) => {
        const topic = run.names.topic;
        return [...await store.list(`events/${topic}/`), ...await store.list(`dlq/${topic}/`)];
      },
    });
    const ledger = await runMethod(run, {
      stack,
      kafka,
      admin,
      binaries,
      receiver,
      components: nodes,
      client,
      withPrometheus: options.withPrometheus,
    });

    status.phase("heal");
    await run.parts.timeline!.healAll();
    await rollBack(scenario, stack, nodes, history, signal);

    status.phase("settle");
    await settle({
      admin,
      names: run.names,
      receiver,
      history,
      signal,
      redisUrl: stack.endpoints.redis.url,
      incidents: ledger.incidents,
      alerts: scenario.checks.alerts,
      settleMs: ms(scenario.checks.settle),
    });
    const committed = await commits.stop();
    await recordSteadyState(stack, history);

    status.phase("validate");
    run.parts.judgement = await judge(run.settings, {
      brokers: stack.endpoints.kafka.bootstrap.split(","),
      topic: run.names.topic,
      runDir: run.runDir,
      runId: run.runId,
      history,
      s3: stack.endpoints.s3,
      logs: await brokerLogs(stack),
      evidence: {
        ledger,
        samples: run.parts.samples ?? [],
        workload: run.times,
        deliveries: receiver.deliveries(),
        faults: run.parts.timeline!.records(),
        aborted: abortRecord(history.events),
        commits: committed,
      },
    });
    if (options.afterJudge) {
      await options.afterJudge({ env: { ...nodes.get("sink")?.spec.env }, signal });
    }
    await admin.disconnect();
  } catch (error) {
    recordFailure(run, error);
  } finally {
    // Nothing here may skip the teardown: each step's error is recorded, never thrown.
    // A box stopped for holding the host's ports is the cause of whatever failed after it.
    const held = await sockets.stop().catch((error) => {
      history.record("fail", "socket-guard", `the socket guard could not stop: ${error}`);
      return undefined;
    });
    if (held) {
      run.submissionFailure = held;
      history.record("fail", "submission", held);
    }
    await commits?.stop({ lastRead: false }) // stopped after settle, unless the run failed
      .catch((error) => history.record("fail", "commits", `the commit sampler: ${error}`));
    const blocked = await redisGuard?.stop().catch((error) => {
      history.record("fail", "redis-guard", `the Redis guard could not stop: ${error}`);
      return undefined;
    });
    if (blocked && !run.submissionFailure) {
      run.submissionFailure = blocked;
      history.record("fail", "submission", blocked);
    }
    const oom = oomFailure(options.pipeline, ooms);
    if (oom && !run.submissionFailure) {
      run.submissionFailure = oom;
      history.record("fail", "submission", oom);
    }
    // A graded pipeline that filled the store's bounded disk (compose/store_disk.ts) failed.
    const full = options.pipeline ? storeFull(join(run.runDir, "stack", "minio")) : undefined;
    if (full && !run.submissionFailure) {
      run.submissionFailure = full;
      history.record("fail", "submission", full);
    }
    // And one that filled Redis's (compose/redis_disk.ts): its append-only file.
    const redisFilled = options.pipeline && redisUrl
      ? await redisFull(join(run.runDir, "stack"), redisUrl)
      : undefined;
    if (redisFilled && !run.submissionFailure) {
      run.submissionFailure = redisFilled;
      history.record("fail", "submission", redisFilled);
    }
    // A teardown that throws is recorded, never thrown: a judged fail stands (outcome.ts).
    await endRun(run, { keepStack: options.keepStack });
  }
  const results = runResults(run);
  await report(run, results).catch(async (error) => {
    // Evidence that cannot be reported is the run's finding, never a crash of the caller.
    results.verdict = results.verdict === "unknown" ? "unknown" : "fail";
    results.as_expected = results.verdict === scenario.expect;
    results.reasons.push(`the report could not be made from this run's evidence: ${error}`);
    await Deno.writeTextFile(join(run.runDir, "results.json"), JSON.stringify(results, null, 2))
      .catch(() => {});
  });
  run.stopTolerating();
  // The run's last act: every file is written; seal.json seals them (validate/seal.ts).
  const sealed = await sealRun(run);
  if (signal?.aborted) throw new InterruptedError("SIGINT");
  return { results, runDir: run.runDir, exitCode: sealed ? exitCodeOf(results.verdict) : 3 };
}
