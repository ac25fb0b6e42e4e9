/**
 * `sealState` (chaos/cli_grade.ts): the grader reads each run folder's seal before it grades
 * the run; a folder without a seal that verifies under the harness's key is said, with why.
 */

import assert from "node:assert/strict";
import { join } from "node:path";
import { sealRunFolder } from "../validate/seal.ts";
import { sealState } from "./cli_grade.ts";

Deno.test("sealState(): sealed, missing, altered, another key, or a run that said it could not seal", async () => {
  const dir = await Deno.makeTempDir({ prefix: "grade-seal-" });
  const key = crypto.getRandomValues(new Uint8Array(32));
  const passed = { exitCode: 0, verdict: "pass" };
  try {
    await Deno.writeTextFile(join(dir, "results.json"), '{"verdict":"pass"}');
    assert.deepEqual(await sealState(dir, () => key, passed), {
      ok: false,
      why: "missing: seal.json",
    });
    await sealRunFolder(dir, key, { runId: "r1", store: null, webhookSecret: null });
    assert.deepEqual(await sealState(dir, () => key, passed), { ok: true });
    // The run's own word: a pass with exit 3 is a seal it could not write.
    assert.deepEqual(await sealState(dir, () => key, { exitCode: 3, verdict: "pass" }), {
      ok: false,
      why: "the run could not write its seal",
    });
    const other = crypto.getRandomValues(new Uint8Array(32));
    assert.match((await sealState(dir, () => other, passed) as { why: string }).why, /another key/);
    const noKey = () => {
      throw new Error("no key file at /x");
    };
    assert.match(
      (await sealState(dir, noKey, passed) as { why: string }).why,
      /could not be checked: no key file/,
    );
    await Deno.writeTextFile(join(dir, "results.json"), '{"verdict":"fail"}');
    assert.deepEqual(await sealState(dir, () => key, passed), {
      ok: false,
      why: "altered: results.json",
    });
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
