/**
 * Where an alert's time goes: the steps of each matched alert, from the
 * timeline the detector puts in its deliveries (pipeline/alert.ts,
 * `AlertTimeline`), on its own clock, and the receiver's clock for the answer.
 *
 * Steps (ms), per alert:
 * - `watermark_lag`: the watermark passing the window's end minus the moment it
 *   could pass it at the earliest (the window's end plus the out-of-orderness
 *   bound, on the wall clock: event time is the generator's wall clock). How late
 *   the data reached the detector: the pipeline's transport, not the detector.
 * - `watermark_to_fire`: the rule firing minus the watermark passing (window-close alerts).
 * - `fire_to_lock`: the dedupe lock taken and the outbox written (one Lua script) minus the firing.
 * - `lock_to_first_attempt`: the first delivery attempt sent minus the lock.
 * - `first_to_last_attempt`: the accepted attempt sent minus the first (retries, backoff).
 * - `attempt_to_answer`: the receiver's answer (its `received_at_ms`, taken as it answers) minus
 *   the accepted attempt sent.
 * - `watermark_to_received`: the receiver's answer minus the watermark passing: the detector's
 *   whole delay after its watermark, the figure `after_watermark_ms` reports.
 *
 * HOSTILE INPUT: the timeline comes from the pipeline under test. It is read
 * leniently (a field that is not an epoch ms, an attempts list that is not one,
 * is ignored, never an error) and its figures are for the report only: nothing
 * here feeds a verdict. A claimed watermark passing is taken no earlier than the
 * window's end plus the bound (no event can come from the future), so a claim
 * can shift time from the detector to the transport but not below zero.
 *
 * ```ts
 * import { alertTimeline, stepsOf, stepFigures } from "./alert_steps.ts";
 * const steps = stepsOf({ ...alert, timeline: alertTimeline(delivery.body) }, 5000);
 * stepFigures([steps]); // { watermark_to_fire: { p50, p99, n }, ... }
 * ```
 * @module
 */

import type { AlertTimeline, DeliveryAttempt } from "../pipeline/alert.ts";
import { quantile } from "../lib/stats.ts";
import { MAX_EPOCH_MS } from "./printable.ts";

export const ALERT_STEPS = [
  "watermark_lag",
  "watermark_to_fire",
  "fire_to_lock",
  "lock_to_first_attempt",
  "first_to_last_attempt",
  "attempt_to_answer",
  "watermark_to_received",
] as const;
export type AlertStep = typeof ALERT_STEPS[number];

/** One step's figures over the alerts that recorded it (ms). */
export interface StepFigure {
  p50: number | null;
  p99: number | null;
  n: number;
}
export type AlertStepFigures = Record<AlertStep, StepFigure>;

/** Earlier attempts looked at, at most (a body holds what it likes). */
const MAX_ATTEMPTS_READ = 64;

/** An instant the harness can compute with: a finite number a Date holds (else undefined). */
function instant(x: unknown): number | undefined {
  return typeof x === "number" && Number.isFinite(x) && Math.abs(x) <= MAX_EPOCH_MS ? x : undefined;
}

/** The timeline a delivery's body claims, its unusable parts dropped. Never throws. */
export function alertTimeline(body: unknown): AlertTimeline {
  if (typeof body !== "object" || body === null || Array.isArray(body)) return {};
  const b = body as Record<string, unknown>;
  const t: AlertTimeline = {};
  const wm = instant(b.watermark_passed_at_ms);
  if (wm !== undefined) t.watermark_passed_at_ms = wm;
  const locked = instant(b.locked_at_ms);
  if (locked !== undefined) t.locked_at_ms = locked;
  const at = instant(b.attempt_at_ms);
  if (at !== undefined) t.attempt_at_ms = at;
  if (Number.isSafeInteger(b.attempt) && (b.attempt as number) >= 1) {
    t.attempt = b.attempt as number;
  }
  if (Array.isArray(b.attempts)) {
    const attempts: DeliveryAttempt[] = [];
    for (const x of b.attempts.slice(0, MAX_ATTEMPTS_READ)) {
      if (typeof x !== "object" || x === null) continue;
      const r = x as Record<string, unknown>;
      const atMs = instant(r.at_ms);
      if (atMs === undefined) continue;
      attempts.push({
        at_ms: atMs,
        answered_at_ms: instant(r.answered_at_ms) ?? atMs,
        status: Number.isSafeInteger(r.status) ? r.status as number : 0,
      });
    }
    t.attempts = attempts;
  }
  return t;
}

/** What `stepsOf` reads of an alert. */
export interface TimedAlert {
  window_end_ms: number;
  fired_at_ms: number;
  early?: unknown;
  /** The receiver's clock at the accepted delivery. */
  received_at_ms: number;
  timeline: AlertTimeline;
}

/** The steps `a` recorded (ms); a step missing a end is absent. `outOfOrderMs`: the bound. */
export function stepsOf(a: TimedAlert, outOfOrderMs: number): Partial<Record<AlertStep, number>> {
  const t = a.timeline;
  const s: Partial<Record<AlertStep, number>> = {};
  const put = (step: AlertStep, to: number | undefined, from: number | undefined) => {
    if (to === undefined || from === undefined) return;
    const d = to - from;
    if (Number.isFinite(d)) s[step] = d;
  };
  const fired = instant(a.fired_at_ms);
  const received = instant(a.received_at_ms);
  const earliest = instant(a.window_end_ms + outOfOrderMs);
  const passed = a.early === true || t.watermark_passed_at_ms === undefined
    ? undefined
    : earliest === undefined
    ? t.watermark_passed_at_ms
    : Math.max(t.watermark_passed_at_ms, earliest);
  put("watermark_lag", passed, earliest);
  put("watermark_to_fire", fired, passed);
  put("fire_to_lock", t.locked_at_ms, fired);
  const attempt = t.attempt;
  const earlier = t.attempts ?? [];
  // The first attempt: this one, or the first earlier one when the body kept them all.
  const first = attempt === 1
    ? t.attempt_at_ms
    : attempt !== undefined && earlier.length === attempt - 1
    ? earlier[0].at_ms
    : undefined;
  put("lock_to_first_attempt", first, t.locked_at_ms);
  put("first_to_last_attempt", t.attempt_at_ms, first);
  put("attempt_to_answer", received, t.attempt_at_ms);
  put("watermark_to_received", received, passed);
  return s;
}

/** p50, p99 and count of each step over `steps` (one entry per alert). */
export function stepFigures(
  steps: readonly Partial<Record<AlertStep, number>>[],
): AlertStepFigures {
  const out = {} as AlertStepFigures;
  for (const step of ALERT_STEPS) {
    const values = steps.map((s) => s[step]).filter((x): x is number => x !== undefined);
    out[step] = { p50: quantile(values, 0.5), p99: quantile(values, 0.99), n: values.length };
  }
  return out;
}

/** `watermark_to_fire p50 12 / p99 40 ms (n 2), …`: the steps that have figures, for a report. */
export function stepsLine(f: Partial<Record<AlertStep, Partial<StepFigure>>> | undefined): string {
  if (!f || typeof f !== "object") return "";
  const parts: string[] = [];
  for (const step of ALERT_STEPS) {
    const x = f[step];
    if (!x || typeof x !== "object" || !x.n) continue;
    const ms = (v: unknown) => typeof v === "number" && Number.isFinite(v) ? String(v) : "-";
    parts.push(`${step} p50 ${ms(x.p50)} / p99 ${ms(x.p99)} ms (n ${ms(x.n)})`);
  }
  return parts.join(", ");
}
