/**
 * Per-second samples of a run (`samples.jsonl` in the run folder): what the
 * engine saw each second while the workload ran. Probes, the recovery checker
 * and the HTML charts read them.
 *
 * ```ts
 * import { parseSamples } from "./samples.ts";
 * const samples = parseSamples(await Deno.readTextFile("run/samples.jsonl"));
 * ```
 * @module
 */

import { z } from "zod";
import { isEpochMs, parseJsonLines } from "./unreadable.ts";

/** The samples file of a run folder. */
export const SAMPLES_FILE = "samples.jsonl";

export interface Sample {
  /** Epoch ms. */
  t: number;
  /** Ms since the workload started. */
  elapsed_ms: number;
  /** Events Kafka acknowledged in the last second. */
  acked_eps: number;
  /** Acknowledged so far. */
  acked: number;
  /** p95 of send round trips acknowledged in the last second; null when none were. */
  p95_send_ms: number | null;
  /** Events in the topic not yet committed by the sink; null when it could not be read. */
  sink_lag: number | null;
  /** Faults active at that moment (`kind target`). */
  faults: string[];
  /**
   * The topic's health from Kafka's admin API (read every 2 s, the last reading repeated in
   * between; null when it could not be read, and absent in runs from before it was sampled):
   * partitions with fewer in-sync replicas than replicas, partitions without a leader, the
   * smallest ISR, and the active controller.
   */
  under_replicated?: number | null;
  offline_partitions?: number | null;
  min_isr?: number | null;
  controller?: number | null;
}

const count = z.number().min(0).max(Number.MAX_SAFE_INTEGER);
const reading = count.nullable().optional();

/** A sample as the engine writes it: times a date holds, counts finite and not negative. */
const SampleLine = z.object({
  t: z.number().refine(isEpochMs, "must be an epoch ms"),
  elapsed_ms: z.number().min(-Number.MAX_SAFE_INTEGER).max(Number.MAX_SAFE_INTEGER),
  acked_eps: count,
  acked: count,
  p95_send_ms: count.nullable(),
  sink_lag: z.number().min(-Number.MAX_SAFE_INTEGER).max(Number.MAX_SAFE_INTEGER).nullable(),
  faults: z.array(z.string()),
  under_replicated: reading,
  offline_partitions: reading,
  min_isr: reading,
  controller: z.number().int().nullable().optional(),
});

/**
 * Parses `samples.jsonl`; blank lines are skipped. A line that is not a sample (a torn line, a
 * time no date holds, a count that is not a finite number) is an `UnreadableEvidenceError`
 * naming the file and the line.
 */
export function parseSamples(text: string, file = SAMPLES_FILE): Sample[] {
  return parseJsonLines(file, text, SampleLine) as Sample[];
}
