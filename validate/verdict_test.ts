import assert from "node:assert/strict";
import { type RunChecks, runVerdict } from "./verdict.ts";

const pass = { verdict: "pass" as const, reasons: [] };
const base: RunChecks = {
  completeness: pass,
  alerts: pass,
  faults: [{ kind: "kill", target: "broker:1", observed: true }],
  probes: null,
  recovery: { verdict: "fail", reasons: ["kill broker:1: back after 40 s"] },
  recoveryIsHypothesis: false,
};

Deno.test("runVerdict: recovery counts only as a hypothesis", () => {
  assert.deepEqual(runVerdict(base), { verdict: "pass", reasons: [] });
  const r = runVerdict({ ...base, recoveryIsHypothesis: true });
  assert.equal(r.verdict, "fail");
  assert.deepEqual(r.reasons, ["kill broker:1: back after 40 s"]);
});

Deno.test("runVerdict: a fault never observed is unknown; a failed check beats it", () => {
  const unseen = { ...base, faults: [{ kind: "kill", target: "broker:1", observed: false }] };
  const r = runVerdict(unseen);
  assert.equal(r.verdict, "unknown");
  assert.deepEqual(r.reasons, ["fault kill broker:1 was never observed"]);
  const lost = runVerdict({
    ...unseen,
    completeness: { verdict: "fail", reasons: ["3 acknowledged events are not in the store"] },
  });
  assert.equal(lost.verdict, "fail");
  assert.equal(lost.reasons.length, 2);
  const failed = runVerdict({
    ...base,
    faults: [{
      kind: "pause",
      target: "broker:leader(t,0)",
      observed: false,
      detail: { error: "partition t/0 has no leader" },
    }],
  });
  assert.deepEqual(failed.reasons, [
    "fault pause broker:leader(t,0) was never observed (partition t/0 has no leader)",
  ]);
});

Deno.test("runVerdict: an aborted run fails, its reason first; faults it never tried are no reason", () => {
  const r = runVerdict({
    ...base,
    faults: [
      { kind: "kill", target: "broker:1", observed: true },
      { kind: "latency", target: "all-brokers", observed: false },
      { kind: "pause", target: "broker:2", observed: false, detail: { error: "no such node" } },
    ],
    aborted: 'probe "rate" measured 10, expected >= 5000 (during, 24 s into the workload)',
  });
  assert.equal(r.verdict, "fail");
  assert.deepEqual(r.reasons, [
    'aborted: probe "rate" measured 10, expected >= 5000 (during, 24 s into the workload)',
    "fault pause broker:2 was never observed (no such node)",
  ]);
  assert.equal(runVerdict({ ...base, aborted: null }).verdict, "pass");
});
