import assert from "node:assert/strict";
import { renderNightlyProm } from "../reports/nightly_prom.ts";

/** Every metric name the harness's components register (from their sources). */
async function exported(): Promise<Set<string>> {
  const names = new Set<string>();
  for (
    const file of [
      "pipeline/generator_metrics.ts",
      "pipeline/sink_metrics.ts",
      "pipeline/detector_metrics.ts",
      "chaos/timeline.ts",
    ]
  ) {
    const text = await Deno.readTextFile(new URL(`../${file}`, import.meta.url));
    for (const m of text.matchAll(/name: "([a-z_]+)"/g)) names.add(m[1]);
  }
  for (const m of nightlyText().matchAll(/^# TYPE ([a-z_0-9]+) /gm)) names.add(m[1]);
  return names;
}

Deno.test("the Grafana dashboard queries only metrics the harness exports", async () => {
  const dash = JSON.parse(
    await Deno.readTextFile(new URL("./grafana/chaos-harness-dashboard.json", import.meta.url)),
  );
  const names = await exported();
  const exprs: string[] = [
    ...dash.panels.flatMap((p: { targets?: { expr: string }[] }) =>
      (p.targets ?? []).map((t) => t.expr)
    ),
    ...dash.annotations.list.map((a: { expr: string }) => a.expr),
  ];
  assert.ok(exprs.length >= 8);
  for (const expr of exprs) {
    for (
      const m of expr.matchAll(/\b([a-z]+_[a-z_0-9]+?)(?:_bucket|_sum|_count)?\b(?=[\[{)\s=]|$)/g)
    ) {
      if (["histogram_quantile", "by"].includes(m[1])) continue;
      assert.ok(names.has(m[1]), `${expr}: ${m[1]} is not exported`);
    }
  }
});

/** The nightly's Prometheus text for a night where every figure was measured. */
function nightlyText(): string {
  return renderNightlyProm({
    date: "2026-11-20",
    scenarios: {
      s: {
        verdict: "pass",
        expect: "pass",
        as_expected: true,
        seed: 1,
        lost: 0,
        recovery_ms: 1000,
        acked_eps: 10,
        detection_p99_ms: 500,
        run: "runs/s",
        acked: 100,
      },
    },
  }, { s: { acked: 100, ended_at_s: 1 } });
}

interface Panel {
  id: number;
  type: string;
  title: string;
  gridPos: { y: number };
  fieldConfig?: { defaults: { unit?: string } };
  targets?: { expr: string }[];
}

async function dashboard(): Promise<{ panels: Panel[] }> {
  return JSON.parse(
    await Deno.readTextFile(new URL("./grafana/chaos-harness-dashboard.json", import.meta.url)),
  );
}

/** The scrape interval of the harness's Prometheus (compose/prometheus.ts). */
const SCRAPE_S = 1;

/**
 * What is wrong with a query's naming and ranges: `rate`/`irate` over a fixed range (at a 1 s
 * scrape a fixed `[10s]` is shorter than Grafana's step on any longer time range, so samples
 * between steps are skipped: `$__rate_interval` follows the step and stays ≥ 4 scrapes), an
 * `increase`/`delta` over under a minute, a `_total` metric (a counter) shown without
 * `rate`/`increase`, a `_ms` metric (Prometheus' base unit is the second: `_seconds`).
 */
function queryProblems(expr: string): string[] {
  const problems: string[] = [];
  for (
    const m of expr.matchAll(
      /\b(rate|irate|increase|delta)\(([a-z_0-9]+)(?:\{[^}]*\})?\[([^\]]+)\]/g,
    )
  ) {
    const [, fn, metric, range] = m;
    if (range === "$__rate_interval") continue;
    if (fn === "rate" || fn === "irate") {
      problems.push(`${fn}(${metric}[${range}]): use $__rate_interval (scrape ${SCRAPE_S} s)`);
      continue;
    }
    const r = /^(\d+)(s|m|h)$/.exec(range);
    const seconds = r ? Number(r[1]) * { s: 1, m: 60, h: 3600 }[r[2] as "s"] : 0;
    if (seconds < 60) problems.push(`${fn}(${metric}[${range}]): under a minute`);
  }
  for (const m of expr.matchAll(/\b([a-z_0-9]+_total)\b/g)) {
    if (!new RegExp(`(rate|increase)\\(${m[1]}\\b`).test(expr)) {
      problems.push(`${m[1]} is a counter: show rate() or increase() of it`);
    }
  }
  for (const m of expr.matchAll(/\b([a-z_0-9]+_ms)\b/g)) {
    problems.push(`${m[1]} is in ms: export it in seconds (\`_seconds\`, the base unit)`);
  }
  return problems;
}

Deno.test("queryProblems flags fixed rate ranges, raw counters and ms", () => {
  assert.deepEqual(queryProblems("rate(a_total[$__rate_interval])"), []);
  assert.deepEqual(queryProblems("increase(a_total[1m])"), []);
  assert.deepEqual(queryProblems("detector_watermark_lag_seconds"), []);
  assert.equal(queryProblems("detector_watermark_lag_ms / 1000").length, 1);
  assert.equal(queryProblems("rate(a_total[10s])").length, 1);
  assert.equal(queryProblems('rate(a_bucket{x="1"}[1m])').length, 1);
  assert.equal(queryProblems("increase(a_total[30s])").length, 1);
  assert.equal(queryProblems("sink_batches_total").length, 1);
  assert.equal(queryProblems("detector_watermark_lag_ms").length, 1);
});

Deno.test("the dashboard's queries: ranges follow the step, counters rated, seconds shown as s", async () => {
  const { panels } = await dashboard();
  const found = panels.flatMap((p) =>
    (p.targets ?? []).flatMap((t) => queryProblems(t.expr).map((x) => `${p.title}: ${x}`))
  );
  assert.deepEqual(found, []);
  for (const p of panels) {
    const seconds = (p.targets ?? []).some((t) => /_seconds/.test(t.expr));
    if (seconds) {
      assert.match(JSON.stringify(p.fieldConfig), /"unit","value":"s"|"unit":"s"/, p.title);
    }
  }
});

Deno.test("the dashboard has a nightly row with every figure the nightly exports", async () => {
  const { panels } = await dashboard();
  const row = panels.find((p) => p.type === "row" && /nightly/i.test(p.title));
  assert.ok(row, "a nightly row");
  const below = panels.filter((p) => p.gridPos.y > row.gridPos.y);
  const exprs = below.flatMap((p) => (p.targets ?? []).map((t) => t.expr)).join("\n");
  const families = [...nightlyText().matchAll(/^# TYPE ([a-z_0-9]+) /gm)].map((m) => m[1])
    .filter((n) => n !== "chaos_nightly_verdict" && n !== "chaos_nightly_night_timestamp_seconds");
  assert.ok(families.length >= 6);
  for (const f of families) assert.ok(exprs.includes(f), `${f} not on the nightly row`);
  for (const p of below.filter((p) => /\(s\)|seconds|Age/.test(p.title))) {
    assert.equal(p.fieldConfig?.defaults.unit, "s", p.title);
  }
  const ids = panels.map((p) => p.id);
  assert.equal(new Set(ids).size, ids.length, "panel ids unique");
});
