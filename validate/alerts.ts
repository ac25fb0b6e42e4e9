/**
 * The alert checker, over every delivery the webhook receiver recorded:
 *
 * - a delivery whose HMAC signature does not verify is not an alert: it is
 *   listed as unsigned, and any unsigned delivery fails the check;
 * - a delivery whose body is not an alert (null, a missing or mistyped field)
 *   fails as malformed, never crashes the check;
 * - a delivery the receiver refused unread is no alert: a body over its size
 *   cap is counted (`refused_too_large`); deliveries past the number it keeps
 *   (`not_kept`) fail the check, since nothing proves what they held;
 * - an accepted delivery (2xx) is judged for what it claims (`claimProblem`):
 *   a window exactly `windowMs` long starting on a multiple of `slideMs` (epoch
 *   ms), `value >= threshold`, its `Idempotency-Key` equal to its `alert_id`;
 *   one that claims otherwise fails as malformed, and its alert matches nothing;
 * - the alerts are the distinct `alert_id`s of the accepted deliveries (2xx);
 *   two deliveries of one id that disagree on rule, entity or window fail as a
 *   conflict; repeated identical deliveries (webhook retries) are fine;
 * - every incident must be matched by exactly one alert of the same rule and
 *   entity whose window overlaps the incident (extended by `allowedDelayMs`),
 *   fired and received at or after the incident's start (its first event's
 *   time: the generator produces an event at its event time, on the same
 *   clock); an alert that matches no incident is a false positive, named
 *   "fired before the incident began" when that is what kept it from matching.
 *
 * Reported: time to detect (the receiver's clock at the first delivery minus
 * the incident's start), latency after the window's end, the delay after the
 * detector's watermark passed the window's end, and where the matched alerts'
 * time went, step by step (alert_steps.ts: from the timeline the detector puts
 * in its deliveries; figures for the report, never part of the verdict). Pure.
 *
 * ```ts
 * import { checkAlerts } from "./alerts.ts";
 * const result = checkAlerts(ledger.incidents, receiver.deliveries(), { windowMs: 60_000, slideMs: 10_000 });
 * ```
 * @module
 */

import { z } from "zod";
import type { Incident } from "../pipeline/anomalies.ts";
import type { Delivery } from "../pipeline/webhook_receiver.ts";
import { quantile } from "../lib/stats.ts";
import { isoTime } from "./printable.ts";
import { type AlertStepFigures, alertTimeline, stepFigures, stepsOf } from "./alert_steps.ts";
import type { AlertTimeline } from "../pipeline/alert.ts";
import type { Verdict } from "./verdict.ts";

export interface AlertOptions {
  /** How long after an incident's end its alert's window may start. Default 120000. */
  allowedDelayMs?: number;
  /** Fewer incidents than this: unknown (nothing was proven). Default 1. */
  minIncidents?: number;
  /**
   * The detector's out-of-orderness bound: a window-close alert can come only once the
   * watermark (the newest event time minus this) passed the window's end. Default 0.
   */
  outOfOrderMs?: number;
  /** The contract's WINDOW_SIZE: every alert's window is exactly this long. Unset (older runs): not checked. */
  windowMs?: number;
  /** The contract's WINDOW_SLIDE: every alert's window starts on a multiple of it. Unset: not checked. */
  slideMs?: number;
}

/** The contract's alert body (extra fields are allowed and ignored). */
export const AlertBody = z.object({
  alert_id: z.string().min(1).max(256),
  rule: z.string().min(1),
  entity: z.string().min(1),
  window_start_ms: z.number().int(),
  window_end_ms: z.number().int(),
  value: z.number(),
  threshold: z.number(),
  fired_at_ms: z.number().int(),
  /** True: fired before its window closed (a threshold crossed early); anything else: not. */
  early: z.unknown().optional(),
});
export type AlertBody = z.infer<typeof AlertBody>;

