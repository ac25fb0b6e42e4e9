import assert from "node:assert/strict";
import { type Figures, findRegressions, type NightSummary, renderNightlyHtml } from "./nightly.ts";

const good: Figures = {
  verdict: "pass",
  expect: "pass",
  as_expected: true,
  seed: 1,
  lost: 0,
  recovery_ms: 10_000,
  acked_eps: 9000,
  detection_p99_ms: 6000,
  run: "runs/x",
};
const control: Figures = { ...good, verdict: "fail", expect: "fail", lost: 30_000 };

function night(date: string, flagship: Partial<Figures> = {}): NightSummary {
  return {
    date,
    scenarios: { flagship: { ...good, ...flagship }, "unsafe-kafka": control },
  };
}
const history = ["2026-11-15", "2026-11-16", "2026-11-17", "2026-11-18", "2026-11-19"].map((d, i) =>
  night(d, { recovery_ms: 9000 + i * 500, acked_eps: 9000 + i * 100 })
);

Deno.test("findRegressions: a night like the others has none (a control's loss is its point)", () => {
  assert.deepEqual(findRegressions(night("2026-11-20"), history), []);
});

Deno.test("findRegressions flags a planted regression in each figure", async (t) => {
  const cases: [string, Partial<Figures>, string][] = [
    ["lost events", { lost: 12, verdict: "fail", as_expected: false }, "lost"],
    ["slow recovery", { recovery_ms: 40_000 }, "recovery_ms"],
    ["never recovered", { recovery_ms: null }, "recovery_ms"],
    ["throughput drop", { acked_eps: 5000 }, "acked_eps"],
    ["slow detection", { detection_p99_ms: 30_000 }, "detection_p99_ms"],
  ];
  for (const [name, change, metric] of cases) {
    await t.step(name, () => {
      const found = findRegressions(night("2026-11-20", change), history);
      assert.ok(
        found.some((r) => r.metric === metric && r.scenario === "flagship"),
        JSON.stringify(found),
      );
    });
  }
});

Deno.test("findRegressions: a verdict not as expected regresses even on the first night", () => {
  const first = findRegressions(
    night("2026-11-01", { verdict: "unknown", as_expected: false }),
    [],
  );
  assert.deepEqual(first.map((r) => r.metric), ["verdict"]);
  const controlPassed: NightSummary = {
    date: "2026-11-20",
    scenarios: { "unsafe-kafka": { ...control, verdict: "pass", as_expected: false, lost: 0 } },
  };
  assert.equal(findRegressions(controlPassed, history)[0].why, "verdict pass, expected fail");
});

Deno.test("findRegressions only compares with earlier nights", () => {
  const future = [night("2026-12-01", { acked_eps: 50_000 })];
  assert.deepEqual(findRegressions(night("2026-11-20"), future), []);
});

Deno.test("renderNightlyHtml: matrix over nights, regressions listed, trends drawn", () => {
  const tonight = night("2026-11-20", { acked_eps: 5000 });
  const regs = findRegressions(tonight, history);
  const html = renderNightlyHtml(tonight, history, regs);
  assert.match(html, /0 failed, 1 regressions/);
  assert.match(html, /<b>flagship<\/b>: 5000 events\/s acknowledged/);
  assert.equal(html.match(/<tr><td>flagship<\/td>/g)?.length, 2, "matrix row and tonight's row");
  assert.match(html, /<a href="runs\/x\/report.html">pass<\/a>/);
  assert.ok((html.match(/<svg /g)?.length ?? 0) >= 6);
});
