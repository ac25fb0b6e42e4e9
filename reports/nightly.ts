/**
 * Nightly runs: one summary per night (`reports/nightly/<date>/summary.json`),
 * regressions against earlier nights, and the HTML index with a pass/fail
 * matrix and trends. Pure; `chaos/cli_nightly.ts` runs the scenarios.
 *
 * A regression, per scenario, against the median of up to 7 earlier nights
 * that ran it:
 * - its verdict is no longer what it expects;
 * - acknowledged events were lost where they never were (not for negative
 *   controls, whose point is losing them);
 * - the slowest recovery after a fault took over 1.5 × the median + 5 s;
 * - acknowledged events/s fell under 80% of the median;
 * - p99 detection latency rose over 1.5 × the median + 5 s.
 *
 * ```ts
 * import { figuresOf, findRegressions } from "./nightly.ts";
 * const regressions = findRegressions(tonight, earlierNights);
 * ```
 * @module
 */

import type { Results } from "../validate/results.ts";
import { esc, lineChart } from "./svg_chart.ts";
import { median } from "../lib/stats.ts";

export interface Figures {
  verdict: Results["verdict"];
  expect: Results["expect"];
  as_expected: boolean;
  seed: number;
  lost: number | null;
  /** The slowest recovery after a fault (ms); null when none came back or there were no faults. */
  recovery_ms: number | null;
  acked_eps: number;
  detection_p99_ms: number | null;
  /** The run folder, relative to the night's folder. */
  run: string;
}

export interface NightSummary {
  date: string;
  scenarios: Record<string, Figures>;
}

export interface Regression {
  scenario: string;
  metric: "verdict" | "lost" | "recovery_ms" | "acked_eps" | "detection_p99_ms";
  tonight: number | string | null;
  baseline: number | string | null;
  why: string;
}

const HISTORY = 7;

export function figuresOf(r: Results, run: string): Figures {
  const recoveries = (r.recovery?.faults ?? []).map((f) => f.recovered_ms);
  return {
    verdict: r.verdict,
    expect: r.expect,
    as_expected: r.as_expected,
    seed: r.seed,
    lost: r.completeness?.lost ?? null,
    recovery_ms: recoveries.length && recoveries.every((x) => x !== null)
      ? Math.max(...(recoveries as number[]))
      : null,
    acked_eps: r.throughput.acked_eps,
    detection_p99_ms: r.alerts?.latency_ms_p99 ?? null,
    run,
  };
}

/** Regressions of `tonight` against the last nights of `earlier` (any order). */
export function findRegressions(tonight: NightSummary, earlier: NightSummary[]): Regression[] {
  const past = earlier.filter((n) => n.date < tonight.date).sort((a, b) =>
    b.date.localeCompare(a.date)
  );
  const out: Regression[] = [];
  for (const [scenario, now] of Object.entries(tonight.scenarios)) {
    const before = past.map((n) => n.scenarios[scenario]).filter((f): f is Figures => !!f)
      .slice(0, HISTORY);
    if (!now.as_expected) {
      out.push({
        scenario,
        metric: "verdict",
        tonight: now.verdict,
        baseline: now.expect,
        why: `verdict ${now.verdict}, expected ${now.expect}`,
      });
    }
    if (before.length === 0) continue;
    const base = (pick: (f: Figures) => number | null) =>
      median(before.map(pick).filter((v): v is number => v !== null));
    if (now.expect === "pass" && (now.lost ?? 0) > 0) {
      const b = base((f) => f.lost);
      if (b === 0) {
        out.push({
          scenario,
          metric: "lost",
          tonight: now.lost,
          baseline: 0,
          why: `${now.lost} acknowledged events lost; none on earlier nights`,
        });
      }
    }
    const rec = base((f) => f.recovery_ms);
    if (rec !== null && (now.recovery_ms === null || now.recovery_ms > rec * 1.5 + 5000)) {
      out.push({
        scenario,
        metric: "recovery_ms",
        tonight: now.recovery_ms,
        baseline: rec,
        why: now.recovery_ms === null
          ? `throughput never came back after a fault (median ${rec} ms)`
          : `recovery took ${now.recovery_ms} ms (median ${rec} ms)`,
      });
    }
    const eps = base((f) => f.acked_eps);
    if (eps !== null && now.acked_eps < eps * 0.8) {
      out.push({
        scenario,
        metric: "acked_eps",
        tonight: now.acked_eps,
        baseline: eps,
        why: `${now.acked_eps} events/s acknowledged (median ${eps})`,
      });
    }
    const det = base((f) => f.detection_p99_ms);
    if (det !== null && now.detection_p99_ms !== null && now.detection_p99_ms > det * 1.5 + 5000) {
      out.push({
        scenario,
        metric: "detection_p99_ms",
        tonight: now.detection_p99_ms,
        baseline: det,
        why: `p99 detection latency ${now.detection_p99_ms} ms (median ${det} ms)`,
      });
    }
  }
  return out;
}

