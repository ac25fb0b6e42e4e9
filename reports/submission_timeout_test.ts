import assert from "node:assert/strict";
import { UsageError } from "../lib/exit_codes.ts";
import { MAX_SUBMISSION_TIMEOUT, parseSubmission } from "./submission.ts";

const pipeline = { sink: "./sink.sh", detector: "./detector.sh" };

Deno.test("parseSubmission: a timeout over the grader's bound is refused (exit 2)", () => {
  assert.equal(MAX_SUBMISSION_TIMEOUT, "2h");
  for (const timeout of ["3h", "121m", "100000h"]) {
    assert.throws(
      () => parseSubmission({ pipeline, timeout }, "/tmp/s/submission.yaml"),
      (e: unknown) =>
        e instanceof UsageError &&
        /timeout: must be at most 2h \(the grader's bound\)/.test(e.message),
    );
  }
});

Deno.test("parseSubmission: a timeout up to the bound is taken", () => {
  assert.equal(parseSubmission({ pipeline, timeout: "2h" }, "/tmp/s/x.yaml").timeoutMs, 7_200_000);
  assert.equal(parseSubmission({ pipeline }, "/tmp/s/x.yaml").timeoutMs, 900_000);
});

Deno.test("parseSubmission: a name of dots only is refused (it names the grade's folder)", () => {
  for (const name of [".", "..", "..."]) {
    assert.throws(
      () => parseSubmission({ pipeline, name }, "/tmp/s/x.yaml"),
      (e: unknown) => e instanceof UsageError && /name: must be letters/.test(e.message),
      name,
    );
  }
  assert.equal(parseSubmission({ pipeline, name: "team.a-1" }, "/tmp/s/x.yaml").name, "team.a-1");
  assert.equal(parseSubmission({ pipeline }, "/tmp/../x.yaml").name, "submission", "folder /");
});
