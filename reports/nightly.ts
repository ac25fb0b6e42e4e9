/**
 * Nightly runs: one summary per night (`reports/nightly/<date>/summary.json`,
 * nightly_summary.ts), regressions against earlier nights, and the HTML index:
 * scenarios that started failing (nightly_history.ts), any two nights compared
 * (nightly_compare.ts), a pass/fail matrix and small multiples of each
 * scenario's figures over the last 30 nights (nightly_multiples.ts). Pure;
 * `chaos/cli_nightly.ts` runs the scenarios.
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

import type { Figures, NightSummary } from "./nightly_summary.ts";
import { esc } from "./svg_chart.ts";
import { median } from "../lib/stats.ts";
import {
  figuresOn,
  historyOf,
  nightWindow,
  replayCommand,
  runHref,
  startedFailing,
} from "./nightly_history.ts";
import { COMPARE_SCRIPT, compareNights, compareTableHtml } from "./nightly_compare.ts";
import { smallMultiples } from "./nightly_multiples.ts";

export type { Figures, NightSummary } from "./nightly_summary.ts";
export { figuresOf } from "./nightly_summary.ts";

export interface Regression {
  scenario: string;
  metric: "verdict" | "lost" | "recovery_ms" | "acked_eps" | "detection_p99_ms";
  tonight: number | string | null;
  baseline: number | string | null;
  why: string;
}

const HISTORY = 7;

/** Regressions of `tonight` against the last nights of `earlier` (any order). */
export function findRegressions(tonight: NightSummary, earlier: NightSummary[]): Regression[] {
  const past = historyOf(tonight, earlier).filter((n) => n.date < tonight.date).reverse();
  const out: Regression[] = [];
  for (const [scenario, now] of Object.entries(tonight.scenarios)) {
    const before = past.map((n) => figuresOn(n, scenario)).filter((f): f is Figures => !!f)
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

/** Nights embedded in a page for the comparison (the newest; older ones are on older pages). */
export const EMBEDDED_NIGHTS = 400;

const CSS = `body{font:14px/1.45 system-ui,sans-serif;margin:24px auto;max-width:1240px;color:#222}
table{border-collapse:collapse;margin:8px 0}td,th{border:1px solid #ddd;padding:3px 6px;text-align:left}
th{background:#f4f4f4}.pass{background:#d5f5e3}.fail{background:#fadbd8}.unknown{background:#fcf3cf}
.better{background:#d5f5e3}.worse{background:#fadbd8}.num{white-space:nowrap}.diff{font-size:12px}
.compare caption{text-align:left;font-weight:600}
.matrix td,.matrix th{padding:1px 3px;text-align:center;font-size:12px}.matrix td:first-child{text-align:left}
.matrix .day{writing-mode:vertical-rl;font-weight:400;font-size:11px}.matrix a{color:inherit;text-decoration:none}
.sm td{padding:0;border:none;vertical-align:top}.sm th{font-size:12px;max-width:160px;word-break:break-all}
.sm .chart{margin:0}.sm .chart .title{font-size:11px}.sm .nodata{font-size:12px;padding:8px;width:190px}
.chart{display:block;margin:8px 0;max-width:100%;height:auto}.chart .title{font-weight:600;font-size:13px}
.chart .tick{font-size:10px;fill:#555}.muted{color:#666}code{background:#f4f4f4;padding:1px 4px}`;

const mark = (f: Figures) =>
  f.as_expected ? "✓" : f.verdict === "fail" ? "✗" : f.verdict === "unknown" ? "?" : "!";
const verdictClass = (f: Figures) =>
  f.as_expected ? "pass" : f.verdict === "unknown" ? "unknown" : "fail";

/**
 * The night's index: regressions, scenarios that started failing (first failing night's run
 * folder and replay command), two nights compared (`?a=<date>&b=<date>` or the selectors; the
 * night before and tonight by default), a scenario × night matrix and small multiples of each
 * scenario's figures over the last 30 nights. `earlier` may hold anything read back from
 * `summary.json` files: what is not a night is left out, missing figures show as gaps.
 */
export function renderNightlyHtml(
  tonight: NightSummary,
  earlier: NightSummary[],
  regressions: Regression[],
): string {
  const history = historyOf(tonight, earlier);
  const slots = nightWindow(history, tonight.date);
  const scenarios = [...new Set(slots.flatMap((s) => Object.keys(s.night?.scenarios ?? {})))]
    .sort();
  const link = (date: string, f: Figures, text: string) => {
    const href = runHref(date, f.run, "report.html");
    return href ? `<a href="${esc(href)}">${text}</a>` : text;
  };
  const cell = (date: string, f: Figures | undefined) => {
    if (!f) return `<td class="muted" title="${esc(`${date}: not run`)}">·</td>`;
    const title = `${date}: ${f.verdict}${f.expect === "fail" ? " (control)" : ""}${
      Number.isFinite(f.seed) ? `, seed ${f.seed}` : ""
    }`;
    return `<td class="${verdictClass(f)}" title="${esc(title)}">${link(date, f, mark(f))}</td>`;
  };
  const matrix = scenarios.map((s) =>
    `<tr><td>${esc(s)}</td>${slots.map((n) => cell(n.date, figuresOn(n.night, s))).join("")}</tr>`
  ).join("\n");

  const started = startedFailing(history, tonight.date).map((s) => {
    const folder = runHref(s.date, s.figures.run);
    const replay = replayCommand(s.scenario, s.figures);
    return `<li><b>${esc(s.scenario)}</b>: ${s.recovered ? "failed" : "failing"} since ${
      esc(s.date)
    } (${esc(s.figures.verdict)}${
      s.passed ? `; as expected on ${esc(s.passed)}` : "; never as expected before"
    }${s.recovered ? `; as expected again on ${esc(s.recovered)}` : ""}). ${
      folder ? `<a href="${esc(folder)}">run folder</a> · ` : ""
    }${replay ? `replay: <code>${esc(replay)}</code>` : "no seed recorded"}</li>`;
  });

  const nightsDesc = history.slice(-EMBEDDED_NIGHTS).reverse();
  const b = tonight.date;
  const a = nightsDesc[1]?.date ?? b;
  const options = (selected: string) =>
    nightsDesc.map((n) =>
      `<option value="${esc(n.date)}"${n.date === selected ? " selected" : ""}>${
        esc(n.date)
      }</option>`
    ).join("");
  const data = JSON.stringify({ a, b, nights: [...nightsDesc].reverse() })
    .replaceAll("<", "\\u003c");
  const failed = Object.values(tonight.scenarios).filter((f) => !f.as_expected).length;
  const figure = (v: number | null | undefined) =>
    typeof v === "number" && Number.isFinite(v) ? String(v) : "-";
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
${started.length ? `<h2>Started failing</h2><ul id="started">${started.join("\n")}</ul>` : ""}
<h2>Compare two nights</h2>
<p>night a <select id="night-a">${options(a)}</select> → night b <select id="night-b">${
    options(b)
  }</select> <span class="muted">(or <code>index.html?a=YYYY-MM-DD&amp;b=YYYY-MM-DD</code>)</span></p>
<div id="compare" data-pair="">${
    compareTableHtml(
      compareNights(
        history.find((n) => n.date === a),
        history.find((n) => n.date === b),
      ),
      a,
      b,
    )
  }</div>
<h2>Scenarios by night</h2>
<p class="muted">${esc(slots[0]?.date ?? "")} to ${
    esc(tonight.date)
  }, oldest first: ✓ as expected, ✗ fail, ? unknown, · not run; a mark links to its run's report.</p>
<table class="matrix"><tr><th>scenario</th>${
    slots.map((n) => `<th class="day" title="${esc(n.date)}">${esc(n.date.slice(5))}</th>`).join(
      "",
    )
  }</tr>
${matrix}</table>
<h2>Tonight</h2>
<table><tr><th>scenario</th><th>seed</th><th>acknowledged</th><th>lost</th><th>slowest recovery (ms)</th><th>events/s</th><th>p99 detection (ms)</th></tr>
${
    Object.entries(tonight.scenarios).map(([s, f]) =>
      `<tr><td>${esc(s)}</td><td>${figure(f.seed)}</td><td>${figure(f.acked)}</td><td>${
        figure(f.lost)
      }</td><td>${figure(f.recovery_ms)}</td><td>${figure(f.acked_eps)}</td><td>${
        figure(f.detection_p99_ms)
      }</td></tr>`
    ).join("\n")
  }</table>
<h2>Last ${slots.length} nights</h2>
<p class="muted">x: day of the month, ${esc(slots[0]?.date ?? "")} to ${
    esc(tonight.date)
  }; a gap: not run or not recorded; a red line: a night not as expected.</p>
${smallMultiples(slots)}
<script type="application/json" id="nightly-data">${data}</script>
<script>${COMPARE_SCRIPT}</script>
</body></html>
`;
}
