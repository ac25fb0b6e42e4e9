/**
 * What a run leaves in its folder as `results.json`: the scenario's outcome,
 * the figures of every check and the record of every fault. Reports, grades,
 * the nightly summary and `validate --run` read this, never the engine.
 * @module
 */

import type { StackKind } from "../compose/stack.ts";
import type { AlertResult } from "./alerts.ts";
import type { DurabilityResult } from "./commits.ts";
import type { CompletenessResult } from "./completeness.ts";
import type { ProbesResult } from "./probes.ts";
import type { VerdictSettings } from "./recipe.ts";
import type { RecoveryResult } from "./recovery.ts";
import type { Verdict } from "./verdict.ts";

/** Why a run stopped itself (an abort probe) or was stopped by hand (`scenario --abort`). */
export interface AbortRecord {
  by: "probe" | "hand";
  /** Epoch ms. */
  at: number;
  /** The reason as the verdict gives it, after "aborted: ". */
  detail: string;
}

export interface FaultRecord {
  kind: string;
  target: string;
  /** From the scenario's timeline, or drawn by its random chaos block. */
  source: "timeline" | "random";
  nodes: string[];
  injected_at: number | null;
  healed_at: number | null;
  observed: boolean;
  detail: Record<string, unknown>;
}

/** Where the CPU went while the workload ran (chaos/cpu_sampler.ts). */
export interface RunCost {
  window_s: number;
  /** Acknowledged events the cost is divided by. */
  events: number;
  /** Each stack node, component, and the harness (which runs the generator); most first. */
  components: { name: string; cpu_s: number; cpu_s_per_million: number | null }[];
  /** The whole machine, every core: busy and idle seconds. */
  machine: {
    busy_s: number;
    idle_s: number;
    idle_share: number | null;
    cpu_s_per_million: number | null;
  };
}

/** Bumped when a field of results.json changes meaning or goes; new fields do not bump it. */
export const RESULTS_SCHEMA_VERSION = 1;

export interface Results {
  /** `RESULTS_SCHEMA_VERSION` of the harness that wrote it (absent before it existed). */
  schema_version?: number;
  scenario: string;
  description: string;
  seed: number;
  stack: StackKind;
  /** The run's topic (`network-telemetry`; on an external stack, one of the run's own). */
  topic?: string;
  expect: "pass" | "fail";
  verdict: Verdict;
  /** Whether the verdict is what the scenario expects (negative controls expect fail). */
  as_expected: boolean;
  reasons: string[];
  run_id: string;
  started_at: string;
  ended_at: string;
  completeness: CompletenessResult | null;
  alerts: AlertResult | null;
  faults: FaultRecord[];
  /** The scenario's steady-state probes over the per-second samples. */
  probes: ProbesResult | null;
  /** Time to recover after each fault (a hypothesis when the scenario sets `recovery_within`). */
  recovery: RecoveryResult | null;
  /** The sink's commits against the store's object times (absent before runs sampled them). */
  durability?: DurabilityResult | null;
  /** `first_ack_ms`: from the workload's start to the first acknowledgement (null: none). */
  throughput: { acked_eps: number; first_ack_ms?: number | null };
  /** Epoch ms of the workload's start and end. */
  workload: { started_at: number | null; ended_at: number | null };
  /** What the verdict was computed with: `validate --run` re-checks with the same. */
  settings: VerdictSettings;
  /** CPU per component over the workload; null when the run did not get that far. */
  cost?: RunCost | null;
  /**
   * A graded pipeline's own failure (it did not start, crashed, never joined its groups), with the
   * last lines of its log: the verdict is fail, never unknown. Null or absent: none.
   */
  submission_failure?: string | null;
  /** Why the run stopped before its end (an abort probe, or by hand); null or absent: it did not. */
  aborted?: AbortRecord | null;
  /** The end-of-run read of the topic (kept in the run folder as topic-audit.bin.gz). */
  audit: { records: number; took_ms: number } | null;
}
