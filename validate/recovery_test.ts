import assert from "node:assert/strict";
import { checkRecovery, type FaultSpan } from "./recovery.ts";
import type { Sample } from "./samples.ts";

const T0 = 5_000_000;
/** 120 s at 10k ev/s with `dip(i)` overriding second i. */
function samples(dip: (i: number) => number | undefined, lag?: (i: number) => number): Sample[] {
  return Array.from({ length: 120 }, (_, i) => ({
    t: T0 + i * 1000,
    elapsed_ms: i * 1000,
    acked_eps: dip(i) ?? 10_000,
    acked: 0,
    p95_send_ms: 10,
    sink_lag: lag ? lag(i) : 1000,
    faults: [],
  }));
}
const kill: FaultSpan = {
  label: "kill broker:2",
  injected_at: T0 + 30_000,
  healed_at: T0 + 60_000,
};
const end = T0 + 120_000;

Deno.test("checkRecovery: a 12 s dip after a kill is back 12-14 s after the injection", () => {
  const r = checkRecovery([kill], samples((i) => (i >= 30 && i < 42 ? 0 : undefined)), {
    workloadEnd: end,
    withinMs: 30_000,
  });
  assert.equal(r.verdict, "pass", r.reasons.join("; "));
  const f = r.faults[0];
  assert.equal(f.baseline_eps, 10_000);
  assert.ok(f.recovered_ms! >= 12_000 && f.recovered_ms! <= 14_000, `${f.recovered_ms}`);
  assert.equal(f.after_heal_ms, 0);
});

Deno.test("checkRecovery: no dip at all is back at once", () => {
  const r = checkRecovery([kill], samples(() => undefined), { workloadEnd: end });
  assert.equal(r.faults[0].recovered_ms, 0);
  assert.equal(r.faults[0].lag_back_ms, 0);
});

Deno.test("checkRecovery fails a fault whose throughput came back too late or never", async (t) => {
  await t.step("too late", () => {
    const r = checkRecovery([kill], samples((i) => (i >= 30 && i < 75 ? 3000 : undefined)), {
      workloadEnd: end,
      withinMs: 30_000,
    });
    assert.equal(r.verdict, "fail");
    assert.match(r.reasons[0], /back after 4\d\.\d s, more than the 30 s allowed/);
    assert.ok(r.faults[0].after_heal_ms! > 0);
  });
  await t.step("never", () => {
    const r = checkRecovery([kill], samples((i) => (i >= 30 ? 100 : undefined)), {
      workloadEnd: end,
      withinMs: 30_000,
    });
    assert.equal(r.verdict, "fail");
    assert.equal(r.faults[0].recovered_ms, null);
    assert.match(r.reasons[0], /never came back/);
  });
});

Deno.test("checkRecovery: without a bound, a slow recovery is reported, not failed", () => {
  const r = checkRecovery([kill], samples((i) => (i >= 30 && i < 75 ? 3000 : undefined)), {
    workloadEnd: end,
  });
  assert.equal(r.verdict, "pass");
  assert.ok(r.faults[0].recovered_ms! > 40_000);
});

Deno.test("checkRecovery: no throughput before the fault is unknown under a bound", () => {
  const early = { ...kill, injected_at: T0 };
  const r = checkRecovery([early], samples(() => undefined), {
    workloadEnd: end,
    withinMs: 30_000,
  });
  assert.equal(r.verdict, "unknown");
  const reported = checkRecovery([early], samples(() => undefined), { workloadEnd: end });
  assert.equal(reported.verdict, "pass");
  assert.equal(reported.faults[0].recovered_ms, null);
});

Deno.test("checkRecovery: the sink's lag back under the bound", () => {
  const r = checkRecovery(
    [kill],
    samples(() => undefined, (i) => (i >= 30 && i < 50 ? 500_000 : 1000)),
    { workloadEnd: end },
  );
  assert.equal(r.faults[0].lag_back_ms, 20_000);
});
