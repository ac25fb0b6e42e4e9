import assert from "node:assert/strict";
import { alertStepRows, alertStepsHtml, alertStepsMarkdown } from "./alert_steps.ts";
import { stepFigures } from "../validate/alert_steps.ts";

Deno.test("alert steps: a table of the recorded steps, none for an older run", () => {
  const alerts = {
    alert_steps: stepFigures([{ watermark_lag: 2000, watermark_to_fire: 40 }, {
      watermark_to_fire: 60,
    }]),
    after_watermark_ms_p99: 400,
    after_watermark_basis: "detector",
    after_watermark_wall_ms_p99: 2100,
  };
  assert.deepEqual(alertStepRows(alerts).map((r) => r.slice(0, 4)), [
    ["watermark_lag", "2000", "2000", "1"],
    ["watermark_to_fire", "40", "60", "2"],
  ]);
  const md = alertStepsMarkdown(alerts).join("\n");
  assert.match(md, /\| watermark_to_fire \| 40 \| 60 \| 2 \|/);
  assert.match(md, /p99 400 ms \(receiver's answer/);
  assert.match(md, /older wall-clock figure .* p99 2100 ms/);
  assert.match(alertStepsHtml(alerts), /<td>watermark_to_fire<\/td><td>40<\/td><td>60<\/td>/);
  for (const old of [null, undefined, 3, {}, { alert_steps: null }, { alert_steps: [] }]) {
    assert.deepEqual(alertStepsMarkdown(old), []);
    assert.equal(alertStepsHtml(old), "");
  }
});

Deno.test("alert steps: hostile figures are shown as '-' and escaped", () => {
  const alerts = {
    alert_steps: {
      fire_to_lock: { p50: "<script>", p99: Infinity, n: 1 },
      watermark_lag: { n: "<b>" },
      bogus_step: { p50: 1, p99: 1, n: 1 },
    },
    after_watermark_ms_p99: "<i>",
  };
  assert.deepEqual(alertStepRows(alerts).map((r) => r.slice(0, 4)), [
    ["fire_to_lock", "-", "-", "1"],
  ]);
  assert.doesNotMatch(alertStepsHtml(alerts), /<script>|<i>/);
});
