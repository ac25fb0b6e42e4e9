import assert from "node:assert/strict";
import { type Alert, alertBody, sign, verify } from "./alert.ts";

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
