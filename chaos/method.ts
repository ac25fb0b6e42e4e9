/**
 * The method of a run (Chaos Toolkit's word): the workload runs, observed,
 * while the fault timeline injects and heals on schedule. Ends when the
 * generator has stopped and every step has run; the ledger is then kept in
 * the run folder and the store.
 * @module
 */

import type { Binaries } from "../compose/provision.ts";
import type { Stack } from "../compose/stack.ts";
import { listenerBootstrap } from "../compose/kafka_proxy_control.ts";
import { Ledger } from "../pipeline/ledger.ts";
import type { KafkaClientKind } from "../pipeline/producer_client.ts";
import { Rng } from "../pipeline/rng.ts";
import type { WebhookReceiver } from "../pipeline/webhook_receiver.ts";
import type { ProcessNode } from "../compose/process_node.ts";
import { Observation } from "./observe.ts";
import { expandFaults, plan } from "./planner.ts";
import type { RunContext } from "./run_context.ts";
import type { Admin, Kafka } from "./run_stack.ts";
import { resolveTarget } from "./targets.ts";
import { FaultTimeline } from "./timeline.ts";
import { workload } from "./workload.ts";
import { AbortWatch } from "./abort_watch.ts";
import { combinedStatus, GeneratorProcesses } from "./generator_processes.ts";
import { sleep } from "../lib/wait.ts";
import type { LivePhases } from "../validate/probes.ts";

/** How long the other generator processes get to start and connect before the workload. */
const PROCESSES_LEAD_MS = 6000;

export interface MethodParts {
  stack: Stack;
  kafka: Kafka;
  admin: Admin;
  binaries: Binaries;
  receiver: WebhookReceiver;
  components: Map<string, ProcessNode>;
  client: KafkaClientKind;
  withPrometheus?: boolean;
}

/** Runs the workload under the fault timeline; returns the generator's ledger. */
export async function runMethod(run: RunContext, p: MethodParts): Promise<Ledger> {
  const { scenario, seed, runId, runDir, history, signal, names } = run;
  const { stack, binaries, receiver } = p;
  const { kafka, admin } = p;
  // The generator's own ports on the kafka proxy when it runs (a fault targets it by them): then
  // its own client, not the harness's.
  const brokers = listenerBootstrap(stack, "generator").split(",");
  const generator = workload(scenario, {
    brokers,
    topic: names.topic,
    kafka: brokers.join(",") === stack.endpoints.kafka.bootstrap ? kafka : undefined,
    seed,
    runId,
    runDir,
    client: p.client,
  });
  const others = scenario.workload.processes > 1
    ? new GeneratorProcesses(scenario, {
      stack,
      topic: names.topic,
      runId,
      runDir,
      seed,
      client: p.client,
    })
    : undefined;
  const rng = new Rng(`${seed}/targets`);
  const timeline = run.parts.timeline = new FaultTimeline({
    history,
    ctx: { stack, binaries, components: p.components, receiver, topic: names.topic },
    faults: expandFaults(scenario, seed),
    resolve: (target) =>
      resolveTarget(target, {
        stack,
        binaries,
        admin,
        topic: names.topic,
        rng,
        incidents: generator.ledger.incidents,
      }),
    warn: (message) => console.error(`${scenario.name} | ${message}`),
  });
  // Threads started and producers connected first: the workload's clock, the fault timeline's
  // and the samples' start together, with the first event.
  await generator.prepare();
  // The other generator processes connect meanwhile, and all start at the same moment.
  const startAt = others ? Date.now() + PROCESSES_LEAD_MS : Date.now();
  await others?.start(startAt);
  const all = others
    ? {
      status: () => combinedStatus([generator.status(), ...others.statuses()]),
      metrics: generator.metrics,
    }
    : generator;
  const observation = run.parts.observation = await Observation.start({
    stack,
    components: new Map([
      ...p.components,
      ...(others?.nodes ?? []).map((n) => [n.name, n] as const),
    ]),
    generator: all,
    admin,
    names,
    runDir,
    history,
    active: () => [...timeline.active],
    registries: [timeline.registry],
    withPrometheus: p.withPrometheus,
  }).catch(async (error) => {
    await generator.run(AbortSignal.abort()).catch(() => {}); // its threads end
    others?.stop();
    throw error;
  });
  // Until the moment they start (an interrupt ends the wait; the run below then stops at once).
  if (others) await sleep(Math.max(0, startAt - Date.now()), signal).catch(() => {});
  const t0 = performance.now();
  run.times.started_at = Date.now();
  run.status.sources = {
    generator: () => all.status(),
    sinkLag: () => observation.last()?.sink_lag,
    active: () => [...timeline.active],
    next: () => timeline.next,
  };
  const op = history.invoke("workload", {
    eps: scenario.workload.eps,
    duration: scenario.workload.duration,
  });
  // An abort (a probe, or by hand) stops the workload and the timeline and heals at once; the
  // run then goes on to its verdict, which fails with the abort's reason.
  const stop = new AbortController();
  const workloadSignal = signal ? AbortSignal.any([signal, stop.signal]) : stop.signal;
  const watch = new AbortWatch({
    probes: run.settings.probes,
    eps: scenario.workload.eps,
    runDir,
    history,
    samples: () => observation.samples(),
    phases: () => livePhases(timeline, run.times.started_at ?? Date.now()),
    onAbort: () => {
      console.error(`${scenario.name} | aborted: healing every fault and stopping the workload`);
      stop.abort(new Error("aborted"));
      void timeline.healAll();
    },
  });
  watch.start();
  const running = generator.run(workloadSignal);
  const stopOthers = () => others?.stop();
  workloadSignal.addEventListener("abort", stopOthers, { once: true });
  try {
    await timeline.run(plan(scenario, seed), t0, workloadSignal).catch((error) => {
      if (!stop.signal.aborted || signal?.aborted) throw error;
    });
    run.parts.ledger = await running;
    if (others) {
      // Their ledgers and the harness's generator's are the run's: checked as one.
      const theirs = await others.finish(60_000); // their delivery timeout (30 s) and more
      run.parts.ledger = Ledger.merge([run.parts.ledger, ...theirs]);
    }
  } finally {
    watch.stop();
    workloadSignal.removeEventListener("abort", stopOthers);
    others?.stop();
  }
  const ledger = run.parts.ledger;
  run.times.ended_at = Date.now();
  run.parts.samples = observation.stopSamples();
  run.parts.cost = observation.stopCost(ledger.totals().acked);
  signal?.throwIfAborted();
  history.complete(op, "ok", ledger.totals());
  // ledger.json is written at teardown, once the pipeline can no longer read it (run_context.ts).
  return ledger;
}

/** Where the run is now, for abort probes: the first injection, and the last heal once done. */
function livePhases(timeline: FaultTimeline, workloadStart: number): LivePhases {
  const records = timeline.records();
  const injected = records.map((r) => r.injected_at).filter((t): t is number => t !== null);
  const done = timeline.finished && timeline.active.size === 0;
  const healed = records.map((r) => r.healed_at ?? r.injected_at).filter((t): t is number =>
    t !== null
  );
  return {
    workloadStart,
    now: Date.now(),
    firstInject: injected.length ? Math.min(...injected) : null,
    // As the verdict's phases: without faults, "after" starts from the workload's start.
    lastHeal: done ? (healed.length ? Math.max(...healed) : workloadStart) : null,
  };
}
