/**
 * The `power_loss` fault: its pure parts (targets, evidence, what a restarted
 * broker said, which runs get lazy disks, the flush setting), then one short
 * real run: all brokers lose power together under Kafka's default flush
 * (`power-loss-all-brokers`, shortened), acknowledged records vanish and the
 * verdict is fail naming them, the fault observed with the layer's report,
 * every broker back, and no lazy mount left once the run is over.
 */

import assert from "node:assert/strict";
import { join } from "node:path";
import { lazyMountsUnder } from "../compose/lazy_disks.ts";
import { brokerConfig } from "../compose/kafka_config.ts";
import { portPlan } from "../compose/ports.ts";
import { runDeno, slow } from "../compose/testing.ts";
import type { Results } from "../validate/results.ts";
import { lossEvidence, recoveryLines, targetProblem } from "./faults/power_loss.ts";
import { stackProblems } from "./faults/mod.ts";
import { needsLazyDisks } from "./run_stack.ts";
import { validateScenario as parseScenario } from "./scenario.ts";

Deno.test("power_loss: brokers and MinIO only, on the local stack", () => {
  for (const t of ["broker:2", "all-brokers", "broker:leader(t,0)", "minio"]) {
    assert.equal(targetProblem(t), undefined, t);
  }
  for (const t of ["sink", "redis", "webhook", "link:1-2"]) {
    assert.match(targetProblem(t) ?? "", /acts on brokers and minio/, t);
  }
  const [problem] = stackProblems([{ kind: "power_loss", target: "all-brokers" }], "docker");
  assert.match(problem, /needs the local stack/);
});

Deno.test("power_loss: the evidence is the layer's report, by name", () => {
  const evidence = lossEvidence({
    filesReverted: 13,
    bytesDropped: 4096,
    pagesRestored: 1,
    filesDeleted: 5,
    filesRestored: 8,
    durableEntries: 9,
    missing: 0,
    ms: 2,
  });
  assert.equal(evidence.bytes_dropped, 4096);
  assert.equal(evidence.files_deleted, 5);
  assert.equal(evidence.files_reverted, 13);
});

Deno.test("power_loss: what a restarted broker said about its recovery", () => {
  const log = [
    "[15:00:01,000] INFO Registered kafka:type=kafka.Log4jController MBean",
    "[15:00:01,500] INFO Recovering 18 logs from /d/kafka-1/log since no clean shutdown file was found",
    "[15:00:02,000] INFO [LogLoader partition=t-0, dir=/d/kafka-1/log] Recovering unflushed segment 0",
    "[15:00:02,050] INFO [Broker id=1] leaderRecoveryState=RECOVERED for t-0",
    "[15:00:02,100] INFO [UnifiedLog partition=t-0] Truncating to offset 0",
    "[15:00:03,000] INFO [KafkaRaftServer nodeId=1] Kafka Server started",
  ].join("\n");
  assert.deepEqual(recoveryLines(log), {
    count: 3,
    lines: [
      "[15:00:01,500] INFO Recovering 18 logs since no clean shutdown file was found",
      "[15:00:02,000] INFO [LogLoader partition=t-0] Recovering unflushed segment 0",
      "[15:00:02,100] INFO [UnifiedLog partition=t-0] Truncating to offset 0",
    ],
  });
  const many = Array.from({ length: 20 }, (_, i) => `Truncating segment ${i}`).join("\n");
  assert.deepEqual(recoveryLines(many, 2), {
    count: 20,
    lines: [
      "Truncating segment 0",
      "Truncating segment 1",
      "… 16 more …",
      "Truncating segment 18",
      "Truncating segment 19",
    ],
  });
  assert.deepEqual(recoveryLines("INFO all good").lines, []);
});

Deno.test("power_loss: which runs put their data on lazy disks", () => {
  const base = { name: "x", description: "x", seed: 1, workload: { eps: 10, duration: "60s" } };
  const with_ = (extra: Record<string, unknown>) => parseScenario({ ...base, ...extra });
  assert.equal(needsLazyDisks(with_({})), false);
  assert.equal(
    needsLazyDisks(with_({ faults: [{ at: "5s", kind: "kill", target: "broker:1" }] })),
    false,
  );
  assert.equal(
    needsLazyDisks(with_({ faults: [{ at: "5s", kind: "power_loss", target: "broker:1" }] })),
    true,
  );
  assert.equal(needsLazyDisks(with_({ stack: { lazy_disks: true } })), true);
  assert.equal(
    needsLazyDisks(
      with_({
        chaos: { every: "10s", duration: "5s", targets: ["broker:1"], actions: ["power_loss"] },
      }),
    ),
    true,
  );
});

Deno.test("power_loss: stack.flush_messages becomes log.flush.interval.messages", () => {
  const plan = portPlan(29000, 3);
  const s = parseScenario({
    name: "x",
    description: "x",
    seed: 1,
    stack: { flush_messages: 1 },
    workload: { eps: 10, duration: "60s" },
  });
  assert.equal(s.stack.flush_messages, 1);
  const config = brokerConfig(plan, 1, { logDir: "/l", flushMessages: s.stack.flush_messages });
  assert.equal(config.get("log.flush.interval.messages"), "1");
  assert.equal(brokerConfig(plan, 1, { logDir: "/l" }).has("log.flush.interval.messages"), false);
  assert.throws(() =>
    parseScenario({
      name: "x",
      description: "x",
      seed: 1,
      stack: { flush_messages: 0 },
      workload: { eps: 10, duration: "60s" },
    })
  );
});

Deno.test(
  { name: "power_loss: all brokers at once, default flush: acknowledged records lost", ...slow },
  async () => {
    const out = await Deno.makeTempDir({ prefix: "power-loss-" });
    try {
      const res = await runDeno([
        "chaos/cli_scenario.ts",
        "power-loss-all-brokers",
        "--out",
        out,
        "--set",
        "workload.duration=45s",
        "--set",
        "checks.settle=40s",
      ]);
      const run = join(out, "power-loss-all-brokers", "latest");
      const results = JSON.parse(await Deno.readTextFile(join(run, "results.json"))) as Results;
      const explain = `${res.stdout}\n${res.stderr.slice(-2000)}`;
      console.log(
        res.stdout.split("\n").filter((l) => /: (PASS|FAIL)|completeness/.test(l)).join("\n"),
      );
      // What Kafka really does: acks=all held by page caches that all lost power.
      assert.equal(results.verdict, "fail", explain);
      assert.ok(results.as_expected, explain);
      assert.equal(res.code, 1, explain);
      assert.ok((results.completeness?.lost ?? 0) > 0, explain);
      assert.match(res.stdout, /lost [1-9]/, explain);
      const power = results.faults.find((f) => f.kind === "power_loss");
      assert.ok(power?.observed, explain);
      assert.ok(results.faults.every((f) => f.observed), explain);
      // Every mount gone with the run, its data back in place.
      assert.deepEqual(lazyMountsUnder(out), []);
      for await (const e of Deno.readDir(join(run, "stack"))) {
        assert.ok(!e.name.endsWith(".backing"), e.name);
      }
    } finally {
      await Deno.remove(out, { recursive: true }).catch(() => {});
    }
  },
);
