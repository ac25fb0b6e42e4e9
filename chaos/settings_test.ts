import assert from "node:assert/strict";
import { validateScenario } from "./scenario.ts";
import { verdictSettings } from "./settings.ts";

const base = {
  name: "t",
  description: "t",
  seed: 1,
  workload: { eps: 100, duration: "10s" },
};

Deno.test("verdict settings: reorders fail the run unless allowed, or idempotence is off", () => {
  assert.equal(verdictSettings(validateScenario(base)).allow_reorder, false);
  assert.equal(
    verdictSettings(validateScenario({ ...base, checks: { allow_reorder: true } })).allow_reorder,
    true,
  );
  assert.equal(
    verdictSettings(validateScenario({ ...base, stack: { idempotent: false } })).allow_reorder,
    true,
  );
});
