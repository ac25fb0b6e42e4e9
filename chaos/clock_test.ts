/**
 * The `clock` fault: its params, where it refuses to act, which nodes a run
 * preloads, and (slow) one short run of `detector-clock-skew` with a broker's
 * clock moved back too: one alert per incident, every clock fault observed.
 */

import assert from "node:assert/strict";
import { join } from "node:path";
import { runDeno, slow } from "../compose/testing.ts";
import { clockNodes, clockParams, clockProblem } from "./faults/clock.ts";
import { stackProblems } from "./faults/mod.ts";
import { validateScenario } from "./scenario.ts";
import type { Results } from "../validate/results.ts";
import type { Stack } from "../compose/stack.ts";
import type { WebhookReceiver } from "../pipeline/webhook_receiver.ts";
import { components } from "./components.ts";
import { runNames } from "./run_names.ts";
import type { Scenario } from "./scenario.ts";

Deno.test("clock params: a signed whole offset, a positive rate, and at least one of them", () => {
  assert.deepEqual(clockParams.parse({ offset_s: 90 }), { offset_s: 90, rate: 1 });
  assert.deepEqual(clockParams.parse({ offset_s: -30 }), { offset_s: -30, rate: 1 });
  assert.deepEqual(clockParams.parse({ rate: 1.01 }), { offset_s: 0, rate: 1.01 });
  for (
    const bad of [
      {},
      { offset_s: 0, rate: 1 },
      { offset_s: 1.5 },
      { offset_s: 400 * 86_400 },
      { rate: 0 },
      { rate: 11 },
      { offset_s: 90, drift: 2 },
    ]
  ) {
    assert.equal(clockParams.safeParse(bad).success, false, JSON.stringify(bad));
  }
});

const scenario = (target: string, params: Record<string, unknown> = { offset_s: 90 }) =>
  validateScenario({
    name: "x",
    description: "x",
    seed: 1,
    workload: { eps: 10, duration: "60s" },
    faults: [{ at: "10s", kind: "clock", target, params, heal_after: "10s" }],
  }, "x");

Deno.test("a scenario's clock fault: its params checked with their path", () => {
  assert.equal(scenario("detector").faults[0].kind, "clock");
  assert.throws(() => scenario("detector", {}), /faults\.0\.params.*offset_s.*rate/s);
  assert.throws(() => scenario("detector", { offset_s: "90s" }), /faults\.0\.params\.offset_s/);
  assert.throws(() => scenario("webhook"), /clock/);
});

Deno.test("clock refuses Redis, Go services and a docker broker, with the reason", () => {
  assert.match(clockProblem("redis", "local")!, /jemalloc/);
  assert.match(clockProblem("minio", "local")!, /Go program/);
  assert.match(clockProblem("toxiproxy", "docker")!, /Go program/);
  assert.match(clockProblem("broker:1", "docker")!, /--stack local.*image/);
  assert.match(clockProblem("all-brokers", "docker")!, /--stack local/);
  assert.equal(clockProblem("broker:leader(t,0)", "local"), undefined);
  assert.equal(clockProblem("detector", "docker"), undefined);
  assert.equal(clockProblem("sink", "local"), undefined);
  const f = (target: string) => [{ kind: "clock", target }];
  assert.deepEqual(stackProblems(f("detector"), "docker"), []);
  assert.match(stackProblems(f("redis"), "local")[0], /^faults\.0: clock cannot act on redis/);
  assert.match(stackProblems(f("broker:2"), "docker")[0], /needs --stack local/);
});

Deno.test("clockNodes(): only what a clock fault may hit is preloaded", () => {
  const ids = [1, 2, 3];
  assert.deepEqual(clockNodes([{ kind: "kill", target: "detector" }], ids), []);
  assert.deepEqual(
    clockNodes([{ kind: "clock", target: "detector" }, { kind: "clock", target: "broker:2" }], ids),
    ["detector", "kafka-2"],
  );
  // A broker chosen when the fault fires may be any of them.
  assert.deepEqual(clockNodes([{ kind: "clock", target: "broker:random" }], ids), [
    "kafka-1",
    "kafka-2",
    "kafka-3",
  ]);
  assert.deepEqual(clockNodes([{ kind: "clock", target: "all-brokers" }], [1, 2]), [
    "kafka-1",
    "kafka-2",
  ]);
});

