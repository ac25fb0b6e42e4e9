/**
 * The IO faults (`io_latency`, `io_error`): their params, targets and the
 * pure parts of their evidence (the kinds named, Kafka's log line, a fault
 * without effect), and one short real run: broker 2's log dir failing under
 * a short workload on lazy disks (the broker stops, nothing is lost, the
 * fault is observed by the layer's count of failed operations and healed).
 * The layer itself is tested in compose/lazyfs_test.ts; the catalog
 * scenarios (slow-disk-follower, broker-log-dir-fails) are the nightly's.
 */

import assert from "node:assert/strict";
import { shortRun } from "./short_run_testing.ts";
import { slow } from "../compose/testing.ts";
import { lazyfsProblem } from "../compose/lazyfs.ts";
import { lazyMountsUnder } from "../compose/lazy_disks.ts";
import { ioError, whyOffline } from "./faults/io_error.ts";
import { byKinds, ioLatency, kindsOf, noEffect } from "./faults/io_latency.ts";
import {
  dataTargetProblem as ioTargetProblem,
  lazyStackFaultProblem,
} from "./faults/data_disks.ts";
import { FAULTS, stackProblems } from "./faults/mod.ts";

Deno.test("io faults: the kinds of operations named", () => {
  assert.deepEqual(kindsOf(["write"]), ["write"]);
  assert.deepEqual(kindsOf(["fsync", "read"]), ["read", "fsync"]);
  assert.deepEqual(kindsOf(["write", "all"]), ["read", "write", "fsync", "meta"]);
  assert.deepEqual(byKinds(["write", "fsync"], 200), { write: 200, fsync: 200 });
  assert.deepEqual(byKinds(["all"], 1), { read: 1, write: 1, fsync: 1, meta: 1 });
});

Deno.test("io faults: params are checked by their schemas", () => {
  assert.deepEqual(ioLatency.params.parse({ latency_ms: 200 }), {
    latency_ms: 200,
    jitter_ms: 0,
    ops: ["all"],
  });
  assert.throws(() => ioLatency.params.parse({}), /latency_ms/);
  assert.throws(() => ioLatency.params.parse({ latency_ms: 0 }), /more than 0/);
  assert.throws(() => ioLatency.params.parse({ latency_ms: 200, ops: ["writes"] }));
  assert.throws(() => ioLatency.params.parse({ latency_ms: 200, ops: [] }));
  assert.throws(
    () => ioLatency.params.parse({ latency_ms: 50_000, jitter_ms: 20_000 }),
    /at most 60000/,
  );
  assert.throws(() => ioLatency.params.parse({ latency_ms: 200, share: 1 }), /share/);
  assert.deepEqual(ioError.params.parse({}), { share: 1, ops: ["all"] });
  assert.deepEqual(ioError.params.parse({ share: 0.25, ops: ["write"] }), {
    share: 0.25,
    ops: ["write"],
  });
  assert.throws(() => ioError.params.parse({ share: 0 }), /more than 0/);
  assert.throws(() => ioError.params.parse({ share: 1.5 }));
  assert.throws(() => ioError.params.parse({ latency_ms: 5 }), /latency_ms/);
});

Deno.test("io faults: brokers and minio, on the local and docker stacks", () => {
  assert.equal(ioTargetProblem("io_error", "broker:2"), undefined);
  assert.equal(ioTargetProblem("io_error", "all-brokers"), undefined);
  assert.equal(ioTargetProblem("io_error", "minio"), undefined);
  assert.match(ioTargetProblem("io_latency", "redis")!, /brokers and minio, not redis/);
  assert.deepEqual(
    stackProblems([{ kind: "io_latency", target: "broker:1" }], "local"),
    [],
  );
  const onDocker = stackProblems([{ kind: "io_error", target: "broker:1" }], "docker");
  assert.deepEqual(onDocker.filter((p) => /needs the local/.test(p)), [], onDocker.join("; "));
  assert.deepEqual(ioLatency.stacks, ["local", "docker"]);
  assert.deepEqual(ioError.stacks, ["local", "docker"]);
  assert.match(
    lazyStackFaultProblem("io_latency", "docker", "engine.example")!,
    /io_latency needs its targets' data on lazy disks, and the Docker engine at engine\.example/,
  );
  assert.match(stackProblems([{ kind: "io_error", target: "sink" }], "local")[0], /not sink/);
  assert.equal(FAULTS.io_latency, ioLatency);
  assert.equal(FAULTS.io_error, ioError);
});

