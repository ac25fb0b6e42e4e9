import assert from "node:assert/strict";
import { FailureNames, RepeatFolder } from "./test_output.ts";

Deno.test("FailureNames: the names in deno test's FAILURES section, nothing before it", () => {
  const f = new FailureNames();
  const out = [
    "a test => ./chaos/a_test.ts:10:6",
    "running 3 tests from ./x_test.ts",
    " \x1b[0m\x1b[1m\x1b[37m\x1b[41m ERRORS \x1b[0m",
    "b test => ./x_test.ts:4:6",
    "error: AssertionError: nope",
    " \x1b[0m\x1b[1m\x1b[37m\x1b[41m FAILURES \x1b[0m",
    "",
    "b test => ./x_test.ts:4:6",
    "grade: the cheating submissions a and b fail => ./reports/grade_test.ts:362:3",
    "",
    "\x1b[0m\x1b[1m\x1b[31mFAILED\x1b[0m | 704 passed | 2 failed (50m)",
    "c test => ./y_test.ts:1:1",
  ];
  for (const l of out) f.line(l);
  assert.deepEqual(f.names, [
    "b test (x_test.ts:4)",
    "grade: the cheating submissions a and b fail (reports/grade_test.ts:362)",
  ]);
});

Deno.test("RepeatFolder: keeps the first lines of a run and counts the rest", () => {
  const fold = new RepeatFolder(2);
  const lines = ["a", "x", "x", "x", "x", "b", "b", "b", "c"].flatMap((l) => fold.line(l));
  assert.deepEqual([...lines, ...fold.flush()], [
    "a",
    "x",
    "x",
    "(the line above 2 more times)",
    "b",
    "b",
    "(the line above 1 more time)",
    "c",
  ]);
  const end = new RepeatFolder(1);
  const tail = ["z", "z", "z"].flatMap((l) => end.line(l));
  assert.deepEqual([...tail, ...end.flush()], ["z", "(the line above 2 more times)"]);
  assert.deepEqual(end.flush(), [], "a second flush says nothing more");
});
