import assert from "node:assert/strict";
import { z } from "zod";
import { isEpochMs, parseJson, parseJsonLines, UnreadableEvidenceError } from "./unreadable.ts";

const Point = z.object({ t: z.number().refine(isEpochMs, "must be an epoch ms") });

const says = (file: string, line: number | null, why: RegExp) => (e: unknown) =>
  e instanceof UnreadableEvidenceError && e.file === file && e.line === line && why.test(e.message);

Deno.test("parseJsonLines: every line checked; a bad one named by file and line", () => {
  assert.deepEqual(parseJsonLines("p.jsonl", '{"t":1}\n\n{"t":2}\n', Point), [{ t: 1 }, { t: 2 }]);
  assert.throws(
    () => parseJsonLines("p.jsonl", '{"t":1}\n{"t":2}\n{"t":', Point),
    says("p.jsonl", 3, /^unreadable evidence: p\.jsonl line 3: not JSON: "\{\\"t\\":"$/),
  );
  assert.throws(
    () => parseJsonLines("p.jsonl", '{"t":1}\n{"t":1e16}\n', Point),
    says("p.jsonl", 2, /line 2: t: must be an epoch ms/),
  );
  assert.throws(
    () => parseJsonLines("p.jsonl", '{"t":"1"}\n', Point),
    says("p.jsonl", 1, /t: .*expected number/),
  );
});

Deno.test("parseJson: a whole file's syntax error names its line; a message shows no escapes raw", () => {
  assert.throws(
    () => parseJson("r.json", '{\n"a": 1\n"t": 2}', Point),
    says("r.json", 3, /not JSON/),
  );
  assert.throws(
    () => parseJson("r.json", JSON.stringify({ ["\u001b[2Kt"]: 1 }), z.strictObject({})),
    // deno-lint-ignore no-control-regex
    (e) => e instanceof UnreadableEvidenceError && !/\u001b/.test(e.message),
  );
});

Deno.test("isEpochMs: integers a date holds, from 1970", () => {
  for (const ok of [0, 1_700_000_000_000, 8.64e15]) assert.equal(isEpochMs(ok), true, String(ok));
  for (const bad of [-1, 1.5, 8.64e15 + 1, 2 ** 53 - 1, NaN, Infinity, "1", null]) {
    assert.equal(isEpochMs(bad), false, String(bad));
  }
});
