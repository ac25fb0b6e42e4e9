/**
 * The `kafka_error` fault on a real run: one short case of the catalog's
 * kafka-protocol-errors (nightly), its faults replaced by two on broker 1:
 * the generator's Produces answered NOT_LEADER_OR_FOLLOWER, then some of
 * them written and their answers dropped. Nothing is lost, nothing is stored
 * twice, the topic holds no record twice (idempotence), the proxy counted
 * both effects, both faults were healed, and the proxy is gone with the run.
 * The wire protocol, the proxy and the params are unit-tested in
 * compose/kafka_wire*_test.ts, compose/kafka_proxy*_test.ts and
 * chaos/faults/kafka_error_test.ts.
 */

import assert from "node:assert/strict";
import { shortRun } from "./short_run_testing.ts";
import { slow } from "../compose/testing.ts";

/** Pids of kafka proxy processes whose working directory is under `dir`. */
function proxiesUnder(dir: string): number[] {
  const pids: number[] = [];
  for (const entry of Deno.readDirSync("/proc")) {
    if (!/^\d+$/.test(entry.name)) continue;
    try {
      const cmd = Deno.readTextFileSync(`/proc/${entry.name}/cmdline`);
      if (!cmd.includes("kafka_proxy_main.ts")) continue;
      if (Deno.readLinkSync(`/proc/${entry.name}/cwd`).startsWith(dir)) pids.push(+entry.name);
    } catch { /* gone meanwhile */ }
  }
  return pids;
}

const FAULTS = [
  {
    at: "4s",
    kind: "kafka_error",
    target: "broker:1",
    params: { code: "NOT_LEADER_OR_FOLLOWER", share: 0.3, target: "generator" },
    heal_after: "7s",
  },
  {
    at: "13s",
    kind: "kafka_error",
    target: "broker:1",
    params: { mode: "drop_answer", share: 0.01, target: "generator" },
    heal_after: "7s",
  },
];

Deno.test({
  name: "kafka_error: NOT_LEADER_OR_FOLLOWER and dropped Produce answers: nothing lost, no copy",
  ...slow,
}, async () => {
  const out = await Deno.makeTempDir({ prefix: "kafka-protocol-" });
  try {
    const { res, results, explain } = await shortRun("kafka-protocol-errors", out, {
      "workload.eps": "2000",
      "workload.duration": "25s",
      "workload.incidents": [{ at: "3s", kind: "exfil", duration: "10s" }],
      "faults": FAULTS,
    });
    assert.equal(results.completeness?.lost, 0, explain);
    assert.equal(results.completeness?.duplicates, 0, explain);
    assert.equal(results.completeness?.duplicates_in_kafka, 0, explain);
    const faults = results.faults.filter((f) => f.kind === "kafka_error");
    assert.equal(faults.length, 2, explain);
    const [errors, drops] = faults.map((f) => JSON.stringify(f.detail));
    assert.ok(faults.every((f) => f.observed && f.healed_at !== null), `${errors}\n${drops}`);
    assert.match(errors, /"Produce\/NOT_LEADER_OR_FOLLOWER":[1-9]/, errors);
    assert.match(drops, /"dropped":\{"Produce":[1-9]/, drops);
    assert.equal(res.code, 0, explain);
    assert.deepEqual(proxiesUnder(out), [], "the kafka proxy is gone with the run");
  } finally {
    await Deno.remove(out, { recursive: true }).catch(() => {});
  }
});
