/**
 * The run's workload: the generator configured from the scenario (rate,
 * duration, workers, incidents at their times, malformed share, the producer's
 * acks, idempotence, send mode and client), producing with the harness's
 * Kafka client; and its ledger, kept in the run folder only.
 *
 * The ledger is the grader's answer key: every incident's kind, entity and
 * time. It never goes where the pipeline's credentials reach (the bucket, the
 * topic, Redis): a detector that read it could alert every incident without
 * detecting anything.
 * @module
 */

import { join } from "node:path";
import { Generator } from "../pipeline/generator.ts";
import type { KafkaClientKind } from "../pipeline/producer_client.ts";
import type { Kafka } from "./run_stack.ts";
import { entitySecret } from "./entity_secret.ts";
import { rateShare } from "./generator_processes.ts";
import { ms, type Scenario } from "./scenario.ts";

export interface WorkloadOptions {
  brokers: string[];
  topic: string;
  /** The harness's client, shared; none: the generator makes its own (its own bootstrap). */
  kafka?: Kafka;
  seed: number;
  runId: string;
  runDir: string;
  client: KafkaClientKind;
  /** Keys the incident entities (entity_secret.ts). Default: derived from the harness key and `runId`. */
  entitySecret?: string;
}

export function workload(scenario: Scenario, o: WorkloadOptions): Generator {
  const w = scenario.workload;
  return new Generator({
    brokers: o.brokers,
    topic: o.topic,
    // Its share of the rate: the scenario's other generator processes take the rest.
    eps: rateShare(scenario),
    // The incidents (all of them this generator's) stand out of the whole run's traffic.
    runEps: w.eps,
    workers: w.workers,
    durationMs: ms(w.duration),
    seed: String(o.seed),
    runId: o.runId,
    entitySecret: o.entitySecret ?? entitySecret(o.runId),
    chaosMode: w.chaos_mode,
    malformedProb: w.malformed_prob,
    probabilities: { exfil: 0, port_scan: 0, latency_spike: 0, reset_storm: 0 },
    incidents: w.incidents.map((i) => ({
      kind: i.kind,
      at_ms: ms(i.at),
      duration_ms: ms(i.duration),
      entity: i.entity,
    })),
    acks: ({ all: -1, "1": 1, "0": 0 } as const)[scenario.stack.acks],
    idempotent: scenario.stack.idempotent,
    sendMode: scenario.stack.send_mode,
    client: o.client,
    kafka: o.kafka,
    kafkaLogFile: join(o.runDir, "logs", "harness-kafka.log"),
  });
}