export interface AlertResult {
  verdict: Verdict;
  incidents: number;
  alerts: number;
  deliveries: number;
  matched: number;
  missed: number;
  duplicated: number;
  false_positives: number;
  unsigned: number;
  malformed: number;
  conflicting: number;
  /** Deliveries the receiver refused unread for their size (absent in older runs). */
  refused_too_large?: number;
  /** Deliveries past the receiver's cap, not kept (absent in older runs). */
  not_kept?: number;
  /** Connections the receiver closed at once over its cap on open connections. */
  refused_connections?: number;
  /** Fired minus the window's end, matched alerts: negative for an early one (fired before its end). */
  latency_ms_p50: number | null;
  latency_ms_p99: number | null;
  /** First delivery of the matched alert minus the incident's start (the receiver's clock). */
  detect_ms_p50: number | null;
  detect_ms_p99: number | null;
  /**
   * The detector's own delay for the matched window-close alerts: the receiver's answer minus
   * the moment the detector's watermark passed the window's end, as the detector recorded it
   * (`watermark_to_received` of `alert_steps`); for an alert without that record, fired minus
   * the moment the watermark could pass it (its end plus the out-of-orderness bound) on the
   * wall clock, at least 0 (`after_watermark_basis` says which). Early alerts fire before their
   * window ends: not counted. A figure for the report, never part of the verdict.
   */
  after_watermark_ms_p50?: number | null;
  after_watermark_ms_p99?: number | null;
  /** "detector": every figure from the detector's record; "wall": none; "mixed". Null: no alert. */
  after_watermark_basis?: "detector" | "wall" | "mixed" | null;
  /**
   * The older definition, for every matched window-close alert: fired minus (window's end +
   * out-of-orderness bound) on the wall clock, at least 0. It adds the transport's lag
   * (`alert_steps.watermark_lag`) to the detector's delay.
   */
  after_watermark_wall_ms_p50?: number | null;
  after_watermark_wall_ms_p99?: number | null;
  /** Per step of the matched alerts, p50/p99 in ms (alert_steps.ts). Absent in older runs. */
  alert_steps?: AlertStepFigures;
  missed_incidents: string[];
  duplicated_incidents: string[];
  false_positive_alerts: string[];
  unsigned_deliveries: string[];
  malformed_deliveries: string[];
  conflicting_alerts: string[];
  reasons: string[];
}

/** Accepted alerts: one per alert_id, with the receiver's time of its first delivery. */
export interface AcceptedAlert extends AlertBody {
  received_at_ms: number;
  /** What the accepted delivery says of the alert's steps (alert_steps.ts), read leniently. */
  timeline?: AlertTimeline;
}

const SAMPLE = 10;

/** Whether the receiver took the delivery (answered 2xx): only those count as alerts raised. */
function answeredOk(d: Pick<Delivery, "answered">): boolean {
  return d.answered >= 200 && d.answered <= 299;
}

const NUMBERS = ["window_start_ms", "window_end_ms", "value", "threshold", "fired_at_ms"] as const;

/**
 * What is impossible about what an accepted delivery of `a` claims, or null: a window that
 * is empty, not `windowMs` long or not starting on a multiple of `slideMs` (epoch ms; the
 * built-in detector's windows, windows.ts), a value under its threshold, a number that is
 * not finite, an `Idempotency-Key` (`key`) other than the `alert_id`.
 */
export function claimProblem(
  a: AlertBody,
  key: string | null,
  options: Pick<AlertOptions, "windowMs" | "slideMs"> = {},
): string | null {
  const { window_start_ms: start, window_end_ms: end } = a;
  for (const field of NUMBERS) {
    if (!Number.isFinite(a[field])) return `${field} ${a[field]} is not a finite number`;
  }
  if (key !== a.alert_id) {
    return key === null
      ? "no Idempotency-Key header"
      : `Idempotency-Key ${JSON.stringify(key)} is not the alert_id`;
  }
  if (start >= end) return `window [${start}, ${end}) is empty`;
  if (options.windowMs !== undefined && end - start !== options.windowMs) {
    const length = end - start;
    return `window [${start}, ${end}) is ${length} ms long, not WINDOW_SIZE ${options.windowMs} ms`;
  }
  if (options.slideMs !== undefined && options.slideMs > 0 && start % options.slideMs !== 0) {
    return `window start ${start} is not a multiple of WINDOW_SLIDE ${options.slideMs} ms`;
  }
  if (a.value < a.threshold) return `value ${a.value} is under its threshold ${a.threshold}`;
  return null;
}

