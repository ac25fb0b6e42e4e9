/**
 * The schema of faults' params in scenarios.
 * @module
 */

import { z } from "zod";
import { LISTENERS } from "./types.ts";

const prob = z.number().min(0).max(1);

/**
 * Every param a fault may read, with its bounds. Which fault reads which is
 * the fault's own declaration (`params` in the table, mod.ts).
 */
export const Params = z.strictObject({
  /** latency: added delay per chunk, and its jitter. */
  latency_ms: z.number().int().min(0).max(60_000).optional(),
  jitter_ms: z.number().int().min(0).max(60_000).optional(),
  /** bandwidth: the rate left, in KiB/s. */
  rate_kbps: z.number().int().min(1).max(10_000_000).optional(),
  /** timeout: connections stall, then close after this long (0: stall forever). */
  timeout_ms: z.number().int().min(0).max(600_000).optional(),
  /** Share of connections a toxic acts on, 0..1 (default 1). */
  toxicity: prob.optional(),
  /** partition and toxics: which of a broker's listeners (default: all for partition, client and internal for toxics). */
  listeners: z.array(z.enum(LISTENERS)).min(1).optional(),
  /** webhook_fail: the status the receiver answers. */
  status: z.number().int().min(100).max(599).optional(),
  /** webhook_fail: answer this slowly (the status after the delay; 200 with status 200). */
  delay_ms: z.number().int().min(0).max(600_000).optional(),
  /** loss, netem (docker stack): share of packets dropped, in percent. */
  loss_pct: z.number().min(0).max(100).optional(),
  /** cpu: the most CPU the target gets, in cores (0.2: a fifth of one core). */
  cores: z.number().min(0.01).max(64).optional(),
  /** memory: the target's memory limit, in MiB (below what it holds: the OOM killer acts). */
  limit_mb: z.number().int().min(1).max(1_048_576).optional(),
  /** disk_full: the free space left on the target's data disk, in MiB (default 0: full). */
  free_mb: z.number().int().min(0).max(1_048_576).optional(),
});
