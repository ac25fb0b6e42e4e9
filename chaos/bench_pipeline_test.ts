import assert from "node:assert/strict";
import type { Results } from "../validate/results.ts";
import { UsageError } from "../lib/exit_codes.ts";
import { brokerFlags, brokerSettings, judgeRate } from "./bench_pipeline.ts";

const T0 = Date.UTC(2026, 0, 1);
const results = (verdict: Results["verdict"] = "pass") =>
  ({
    verdict,
    workload: { started_at: T0, ended_at: T0 + 60_000 },
    cost: { machine: { cpu_s_per_million: 120.5 } },
  }) as unknown as Results;

const samples = (eps: number, lag: number) =>
  Array.from({ length: 60 }, (_, i) =>
    JSON.stringify({
      t: T0 + i * 1000,
      elapsed_ms: i * 1000,
      acked: i * eps,
      acked_eps: i < 10 ? 0 : eps, // the warm-up is left out
      p95_send_ms: 20,
      sink_lag: lag,
      faults: [],
    })).join("\n");
const metrics = (watermarkMs: number) =>
  Array.from({ length: 60 }, (_, i) =>
    JSON.stringify({
      t: T0 + i * 1000,
      component: "detector",
      values: { detector_watermark_lag_seconds: watermarkMs / 1000 },
    })).join("\n");

Deno.test("bench:pipeline: a rate held on every count", () => {
  const c = judgeRate(8000, results(), samples(7900, 16_000), metrics(6000));
  assert.equal(c.sustained, true, c.why.join("; "));
  assert.equal(c.acked_eps, 7900);
  assert.equal(c.sink_lag_s_p95, 2);
  assert.equal(c.watermark_over_ms_p95, 1000);
  assert.equal(c.cpu_s_per_million, 120.5);
});

Deno.test("bench:pipeline: each way a rate is not held is named", () => {
  assert.match(
    judgeRate(8000, results(), samples(7000, 0), metrics(5000)).why[0],
    /acknowledged 7000/,
  );
  assert.match(
    judgeRate(8000, results(), samples(8000, 48_000), metrics(5000)).why[0],
    /sink lag p95 6\.0 s/,
  );
  assert.match(
    judgeRate(8000, results(), samples(8000, 0), metrics(11_000)).why[0],
    /watermark lag p95 \+6000/,
  );
  assert.match(
    judgeRate(8000, results("fail"), samples(8000, 0), metrics(5000)).why[0],
    /verdict fail/,
  );
  assert.equal(judgeRate(8000, results(), "", "").sustained, false, "nothing measured is not held");
});

Deno.test("--broker KEY=VALUE flags become broker properties; a flag without = is a usage error", () => {
  assert.equal(brokerFlags([]), undefined);
  assert.deepEqual(
    brokerFlags(["replica.fetch.min.bytes=65536", " replica.fetch.wait.max.ms = 50"]),
    { "replica.fetch.min.bytes": "65536", "replica.fetch.wait.max.ms": "50" },
  );
  assert.throws(() => brokerFlags(["replica.fetch.min.bytes"]), UsageError);
  assert.throws(() => brokerFlags(["=5"]), UsageError);
});

Deno.test("--followers: batched by default, eager is Kafka's own; --broker goes over them", () => {
  assert.deepEqual(brokerSettings("batched", []), {
    "replica.fetch.min.bytes": "262144",
    "replica.fetch.wait.max.ms": "50",
  });
  assert.equal(brokerSettings("eager", []), undefined);
  assert.deepEqual(
    brokerSettings("batched", ["replica.fetch.wait.max.ms=20", "num.io.threads=4"]),
    {
      "replica.fetch.min.bytes": "262144",
      "replica.fetch.wait.max.ms": "20",
      "num.io.threads": "4",
    },
  );
  assert.deepEqual(brokerSettings("eager", ["num.io.threads=4"]), { "num.io.threads": "4" });
  assert.throws(() => brokerSettings("lazy", []), UsageError);
});
