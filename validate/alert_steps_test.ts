import assert from "node:assert/strict";
import type { Alert } from "../pipeline/alert.ts";
import type { Delivery } from "../pipeline/webhook_receiver.ts";
import type { Incident } from "../pipeline/anomalies.ts";
import { ALERT_STEPS, alertTimeline, stepFigures, stepsLine, stepsOf } from "./alert_steps.ts";
import { checkAlerts } from "./alerts.ts";

const incident: Incident = {
  id: "i1",
  kind: "exfil",
  entity: "10.64.0.1",
  start_ms: 100_000,
  end_ms: 120_000,
  events: 40,
  scheduled: true,
};

/** Window [70 s, 130 s), bound 5 s: the watermark can pass its end at 135 s at the earliest. */
const base: Alert = {
  alert_id: "a1",
  rule: "exfil",
  entity: "10.64.0.1",
  window_start_ms: 70_000,
  window_end_ms: 130_000,
  value: 2,
  threshold: 1,
  fired_at_ms: 137_100,
  early: false,
};

/** The watermark passed at 137 s (2 s of transport), fired 100 ms later, locked, sent twice. */
const timed = {
  ...base,
  watermark_passed_at_ms: 137_000,
  locked_at_ms: 137_110,
  attempt: 2,
  attempt_at_ms: 137_400,
  attempts: [{ at_ms: 137_115, answered_at_ms: 137_130, status: 503 }],
};

function d(body: unknown, received: number): Delivery {
  return {
    received_at_ms: received,
    body,
    idempotency_key: "a1",
    signature_ok: true,
    answered: 200,
  };
}

Deno.test("stepsOf: each step of an alert's timeline, the transport apart", () => {
  const s = stepsOf({ ...timed, received_at_ms: 137_405, timeline: alertTimeline(timed) }, 5000);
  assert.deepEqual(s, {
    watermark_lag: 2000,
    watermark_to_fire: 100,
    fire_to_lock: 10,
    lock_to_first_attempt: 5,
    first_to_last_attempt: 285,
    attempt_to_answer: 5,
    watermark_to_received: 405,
  });
  const early = stepsOf(
    { ...timed, early: true, received_at_ms: 137_405, timeline: alertTimeline(timed) },
    5000,
  );
  assert.equal(early.watermark_to_fire, undefined, "an early alert passed no watermark");
  assert.equal(early.fire_to_lock, 10);
});

Deno.test("alertTimeline: hostile timelines are dropped or bounded, never thrown on", () => {
  for (const body of [null, 7, "x", [], { attempts: "x" }, { watermark_passed_at_ms: "1" }]) {
    const t = alertTimeline(body);
    assert.equal(t.watermark_passed_at_ms, undefined);
  }
  const t = alertTimeline({
    watermark_passed_at_ms: 1e300,
    locked_at_ms: NaN,
    attempt_at_ms: -5,
    attempt: 1.5,
    attempts: [null, 3, { at_ms: 1, status: "x" }, ...Array(10_000).fill({ at_ms: 2 })],
  });
  assert.equal(t.watermark_passed_at_ms, undefined, "no date holds it");
  assert.equal(t.locked_at_ms, undefined);
  assert.equal(t.attempt_at_ms, -5, "a negative instant is a figure, not a crash");
  assert.equal(t.attempt, undefined);
  assert.equal(t.attempts!.length, 62, "at most 64 looked at");
  assert.deepEqual(t.attempts![0], { at_ms: 1, answered_at_ms: 1, status: 0 });
  // A watermark claimed before the window could close counts from the earliest possible moment.
  const s = stepsOf(
    { ...base, received_at_ms: 140_000, timeline: { watermark_passed_at_ms: 0 } },
    5000,
  );
  assert.equal(s.watermark_lag, 0);
  assert.equal(s.watermark_to_received, 5000);
});

Deno.test("stepFigures and stepsLine: p50/p99 per step, only the recorded ones printed", () => {
  const f = stepFigures([{ fire_to_lock: 10 }, { fire_to_lock: 30 }, {}]);
  assert.deepEqual(f.fire_to_lock, { p50: 10, p99: 30, n: 2 });
  assert.deepEqual(f.watermark_to_fire, { p50: null, p99: null, n: 0 });
  assert.deepEqual(Object.keys(f), [...ALERT_STEPS]);
  assert.equal(stepsLine(f), "fire_to_lock p50 10 / p99 30 ms (n 2)");
  assert.equal(stepsLine(undefined), "");
  assert.equal(
    stepsLine({ fire_to_lock: { n: 1, p50: "<b>" as unknown as number, p99: 1 } }),
    "fire_to_lock p50 - / p99 1 ms (n 1)",
  );
});

Deno.test("checkAlerts: after the watermark from the detector's record, else the wall clock", () => {
  const r = checkAlerts([incident], [d(timed, 137_405)], { outOfOrderMs: 5000 });
  assert.equal(r.verdict, "pass");
  assert.equal(r.after_watermark_ms_p99, 405, "received minus the watermark passing");
  assert.equal(r.after_watermark_basis, "detector");
  assert.equal(r.after_watermark_wall_ms_p99, 2100, "the older figure: fired minus end + bound");
  assert.equal(r.alert_steps!.watermark_lag.p99, 2000, "the transport, on its own");
  assert.equal(r.alert_steps!.attempt_to_answer.p99, 5);
  const old = checkAlerts([incident], [d(base, 137_105)], { outOfOrderMs: 5000 });
  assert.equal(old.after_watermark_ms_p99, 2100, "an older detector: the older figure");
  assert.equal(old.after_watermark_basis, "wall");
  assert.equal(old.alert_steps!.watermark_to_fire.n, 0);
});

Deno.test("checkAlerts: the timeline never changes a verdict, whatever it holds", () => {
  const hostile = [
    { ...base, watermark_passed_at_ms: "soon", attempts: { length: 1e9 }, attempt: -1 },
    { ...base, watermark_passed_at_ms: -1e15, locked_at_ms: 8.64e15, attempt_at_ms: 1e308 },
    { ...base, attempts: [{ at_ms: Infinity }], locked_at_ms: null },
  ];
  for (const body of hostile) {
    const r = checkAlerts([incident], [d(body, 137_105)], { outOfOrderMs: 5000 });
    assert.equal(r.verdict, "pass", JSON.stringify(body));
    assert.equal(r.malformed, 0);
    for (const f of Object.values(r.alert_steps!)) {
      assert.ok(f.p99 === null || Number.isFinite(f.p99));
    }
  }
  // A broken alert still fails with a timeline that claims perfection.
  const late = { ...timed, value: 0 };
  assert.equal(checkAlerts([incident], [d(late, 137_405)]).verdict, "fail");
});
