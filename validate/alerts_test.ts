import assert from "node:assert/strict";
import type { Alert } from "../pipeline/alert.ts";
import type { Delivery } from "../pipeline/webhook_receiver.ts";
import type { Incident } from "../pipeline/anomalies.ts";
import { checkAlerts } from "./alerts.ts";
import { combine } from "./verdict.ts";

const incidents: Incident[] = [
  {
    id: "i1",
    kind: "exfil",
    entity: "10.64.0.1",
    start_ms: 100_000,
    end_ms: 120_000,
    events: 40,
    scheduled: true,
  },
  {
    id: "i2",
    kind: "port_scan",
    entity: "198.18.0.1",
    start_ms: 130_000,
    end_ms: 135_000,
    events: 150,
    scheduled: true,
  },
];

function alert(id: string, rule: Alert["rule"], entity: string, start: number): Alert {
  return {
    alert_id: id,
    rule,
    entity,
    window_start_ms: start,
    window_end_ms: start + 60_000,
    value: 1,
    threshold: 1,
    fired_at_ms: start + 65_000,
  };
}

/** A delivery of `a` (or any body), signed and accepted unless told otherwise. */
function d(body: unknown, extra: Partial<Delivery> = {}): Delivery {
  const fired = (body as Alert | null)?.fired_at_ms ?? 0;
  return {
    received_at_ms: fired + 10,
    body,
    idempotency_key: null,
    signature_ok: true,
    answered: 200,
    ...extra,
  };
}

const good = [
  alert("a1", "exfil", "10.64.0.1", 70_000),
  alert("a2", "port_scan", "198.18.0.1", 80_000),
];

Deno.test("alerts: one per incident passes; retries of an alert_id are not duplicates", () => {
  const r = checkAlerts(incidents, [...good, good[0], good[0]].map((a) => d(a)));
  assert.equal(r.verdict, "pass", r.reasons.join("; "));
  assert.equal(r.matched, 2);
  assert.equal(r.deliveries, 4);
  assert.equal(r.latency_ms_p50, 5000);
});

Deno.test("alerts: a missed incident fails", () => {
  const r = checkAlerts(incidents, [d(good[0])]);
  assert.equal(r.verdict, "fail");
  assert.deepEqual(r.missed_incidents, ["i2 port_scan 198.18.0.1"]);
});

Deno.test("alerts: the same incident alerted under a second alert_id fails", () => {
  const r = checkAlerts(
    incidents,
    [...good, alert("a3", "exfil", "10.64.0.1", 80_000)].map((a) => d(a)),
  );
  assert.equal(r.verdict, "fail");
  assert.equal(r.duplicated, 1);
});

Deno.test("alerts: an alert without an incident is a false positive", () => {
  const r = checkAlerts(
    incidents,
    [...good, alert("a4", "reset_storm", "10.112.0.9", 80_000)].map((a) => d(a)),
  );
  assert.equal(r.verdict, "fail");
  assert.deepEqual(r.false_positive_alerts, ["a4 reset_storm 10.112.0.9"]);
});

Deno.test("alerts: right entity, wrong rule or far outside the window does not match", () => {
  const wrongRule = checkAlerts([incidents[0]], [d(alert("a5", "port_scan", "10.64.0.1", 70_000))]);
  assert.equal(wrongRule.missed, 1);
  assert.equal(wrongRule.false_positives, 1);
  const tooLate = checkAlerts([incidents[0]], [d(alert("a6", "exfil", "10.64.0.1", 900_000))]);
  assert.equal(tooLate.verdict, "fail");
});

Deno.test("alerts: broken deliveries fail, never crash", async (t) => {
  const cases: [string, Delivery[], keyof ReturnType<typeof checkAlerts>][] = [
    [
      "every delivery unsigned",
      good.map((a) => d(a, { signature_ok: false, answered: 401 })),
      "unsigned",
    ],
    ["one unsigned among good ones", [
      ...good.map((a) => d(a)),
      d(good[0], { signature_ok: false }),
    ], "unsigned"],
    ["a null body", [...good.map((a) => d(a)), d(null)], "malformed"],
    ["a body that is not JSON", [...good.map((a) => d(a)), d("<html>")], "malformed"],
    [
      "a mistyped field",
      [...good.map((a) => d(a)), d({ ...good[0], window_start_ms: "soon" })],
      "malformed",
    ],
    [
      "a missing field",
      [...good.map((a) => d(a)), d({ ...good[0], rule: undefined })],
      "malformed",
    ],
    [
      "one alert_id, two windows",
      [...good.map((a) => d(a)), d({ ...good[0], window_end_ms: 1 })],
      "conflicting",
    ],
    ["one alert_id, two entities", [
      ...good.map((a) => d(a)),
      d({ ...good[0], entity: "10.0.0.9" }),
    ], "conflicting"],
  ];
  for (const [name, deliveries, field] of cases) {
    await t.step(name, () => {
      const r = checkAlerts(incidents, deliveries);
      assert.equal(r.verdict, "fail", name);
      assert.ok((r[field] as number) > 0, `${name}: ${field} ${r[field]}`);
    });
  }
});

Deno.test("alerts: refused deliveries do not count, their retries do", () => {
  const refused = good.map((a) => d(a, { answered: 503 }));
  assert.equal(checkAlerts(incidents, refused).missed, 2);
  const r = checkAlerts(incidents, [...refused, ...good.map((a) => d(a))]);
  assert.equal(r.verdict, "pass", r.reasons.join("; "));
});

Deno.test("alerts: time to detect is the first accepted delivery minus the incident's start", () => {
  const r = checkAlerts(incidents, good.map((a) => d(a)));
  // fired at window start + 65 s, received 10 ms later; incidents start at 100 s and 130 s.
  assert.equal(r.detect_ms_p50, 80_000 + 65_010 - 130_000); // the smaller of two, by nearest rank
  assert.equal(r.detect_ms_p99, 70_000 + 65_010 - 100_000);
});

Deno.test("alerts: no incident injected is unknown, not pass", () => {
  assert.equal(checkAlerts([], []).verdict, "unknown");
});

Deno.test("verdicts combine: fail beats unknown beats pass", () => {
  assert.equal(combine(["pass", "pass"]), "pass");
  assert.equal(combine(["pass", "unknown"]), "unknown");
  assert.equal(combine(["unknown", "fail", "pass"]), "fail");
});

Deno.test("alerts: the detector's delay after the watermark, window-close alerts only", () => {
  // a1 closes at 130 s and fires at 135 s: 0 after a 5 s bound, 3000 after a 2 s one.
  const early = { ...alert("a2", "port_scan", "198.18.0.1", 80_000), early: true };
  const r = checkAlerts(incidents, [d(good[0]), d(early)], { outOfOrderMs: 2000 });
  assert.equal(r.matched, 2);
  assert.equal(r.after_watermark_ms_p50, 3000);
  assert.equal(r.after_watermark_ms_p99, 3000);
  const none = checkAlerts(incidents, [d(early)], { outOfOrderMs: 2000 });
  assert.equal(none.after_watermark_ms_p50, null, "an early alert is not counted");
});
