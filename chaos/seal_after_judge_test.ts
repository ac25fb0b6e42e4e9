/**
 * The red team's attack, on a short real run (local stack): one of the run's stored objects goes
 * while the run goes on (the judge finds its records lost: the run records fail), and the "sink"
 * puts it back once judged (the run's `afterJudge` hook, with the pipeline's own S3 keys). The
 * seal keeps the listing the judge checked, so `validate --run` names the repair ("store changed
 * since the run: ... added") and exits 1, never 0; the kept store brought back to what the judge
 * saw matches the seal again and re-checks as recorded (fail, no change named).
 */

import assert from "node:assert/strict";
import { join } from "node:path";
import { LocalStack } from "../compose/local_stack.ts";
import { serveStore } from "../compose/store_server.ts";
import { processesWith, runDeno, slow } from "../compose/testing.ts";
import { waitFor } from "../lib/wait.ts";
import { objectStore, s3FromEnv } from "../pipeline/store.ts";
import { loadScenario } from "./cli_scenario.ts";
import { runScenario } from "./engine.ts";
import { runNames } from "./run_names.ts";

const NAME = "steady-state";

/**
 * Takes one of the run's stored objects away once there is one (its bytes kept): the run in
 * `out` is found by its folder, its store by its stack's endpoints (the harness's keys).
 */
async function takeOneObject(out: string): Promise<{ key: string; bytes: Uint8Array }> {
  const runId = await waitFor(async () => {
    for await (const e of Deno.readDir(join(out, NAME))) {
      if (e.isDirectory) return `${NAME}-${e.name}`.toLowerCase();
    }
    return undefined;
  }, { what: "the run's folder", timeoutMs: 60_000 }); // not there yet: a check that throws
  const stack = await waitFor(() => LocalStack.attach(runId), {
    what: "the run's stack",
    timeoutMs: 240_000,
  });
  const store = objectStore(stack.endpoints.s3);
  const prefix = `events/${runNames("local", runId).topic}/`;
  const key = await waitFor(
    async () => (await store.list(prefix).catch(() => []))[0]?.name,
    { what: "a stored object of the run", timeoutMs: 240_000, intervalMs: 100 },
  );
  const bytes = await store.getBytes(key);
  await store.client.removeObject(store.bucket, key);
  return { key, bytes };
}

Deno.test({
  name: "seal: a store repaired after the judge re-checks exit 1 (recorded fail), never 0",
  ...slow,
}, async () => {
  const out = await Deno.makeTempDir({ prefix: "seal-after-judge-" });
  const realKeyFile = Deno.env.get("CHAOS_KEY_FILE");
  Deno.env.set("CHAOS_KEY_FILE", join(out, "harness.key")); // the re-checks inherit it
  try {
    const scenario = await loadScenario(NAME, [
      "workload.eps=1000",
      "workload.duration=15s",
      'workload.incidents=[{"at":"3s","kind":"exfil","duration":"6s"}]',
      "checks.settle=60s",
    ]);
    const taken = takeOneObject(out);
    taken.catch(() => {}); // awaited below
    let repaired = false;
    const { results, runDir } = await runScenario(scenario, {
      outDir: out,
      // The hostile sink, once judged: the object back as it was (the pipeline's own keys).
      afterJudge: async ({ env }) => {
        const { key, bytes } = await taken;
        await objectStore(s3FromEnv(env)!).putBytes(key, bytes, "application/gzip");
        repaired = true;
      },
    });
    const { key, bytes } = await taken;
    const explain = `${results.verdict}: ${results.reasons.join("; ")}`;
    assert.ok(repaired, `the hook ran (${explain})`);
    assert.equal(results.verdict, "fail", explain);
    assert.ok((results.completeness?.lost ?? 0) > 0, explain);
    const history = await Deno.readTextFile(join(runDir, "history.jsonl"));
    const after = history.split("\n").filter((l) => l.includes('"store-after-judge"'));
    assert.equal(after.length, 1, "the change after the judge is in the history");
    assert.ok(after[0].includes(`${key} added`), after[0]);

    const validate = () => runDeno(["validate/cli_validate.ts", "--run", runDir]);
    const res = await validate();
    console.log(`validate --run after the repair: exit ${res.code}\n${res.stdout.slice(0, 600)}`);
    assert.equal(res.code, 1, res.stdout + res.stderr);
    assert.match(res.stdout, /\(recorded: fail\)/);
    assert.ok(res.stdout.includes(`store changed since the run: ${key} added`), res.stdout);

    // The kept store as the judge saw it: it matches the seal, and re-checks as recorded.
    const server = await serveStore(join(runDir, "stack", "minio"));
    try {
      const store = objectStore(server.s3);
      assert.deepEqual(await store.getBytes(key), bytes, "the repair is in the kept store");
      await store.client.removeObject(store.bucket, key);
    } finally {
      await server.stop();
    }
    const judged = await validate();
    assert.equal(judged.code, 1, judged.stdout + judged.stderr);
    assert.match(judged.stdout, /FAIL \(recorded: fail\)/);
    assert.doesNotMatch(judged.stdout, /store changed since the run|the worse stands/);
    assert.deepEqual(processesWith(results.run_id), []);
  } finally {
    if (realKeyFile === undefined) Deno.env.delete("CHAOS_KEY_FILE");
    else Deno.env.set("CHAOS_KEY_FILE", realKeyFile);
    await Deno.remove(out, { recursive: true }).catch(() => {});
  }
});
