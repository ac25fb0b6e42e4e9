// deno-lint-ignore-file no-explicit-any
import assert from "node:assert/strict";
import { UsageError } from "../lib/exit_codes.ts";
import { expandFaults, plan } from "./planner.ts";
import { type ScenarioInput, validateScenario } from "./scenario.ts";

const good: ScenarioInput = {
  name: "demo",
  description: "a demo",
  seed: 1,
  workload: {
    eps: 1000,
    duration: "60s",
    incidents: [{ at: "5s", kind: "exfil", duration: "20s" }],
  },
  faults: [{ at: "10s", kind: "kill", target: "broker:1", heal_after: "20s" }],
};

function rejects(change: (s: Record<string, any>) => void, ...keys: RegExp[]) {
  const s = structuredClone(good) as Record<string, any>;
  change(s);
  let message = "";
  try {
    validateScenario(s, "test");
  } catch (error) {
    assert.ok(error instanceof UsageError, `not a UsageError: ${error}`);
    message = (error as Error).message;
  }
  assert.ok(message, "the scenario was accepted");
  for (const key of keys) assert.match(message, key);
}

Deno.test("a valid scenario gets its defaults", () => {
  const s = validateScenario(good);
  assert.equal(s.stack.brokers, 3);
  assert.equal(s.stack.min_insync_replicas, 2);
  assert.equal(s.expect, "pass");
  assert.equal(s.detector.window, "60s");
  assert.deepEqual(s.rollback, { restart_dead: true, healthy_within: "90s" });
});