/** The distinct alerts of `deliveries` that count (signed, well formed, answered 2xx). */
export function acceptedAlerts(deliveries: readonly Delivery[]): AcceptedAlert[] {
  const byId = new Map<string, AcceptedAlert>();
  for (const d of deliveries) {
    if (d.signature_ok === false || !answeredOk(d)) continue;
    const body = AlertBody.safeParse(d.body);
    if (!body.success || byId.has(body.data.alert_id)) continue;
    byId.set(body.data.alert_id, {
      ...body.data,
      received_at_ms: d.received_at_ms,
      timeline: alertTimeline(d.body),
    });
  }
  return [...byId.values()];
}

/** An instant as ISO text, or as the number when no date can hold it (a claimed time can be anything). */
const iso = (ms: number) => Math.abs(ms) <= 8.64e15 ? new Date(ms).toISOString() : String(ms);

/** Same rule and entity, window overlapping the incident extended by `delay`. */
function explains(a: AcceptedAlert, incident: Incident, delay: number): boolean {
  return a.rule === incident.kind && a.entity === incident.entity &&
    a.window_end_ms > incident.start_ms && a.window_start_ms <= incident.end_ms + delay;
}

/** Fired and received at or after the incident's first event was produced. */
function caused(a: AcceptedAlert, incident: Incident): boolean {
  return a.fired_at_ms >= incident.start_ms && a.received_at_ms >= incident.start_ms;
}

