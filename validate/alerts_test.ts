import assert from "node:assert/strict";
import type { Alert } from "../pipeline/alert.ts";
import type { Delivery } from "../pipeline/webhook_receiver.ts";
import type { Incident } from "../pipeline/anomalies.ts";
import { type AlertOptions, checkAlerts, claimProblem } from "./alerts.ts";
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

/** The windows every fixture alert claims: 60 s long, starting on a multiple of 10 s. */
const W: AlertOptions = { windowMs: 60_000, slideMs: 10_000 };

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

/**
 * A delivery of `a` (or any body), signed, accepted and keyed by its alert_id unless told
 * otherwise, received 10 ms after it was fired.
 */
function d(body: unknown, extra: Partial<Delivery> = {}): Delivery {
  const fired = (body as Alert | null)?.fired_at_ms ?? 0;
  return {
    received_at_ms: fired + 10,
    body,
    idempotency_key: (body as Alert | null)?.alert_id ?? null,
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
  const r = checkAlerts(incidents, [...good, good[0], good[0]].map((a) => d(a)), W);
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
      [
        ...good.map((a) => d(a)),
        d({ ...good[0], window_start_ms: 80_000, window_end_ms: 140_000 }),
      ],
      "conflicting",
    ],
    ["one alert_id, two entities", [
      ...good.map((a) => d(a)),
      d({ ...good[0], entity: "10.0.0.9" }),
    ], "conflicting"],
  ];
  for (const [name, deliveries, field] of cases) {
    await t.step(name, () => {
      const r = checkAlerts(incidents, deliveries, W);
      assert.equal(r.verdict, "fail", name);
      assert.ok((r[field] as number) > 0, `${name}: ${field} ${r[field]}`);
    });
  }
});

Deno.test("alerts: refused deliveries do not count, their retries do", () => {
  const refused = good.map((a) => d(a, { answered: 503 }));
  assert.equal(checkAlerts(incidents, refused).missed, 2);
  const r = checkAlerts(incidents, [...refused, ...good.map((a) => d(a))], W);
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
  const r = checkAlerts(incidents, [d(good[0]), d(early)], { ...W, outOfOrderMs: 2000 });
  assert.equal(r.matched, 2);
  assert.equal(r.after_watermark_ms_p50, 3000);
  assert.equal(r.after_watermark_ms_p99, 3000);
  const none = checkAlerts(incidents, [d(early)], { outOfOrderMs: 2000 });
  assert.equal(none.after_watermark_ms_p50, null, "an early alert is not counted");
});

/** `good` with the first alert's delivery replaced by `broken` (a delivery, or a body). */
function withBroken(broken: Delivery | Alert): Delivery[] {
  return [
    "body" in broken ? broken : d(broken),
    d(good[1]),
  ];
}

Deno.test("alerts: an accepted delivery claiming the impossible is malformed and matches nothing", async (t) => {
  const a1 = good[0];
  const cases: [string, Delivery | Alert, RegExp][] = [
    [
      "a window covering all time",
      { ...a1, window_start_ms: 0, window_end_ms: Number.MAX_SAFE_INTEGER },
      /is 9007199254740991 ms long, not WINDOW_SIZE 60000/,
    ],
    [
      "a window of the wrong size",
      { ...a1, window_end_ms: a1.window_start_ms + 40_000 },
      /is 40000 ms long, not WINDOW_SIZE 60000/,
    ],
    [
      "a window not on the slide",
      { ...a1, window_start_ms: 75_000, window_end_ms: 135_000 },
      /window start 75000 is not a multiple of WINDOW_SLIDE 10000/,
    ],
    [
      "a window ending before it starts",
      { ...a1, window_start_ms: 130_000, window_end_ms: 70_000 },
      /window \[130000, 70000\) is empty/,
    ],
    [
      "a window ending where it starts",
      { ...a1, window_start_ms: 100_000, window_end_ms: 100_000 },
      /window \[100000, 100000\) is empty/,
    ],
    [
      "a value under its threshold",
      { ...a1, value: 49_999_999, threshold: 50_000_000 },
      /value 49999999 is under its threshold 50000000/,
    ],
    [
      "an Idempotency-Key that is not the alert_id",
      d(a1, { idempotency_key: "a2" }),
      /Idempotency-Key "a2" is not the alert_id/,
    ],
    ["no Idempotency-Key", d(a1, { idempotency_key: null }), /no Idempotency-Key header/],
    ["a value that is no finite number", { ...a1, value: Infinity }, /value/],
    ["a threshold that is no number", { ...a1, threshold: NaN }, /threshold/],
  ];
  for (const [name, broken, finding] of cases) {
    await t.step(name, () => {
      const r = checkAlerts(incidents, withBroken(broken), W);
      assert.equal(r.verdict, "fail", name);
      assert.equal(r.malformed, 1, name);
      assert.match(r.malformed_deliveries[0], finding);
      assert.deepEqual(r.missed_incidents, ["i1 exfil 10.64.0.1"], `${name}: it matched i1`);
      assert.equal(r.matched, 1, `${name}: the good alert still matches`);
    });
  }
  await t.step("a bad retry taints its alert_id, even after a good delivery", () => {
    const r = checkAlerts(incidents, [d(a1), d(a1, { idempotency_key: "x" }), d(good[1])], W);
    assert.equal(r.verdict, "fail");
    assert.equal(r.malformed, 1);
    assert.equal(r.missed, 1);
  });
  await t.step("refused deliveries are not judged for their claims", () => {
    const r = checkAlerts(incidents, [
      d({ ...a1, value: 0 }, { answered: 503 }),
      ...good.map((a) => d(a)),
    ], W);
    assert.equal(r.verdict, "pass", r.reasons.join("; "));
  });
});

