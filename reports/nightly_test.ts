import assert from "node:assert/strict";
import {
  EMBEDDED_NIGHTS,
  type Figures,
  figuresOf,
  findRegressions,
  type NightSummary,
  renderNightlyHtml,
} from "./nightly.ts";
import { addDays } from "./nightly_history.ts";
import { passRun } from "./_fixtures.ts";
import { good as goodNight } from "./_nightly_fixtures.ts";

const good: Figures = { ...goodNight, acked: 540_000 };
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

Deno.test("findRegressions: nights read back with anything in them are no crash", () => {
  const junk = [null, { date: "2026-11-18" }, { date: "2026-11-19", scenarios: "x" }];
  assert.deepEqual(findRegressions(night("2026-11-20"), junk as unknown as NightSummary[]), []);
});

Deno.test("figuresOf records what the page and the replay need", () => {
  const { results } = passRun();
  const f = figuresOf(results, "runs/r1");
  assert.equal(f.acked, results.completeness?.acked);
  assert.equal(f.stack, results.stack);
  assert.equal(f.seed, results.seed);
});

Deno.test("renderNightlyHtml: matrix over nights, regressions listed, trends drawn", () => {
  const tonight = night("2026-11-20", { acked_eps: 5000 });
  const regs = findRegressions(tonight, history);
  const html = renderNightlyHtml(tonight, history, regs);
  assert.match(html, /0 failed, 1 regressions/);
  assert.match(html, /<b>flagship<\/b>: 5000 events\/s acknowledged/);
  assert.equal(html.match(/<tr><td>flagship<\/td>/g)?.length, 3, "comparison, matrix, tonight");
  assert.match(html, /<a href="\.\.\/2026-11-20\/runs\/x\/report.html">✓<\/a>/);
  assert.match(html, /<a href="\.\.\/2026-11-15\/runs\/x\/report.html">✓<\/a>/);
  assert.equal(html.match(/<th class="day"/g)?.length, 30, "30 nights in the matrix");
  assert.equal(html.match(/<td class="muted" title="[^"]*: not run">·<\/td>/g)?.length, 2 * 24);
  assert.equal(html.match(/<svg /g)?.length, 2 * 5, "5 small multiples per scenario");
  assert.doesNotMatch(html, /Started failing/);
});

Deno.test("renderNightlyHtml: the comparison, its selector and its data", () => {
  const tonight = night("2026-11-20", { acked_eps: 5000 });
  const html = renderNightlyHtml(tonight, history, []);
  assert.match(html, /<caption>night a 2026-11-19 → night b 2026-11-20<\/caption>/);
  assert.match(html, /<td class="num worse">9400 → 5000/);
  assert.match(html, /<select id="night-a">.*<option value="2026-11-19" selected>/s);
  assert.match(html, /<select id="night-b"><option value="2026-11-20" selected>/);
  assert.equal(html.match(/<option /g)?.length, 2 * 6);
  const data = JSON.parse(html.match(/id="nightly-data">(.*?)<\/script>/s)![1]);
  assert.deepEqual(data.nights.map((n: NightSummary) => n.date), [
    ...history.map((n) => n.date),
    "2026-11-20",
  ]);
  assert.match(html, /<script>"use strict";/);
  assert.doesNotMatch(html, /<script[^>]+src=|<link |https?:\/\/(?!www\.w3\.org)/, "no assets");
});

Deno.test("renderNightlyHtml: a scenario that started failing links its first failing night", () => {
  const nights = [
    night("2026-11-16"),
    night("2026-11-17", { verdict: "fail", as_expected: false, seed: 42, run: "runs/fl 1" }),
    night("2026-11-18", { verdict: "fail", as_expected: false, seed: 43 }),
  ];
  const html = renderNightlyHtml(
    night("2026-11-19", { verdict: "unknown", as_expected: false }),
    nights,
    [],
  );
  assert.match(html, /<h2>Started failing<\/h2>/);
  assert.match(
    html,
    /<b>flagship<\/b>: failing since 2026-11-17 \(fail; as expected on 2026-11-16\)/,
  );
  assert.match(html, /<a href="\.\.\/2026-11-17\/runs\/fl%201\/">run folder<\/a>/);
  assert.match(html, /replay: <code>deno task scenario flagship --seed 42<\/code>/);
  assert.ok((html.match(/class="marker"/g)?.length ?? 0) >= 3 * 5, "failed nights marked");
});

Deno.test("renderNightlyHtml: no history, no figures, added and removed scenarios", async (t) => {
  await t.step("the first night", () => {
    const html = renderNightlyHtml(night("2026-11-01"), [], []);
    assert.match(html, /<caption>night a 2026-11-01 → night b 2026-11-01<\/caption>/);
    assert.equal(html.match(/<option /g)?.length, 2);
    assert.equal(html.match(/<svg /g)?.length, 10);
  });
  await t.step("a night that ran nothing", () => {
    const html = renderNightlyHtml({ date: "2026-11-01", scenarios: {} }, [], []);
    assert.match(html, /no scenario ran on either night/);
    assert.match(html, /No night in the window ran a scenario/);
  });
  await t.step("figures never recorded say so; a scenario added and one removed", () => {
    const old = { ...good, recovery_ms: null, detection_p99_ms: null } as Partial<Figures>;
    delete old.acked;
    const earlier = [{ date: "2026-11-01", scenarios: { removed: old as Figures } }];
    const tonight = { date: "2026-11-02", scenarios: { added: old as Figures } };
    const html = renderNightlyHtml(tonight, earlier, []);
    assert.equal(html.match(/not recorded<\/td>/g)?.length, 2 * 3);
    assert.match(html, /<tr><td>added<\/td><td class="">not run → pass<\/td>/);
    assert.match(html, /<tr><td>removed<\/td><td class="">pass → not run<\/td>/);
  });
  await t.step("only the newest nights are embedded", () => {
    const many = Array.from(
      { length: EMBEDDED_NIGHTS + 5 },
      (_, i) => night(addDays("2025-01-01", i)!),
    );
    const html = renderNightlyHtml(many.at(-1)!, many.slice(0, -1), []);
    assert.equal(html.match(/<option /g)?.length, 2 * EMBEDDED_NIGHTS);
  });
});

Deno.test("renderNightlyHtml: names and values from the files are escaped everywhere", () => {
  const evil = `<script>alert("x")</script>&'`;
  const f = { ...good, verdict: evil, run: `runs/"><img src=x>`, seed: 3 } as unknown as Figures;
  const tonight: NightSummary = { date: "2026-11-20", scenarios: { [evil]: f } };
  const earlier: NightSummary[] = [
    { date: "2026-11-19", scenarios: { [evil]: good } },
    { date: `2026-11-18"><b>`, scenarios: {} },
  ];
  const html = renderNightlyHtml(tonight, earlier, [
    { scenario: evil, metric: "verdict", tonight: evil, baseline: "pass", why: evil },
  ]);
  const body = html.replace(/<script>"use strict";.*?<\/script>/s, "");
  assert.equal(body.match(/<script/g)?.length, 1, "only the data block");
  assert.doesNotMatch(body, /<img|"><b>|alert\("x"\)/);
  assert.match(body, /&lt;script&gt;alert\(&quot;x&quot;\)&lt;\/script&gt;&amp;&#39;/);
  const data = html.match(/id="nightly-data">(.*?)<\/script>/s)![1];
  assert.doesNotMatch(data, /</, "the data block cannot end early");
  assert.equal(JSON.parse(data).nights[1].scenarios[evil].verdict, "unknown");
});
