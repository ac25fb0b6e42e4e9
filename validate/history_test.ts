import assert from "node:assert/strict";
import { join } from "node:path";
import { abortRecord, faultRecords, History, parseHistory, readHistory } from "./history.ts";
import { UnreadableEvidenceError } from "./unreadable.ts";

Deno.test("history: a completion pairs with its invocation; the file reads back the same", async () => {
  const dir = await Deno.makeTempDir();
  try {
    const h = new History(join(dir, "history.jsonl"));
    const a = h.invoke("fault:kill", { fault: 0, target: "broker:1" });
    const b = h.invoke("workload");
    h.complete(a, "ok", { target: "broker:1", nodes: ["kafka-1"], observed: {} });
    h.complete(b, "ok");
    assert.notEqual(a, b);
    assert.throws(() => h.complete(99, "ok"), /never invoked/);
    const c = h.invoke("fault:pause", { fault: 1 });
    h.closeOpen("interrupted");
    h.complete(c, "ok", { late: true }); // an inject that ended during the teardown
    const back = parseHistory(await Deno.readTextFile(h.path) + '{"torn');
    assert.deepEqual(back, h.events);
    assert.equal(back.filter((e) => e.op === a).length, 2);
    assert.deepEqual(back.filter((e) => e.op === c).map((e) => e.type), ["invoke", "info", "ok"]);
    assert.deepEqual(back.find((e) => e.op === c && e.type === "info")?.value, {
      indeterminate: "interrupted",
    });
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("faultRecords: what each planned fault did, from the history alone", () => {
  const events = [
    {
      time: 1,
      type: "info" as const,
      what: "plan",
      value: [
        { kind: "kill", target: "broker:1", source: "timeline" },
        { kind: "latency", target: "all-brokers", source: "random" },
        { kind: "pause", target: "sink", source: "timeline" },
      ],
    },
    { time: 10, type: "invoke" as const, what: "fault:kill", op: 1, value: { fault: 0 } },
    { time: 11, type: "invoke" as const, what: "fault:latency", op: 2, value: { fault: 1 } },
    {
      time: 12,
      type: "ok" as const,
      what: "fault:latency",
      op: 2,
      value: { target: "all-brokers", nodes: ["kafka-1", "kafka-2"], observed: { latency: 250 } },
    },
    {
      time: 13,
      type: "ok" as const,
      what: "fault:kill",
      op: 1,
      value: { target: "broker:1", nodes: ["kafka-1"], observed: { killed: { "kafka-1": 42 } } },
    },
    { time: 20, type: "invoke" as const, what: "heal:kill", op: 3, value: { fault: 0 } },
    {
      time: 25,
      type: "ok" as const,
      what: "heal:kill",
      op: 3,
      value: { target: "broker:1", observed: { started: ["kafka-1"] } },
    },
    { time: 30, type: "invoke" as const, what: "fault:pause", op: 4, value: { fault: 2 } },
    {
      time: 31,
      type: "fail" as const,
      what: "fault:pause",
      op: 4,
      value: { target: "sink", error: "not running" },
    },
  ];
  const [kill, latency, pause] = faultRecords(events)!;
  assert.deepEqual(kill, {
    kind: "kill",
    target: "broker:1",
    source: "timeline",
    nodes: ["kafka-1"],
    injected_at: 13,
    healed_at: 25,
    observed: true,
    detail: { killed: { "kafka-1": 42 }, heal: { started: ["kafka-1"] } },
  });
  assert.equal(latency.injected_at, 12);
  assert.equal(latency.healed_at, null, "never healed in this history");
  assert.equal(latency.source, "random");
  assert.deepEqual(latency.nodes, ["kafka-1", "kafka-2"]);
  assert.equal(pause.observed, false);
  assert.equal(pause.injected_at, null);
  assert.deepEqual(pause.detail, { error: "not running" });
  assert.equal(faultRecords(events.slice(1)), undefined, "no plan: an older run");
});

Deno.test("abortRecord: the run's first abort, or null", () => {
  assert.equal(abortRecord([{ time: 1, type: "info", what: "plan", value: [] }]), null);
  const events = [
    { time: 5, type: "fail" as const, what: "abort", value: { by: "probe", at: 4, detail: "x" } },
    { time: 6, type: "fail" as const, what: "abort", value: { by: "hand", at: 6, detail: "y" } },
  ];
  assert.deepEqual(abortRecord(events), { by: "probe", at: 4, detail: "x" });
  // A hand-written or damaged record still aborts, with a generic reason.
  assert.deepEqual(abortRecord([{ time: 7, type: "fail", what: "abort", value: null }]), {
    by: "hand",
    at: 7,
    detail: "stopped before its end",
  });
});

Deno.test("readHistory: a run folder's history, every line checked", () => {
  const plan = { time: 1_700_000_000_000, type: "info", what: "plan", value: [] };
  const kill = { time: 1_700_000_001_000, type: "invoke", what: "fault:kill", op: 1, value: {} };
  const good = [plan, kill].map((e) => JSON.stringify(e)).join("\n") + "\n";
  assert.equal(readHistory(good).length, 2);
  const cases: [string, RegExp][] = [
    [good + '{"time":17', /history\.jsonl line 3: not JSON/],
    [
      JSON.stringify({ ...plan, value: "kill" }),
      /line 1: value: the plan must be a list of faults/,
    ],
    [JSON.stringify({ ...plan, value: [{ kind: 1 }] }), /line 1: value\.0\.kind: the plan/],
    [JSON.stringify({ ...kill, time: 1e16 }), /line 1: time: must be an epoch ms/],
    [JSON.stringify({ ...kill, type: "done" }), /line 1: type/],
    [good + JSON.stringify({ ...kill, op: -1 }), /line 3: op/],
  ];
  for (const [text, says] of cases) {
    assert.throws(
      () => readHistory(text),
      (e) => e instanceof UnreadableEvidenceError && says.test(e.message),
      text,
    );
  }
});

Deno.test("faultRecords: a plan that is no list is unreadable evidence, odd values are not a crash", () => {
  const plan = (value: unknown) => ({ time: 1, type: "info" as const, what: "plan", value });
  assert.throws(() => faultRecords([plan({ kind: "kill" })]), UnreadableEvidenceError);
  const [f] = faultRecords([
    plan([{ kind: "kill", target: "sink", source: "timeline" }]),
    { time: 2, type: "invoke", what: "fault:kill", op: 1, value: { fault: 0 } },
    { time: 3, type: "ok", what: "fault:kill", op: 1, value: { nodes: [{ toString: 1 }, "a"] } },
  ])!;
  assert.deepEqual(f.nodes, ['{"toString":1}', "a"]);
});
