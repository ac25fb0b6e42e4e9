import assert from "node:assert/strict";
import { readResults } from "./results.ts";
import { UnreadableEvidenceError } from "./unreadable.ts";

const recorded = {
  scenario: "graded-smoke",
  run_id: "r1",
  verdict: "pass",
  description: "kept as it is",
  settings: {
    min_acked: 1000,
    max_duplicates: 0,
    max_unknown_share: 0.05,
    alerts: true,
    probes: [{ metric: "acked_eps", stat: "mean", op: ">=", value: 100, phase: "after" }],
    target_eps: 5000,
    recovery_within_ms: null,
    window_ms: 10_000,
    slide_ms: 5_000,
  },
  faults: [{ kind: "restart", target: "sink", injected_at: 1, healed_at: null, observed: true }],
  workload: { started_at: 1_700_000_000_000, ended_at: 1_700_000_025_000 },
};

Deno.test("readResults: what a re-check reads, checked; other fields kept", () => {
  const r = readResults(JSON.stringify(recorded));
  assert.equal(r.settings.max_duplicates, 0);
  assert.equal(r.description, "kept as it is");
  assert.deepEqual(r.faults[0].nodes, [], "an older record without nodes gets none");
});

Deno.test("readResults: a malformed results.json is unreadable evidence naming the key", () => {
  // deno-lint-ignore no-explicit-any
  type Loose = Record<string, any>;
  const edit = (f: (r: Loose) => void) => {
    const r = structuredClone(recorded) as Loose;
    f(r);
    return JSON.stringify(r);
  };
  const cases: [string, RegExp][] = [
    ["{", /results\.json line 1: not JSON/],
    ["[]", /results\.json: /],
    [edit((r) => r.settings.max_duplicates = "1e9"), /settings\.max_duplicates/],
    [edit((r) => r.settings.max_duplicates = -1), /settings\.max_duplicates/],
    [edit((r) => r.settings.max_unknown_share = 2), /settings\.max_unknown_share/],
    [edit((r) => r.settings.alerts = "false"), /settings\.alerts/],
    [edit((r) => r.settings.probes = {}), /settings\.probes/],
    [edit((r) => r.settings.probes[0].value = null), /settings\.probes\.0\.value/],
    [edit((r) => r.settings.window_ms = 0), /settings\.window_ms/],
    [edit((r) => r.workload.started_at = 2 ** 53 - 1), /workload\.started_at/],
    [edit((r) => r.faults = "none"), /faults/],
    [edit((r) => r.faults[0].injected_at = -5), /faults\.0\.injected_at/],
    [edit((r) => r.verdict = "PASS"), /verdict/],
    [edit((r) => delete r.run_id), /run_id/],
  ];
  for (const [text, says] of cases) {
    assert.throws(
      () => readResults(text),
      (e) => e instanceof UnreadableEvidenceError && says.test(e.message),
      text.slice(0, 80),
    );
  }
});
