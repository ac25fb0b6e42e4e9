/**
 * A workload of two generator processes, for real: the harness's generator
 * and one `deno task generate` process share a run (producer ids w0-w1 and
 * w2-w3), the run merges their ledgers and passes as one; `validate --run`
 * without the second ledger finds its events unexpected (fail) and with
 * `--ledger` passes again; a ledger given twice is refused (exit 2). No
 * ledger is in the pipeline's bucket. The incident's entity is the one the
 * run's entity secret picks, not one the run id predicts. Nothing is left running.
 */

import assert from "node:assert/strict";
import { join } from "node:path";
import { processesWith, runDeno, slow } from "../compose/testing.ts";
import { Ledger } from "../pipeline/ledger.ts";
import type { GeneratorStatus } from "../pipeline/generator_options.ts";
import type { Results } from "../validate/results.ts";
import { combinedStatus } from "./generator_processes.ts";
import { entitySecret } from "./entity_secret.ts";
import { entityWalk } from "../pipeline/anomalies.ts";
import { loadHarnessKey } from "../lib/harness_key.ts";
import { resealRunFolder } from "../validate/seal.ts";

const SCENARIO = "chaos/testdata/two-processes.json";
const BASE = Number(Deno.env.get("CHAOS_PROCESSES_BASE_PORT") ?? 31700);

Deno.test("combinedStatus: counts and rates summed, the worst p95", () => {
  const s = (acked: number, p95: number | null): GeneratorStatus => ({
    elapsed_s: 3,
    target_eps: 100,
    acked_eps: acked,
    p95_send_ms: p95,
    in_flight: 1,
    attempted: acked,
    acked,
    failed: 0,
    unknown: 0,
    incidents: 1,
    malformed: 0,
  });
  const c = combinedStatus([s(10, 5), s(20, null), s(30, 9)]);
  assert.deepEqual(
    [c.elapsed_s, c.target_eps, c.acked_eps, c.acked, c.in_flight, c.incidents, c.p95_send_ms],
    [3, 300, 60, 60, 3, 3, 9],
  );
});

Deno.test({ name: "processes: two generators, one run, checked as one", ...slow }, async () => {
  const out = await Deno.makeTempDir({ prefix: "processes-" });
  try {
    const res = await runDeno(
      ["chaos/cli_scenario.ts", SCENARIO, "--out", out, "--json"],
      { CHAOS_RUN_BASE_PORT: String(BASE) },
    );
    assert.equal(res.code, 0, res.stdout + res.stderr);
    const results = JSON.parse(res.stdout) as Results;
    const dir = await Deno.realPath(join(out, "two-processes", "latest"));
    const ledger = Ledger.parse(await Deno.readTextFile(join(dir, "ledger.json")));
    const id = results.run_id;
    assert.deepEqual([...ledger.producers.keys()].sort(), [0, 1, 2, 3].map((i) => `${id}-w${i}`));
    const theirs = join(dir, "ledgers", "p1", "ledger.json");
    const second = Ledger.parse(await Deno.readTextFile(theirs));
    assert.deepEqual([...second.producers.keys()].sort(), [`${id}-w2`, `${id}-w3`]);
    assert.ok(second.totals().acked > 0, "the second process produced");
    assert.equal(results.completeness?.lost, 0);
    assert.equal(results.alerts?.matched, 1);
    // The incident's entity comes from the run's entity secret (the harness key and the run id),
    // not from the run id alone, which every producer_id shows.
    const [incident] = ledger.incidents;
    const secret = entitySecret(id, loadHarnessKey(undefined, { create: false }));
    assert.equal(incident.entity, entityWalk("src_ip", secret)(0));
    assert.notEqual(incident.entity, entityWalk("src_ip", id)(0));
    // The ledgers are the answer key: none of them in the pipeline's bucket (the run folder keeps
    // the store's data, a directory per bucket).
    const store = join(dir, "stack", "minio");
    const buckets = [...Deno.readDirSync(store)].filter((e) => !e.name.startsWith("."));
    assert.ok(buckets.length > 0, `no bucket in ${store}`);
    for (const b of buckets) {
      assert.ok(
        ![...Deno.readDirSync(join(store, b.name))].some((e) => e.name === "ledger"),
        `${b.name} holds ledger/`,
      );
    }

    // The run's own generator's ledger alone: the second process's events are unexpected.
    const own = Ledger.parse(await Deno.readTextFile(join(dir, "ledger.json")));
    for (const p of second.producers.keys()) own.producers.delete(p);
    await Deno.writeTextFile(join(dir, "ledger.json"), JSON.stringify(own));
    // Sealed again with the harness's key (the run sealed its folder): the ledger is read.
    await resealRunFolder(dir, loadHarnessKey(undefined, { create: false }));
    const alone = await runDeno(["validate/cli_validate.ts", "--run", dir]);
    assert.equal(alone.code, 1, alone.stdout + alone.stderr);
    assert.match(alone.stdout, /unexpected [1-9]/);
    const both = await runDeno(["validate/cli_validate.ts", "--run", dir, "--ledger", theirs]);
    assert.equal(both.code, 0, both.stdout + both.stderr);
    const twice = await runDeno(
      ["validate/cli_validate.ts", "--run", dir, "--ledger", theirs, "--ledger", theirs],
    );
    assert.equal(twice.code, 2);
    assert.match(twice.stderr, /is in two ledgers: give each generator its own --worker-offset/);
    assert.deepEqual(processesWith(id), []);
  } finally {
    await Deno.remove(out, { recursive: true }).catch(() => {});
  }
});
