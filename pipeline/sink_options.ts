/**
 * What a sink is configured with (cli_sink.ts builds it from flags and the
 * environment) and what it reports of itself.
 * @module
 */

import type { Kafka } from "kafkajs";
import type { Registry } from "prom-client";
import type { BatcherOptions } from "./batcher.ts";
import type { ObjectStore, S3Settings } from "./store.ts";
import type { SinkSabotage } from "./sabotage.ts";

export interface SinkOptions {
  brokers: string[];
  s3: S3Settings;
  /** Default "network-telemetry". */
  topic?: string;
  /** Default "telemetry-sink". */
  groupId?: string;
  batch?: BatcherOptions;
  /** First retry delay. Default 200 ms; doubles up to `retryMaxMs` (default 5000). */
  retryBaseMs?: number;
  retryMaxMs?: number;
  /** Failures in a row that open the breaker. Default 3. */
  breakerThreshold?: number;
  /** gzip level of the objects, 1-9. Default 3 (level 6 takes 2x the time for 15% fewer bytes). */
  gzipLevel?: number;
  /** Parse, validate and gzip in a worker (default true) or on the consuming thread. */
  codecWorker?: boolean;
  registry?: Registry;
  kafka?: Kafka;
  /** The store to write to (default: one made from `s3`); the unit tests pass an in-memory one. */
  store?: ObjectStore;
  /**
   * Sabotage, for the tests that prove the validator and the grader catch a broken
   * pipeline: every Nth valid event is silently not stored (its offset is still
   * committed). 0 (the default) never drops anything.
   */
  dropEvery?: number;
  /**
   * Sabotage, for the same tests: the sink behaves like a broken one a team could hand in
   * (sabotage.ts). "none" (the default) is the contract's sink.
   */
  sabotage?: SinkSabotage;
}

export interface SinkStatus {
  consumed: number;
  valid: number;
  invalid: number;
  batches: number;
  breaker: "closed" | "open";
  lag: number;
}