Deno.test("wrong scenario files are rejected, naming the key", async (t) => {
  const cases: [string, (s: Record<string, any>) => void, RegExp][] = [
    ["unknown top-level key", (s) => (s.fautls = []), /\(root\).*fautls/],
    ["unknown nested key", (s) => (s.workload.rate = 5), /workload.*rate/],
    [
      "bad duration",
      (s) => (s.workload.duration = "ten minutes"),
      /workload\.duration: must be a duration/,
    ],
    ["unknown fault", (s) => (s.faults[0].kind = "explode"), /faults\.0\.kind/],
    ["unknown target", (s) => (s.faults[0].target = "broker:leader"), /faults\.0\.target/],
    [
      "broker out of range",
      (s) => (s.faults[0].target = "broker:7"),
      /faults\.0\.target: names broker 7/,
    ],
    [
      "probability out of range",
      (s) => (s.workload.malformed_prob = 1.5),
      /workload\.malformed_prob/,
    ],
    [
      "fault after the workload",
      (s) => (s.faults[0].at = "90s"),
      /faults\.0\.at: is after the workload/,
    ],
    [
      "incident beyond the end",
      (s) => (s.workload.incidents[0].at = "50s"),
      /workload\.incidents\.0\.at/,
    ],
    [
      "unknown incident kind",
      (s) => (s.workload.incidents[0].kind = "ddos"),
      /workload\.incidents\.0\.kind/,
    ],
    [
      "min ISR above RF",
      (s) => (s.stack = { replication_factor: 2, min_insync_replicas: 3 }),
      /stack\.min_insync_replicas/,
    ],
    ["idempotence without acks=all", (s) => (s.stack = { acks: "1" }), /stack\.idempotent/],
    [
      "an unknown Kafka client",
      (s) => (s.stack = { kafka_client: "rdkafka" }),
      /stack\.kafka_client/,
    ],
    [
      "a fault the target cannot take",
      (
        s,
      ) => (s.faults[0] = { at: "1s", kind: "latency", target: "sink", params: { latency_ms: 5 } }),
      /latency cannot act on sink/,
    ],
    [
      "latency without its amount",
      (s) => (s.faults[0] = { at: "1s", kind: "latency", target: "broker:1" }),
      /params\.latency_ms/,
    ],
    ["bad name", (s) => (s.name = "Not A Name"), /name: must be lower-case/],
    [
      "bandwidth without its rate",
      (s) => (s.faults[0] = { at: "1s", kind: "bandwidth", target: "all-brokers" }),
      /faults\.0\.params\.rate_kbps: is required for bandwidth/,
    ],
    [
      "partition of an unknown listener",
      (s) => (s.faults[0] = {
        at: "1s",
        kind: "partition",
        target: "broker:1",
        params: { listeners: ["replication"] },
      }),
      /faults\.0\.params\.listeners\.0/,
    ],
    [
      "random chaos faults that would overlap",
      (s) => (s.chaos = { every: "10s", duration: "20s", targets: ["sink"], actions: ["kill"] }),
      /chaos\.duration: is longer than every/,
    ],
    [
      "random chaos action no target can take",
      (s) => (s.chaos = { every: "10s", duration: "5s", targets: ["sink"], actions: ["latency"] }),
      /chaos\.actions\.0: latency cannot act on any of the targets/,
    ],
    [
      "random chaos ending after the workload",
      (s) => (s.chaos = {
        every: "10s",
        duration: "5s",
        end: "2m",
        targets: ["sink"],
        actions: ["kill"],
      }),
      /chaos\.end: is after the workload ends/,
    ],
    [
      "probe of an unknown metric",
      (s) => (s.probes = [{ metric: "cpu", op: "<=", value: 1, phase: "during" }]),
      /probes\.0\.metric/,
    ],
    [
      "a link to a broker the stack does not have",
      (s) => (s.faults[0] = { at: "1s", kind: "partition", target: "link:1-4" }),
      /faults\.0\.target: link:1-4: names broker 4, the stack has 1\.\.3/,
    ],
    [
      "a link from a broker to itself",
      (s) => (s.faults[0] = { at: "1s", kind: "partition", target: "link:2-2" }),
      /faults\.0\.target: link:2-2: a link joins two different brokers/,
    ],
    [
      "a kill of a link",
      (s) => (s.faults[0] = { at: "1s", kind: "kill", target: "link:1-2" }),
      /kill cannot act on link:1-2/,
    ],
    [
      "a full disk of negative size",
      (s) => (s.faults[0] = {
        at: "1s",
        kind: "disk_full",
        target: "broker:2",
        params: { free_mb: -1 },
      }),
      /faults\.0\.params\.free_mb/,
    ],
    [
      "more generator processes than allowed",
      (s) => (s.workload.processes = 40),
      /workload\.processes/,
    ],
    [
      "bad rollback",
      (s) => (s.rollback = { healthy_within: "later", restart: true }),
      /rollback\.healthy_within: must be a duration/,
    ],
    [
      "bad recovery bound",
      (s) => (s.checks = { recovery_within: "soon" }),
      /checks\.recovery_within: must be a duration/,
    ],
    [
      "a param out of its bounds (by the fault's own schema)",
      (s) => (s.faults[0] = {
        at: "1s",
        kind: "latency",
        target: "broker:1",
        params: { latency_ms: 90_000 },
      }),
      /faults\.0\.params\.latency_ms: Too big: expected number to be <=60000/,
    ],
    [
      "a param of another fault",
      (s) => (s.faults[0] = {
        at: "1s",
        kind: "latency",
        target: "broker:1",
        params: { latency_ms: 5, rate_kbps: 8 },
      }),
      /faults\.0\.params\.rate_kbps: is not a param of latency \(it reads: latency_ms, jitter_ms, toxicity, listeners\)/,
    ],
    [
      "a param of a fault that reads none",
      (s) => (s.faults[0] = { at: "1s", kind: "kill", target: "sink", params: { cores: 1 } }),
      /faults\.0\.params\.cores: is not a param of kill \(it reads: none\)/,
    ],
    [
      "netem with neither delay nor loss",
      (s) => (s.faults[0] = { at: "1s", kind: "netem", target: "broker:1", params: {} }),
      /faults\.0\.params\.latency_ms: is required for netem \(or loss_pct\)/,
    ],
    [
      "random chaos without a param one action requires",
      (s) => (s.chaos = {
        every: "10s",
        duration: "5s",
        targets: ["broker:1"],
        actions: ["latency", "cpu"],
        params: { latency_ms: 5 },
      }),
      /chaos\.params\.cores: is required for cpu/,
    ],
    [
      "random chaos with a param no action reads",
      (s) => (s.chaos = {
        every: "10s",
        duration: "5s",
        targets: ["broker:1"],
        actions: ["kill", "latency"],
        params: { latency_ms: 5, free_mb: 3 },
      }),
      /chaos\.params\.free_mb: is not a param of any of the actions \(kill, latency\)/,
    ],
  ];
  for (const [name, change, key] of cases) await t.step(name, () => rejects(change, key));
});

Deno.test("every problem is reported at once", () => {
  rejects(
    (s) => {
      s.seed = -1;
      s.workload.eps = 0;
      s.faults[0].kind = "explode";
    },
    /seed/,
    /workload\.eps/,
    /faults\.0\.kind/,
  );
});

Deno.test("params: every problem with its path, a shared bad param said once", () => {
  let message = "";
  try {
    validateScenario({
      ...good,
      faults: [
        { at: "1s", kind: "bandwidth", target: "broker:1", params: { toxicity: 2 } },
        { at: "2s", kind: "cpu", target: "sink", params: { cores: 0 } },
      ],
      chaos: {
        every: "10s",
        duration: "5s",
        targets: ["broker:1"],
        actions: ["latency", "bandwidth"],
        params: { latency_ms: 5, rate_kbps: 8, toxicity: -1 },
      },
    }, "test");
  } catch (error) {
    message = (error as Error).message;
  }
  const lines = message.split("\n").slice(1).map((l) => l.trim());
  assert.deepEqual(lines, [
    "faults.0.params.rate_kbps: is required for bandwidth",
    "faults.0.params.toxicity: Too big: expected number to be <=1",
    "faults.1.params.cores: Too small: expected number to be >=0.01",
    // Both actions read toxicity: one problem, said once.
    "chaos.params.toxicity: Too small: expected number to be >=0",
  ]);
});