Deno.test("components(): only the components a clock fault may hit get the preload", () => {
  const stack = {
    endpoints: {
      kafka: { bootstrap: "127.0.0.1:29111" },
      s3: { endpoint: "http://127.0.0.1:29010", accessKey: "a", secretKey: "b", bucket: "t" },
      redis: { url: "redis://127.0.0.1:29020" },
    },
    plan: { metrics: 29050 },
    dataDir: "/tmp/x/stack",
  } as unknown as Stack;
  const o = {
    stack,
    receiver: { url: "http://127.0.0.1:1/alerts" } as unknown as WebhookReceiver,
    secret: "hmac",
    runDir: "/tmp/x",
    names: runNames("local", "r1"),
  };
  const s = { detector: { window: "60s", slide: "10s", out_of_order: "5s" } } as Scenario;
  const faketime = { lib: "/lib/libfaketime.so.1", nodes: ["detector"] };
  const nodes = components(s, { ...o, faketime });
  const env = nodes.get("detector")!.spec.env!;
  assert.equal(env.LD_PRELOAD, "/lib/libfaketime.so.1");
  assert.equal(env.FAKETIME_TIMESTAMP_FILE, "/tmp/x/stack/faketime/detector.rc");
  assert.equal(nodes.get("sink")!.spec.env!.LD_PRELOAD, undefined);
  for (const node of components(s, o).values()) {
    assert.equal(node.spec.env!.LD_PRELOAD, undefined, "invisible without a clock fault");
  }
  // The combined pipeline is the node behind both names: preloaded for a fault on either.
  const combined = components(s, { ...o, faketime, own: { combined: "./start.sh" } }).get("sink")!;
  assert.equal(combined.spec.env!.FAKETIME_TIMESTAMP_FILE, "/tmp/x/stack/faketime/pipeline.rc");
});

Deno.test({
  name: "detector-clock-skew, short, with broker 2 thrown 30 s back: one alert each, observed",
  ...slow,
}, async () => {
  const out = await Deno.makeTempDir({ prefix: "clock-" });
  try {
    const faults = [
      { at: "10s", kind: "clock", target: "detector", params: { offset_s: 90 }, heal_after: "12s" },
      {
        at: "10s",
        kind: "clock",
        target: "broker:2",
        params: { offset_s: -30 },
        heal_after: "12s",
      },
    ];
    const incidents = [{ at: "5s", kind: "exfil", duration: "15s" }];
    const res = await runDeno([
      "chaos/cli_scenario.ts",
      "detector-clock-skew",
      "--out",
      out,
      ...["--set", "workload.duration=30s", "--set", "workload.eps=3000"],
      ...["--set", `workload.incidents=${JSON.stringify(incidents)}`],
      ...["--set", `faults=${JSON.stringify(faults)}`, "--set", "probes=[]"],
      ...["--set", "checks.settle=30s"],
    ]);
    const run = join(out, "detector-clock-skew", "latest");
    const results = JSON.parse(await Deno.readTextFile(join(run, "results.json"))) as Results;
    const explain = `${res.stdout}\n${res.stderr.slice(-2000)}`;
    assert.equal(results.verdict, "pass", explain);
    assert.equal(res.code, 0, explain);
    const clocks = results.faults.filter((f) => f.kind === "clock");
    assert.equal(clocks.length, 2, explain);
    for (const f of clocks) {
      assert.ok(f.observed, JSON.stringify(f));
      assert.ok(f.healed_at, JSON.stringify(f));
    }
    const detector = clocks.find((f) => f.target === "detector")!;
    const seen = (detector.detail.seen as Record<string, { probe_s: number; http_s?: number }>)
      .detector;
    assert.ok(Math.abs(seen.probe_s - 90) < 1, JSON.stringify(seen));
    assert.ok(
      Math.abs((seen.http_s ?? 0) - 90) <= 2,
      "its own Date header: " + JSON.stringify(seen),
    );
    const broker = clocks.find((f) => f.target === "broker:2")!;
    const brokerSeen = (broker.detail.seen as Record<string, { probe_s: number }>)["kafka-2"];
    assert.ok(Math.abs(brokerSeen.probe_s + 30) < 1, JSON.stringify(broker.detail));
    // Nothing of the run is left preloaded: no process reads its clock files any more.
    const left = [];
    for await (const e of Deno.readDir("/proc")) {
      if (!/^\d+$/.test(e.name)) continue;
      const environ = await Deno.readTextFile(`/proc/${e.name}/environ`).catch(() => "");
      if (environ.includes(join(run, "stack", "faketime"))) left.push(e.name);
    }
    assert.deepEqual(left, []);
  } finally {
    await Deno.remove(out, { recursive: true }).catch(() => {});
  }
});