Deno.test("alerts: runs that recorded no windows skip the size and slide checks only", () => {
  const odd = { ...good[0], window_start_ms: 95_000, window_end_ms: 101_000 };
  const r = checkAlerts(incidents, [d(odd), d(good[1])]);
  assert.equal(r.verdict, "pass", r.reasons.join("; "));
  const low = checkAlerts(incidents, [d({ ...odd, value: 0 }), d(good[1])]);
  assert.equal(low.verdict, "fail");
  assert.equal(low.malformed, 1);
});

Deno.test("alerts: an alert fired or received before its incident began is a false positive", async (t) => {
  const a1 = good[0]; // exfil 10.64.0.1, window [70 s, 130 s); i1 begins at 100 s
  const cases: [string, Delivery][] = [
    ["fired and received before", d({ ...a1, fired_at_ms: 99_000 })],
    [
      "fired before, received after",
      d({ ...a1, fired_at_ms: 99_999 }, { received_at_ms: 100_005 }),
    ],
    ["fired after by its own clock, received before", d(a1, { received_at_ms: 99_999 })],
  ];
  for (const [name, early] of cases) {
    await t.step(name, () => {
      const r = checkAlerts(incidents, [early, d(good[1])], W);
      assert.equal(r.verdict, "fail", name);
      assert.deepEqual(r.missed_incidents, ["i1 exfil 10.64.0.1"]);
      assert.equal(r.false_positives, 1);
      assert.match(
        r.false_positive_alerts[0],
        /^a1 exfil 10\.64\.0\.1: fired before the incident began \(i1 /,
      );
      assert.ok(
        r.reasons.some((x) => /1 fired before the incident began/.test(x)),
        r.reasons.join("; "),
      );
    });
  }
  await t.step("a guessed alert beside the real one is still a false positive", () => {
    const guess = { ...alert("g1", "exfil", "10.64.0.1", 50_000), fired_at_ms: 95_000 };
    const r = checkAlerts(incidents, [d(guess), ...good.map((a) => d(a))], W);
    assert.equal(r.verdict, "fail");
    assert.equal(r.matched, 2);
    assert.match(r.false_positive_alerts[0], /^g1 .*fired before the incident began/);
  });
  await t.step("fired at the incident's first event passes", () => {
    const r = checkAlerts(incidents, [d({ ...a1, fired_at_ms: 100_000 }), d(good[1])], W);
    assert.equal(r.verdict, "pass", r.reasons.join("; "));
  });
});

Deno.test("alerts: a correct early alert (fired before its window ends, nominal window) passes", () => {
  // Fired 5 s into i1, 25 s before its window [70 s, 130 s) ends.
  const early = { ...good[0], fired_at_ms: 105_000, early: true };
  const r = checkAlerts(incidents, [d(early), d(good[1])], W);
  assert.equal(r.verdict, "pass", r.reasons.join("; "));
  assert.equal(r.matched, 2);
  assert.equal(r.detect_ms_p50, 5010); // the smaller of i1's and i2's (15010)
  assert.equal(r.latency_ms_p50, -25_000, "fired before the window's end");
});

Deno.test("claimProblem: null for a well-formed claim, the first problem otherwise", () => {
  assert.equal(claimProblem(good[0], "a1", W), null);
  assert.equal(
    claimProblem({ ...good[0], window_start_ms: -60_000, window_end_ms: 0 }, "a1", W),
    null,
  );
  assert.match(claimProblem({ ...good[0], value: 0 }, "b", W)!, /Idempotency-Key/);
});