const CSS = `body{font:14px/1.45 system-ui,sans-serif;margin:24px auto;max-width:980px;color:#222}
table{border-collapse:collapse;margin:8px 0}td,th{border:1px solid #ddd;padding:3px 6px;text-align:left}
th{background:#f4f4f4}.pass{background:#d5f5e3}.fail{background:#fadbd8}.unknown{background:#fcf3cf}
.chart{display:block;margin:8px 0;max-width:100%;height:auto}.chart .title{font-weight:600;font-size:13px}
.chart .tick{font-size:10px;fill:#555}.muted{color:#666}`;

/** The night's index: regressions, a scenario × night matrix, and trends. */
export function renderNightlyHtml(
  tonight: NightSummary,
  earlier: NightSummary[],
  regressions: Regression[],
): string {
  const nights = [...earlier.filter((n) => n.date < tonight.date), tonight]
    .sort((a, b) => a.date.localeCompare(b.date)).slice(-14);
  const scenarios = [...new Set(nights.flatMap((n) => Object.keys(n.scenarios)))].sort();
  const cell = (f: Figures | undefined, link: boolean) => {
    if (!f) return `<td class="muted">-</td>`;
    const cls = f.as_expected ? "pass" : f.verdict === "unknown" ? "unknown" : "fail";
    const text = `${f.verdict}${f.expect === "fail" ? " (control)" : ""}`;
    return `<td class="${cls}">${
      link ? `<a href="${esc(f.run)}/report.html">${text}</a>` : text
    }</td>`;
  };
  const matrix = scenarios.map((s) =>
    `<tr><td>${esc(s)}</td>${
      nights.map((n) => cell(n.scenarios[s], n.date === tonight.date)).join("")
    }</tr>`
  ).join("\n");
  const trend = (title: string, pick: (f: Figures) => number | null) =>
    scenarios.map((s) => {
      const points = nights.map((n, i) =>
        [i, n.scenarios[s] ? pick(n.scenarios[s]) : null] as const
      );
      if (points.every(([, v]) => v === null)) return "";
      return lineChart({
        title: `${s}: ${title} (by night)`,
        points,
        height: 150,
        maxGap: 1,
        dots: true,
        xIntegers: true,
        xMax: Math.max(1, nights.length - 1),
        xFormat: (i) => nights[i]?.date.slice(5) ?? "",
      });
    }).join("\n");
  const failed = Object.values(tonight.scenarios).filter((f) => !f.as_expected).length;
  return `<!doctype html><html lang="en"><head><meta charset="utf-8">
<title>nightly ${esc(tonight.date)}</title><style>${CSS}</style></head><body>
<h1>Nightly ${esc(tonight.date)}: ${
    failed || regressions.length
      ? `<span style="color:#c0392b">${failed} failed, ${regressions.length} regressions</span>`
      : `<span style="color:#1e8449">all as expected, no regression</span>`
  }</h1>
${
    regressions.length
      ? `<h2>Regressions</h2><ul>${
        regressions.map((r) => `<li><b>${esc(r.scenario)}</b>: ${esc(r.why)}</li>`).join("")
      }</ul>`
      : ""
  }
<h2>Scenarios by night</h2>
<table><tr><th>scenario</th>${nights.map((n) => `<th>${esc(n.date)}</th>`).join("")}</tr>
${matrix}</table>
<h2>Tonight</h2>
<table><tr><th>scenario</th><th>seed</th><th>lost</th><th>slowest recovery (ms)</th><th>events/s</th><th>p99 detection (ms)</th></tr>
${
    Object.entries(tonight.scenarios).map(([s, f]) =>
      `<tr><td>${esc(s)}</td><td>${f.seed}</td><td>${f.lost ?? "-"}</td><td>${
        f.recovery_ms ?? "-"
      }</td><td>${f.acked_eps}</td><td>${f.detection_p99_ms ?? "-"}</td></tr>`
    ).join("\n")
  }</table>
<h2>Trends</h2>
<p class="muted">x: nights, oldest first (${esc(nights[0]?.date ?? "")} to ${esc(tonight.date)})</p>
${trend("acknowledged events/s", (f) => f.acked_eps)}
${trend("slowest recovery (ms)", (f) => f.recovery_ms)}
${trend("lost events", (f) => f.lost)}
${trend("p99 detection latency (ms)", (f) => f.detection_p99_ms)}
</body></html>
`;
}
