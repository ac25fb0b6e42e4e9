/**
 * The flagship end to end through the real commands, then two negative
 * controls on its kept stack that must fail:
 * - alert doubling: one incident's alert delivered again under a new alert_id;
 * - store tampering: one events/ object deleted from MinIO.
 * The order: re-check (pass), doubling (fail, then restored), tampering
 * (fail, naming the missing seqs).
 */

import assert from "node:assert/strict";
import { join } from "node:path";
import { LocalStack } from "../compose/local_stack.ts";
import { runDeno, slow } from "../compose/testing.ts";
import { objectStore } from "../pipeline/store.ts";
import type { Results } from "./engine.ts";

const task = (args: string[]) => runDeno(args);

Deno.test(
  { name: "flagship passes; doubled alerts and a tampered store fail", ...slow },
  async (t) => {
    const out = await Deno.makeTempDir({ prefix: "flagship-" });
    let runId: string | undefined;
    try {
      let runDir = "";
      await t.step("deno task scenario exfil-under-broker-loss: pass", async () => {
        const res = await task([
          "chaos/cli_scenario.ts",
          "exfil-under-broker-loss",
          "--keep-stack",
          "--out",
          out,
        ]);
        console.log(res.stdout);
        runDir = join(out, "exfil-under-broker-loss", "latest");
        const results = JSON.parse(
          await Deno.readTextFile(join(runDir, "results.json")),
        ) as Results;
        runId = results.run_id;
        assert.equal(res.code, 0, `${res.stdout}\n${res.stderr.slice(-2000)}`);
        assert.equal(results.verdict, "pass");
        assert.equal(results.completeness?.lost, 0);
        assert.equal(results.completeness?.duplicates, 0);
        assert.equal(results.alerts?.matched, 2);
        assert.equal(results.alerts?.false_positives, 0);
        assert.ok(
          results.faults.every((f) => f.observed && f.healed_at),
          "the kill was observed and healed",
        );
        for (
          const f of ["history.jsonl", "report.md", "junit.xml", "ledger.json", "deliveries.jsonl"]
        ) {
          await Deno.stat(join(runDir, f));
        }
      });

      await t.step("validate --run re-checks the kept run: pass", async () => {
        const res = await task(["validate/cli_validate.ts", "--run", runDir]);
        assert.equal(res.code, 0, res.stdout + res.stderr);
      });

      await t.step(
        "negative control: an incident alerted twice under a new alert_id fails",
        async () => {
          const file = join(runDir, "deliveries.jsonl");
          const original = await Deno.readTextFile(file);
          const first = JSON.parse(original.split("\n")[0]);
          first.body.alert_id = "doubled-" + first.body.alert_id;
          first.idempotency_key = first.body.alert_id;
          await Deno.writeTextFile(file, original + JSON.stringify(first) + "\n");
          try {
            const res = await task(["validate/cli_validate.ts", "--run", runDir]);
            assert.equal(res.code, 1, res.stdout + res.stderr);
            assert.match(res.stdout, /duplicated 1/);
          } finally {
            await Deno.writeTextFile(file, original);
          }
        },
      );

      await t.step(
        "negative control: one events/ object deleted fails, naming the seqs",
        async () => {
          const stack = (await LocalStack.attach(runId!))!;
          const store = objectStore(stack.endpoints.s3);
          const objects = await store.list("events/network-telemetry/");
          await store.client.removeObject(
            store.bucket,
            objects[Math.floor(objects.length / 2)].name,
          );
          const res = await task(["validate/cli_validate.ts", "--run", runDir]);
          assert.equal(res.code, 1, res.stdout + res.stderr);
          assert.match(res.stdout, /by the sink [1-9]/);
          assert.match(res.stdout, /missing .*-w\d: \d+/);
        },
      );
    } finally {
      if (runId) await (await LocalStack.attach(runId))?.down();
      await Deno.remove(out, { recursive: true }).catch(() => {});
    }
  },
);
