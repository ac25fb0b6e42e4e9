/**
 * What a generator is configured with (cli_generate.ts builds it from flags
 * and the environment; the harness from a scenario's workload), and what it
 * reports of itself.
 * @module
 */

import type { Kafka } from "kafkajs";
import type { Registry } from "prom-client";
import type { IncidentKind } from "./anomalies.ts";
import type { KafkaClientKind } from "./producer_client.ts";

export interface ScheduledIncident {
  /** Start, in ms after the generator starts. */
  at_ms: number;
  kind: IncidentKind;
  /** Default 20000 (port scans use at most 5000 of it). */
  duration_ms?: number;
  /** Default: an address of the baseline's, drawn with the run's entity secret (anomalies.ts, `entityWalk`). */
  entity?: string;
}

export interface AnomalyProbabilities {
  latency_spike: number;
  reset_storm: number;
  exfil: number;
  port_scan: number;
}

export interface GeneratorOptions {
  brokers: string[];
  /** Default "network-telemetry". */
  topic?: string;
  /** Target events per second over all workers. Default 10000. */
  eps?: number;
  /**
   * The whole run's target rate, over every generator process sharing it (`workerOffset`): the
   * baseline that latency spikes and reset storms are sized to stand out of. Default `eps`.
   */
  runEps?: number;
  /** Default 4. */
  workers?: number;
  /**
   * The first worker's number: producer ids are `<run id>-w<offset + i>`, and incident ids and
   * entities are set apart by it, so that several generator processes (on any hosts) share one
   * run without colliding; their ledgers are then checked as one (`validate --ledger`).
   * Default 0.
   */
  workerOffset?: number;
  /** Default 60000. */
  durationMs?: number;
  /** Default "1". */
  seed?: string;
  /** Default: random. */
  runId?: string;
  /**
   * Keys the walk that picks incident entities (anomalies.ts, `entityWalk`): the harness derives
   * it from its own key and the run id and never shows it to the pipeline, so a detector that
   * knows the run id cannot predict the entities. The same secret gives the same entities.
   * Default: random (each run its own). Processes sharing a run need the same one.
   */
  entitySecret?: string;
  /** Random anomalies and malformed records. Default false. */
  chaosMode?: boolean;
  /** Per event chances that an incident starts (chaos mode). Default 1e-5 each. */
  probabilities?: Partial<AnomalyProbabilities>;
  /** Per event chance of a malformed record (chaos mode). Default 0.001. */
  malformedProb?: number;
  incidents?: ScheduledIncident[];
  /**
   * Most events a worker sends at once; split by partition, and into produce calls of at most
   * 896 KiB (`MAX_GROUP_BYTES`). Default 1000. Larger batches cost the brokers less (their cost is
   * mostly per request; `bench:generator` uses 8000), but a worker that fell behind under
   * injected latency then sends larger, slower requests: latency-all-brokers' p95 of 2 s failed
   * at 8000.
   */
  batchSize?: number;
  /** Default 30000. */
  deliveryTimeoutMs?: number;
  /** -1 (all), 1 or 0. Default -1. */
  acks?: -1 | 0 | 1;
  /** Default true. */
  idempotent?: boolean;
  /**
   * "per-partition" (default): one produce call per partition, so each call
   * goes to one leader. "batch": one call for the whole batch, spanning
   * brokers, which exposes a kafkajs bug: after a leader change, send() can
   * resolve for messages a failed sibling request dropped (kafkajs issue
   * #1303; the validator then reports them lost before Kafka).
   */
  sendMode?: "per-partition" | "batch";
  /**
   * The Kafka client that produces: "lean" (`@platformatic/kafka` with the generator's own
   * record encoder, the default: `DEFAULT_KAFKA_CLIENT`), "platformatic" or "kafkajs".
   * Partitions are kafkajs's default partitioner's whichever it is.
   */
  client?: KafkaClientKind;
  /** Metrics go here. Default: a registry of its own (`metrics`). */
  registry?: Registry;
  /**
   * Each worker in a thread of its own (a Web Worker), so that making events and the Kafka
   * client's encoding use more than one core. Default true.
   */
  threads?: boolean;
  /** A kafkajs client to use instead of making one (its producers too, when not `threads`). */
  kafka?: Kafka;
  /** With `threads`, the kafkajs log of the workers' producers goes to this file (JSON lines). */
  kafkaLogFile?: string;
}

export interface GeneratorStatus {
  elapsed_s: number;
  target_eps: number;
  /** Acknowledged events per second over the last second. */
  acked_eps: number;
  /** p95 round trip (ms) of the sends acknowledged in the last second; null when none were. */
  p95_send_ms: number | null;
  in_flight: number;
  attempted: number;
  acked: number;
  failed: number;
  unknown: number;
  incidents: number;
  malformed: number;
}
