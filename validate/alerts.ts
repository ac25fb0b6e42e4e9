/**
 * The alert checker: every incident of the ledger must be matched by exactly
 * one distinct `alert_id` with the same rule and entity whose window overlaps
 * the incident (extended by `allowedDelayMs`); an alert that matches no
 * incident is a false positive. Repeated deliveries of one alert_id (webhook
 * retries) are reported, not counted as duplicates. Pure.
 *
 * ```ts
 * import { checkAlerts } from "./alerts.ts";
 * const result = checkAlerts(ledger.incidents, deliveries.map((d) => d.body));
 * ```
 * @module
 */

import type { Alert } from "../pipeline/alert.ts";
import type { Incident } from "../pipeline/anomalies.ts";
import type { Verdict } from "./verdict.ts";

export interface AlertOptions {
  /** How long after an incident's end its alert's window may start. Default 120000. */
  allowedDelayMs?: number;
  /** Fewer incidents than this: unknown (nothing was proven). Default 1. */
  minIncidents?: number;
}

export interface AlertResult {
  verdict: Verdict;
  incidents: number;
  alerts: number;
  deliveries: number;
  matched: number;
  missed: number;
  duplicated: number;
  false_positives: number;
  latency_ms_p50: number | null;
  latency_ms_p99: number | null;
  missed_incidents: string[];
  duplicated_incidents: string[];
  false_positive_alerts: string[];
  reasons: string[];
}

function quantile(sorted: number[], q: number): number | null {
  if (sorted.length === 0) return null;
  return sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil(q * sorted.length) - 1))];
}

export function checkAlerts(
  incidents: readonly Incident[],
  deliveries: readonly Alert[],
  options: AlertOptions = {},
): AlertResult {
  const delay = options.allowedDelayMs ?? 120_000;
  const byId = new Map<string, Alert>();
  for (const a of deliveries) if (!byId.has(a.alert_id)) byId.set(a.alert_id, a);
  const alerts = [...byId.values()];
  const used = new Set<string>();
  const r: AlertResult = {
    verdict: "pass",
    incidents: incidents.length,
    alerts: alerts.length,
    deliveries: deliveries.length,
    matched: 0,
    missed: 0,
    duplicated: 0,
    false_positives: 0,
    latency_ms_p50: null,
    latency_ms_p99: null,
    missed_incidents: [],
    duplicated_incidents: [],
    false_positive_alerts: [],
    reasons: [],
  };
  const latencies: number[] = [];
  for (const incident of incidents) {
    const matching = alerts.filter((a) =>
      a.rule === incident.kind && a.entity === incident.entity &&
      a.window_end_ms > incident.start_ms && a.window_start_ms <= incident.end_ms + delay
    );
    for (const a of matching) used.add(a.alert_id);
    const label = `${incident.id} ${incident.kind} ${incident.entity}`;
    if (matching.length === 0) {
      r.missed++;
      r.missed_incidents.push(label);
    } else if (matching.length > 1) {
      r.duplicated++;
      r.duplicated_incidents.push(`${label}: ${matching.length} alerts`);
    } else {
      r.matched++;
      latencies.push(matching[0].fired_at_ms - matching[0].window_end_ms);
    }
  }
  for (const a of alerts) {
    if (!used.has(a.alert_id)) {
      r.false_positives++;
      r.false_positive_alerts.push(`${a.alert_id} ${a.rule} ${a.entity}`);
    }
  }
  latencies.sort((a, b) => a - b);
  r.latency_ms_p50 = quantile(latencies, 0.5);
  r.latency_ms_p99 = quantile(latencies, 0.99);
  if (r.missed) r.reasons.push(`${r.missed} incidents raised no alert`);
  if (r.duplicated) r.reasons.push(`${r.duplicated} incidents raised more than one alert`);
  if (r.false_positives) r.reasons.push(`${r.false_positives} alerts match no incident`);
  if (r.reasons.length) r.verdict = "fail";
  else if (incidents.length < (options.minIncidents ?? 1)) {
    r.verdict = "unknown";
    r.reasons.push(`only ${incidents.length} incidents injected: nothing to prove`);
  }
  return r;
}
