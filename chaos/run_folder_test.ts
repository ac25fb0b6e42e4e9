import assert from "node:assert/strict";
import { join } from "node:path";
import { createRunFolder, findRunDir, linkLatest } from "./run_folder.ts";

Deno.test("run folders: runs of one scenario started in the same second get ids of their own", async () => {
  const tmp = await Deno.makeTempDir({ prefix: "run-folder-" });
  const claims = join(tmp, "claims");
  Deno.env.set("CHAOS_RUN_CLAIMS_DIR", claims);
  try {
    // Two outputs (two clones of the harness) and one output twice, all at once.
    const runs = await Promise.all([
      createRunFolder("smoke", join(tmp, "a")),
      createRunFolder("smoke", join(tmp, "b")),
      createRunFolder("smoke", join(tmp, "a")),
    ]);
    const ids = runs.map((r) => r.runId);
    assert.equal(new Set(ids).size, 3, ids.join(" "));
    assert.equal(new Set(runs.map((r) => r.dir)).size, 3);
    for (const run of runs) {
      assert.ok((await Deno.stat(join(run.dir, "logs"))).isDirectory);
      assert.match(run.runId, /^smoke-\d{8}t\d{6}z(-\d+)?$/);
    }
    // The latest link and the lookup by run id follow a suffixed folder too.
    const last = runs.find((r) => r.runId.endsWith("-3")) ?? runs[2];
    await Deno.writeTextFile(join(last.dir, "history.jsonl"), "");
    await linkLatest(last);
    const out = join(last.dir, "..", "..");
    assert.equal(await findRunDir("smoke", out), await Deno.realPath(last.dir));
    assert.equal(await findRunDir(last.runId, out), last.dir);
  } finally {
    Deno.env.delete("CHAOS_RUN_CLAIMS_DIR");
    await Deno.remove(tmp, { recursive: true });
  }
});
