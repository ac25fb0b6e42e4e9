/**
 * `recheckOutcome`: what `validate --run` exits with when its verdict and the recorded one
 * differ. The worse stands; a re-check never upgrades a recorded fail.
 */

import assert from "node:assert/strict";
import { recheckOutcome } from "./cli_validate.ts";
import { exitCodeOf, type Verdict } from "./verdict.ts";

Deno.test("recheckOutcome: a recorded fail re-checked pass exits 1, never 0", () => {
  const o = recheckOutcome("fail", "pass");
  assert.deepEqual(o, { verdict: "fail", recorded: "fail", differs: true });
  assert.equal(exitCodeOf(o.verdict), 1);
});

Deno.test("recheckOutcome: a recorded pass re-checked fail exits 1", () => {
  const o = recheckOutcome("pass", "fail");
  assert.deepEqual(o, { verdict: "fail", recorded: "pass", differs: true });
  assert.equal(exitCodeOf(o.verdict), 1);
});

Deno.test("recheckOutcome: the worse of every pair (fail > unknown > pass)", () => {
  const verdicts: Verdict[] = ["pass", "unknown", "fail"];
  const expected: Record<string, Verdict> = {
    "pass/pass": "pass",
    "pass/unknown": "unknown",
    "pass/fail": "fail",
    "unknown/pass": "unknown",
    "unknown/unknown": "unknown",
    "unknown/fail": "fail",
    "fail/pass": "fail",
    "fail/unknown": "fail",
    "fail/fail": "fail",
  };
  for (const recorded of verdicts) {
    for (const rechecked of verdicts) {
      const o = recheckOutcome(recorded, rechecked);
      assert.equal(o.verdict, expected[`${recorded}/${rechecked}`], `${recorded}/${rechecked}`);
      assert.equal(o.differs, recorded !== rechecked, `${recorded}/${rechecked}`);
    }
  }
});

Deno.test("recheckOutcome: a recorded verdict that is none is unknown, never a pass", () => {
  for (const recorded of [undefined, null, "PASS", "ok", 0, { verdict: "pass" }]) {
    const o = recheckOutcome(recorded, "pass");
    assert.equal(o.recorded, "unknown", String(recorded));
    assert.equal(o.verdict, "unknown", String(recorded));
    assert.equal(o.differs, true);
    assert.equal(recheckOutcome(recorded, "fail").verdict, "fail");
  }
});
