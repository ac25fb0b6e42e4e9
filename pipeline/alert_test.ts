import assert from "node:assert/strict";
import { type Alert, alertBody, attemptBody, MAX_ATTEMPTS_KEPT, sign, verify } from "./alert.ts";

const alert: Alert = {
  alert_id: "abc123",
  rule: "exfil",
  entity: "10.64.0.7",
  window_start_ms: Date.UTC(2026, 10, 22, 12, 0, 0),
  window_end_ms: Date.UTC(2026, 10, 22, 12, 1, 0),
  value: 61_000_000,
  threshold: 50_000_000,
  fired_at_ms: Date.UTC(2026, 10, 22, 12, 1, 6),
};

Deno.test("alertBody: json is the contract's object", () => {
  assert.deepEqual(JSON.parse(alertBody(alert)), alert);
});

Deno.test("alertBody: Slack and Discord messages carry the figures and the alert_id", () => {
  const slack = JSON.parse(alertBody(alert, "slack"));
  assert.deepEqual(Object.keys(slack), ["text"]);
  assert.match(
    slack.text,
    /\*Data exfiltration from 10\.64\.0\.7\*: value 61000000 over threshold 50000000/,
  );
  assert.match(slack.text, /`abc123`/);
  const discord = JSON.parse(alertBody(alert, "discord"));
  assert.match(discord.content, /Data exfiltration from 10\.64\.0\.7/);
  assert.deepEqual(discord.embeds[0].fields[1], { name: "alert_id", value: "abc123" });
  assert.equal(discord.embeds[0].timestamp, "2026-11-22T12:01:06.000Z");
});

Deno.test("signatures verify, and fail for another body or secret", () => {
  const body = alertBody(alert, "slack");
  assert.ok(verify(body, "s3cret", sign(body, "s3cret")));
  assert.ok(!verify(body + " ", "s3cret", sign(body, "s3cret")));
  assert.ok(!verify(body, "other", sign(body, "s3cret")));
  assert.ok(!verify(body, "s3cret", null));
});

Deno.test("attemptBody: the json body gains the timeline; other formats are sent as they are", () => {
  const base = alertBody({ ...alert, watermark_passed_at_ms: alert.fired_at_ms - 40 });
  const attempts = Array.from({ length: 12 }, (_, i) => ({
    at_ms: i,
    answered_at_ms: i + 1,
    status: 503,
  }));
  const body = JSON.parse(
    attemptBody(base, { locked_at_ms: 5, attempt: 13, attempt_at_ms: 9, attempts }),
  );
  assert.deepEqual(body, {
    ...alert,
    watermark_passed_at_ms: alert.fired_at_ms - 40,
    locked_at_ms: 5,
    attempt: 13,
    attempt_at_ms: 9,
    attempts: attempts.slice(-MAX_ATTEMPTS_KEPT),
  });
  assert.deepEqual(JSON.parse(attemptBody(base, { attempt: 1, attempts: [] })), {
    ...alert,
    watermark_passed_at_ms: alert.fired_at_ms - 40,
    attempt: 1,
  }, "no earlier attempt: no attempts field");
  assert.equal(attemptBody(base, {}), base);
  assert.deepEqual(JSON.parse(attemptBody("{}", { attempt: 1 })), { attempt: 1 });
  const slack = alertBody(alert, "slack");
  assert.equal(attemptBody(slack, { attempt: 1 }, "slack"), slack);
  assert.equal(attemptBody("not json", { attempt: 1 }), "not json");
});
