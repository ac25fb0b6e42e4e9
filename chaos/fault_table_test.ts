/**
 * The table of faults is the one place a fault kind is declared: a new kind
 * (testdata/flip.ts) added by one module and one table line is validated by
 * the scenario schema (its params by its own schema), planned, checked against
 * the stacks, listed, injected and healed on the timeline, and recorded in the
 * history.
 */

import assert from "node:assert/strict";
import { join } from "node:path";
import { History } from "../validate/history.ts";
import { FAULTS, faultTable, stackProblems } from "./faults/mod.ts";
import { flip, flipped } from "./faults/testdata/flip.ts";
import type { Fault, FaultContext } from "./faults/types.ts";
import { paramDocs } from "./faults/params.ts";
import { expandFaults, plan } from "./planner.ts";
import { scenarioSchema } from "./scenario.ts";
import { FaultTimeline } from "./timeline.ts";

const TABLE = { ...FAULTS, flip }; // the one table line

const scenario = (faults: unknown[]) => ({
  name: "flip-test",
  description: "a fault kind of the tests",
  seed: 3,
  workload: { eps: 10, duration: "10s" },
  faults,
});

Deno.test("fault table: a new kind is validated from its declaration", () => {
  const schema = scenarioSchema(TABLE);
  const ok = schema.safeParse(
    scenario([{
      at: "1s",
      kind: "flip",
      target: "sink",
      heal_after: "2s",
      params: { delay_ms: 5 },
    }]),
  );
  assert.ok(ok.success, JSON.stringify(ok.error?.issues));
  const bad = schema.safeParse(
    scenario([{ at: "1s", kind: "flip", target: "broker:1", params: { rate_kbps: 5 } }]),
  );
  assert.ok(!bad.success);
  const messages = bad.error.issues.map((i) => `${i.path.join(".")}: ${i.message}`);
  assert.ok(
    messages.some((m) => /faults.0.kind: flip cannot act on broker:1/.test(m)),
    messages.join("\n"),
  );
  assert.ok(messages.some((m) => /params.delay_ms: is required for flip/.test(m)));
  assert.ok(
    messages.includes(
      "faults.0.params.rate_kbps: is not a param of flip (it reads: delay_ms, side)",
    ),
    messages.join("\n"),
  );
  // Its own bounds and values, with their paths.
  const values = schema.safeParse(
    scenario([{
      at: "1s",
      kind: "flip",
      target: "sink",
      params: { delay_ms: 5000, side: "left" },
    }]),
  );
  assert.ok(!values.success);
  const paths = values.error.issues.map((i) => i.path.join("."));
  assert.deepEqual(paths.sort(), ["faults.0.params.delay_ms", "faults.0.params.side"]);
  // The harness's own table does not know it.
  const unknown = scenarioSchema().safeParse(
    scenario([{ at: "1s", kind: "flip", target: "sink" }]),
  );
  assert.ok(!unknown.success);
  assert.match(unknown.error.issues[0].message, /must be one of: kill, stop/);
});

Deno.test("fault table: planning, stack support and the listing derive from it", () => {
  const s = scenarioSchema(TABLE).parse(
    scenario([
      { at: "1s", kind: "flip", target: "sink", heal_after: "2s", params: { delay_ms: 5 } },
      { at: "4s", kind: "restart", target: "detector" },
    ]),
  );
  const steps = plan(s, s.seed, TABLE);
  assert.deepEqual(steps.map((x) => `${x.at_ms} ${x.action} ${x.kind}`), [
    "1000 inject flip",
    "3000 heal flip",
    "4000 inject restart", // one-shot: no heal
  ]);
  // The planner gets the params as the kind's schema parsed them: its default applied.
  assert.deepEqual(steps[0].params, { delay_ms: 5, side: "up" });
  assert.deepEqual(steps[2].params, {});
  const faults = expandFaults(s, s.seed, TABLE);
  assert.deepEqual(stackProblems(faults, "local", undefined, TABLE), [
    "faults.0: flip needs the docker stack: run with --stack docker",
  ]);
  assert.deepEqual(stackProblems(faults, "docker", undefined, TABLE), []);
  assert.match(
    faultTable(TABLE),
    /\| `flip` \| component \| docker \| — \| `delay_ms` \(int 0\.\.1000, required\)<br>`side` \(up\/down, default "up"\) \| flips a flag/,
  );
  assert.match(faultTable(), /\| `restart` \(one-shot\) \|/);
});

Deno.test("fault table: the timeline injects and heals a new kind, and the history records it", async () => {
  const dir = await Deno.makeTempDir();
  try {
    const s = scenarioSchema(TABLE).parse(
      scenario([{
        at: "0s",
        kind: "flip",
        target: "sink",
        heal_after: "0s",
        params: { delay_ms: 1, side: "down" },
      }]),
    );
    const history = new History(join(dir, "history.jsonl"));
    const timeline = new FaultTimeline({
      history,
      ctx: {} as FaultContext,
      faults: expandFaults(s, s.seed, TABLE),
      table: TABLE,
      resolve: (target) => Promise.resolve({ nodes: [target], observed: { resolved: true } }),
    });
    const steps = plan(s, s.seed, TABLE).filter((x) => x.action === "inject");
    await timeline.run(steps, performance.now());
    assert.deepEqual([...flipped], ["sink"]);
    assert.deepEqual([...timeline.active], ["flip sink"]);
    await timeline.healAll();
    assert.deepEqual([...flipped], []);
    const [record] = timeline.records();
    assert.equal(record.kind, "flip");
    assert.equal(record.observed, true);
    assert.deepEqual(record.nodes, ["sink"]);
    assert.deepEqual(record.detail, {
      resolved: true,
      flipped: ["sink"],
      side: "down", // what its schema parsed reached its inject
      heal: { unflipped: ["sink"] },
    });
    assert.ok(record.healed_at! >= record.injected_at!);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("fault table: every kind declares itself completely", () => {
  for (const [kind, f] of Object.entries(FAULTS) as [string, Fault][]) {
    assert.equal(f.kind, kind);
    assert.ok(f.summary.length > 10, kind);
    assert.ok(f.targets.length > 0 && f.stacks.length > 0, kind);
    // Its params: a strict object (an unknown key is refused), each param described.
    const stray = f.params.safeParse({ no_such_param: 1 });
    assert.ok(
      !stray.success && stray.error.issues.some((i) => i.code === "unrecognized_keys"),
      `${kind}: params must be a strict object (z.strictObject)`,
    );
    for (const p of paramDocs(f.params)) {
      assert.ok((p.description ?? "").length > 5, `${kind}.${p.name} has no .describe()`);
    }
  }
});

Deno.test("fault table: disk_full acts on brokers and minio only, and says so", () => {
  const problems = stackProblems([{ kind: "disk_full", target: "redis" }], "local");
  assert.match(problems[0], /faults\.0: disk_full acts on brokers and minio, not redis/);
  assert.ok(
    !stackProblems([{ kind: "disk_full", target: "broker:2" }], "docker")
      .some((p) => /acts on/.test(p)),
  );
});