Deno.test("io faults: without a counted operation a fault had no effect", () => {
  assert.equal(noEffect("io_error", { "kafka-1": 3, "kafka-2": 1 }, "write failed"), undefined);
  const error = noEffect("io_latency", { "kafka-1": 3, "kafka-2": 0 }, "write was delayed");
  assert.match(error!.message, /io_latency had no effect: no write was delayed on kafka-2 /);
});

Deno.test("io faults: Kafka's log line that says why it stopped serving its data", () => {
  const log = [
    "[2026-12-05 10:00:01] INFO something else",
    "[2026-12-05 10:00:02] ERROR Error while appending records to t-0 in dir /d/kafka-2 " +
    "(org.apache.kafka.storage.internals.log.LogDirFailureChannel)",
    "java.io.IOException: Input/output error",
    "[2026-12-05 10:00:02] WARN Stopping serving logs in dir /d/kafka-2 (kafka.log.LogManager)",
    "[2026-12-05 10:00:02] ERROR Shutdown broker because all log dirs in /d/kafka-2 have failed " +
    "(kafka.log.LogManager)",
  ].join("\n");
  assert.match(whyOffline(log)!, /Shutdown broker because all log dirs/);
  assert.match(whyOffline(log.split("\n").slice(0, 4).join("\n"))!, /Stopping serving logs/);
  assert.match(whyOffline(log.split("\n").slice(0, 3).join("\n"))!, /Input\/output error/);
  assert.equal(whyOffline("[x] INFO all fine\n"), undefined);
});

const OFFLINE_PROBE = {
  name: "no partition goes offline",
  metric: "offline_partitions",
  stat: "max",
  op: "<=",
  value: 0,
  phase: "during",
};

Deno.test({
  name: "io_error: broker 2's log dir fails under load: it stops, nothing lost, healed",
  ...slow,
  ignore: slow.ignore || lazyfsProblem() !== undefined,
}, async () => {
  const out = await Deno.makeTempDir({ prefix: "io-faults-" });
  try {
    const name = "broker-log-dir-fails";
    const { res, results, explain } = await shortRun(name, out, {
      "workload.eps": "2000",
      "workload.duration": "40s",
      "workload.incidents.0.at": "5s",
      "workload.incidents.0.duration": "10s",
      "faults.0.at": "10s",
      "faults.0.heal_after": "10s",
      // The catalog's ISR probes need its longer fault (Kafka fences a stopped broker after
      // 9 s) and a longer tail; this short run keeps the one that holds at any length.
      "probes": [OFFLINE_PROBE],
    });
    assert.equal(results.completeness?.lost, 0, explain);
    const fault = results.faults.find((f) => f.kind === "io_error");
    assert.ok(fault?.observed, `io_error not observed\n${explain}`);
    const seen = JSON.stringify(fault.detail);
    assert.match(seen, /"failed":\{"kafka-2":[1-9]/, seen);
    assert.match(seen, /"stopped":\["kafka-2"\]/, seen);
    // Kafka's most telling line ("Shutdown broker because all log dirs ... have failed") can be
    // lost when it halts; the line before it names the failed dir ("Stopping serving replicas").
    assert.match(seen, /log dirs|Stopping serving (logs|replicas)|Input\/output error/, seen);
    assert.match(seen, /"restarted":\["kafka-2"\]/, seen);
    assert.ok(fault.healed_at !== null, seen);
    assert.equal(res.code, 0, explain);
    assert.deepEqual(lazyMountsUnder(out), [], "no lazy mount left");
  } finally {
    await Deno.remove(out, { recursive: true }).catch(() => {});
  }
});
