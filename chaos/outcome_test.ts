import assert from "node:assert/strict";
import { verdictOf } from "./outcome.ts";

Deno.test("verdictOf: a judged fail stays fail whatever harness error came after it", () => {
  const judged = { verdict: "fail" as const };
  assert.equal(verdictOf({ aborted: false, reasons: [], judged }), "fail");
  // The attack: a hostile pipeline breaks the harness after the judge said fail.
  assert.equal(
    verdictOf({ aborted: false, reasons: ["the run failed: stack not healthy"], judged }),
    "fail",
  );
  assert.equal(verdictOf({ aborted: true, reasons: ["interrupted"], judged }), "fail");
});

Deno.test("verdictOf: a pass with a harness error after it is unknown; no judgement is unknown", () => {
  const judged = { verdict: "pass" as const };
  assert.equal(verdictOf({ aborted: false, reasons: [], judged }), "pass");
  assert.equal(verdictOf({ aborted: false, reasons: ["the run failed: x"], judged }), "unknown");
  assert.equal(verdictOf({ aborted: false, reasons: ["the run failed: x"] }), "unknown");
  assert.equal(verdictOf({ aborted: false, reasons: [] }), "unknown");
});

Deno.test("verdictOf: the submission's own failure fails the run unless interrupted", () => {
  assert.equal(verdictOf({ submissionFailure: "exited", aborted: false, reasons: [] }), "fail");
  assert.equal(
    verdictOf({ submissionFailure: "exited", aborted: true, reasons: ["interrupted"] }),
    "unknown",
  );
});
