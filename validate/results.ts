/**
 * What a run leaves in its folder as `results.json`: the scenario's outcome,
 * the figures of every check and the record of every fault. Reports, grades,
 * the nightly summary and `validate --run` read this, never the engine.
 * @module
 */

import { z } from "zod";
import type { StackKind } from "../compose/stack.ts";
import type { AlertResult } from "./alerts.ts";
import type { BlameResult } from "./blame.ts";
import type { DurabilityResult } from "./commits.ts";
import type { CompletenessResult } from "./completeness.ts";
import { PROBE_METRICS, PROBE_PHASES, PROBE_STATS, type ProbesResult } from "./probes.ts";
import { isEpochMs, parseJson } from "./unreadable.ts";
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
  components: {
    name: string;
    cpu_s: number;
    cpu_s_per_million: number | null;
    /** The largest resident MB of its process tree over the workload's samples (absent before it existed). */
    peak_rss_mb?: number | null;
  }[];
  /**
   * The harness's own resident high-water mark (VmHWM) when the results were written: the
   * verdict's audit and store check included (absent before it existed).
   */
  harness_peak_rss_mb?: number | null;
  /** The whole machine, every core: busy and idle seconds. */
  machine: {
    busy_s: number;
    idle_s: number;
    idle_share: number | null;
    cpu_s_per_million: number | null;
  };
}

/** Bumped when a field of results.json changes meaning or goes; new fields do not bump it. */
export const RESULTS_SCHEMA_VERSION = 2; // 2: the run folder is sealed (validate/seal.ts)

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
  /**
   * Where the lost records were last seen (blame.ts), from the brokers' logs read after the run;
   * null or absent when nothing was lost (or the run was not judged).
   */
  blame?: BlameResult | null;
}

/** The results file of a run folder. */
export const RESULTS_FILE = "results.json";

const epochMs = z.number().refine(isEpochMs, "must be an epoch ms");
const amount = z.number().min(0).max(Number.MAX_SAFE_INTEGER);

/** `settings` as the engine records them: every bound a number in its range. */
const SettingsSchema = z.object({
  min_acked: amount,
  max_duplicates: amount,
  allow_reorder: z.boolean().optional(),
  max_unknown_share: z.number().min(0).max(1),
  alerts: z.boolean(),
  probes: z.array(z.object({
    name: z.string().optional(),
    metric: z.enum(PROBE_METRICS),
    stat: z.enum(PROBE_STATS),
    op: z.enum([">=", "<="]),
    value: z.number().min(-Number.MAX_VALUE).max(Number.MAX_VALUE),
    phase: z.enum(PROBE_PHASES),
    advisory: z.boolean().optional(),
    abort: z.boolean().optional(),
    grace_s: z.number().min(0).max(3600).optional(),
  })),
  target_eps: amount,
  recovery_within_ms: amount.nullable(),
  out_of_order_ms: amount.optional(),
  window_ms: z.number().int().min(1).max(Number.MAX_SAFE_INTEGER).optional(),
  slide_ms: z.number().int().min(1).max(Number.MAX_SAFE_INTEGER).optional(),
});

const FaultSchema = z.object({
  kind: z.string(),
  target: z.string(),
  injected_at: epochMs.nullable(),
  healed_at: epochMs.nullable(),
  observed: z.boolean(),
  nodes: z.array(z.string()).default([]),
  source: z.enum(["timeline", "random"]).default("timeline"),
  detail: z.record(z.string(), z.unknown()).default({}),
});

/**
 * The parts of `results.json` a re-check and the reports read, checked: other fields are kept
 * as they are (a newer harness may add some).
 */
export const RecordedResultsSchema = z.looseObject({
  scenario: z.string(),
  run_id: z.string(),
  topic: z.string().optional(),
  verdict: z.enum(["pass", "fail", "unknown"]),
  settings: SettingsSchema,
  faults: z.array(FaultSchema),
  workload: z.object({ started_at: epochMs.nullable(), ended_at: epochMs.nullable() }),
});
export type RecordedResults = z.output<typeof RecordedResultsSchema>;

/**
 * Reads `results.json` back for a re-check: not JSON, no settings (a run of an older harness)
 * or a value out of its range is an `UnreadableEvidenceError` naming the key.
 */
export function readResults(text: string, file = RESULTS_FILE): RecordedResults {
  return parseJson(file, text, RecordedResultsSchema);
}
