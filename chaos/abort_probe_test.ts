/**
 * A run that stops itself, and one stopped by hand, for real: an abort probe
 * that cannot hold during a latency fault on every broker stops the workload
 * and heals at once; the run fails with `aborted: …`, recorded in its history,
 * and `validate --run` agrees. A second run is stopped from another process by
 * `scenario --abort <run folder>`. Nothing of either run is left running.
 */

import assert from "node:assert/strict";
import { join } from "node:path";
import { processesWith, runDeno, slow } from "../compose/testing.ts";
import { parseHistory } from "../validate/history.ts";
import type { Results } from "../validate/results.ts";
import { waitFor } from "../lib/wait.ts";

const SCENARIO = "chaos/testdata/abort-on-probe.json";
const BASE = Number(Deno.env.get("CHAOS_ABORT_PROBE_BASE_PORT") ?? 31600);

/** The one run folder under `out` (throws while there is none). */
function onlyRun(out: string): string {
  const [scenario] = [...Deno.readDirSync(out)].filter((e) => e.isDirectory);
  const runs = [...Deno.readDirSync(join(out, scenario.name))].filter((e) =>
    e.isDirectory && e.name !== "latest"
  );
  return join(out, scenario.name, runs[0].name);
}

/** What the run did after its abort: its results, history and how long the heal took. */
async function afterAbort(runDir: string) {
  const results = JSON.parse(await Deno.readTextFile(join(runDir, "results.json"))) as Results;
  const history = parseHistory(await Deno.readTextFile(join(runDir, "history.jsonl")));
  const abort = history.find((e) => e.what === "abort")!;
  const heal = history.find((e) => e.what === "heal:latency" && e.type !== "invoke");
  return { results, history, abort, heal };
}

Deno.test({
  name: "abort: a probe that cannot hold stops the run, heals at once, fails it",
  ...slow,
}, async () => {
  const out = await Deno.makeTempDir({ prefix: "abort-probe-" });
  try {
    const res = await runDeno(
      ["chaos/cli_scenario.ts", SCENARIO, "--out", out],
      { CHAOS_RUN_BASE_PORT: String(BASE) },
    );
    assert.equal(res.code, 1, res.stdout + res.stderr);
    const runDir = onlyRun(out);
    const { results, abort, heal } = await afterAbort(runDir);
    assert.equal(results.verdict, "fail");
    assert.match(results.reasons[0], /^aborted: probe "p95 produce latency under 1 ms" measured/);
    assert.equal(results.aborted?.by, "probe");
    // Healed within seconds of the abort, and the workload ended long before its 60 s.
    assert.equal(heal?.type, "ok");
    assert.ok(heal!.time - abort.time < 10_000, `healed ${heal!.time - abort.time} ms after`);
    const w = results.workload;
    assert.ok(
      w.ended_at! - w.started_at! < 40_000,
      `the workload ran ${w.ended_at! - w.started_at!} ms`,
    );
    // What was acknowledged before the abort is all stored (the run is too short to prove more).
    assert.equal(results.completeness?.lost, 0, results.reasons.join("; "));
    assert.equal(results.completeness?.duplicates, 0);
    // The re-check reads the abort from the history and agrees.
    const again = await runDeno(["validate/cli_validate.ts", "--run", runDir]);
    assert.equal(again.code, 1, again.stdout + again.stderr);
    assert.match(again.stdout, /aborted: probe/);
    assert.deepEqual(processesWith(results.run_id), []);
  } finally {
    await Deno.remove(out, { recursive: true }).catch(() => {});
  }
});

Deno.test(
  { name: "abort: scenario --abort stops a run going on in another process", ...slow },
  async () => {
    const out = await Deno.makeTempDir({ prefix: "abort-hand-" });
    try {
      const child = new Deno.Command(Deno.execPath(), {
        args: ["run", "-A", "chaos/cli_scenario.ts", SCENARIO, "--out", out, "--set", "probes=[]"],
        cwd: new URL("..", import.meta.url),
        env: { CHAOS_QUIET: "1", KAFKA_LOG_LEVEL: "nothing", CHAOS_RUN_BASE_PORT: String(BASE) },
        stdout: "null",
        stderr: "null",
      }).spawn();
      try {
        // Once the fault is in force, ask from here as a second terminal would.
        const runDir = await waitFor(async () => {
          let dir: string | undefined;
          try {
            dir = onlyRun(out);
          } catch { /* not created yet */ }
          const text = dir && await Deno.readTextFile(join(dir, "history.jsonl")).catch(() => "");
          return text &&
              parseHistory(text).some((e) => e.what === "fault:latency" && e.type === "ok")
            ? dir
            : undefined;
        }, { what: "the latency fault in force", timeoutMs: 90_000, intervalMs: 500 });
        const asked = await runDeno(["chaos/cli_scenario.ts", "--abort", runDir]);
        assert.equal(asked.code, 0, asked.stdout + asked.stderr);
        assert.match(asked.stdout, /aborted: by hand/);
        assert.equal((await child.status).code, 1);
        const { results, abort, heal } = await afterAbort(runDir);
        assert.equal(results.aborted?.by, "hand");
        assert.match(results.reasons[0], /^aborted: by hand/);
        assert.ok(heal!.time - abort.time < 10_000);
        // Asking again once it ended is a usage error.
        const late = await runDeno(["chaos/cli_scenario.ts", "--abort", runDir]);
        assert.equal(late.code, 2, late.stderr);
        assert.deepEqual(processesWith(results.run_id), []);
      } finally {
        try {
          child.kill("SIGINT");
        } catch { /* ended */ }
        await child.status;
      }
    } finally {
      await Deno.remove(out, { recursive: true }).catch(() => {});
    }
  },
);