Deno.test("params: the planner gets them parsed by each kind's schema, defaults applied", () => {
  const s = validateScenario({
    ...good,
    faults: [{
      at: "1s",
      kind: "latency",
      target: "broker:1",
      heal_after: "5s",
      params: { latency_ms: 50 },
    }],
    chaos: {
      start: "10s",
      end: "50s",
      every: "10s",
      duration: "5s",
      targets: ["broker:1", "sink"],
      actions: ["latency", "bandwidth", "kill"],
      params: { latency_ms: 200, rate_kbps: 64, listeners: ["client"] },
    },
  });
  assert.deepEqual(s.faults[0].params, {
    latency_ms: 50,
    jitter_ms: 0,
    toxicity: 1,
    listeners: ["client", "internal"],
  });
  // The chaos block's bag is shared: each action gets the keys its schema reads.
  const wanted: Record<string, unknown> = {
    latency: { latency_ms: 200, jitter_ms: 0, toxicity: 1, listeners: ["client"] },
    bandwidth: { rate_kbps: 64, toxicity: 1, listeners: ["client"] },
    kill: {},
  };
  const seen = new Set<string>();
  for (const seed of [1, 2, 3, 4]) {
    for (const step of plan(s, seed)) {
      assert.deepEqual(step.params, step.fault === 0 ? s.faults[0].params : wanted[step.kind]);
      seen.add(step.kind);
    }
  }
  assert.deepEqual([...seen].sort(), ["bandwidth", "kill", "latency"]);
});

Deno.test("planner: faults and their heals in time order, heal before inject at the same time", () => {
  const s = validateScenario({
    ...good,
    faults: [
      { at: "30s", kind: "pause", target: "broker:2", heal_after: "10s" },
      { at: "10s", kind: "kill", target: "broker:1", heal_after: "20s" },
      { at: "40s", kind: "restart", target: "sink" },
      { at: "50s", kind: "partition", target: "broker:3" },
    ],
  });
  const steps = plan(s).map((x) => `${x.at_ms / 1000}s ${x.action} ${x.kind}`);
  assert.deepEqual(steps, [
    "10s inject kill",
    "30s heal kill",
    "30s inject pause",
    "40s heal pause",
    "40s inject restart",
    "50s inject partition",
    "60s heal partition",
  ]);
});

const chaotic = (seed: number) =>
  validateScenario({
    ...good,
    seed,
    workload: { ...good.workload, duration: "300s" },
    faults: [],
    chaos: {
      start: "20s",
      end: "280s",
      every: "30s",
      duration: "15s",
      targets: ["broker:random", "sink", "detector", "all-brokers"],
      actions: ["kill", "pause", "latency"],
      params: { latency_ms: 200 },
    },
  });

Deno.test("planner: seeded random chaos is the same for a seed and differs across seeds", () => {
  const s = chaotic(1);
  const a = plan(s, 1);
  assert.deepEqual(plan(s, 1), a, "same seed, same plan");
  const injects = a.filter((x) => x.action === "inject");
  // every 30 s from 20 s while the fault (15 s) ends by 280 s: 20, 50, ..., 260
  assert.deepEqual(injects.map((x) => x.at_ms / 1000), [20, 50, 80, 110, 140, 170, 200, 230, 260]);
  for (const x of injects) {
    assert.ok(
      !(x.kind === "latency" && ["sink", "detector"].includes(x.target)),
      `${x.kind} on ${x.target} was drawn, but latency only acts on brokers`,
    );
  }
  const heals = a.filter((x) => x.action === "heal");
  assert.deepEqual(heals.map((x) => x.at_ms - injects[x.fault].at_ms), injects.map(() => 15_000));
  const signature = (seed: number) =>
    plan(s, seed).filter((x) => x.action === "inject").map((x) => `${x.kind}@${x.target}`).join();
  const others = [2, 3, 4, 5].map(signature);
  assert.ok(others.some((o) => o !== signature(1)), "other seeds draw other faults");
});

Deno.test("planner: random faults follow the timeline's in expandFaults, marked as random", () => {
  const s = validateScenario({
    ...chaotic(1),
    faults: [{ at: "10s", kind: "kill", target: "broker:1", heal_after: "5s" }],
  } as ScenarioInput);
  const faults = expandFaults(s, 9);
  assert.equal(faults[0].source, "timeline");
  assert.ok(faults.slice(1).every((f) => f.source === "random"));
  assert.equal(faults.length, 10);
});

Deno.test("planner: one-shot faults (restart, elect_unclean) have no heal step", () => {
  const s = validateScenario({
    ...good,
    faults: [
      { at: "10s", kind: "restart", target: "broker:1" },
      { at: "20s", kind: "elect_unclean", target: "all-brokers" },
    ],
  });
  assert.deepEqual(plan(s).map((x) => x.action), ["inject", "inject"]);
});
