/**
 * The partition shapes' one real run: the whole stack frozen at once (brokers,
 * MinIO, Redis) under a short workload, thawed: nothing lost, the fault's
 * evidence says every process was frozen and then thawed. Then the order
 * check on that run: its topic audit tampered (two records of one producer
 * session swapped within a partition, the store untouched, the folder sealed
 * again with the run's key) turns the re-check from pass into a fail that
 * names `reordered`, and nothing else. The catalog scenarios
 * (one-way-partition, bridge-partition, stack-freeze) are the nightly's; the
 * shapes' pure parts are tested in chaos/faults/shapes_test.ts.
 */

import assert from "node:assert/strict";
import { shortRun } from "./short_run_testing.ts";
import { join } from "node:path";
import { runDeno, slow } from "../compose/testing.ts";
import { readKeyFile } from "../lib/harness_key.ts";
import { auditKey } from "../validate/digest.ts";
import { AUDIT_FILE } from "../validate/evidence.ts";
import { resealRunFolder } from "../validate/seal.ts";
import { DIGEST_WORDS, TopicTable, type TopicTableData } from "../validate/topic_table.ts";

/**
 * Swaps records `i` and `j` of one partition (everything but their place), and rebuilds the
 * identity index and chains: the topic as if Kafka had appended them the other way round.
 */
function swapRecords(d: TopicTableData, i: number, j: number): void {
  for (const c of ["producer", "seq", "session", "len", "kind"] as const) {
    [d[c][i], d[c][j]] = [d[c][j], d[c][i]];
  }
  for (const c of ["raw", "canon"] as const) {
    for (let w = 0; w < DIGEST_WORDS; w++) {
      const [a, b] = [i * DIGEST_WORDS + w, j * DIGEST_WORDS + w];
      [d[c][a], d[c][b]] = [d[c][b], d[c][a]];
    }
  }
  d.next.fill(-1);
  for (const index of d.bySeq) index.fill(-1);
  const last = new Map<number, number>();
  for (let r = 0; r < d.next.length; r++) {
    const pi = d.producer[r];
    if (pi < 0) continue;
    const head = d.bySeq[pi][d.seq[r]];
    if (head === -1) d.bySeq[pi][d.seq[r]] = r;
    else {
      d.next[last.get(head) ?? head] = r;
      last.set(head, r);
    }
  }
}

/** Two records of one producer session, close together in the middle of a partition. */
function pairToSwap(d: TopicTableData): [number, number] {
  const p = d.partitions.find((x) => x.count > 100)!;
  const i = p.first + Math.floor(p.count / 2);
  for (let j = i + 1; j < p.first + p.count; j++) {
    if (d.producer[j] === d.producer[i] && d.session[j] === d.session[i]) return [i, j];
  }
  throw new Error("no two records of one producer session in the middle of a partition");
}

Deno.test({
  name: "freeze: the whole stack frozen and thawed, nothing lost; a reorder fails",
  ...slow,
}, async () => {
  const out = await Deno.makeTempDir({ prefix: "shapes-" });
  const keyDir = await Deno.makeTempDir({ prefix: "shapes-key-" });
  const keyFile = join(keyDir, "harness.key");
  const realKeyFile = Deno.env.get("CHAOS_KEY_FILE");
  Deno.env.set("CHAOS_KEY_FILE", keyFile);
  try {
    const name = "stack-freeze";
    const { res, results, runDir, explain } = await shortRun(name, out, {
      "workload.eps": "2000",
      "workload.duration": "30s",
      "workload.incidents.0.at": "4s",
      "workload.incidents.0.duration": "10s",
      "faults.0.at": "10s",
      "faults.0.heal_after": "8s",
    });
    assert.equal(results.completeness?.lost, 0, explain);
    assert.equal(results.completeness?.reordered?.reordered, 0, explain);
    const fault = results.faults.find((f) => f.kind === "freeze");
    assert.ok(fault?.observed, `freeze not observed\n${explain}`);
    const seen = JSON.stringify(fault.detail);
    assert.match(seen, /"state":"FROZEN"/, seen);
    for (const node of ["kafka-1", "kafka-2", "kafka-3", "minio", "redis"]) {
      assert.match(seen, new RegExp(`"${node}":\\[\\d+`), `${node} frozen: ${seen}`);
    }
    assert.match(seen, /"state":"THAWED"/, seen);
    assert.ok(fault.healed_at !== null, seen);
    assert.equal(res.code, 0, explain);

    // The order check on the kept run: two records swapped in its audit, sealed again.
    const key = readKeyFile(keyFile);
    const file = join(runDir, AUDIT_FILE);
    const original = await Deno.readFile(file);
    const table = TopicTable.decode(original, auditKey(key, results.run_id));
    const [i, j] = pairToSwap(table.data);
    swapRecords(table.data, i, j);
    await Deno.writeFile(file, table.encode());
    await resealRunFolder(runDir, key);
    const check = await runDeno(["validate/cli_validate.ts", "--run", runDir]);
    assert.equal(check.code, 1, check.stdout + check.stderr);
    assert.match(check.stdout, /records reordered/);
    // One record stepped back (the later seq first), and nothing else is wrong with the run.
    assert.match(check.stdout, /order: reordered 1, records checked \d+; first: /, check.stdout);
    const reasons = check.stdout.split("\n").filter((l) => /^ {2}- (?!note:)/.test(l));
    assert.equal(reasons.length, 1, check.stdout);
    assert.doesNotMatch(check.stdout, /altered [1-9]|misplaced [1-9]|lost [1-9]/, check.stdout);
  } finally {
    if (realKeyFile === undefined) Deno.env.delete("CHAOS_KEY_FILE");
    else Deno.env.set("CHAOS_KEY_FILE", realKeyFile);
    await Deno.remove(out, { recursive: true }).catch(() => {});
    await Deno.remove(keyDir, { recursive: true }).catch(() => {});
  }
});
