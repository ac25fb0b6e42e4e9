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

/** Parses `samples.jsonl`; blank lines are skipped. */
export function parseSamples(text: string): Sample[] {
  return text.split("\n").filter((l) => l.trim()).map((l) => JSON.parse(l) as Sample);
}
