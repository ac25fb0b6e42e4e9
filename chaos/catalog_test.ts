/**
 * Catalog scenarios end to end through `deno task scenario`, each against its
 * own fresh stack: a scenario passes this test when its verdict is what it
 * expects, so a negative control (`expect: "fail"`) counts only when the
 * validator says fail, with exit code 1.
 *
 * Which scenarios: `CHAOS_CATALOG_TESTS` (comma-separated names, or `all`);
 * default the unsafe-Kafka negative control (the rest of the catalog, e.g. the
 * latency scenario whose probes and recovery bound are hypotheses that must
 * hold, is the nightly's: `deno task nightly`). The flagship and the store and
 * alert controls run in flagship_test.ts.
 *
 * On the docker stack (`--stack docker`, same verdict expected):
 * `CHAOS_DOCKER_CATALOG_TESTS`, default the partition of a leader (iptables
 * there, Toxiproxy on the local stack; the paused leader and the rest of the
 * catalog on docker are the nightly's, `deno task nightly --stack docker`);
 * empty: none. Not
 * the flagship by default: its 30 s recovery hypothesis held in runs on an idle
 * machine but not beside the whole suite on 2 cores (41.9 s), because
 * connections to a SIGKILLed container hang until timeouts where a killed
 * process's are reset at once (`CHAOS_DOCKER_CATALOG_TESTS=exfil-under-broker-loss`
 * runs it).
 *
 * In CI (neither list set, `CHAOS_CATALOG_FULL` unset) the default scenarios run with their
 * workload cut after every fault has healed and the tail a check needs (`CI_SETS`: the faults,
 * their times and every assertion unchanged; only the steady traffic after the last heal is
 * shorter); the nightly and `CHAOS_CATALOG_FULL=1` run them as written.
 *
 * A machine that cannot produce a scenario's load is not a defect of the
 * harness: when a `before` probe shows the steady state was never reached, the
 * probes are reported as inconclusive here (a benchmark's concern) and the test
 * still holds the run to what does not depend on speed: nothing lost, every
 * incident alerted once, every fault observed, the re-check agreeing.
 */

import assert from "node:assert/strict";
import { join } from "node:path";
import { runDeno, slow } from "../compose/testing.ts";
import { catalog, loadScenario, needsDocker } from "./cli_scenario.ts";
import type { Results } from "../validate/results.ts";
import { exitCodeOf } from "../validate/verdict.ts";

/** The catalog but the flagship (flagship_test.ts) and what only the docker stack runs. */
async function localCatalog(): Promise<string[]> {
  const names: string[] = [];
  for (const name of await catalog()) {
    if (name !== "exfil-under-broker-loss" && !needsDocker(await loadScenario(name))) {
      names.push(name);
    }
  }
  return names;
}

const list = (wanted: string, all: string[]) =>
  wanted === "all" ? all : wanted.split(",").map((s) => s.trim()).filter(Boolean);
const runs = [
  ...list(
    Deno.env.get("CHAOS_CATALOG_TESTS") ?? "unsafe-kafka",
    await localCatalog(),
  ).map((name) => ({ name, stack: "local" })),
  ...list(
    Deno.env.get("CHAOS_DOCKER_CATALOG_TESTS") ?? "partition-leader",
    await catalog(),
  ).map((name) => ({ name, stack: "docker" })),
];

/**
 * The CI's cut of a default scenario's workload (see the module doc): unsafe-kafka's last heal is
 * at 60 s (of 90), partition-leader's at 55 s (of 110).
 */
export const CI_SETS: Record<string, string[]> = {
  "unsafe-kafka": ["workload.duration=70s"],
  "partition-leader": ["workload.duration=80s"],
};
const full = Deno.env.get("CHAOS_CATALOG_FULL") === "1" ||
  Deno.env.get("CHAOS_CATALOG_TESTS") !== undefined ||
  Deno.env.get("CHAOS_DOCKER_CATALOG_TESTS") !== undefined;

for (const { name, stack } of runs) {
  const sets = full ? [] : CI_SETS[name] ?? [];
  const scenario = await loadScenario(name, sets);
  const label = (stack === "local" ? "" : ` (--stack ${stack})`) +
    (sets.length ? ` (CI: --set ${sets.join(" ")})` : "");
  Deno.test({ name: `scenario ${name}${label}: ${scenario.expect}`, ...slow }, async () => {
    const out = await Deno.makeTempDir({ prefix: `catalog-${name}-` });
    try {
      const res = await runDeno([
        "chaos/cli_scenario.ts",
        name,
        "--out",
        out,
        "--stack",
        stack,
        ...sets.flatMap((s) => ["--set", s]),
      ]);
      const { stdout, stderr } = res;
      console.log(stdout);
      const results = JSON.parse(
        await Deno.readTextFile(join(out, name, "latest", "results.json")),
      ) as Results;
      const explain = `${stdout}\n${stderr.slice(-2000)}`;
      const slowMachine = results.probes?.probes.some((p) =>
        p.phase === "before" && p.verdict !== "pass"
      );
      if (slowMachine && scenario.expect === "pass") {
        console.warn(
          `${name}: the steady state was never reached on this machine; ` +
            "its probes are inconclusive, the data checks must still pass",
        );
        assert.equal(results.completeness?.verdict, "pass", explain);
        assert.equal(results.alerts?.verdict, "pass", explain);
      } else {
        assert.equal(results.verdict, scenario.expect, explain);
        assert.ok(results.as_expected, explain);
        assert.equal(res.code, scenario.expect === "pass" ? 0 : 1, explain);
      }
      assert.ok(results.faults.every((f) => f.observed), "every fault was observed");
      assert.equal(results.stack, stack);
      if (name === "unsafe-kafka") {
        // The loss is Kafka's (truncated by the unclean election), not the sink's.
        assert.ok((results.completeness?.lost ?? 0) > 0, explain);
        assert.ok((results.completeness?.lost_before_kafka ?? 0) > 0, explain);
        assert.match(stdout, /acknowledged and never in the topic/);
        // Blame from the brokers' own logs: every record Kafka lost is on no replica's log.
        assert.equal(results.blame?.counts.never_in_topic, results.completeness?.lost_before_kafka);
        assert.equal(results.blame?.counts.in_topic_not_stored, 0, explain);
      }
      for (const f of ["report.md", "report.html", "junit.xml", "samples.jsonl"]) {
        await Deno.stat(join(out, name, "latest", f));
      }
      // One recipe: the re-check of the untouched run gives the run's verdict.
      const again = await runDeno(["validate/cli_validate.ts", "--run", join(out, name, "latest")]);
      assert.equal(again.code, exitCodeOf(results.verdict), again.stdout + again.stderr);
      assert.match(again.stdout, new RegExp(`: ${results.verdict.toUpperCase()} \\(recorded`));
    } finally {
      await Deno.remove(out, { recursive: true }).catch(() => {});
    }
  });
}