export function checkAlerts(
  incidents: readonly Incident[],
  deliveries: readonly Delivery[],
  options: AlertOptions = {},
): AlertResult {
  const delay = options.allowedDelayMs ?? 120_000;
  const r: AlertResult = {
    verdict: "pass",
    incidents: incidents.length,
    alerts: 0,
    deliveries: deliveries.length,
    matched: 0,
    missed: 0,
    duplicated: 0,
    false_positives: 0,
    unsigned: 0,
    malformed: 0,
    conflicting: 0,
    refused_too_large: 0,
    not_kept: 0,
    latency_ms_p50: null,
    latency_ms_p99: null,
    detect_ms_p50: null,
    detect_ms_p99: null,
    after_watermark_ms_p50: null,
    after_watermark_ms_p99: null,
    missed_incidents: [],
    duplicated_incidents: [],
    false_positive_alerts: [],
    unsigned_deliveries: [],
    malformed_deliveries: [],
    conflicting_alerts: [],
    reasons: [],
  };
  const sample = (list: string[], what: string) => list.length < SAMPLE && list.push(what);
  const first = new Map<string, AlertBody>();
  const conflicted = new Set<string>();
  /** Alert ids of which an accepted delivery claims the impossible: they match nothing. */
  const invalid = new Set<string>();
  deliveries.forEach((d, i) => {
    if (d.refused === "too_large") {
      r.refused_too_large!++;
      return;
    }
    if (d.refused === "over_cap") {
      r.not_kept! += d.not_kept ?? 1;
      return;
    }
    if (d.refused === "too_many_connections") {
      r.refused_connections = (r.refused_connections ?? 0) + (d.not_kept ?? 1);
      return;
    }
    const at = `delivery ${i + 1} at ${isoTime(d.received_at_ms)}`;
    if (d.signature_ok === false) {
      r.unsigned++;
      sample(r.unsigned_deliveries, `${at}: signature does not verify`);
      return;
    }
    const body = AlertBody.safeParse(d.body);
    if (!body.success) {
      r.malformed++;
      const issue = body.error.issues[0];
      sample(
        r.malformed_deliveries,
        `${at}: ${issue.path.join(".") || "(body)"}: ${issue.message}`,
      );
      return;
    }
    if (!answeredOk(d)) return;
    const a = body.data;
    const problem = claimProblem(a, d.idempotency_key, options);
    if (problem !== null) {
      r.malformed++;
      invalid.add(a.alert_id);
      sample(r.malformed_deliveries, `${at}: alert ${a.alert_id}: ${problem}`);
      return;
    }
    const seen = first.get(a.alert_id);
    if (!seen) first.set(a.alert_id, a);
    else if (
      !conflicted.has(a.alert_id) &&
      (seen.rule !== a.rule || seen.entity !== a.entity ||
        seen.window_start_ms !== a.window_start_ms || seen.window_end_ms !== a.window_end_ms)
    ) {
      conflicted.add(a.alert_id);
      r.conflicting++;
      sample(
        r.conflicting_alerts,
        `${a.alert_id}: ${seen.rule} ${seen.entity} [${seen.window_start_ms}, ${seen.window_end_ms}]` +
          ` vs ${a.rule} ${a.entity} [${a.window_start_ms}, ${a.window_end_ms}]`,
      );
    }
  });
  const alerts = acceptedAlerts(deliveries).filter((a) => !invalid.has(a.alert_id));
  r.alerts = alerts.length;
  const used = new Set<string>();
  const latencies: number[] = [];
  const detections: number[] = [];
  const afterWatermark: number[] = [];
  const afterWatermarkWall: number[] = [];
  const bases = new Set<"detector" | "wall">();
  const steps: ReturnType<typeof stepsOf>[] = [];
  const outOfOrder = options.outOfOrderMs ?? 0;
  for (const incident of incidents) {
    const matching = alerts.filter((a) => explains(a, incident, delay) && caused(a, incident));
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
      detections.push(matching[0].received_at_ms - incident.start_ms);
      const own = stepsOf({ ...matching[0], timeline: matching[0].timeline ?? {} }, outOfOrder);
      steps.push(own);
      if (matching[0].early !== true) {
        const { fired_at_ms, window_end_ms } = matching[0];
        const wall = Math.max(0, fired_at_ms - (window_end_ms + outOfOrder));
        afterWatermarkWall.push(wall);
        const recorded = own.watermark_to_received;
        afterWatermark.push(recorded === undefined ? wall : Math.max(0, recorded));
        bases.add(recorded === undefined ? "wall" : "detector");
      }
    }
  }
  let before = 0;
  for (const a of alerts) {
    if (used.has(a.alert_id)) continue;
    r.false_positives++;
    const preceded = incidents.find((i) => explains(a, i, delay) && !caused(a, i));
    if (preceded) before++;
    const why = preceded
      ? `: fired before the incident began (${preceded.id} began at ${iso(preceded.start_ms)}; ` +
        `fired at ${iso(a.fired_at_ms)}, received at ${iso(a.received_at_ms)})`
      : "";
    r.false_positive_alerts.push(`${a.alert_id} ${a.rule} ${a.entity}${why}`);
  }
  r.latency_ms_p50 = quantile(latencies, 0.5);
  r.latency_ms_p99 = quantile(latencies, 0.99);
  r.detect_ms_p50 = quantile(detections, 0.5);
  r.detect_ms_p99 = quantile(detections, 0.99);
  r.after_watermark_ms_p50 = quantile(afterWatermark, 0.5);
  r.after_watermark_ms_p99 = quantile(afterWatermark, 0.99);
  r.after_watermark_basis = bases.size === 0 ? null : bases.size > 1 ? "mixed" : [...bases][0];
  r.after_watermark_wall_ms_p50 = quantile(afterWatermarkWall, 0.5);
  r.after_watermark_wall_ms_p99 = quantile(afterWatermarkWall, 0.99);
  r.alert_steps = stepFigures(steps);
  if (r.missed) r.reasons.push(`${r.missed} incidents raised no alert`);
  if (r.duplicated) r.reasons.push(`${r.duplicated} incidents raised more than one alert`);
  if (r.false_positives) {
    r.reasons.push(
      `${r.false_positives} alerts match no incident` +
        (before ? ` (${before} fired before the incident began)` : ""),
    );
  }
  if (r.unsigned) {
    r.reasons.push(
      `${r.unsigned} deliveries' signatures do not verify (${r.unsigned_deliveries[0]})`,
    );
  }
  if (r.malformed) {
    r.reasons.push(
      `${r.malformed} deliveries are not alerts or claim the impossible (${
        r.malformed_deliveries[0]
      })`,
    );
  }
  if (r.conflicting) {
    r.reasons.push(
      `${r.conflicting} alert ids were delivered with different contents (${
        r.conflicting_alerts[0]
      })`,
    );
  }
  if (r.not_kept) {
    r.reasons.push(
      `the webhook receiver hit its cap: ${r.not_kept} deliveries were not kept, ` +
        "so nothing proves what they held",
    );
  }
  if (r.refused_connections) {
    r.reasons.push(
      `the pipeline held more connections open to the webhook receiver than it may: ` +
        `${r.refused_connections} were closed at once over its cap, so nothing proves what ` +
        "they would have delivered",
    );
  }
  if (r.reasons.length) r.verdict = "fail";
  else if (incidents.length < (options.minIncidents ?? 1)) {
    r.verdict = "unknown";
    r.reasons.push(`only ${incidents.length} incidents injected: nothing to prove`);
  }
  return r;
}
