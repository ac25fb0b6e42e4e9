/**
 * The HTML report of a run: one self-contained file (inline CSS and SVG, no
 * script, nothing fetched) with the verdict first, the checks with their
 * figures, charts of acknowledged events/s, the sink's lag and p95 produce
 * latency over time with fault windows shaded, incident windows against the
 * alerts that fired, the fault timeline, and the missing seqs when there are
 * any. Pure.
 *
 * ```ts
 * import { renderHtml } from "./html.ts";
 * await Deno.writeTextFile("report.html", renderHtml({ results, samples, incidents, alerts }));
 * ```
 * @module
 */

import type { Results } from "../validate/results.ts";
import type { AlertBody } from "../validate/alerts.ts";
import type { Incident } from "../pipeline/anomalies.ts";
import type { Sample } from "../validate/samples.ts";
import { checks, throughputText } from "./render.ts";
import { esc, lineChart, type Marker, type Span } from "./svg_chart.ts";
import { costHtml } from "./cost.ts";
import { alertStepsHtml } from "./alert_steps.ts";
import { clamp, isoTime } from "../validate/printable.ts";
import { blameLines, blameNotes } from "../validate/blame.ts";
import { reorderLines } from "../validate/order.ts";

export interface ReportData {
  results: Results;
  samples: readonly Sample[];
  incidents: readonly Incident[];
  /** Distinct alerts the webhook accepted. */
  alerts: readonly AlertBody[];
}

/** Fill of incident windows. */
export const INCIDENT_FILL = "#fcf3cf";

const COLORS = { pass: "#1e8449", fail: "#c0392b", unknown: "#b9770e" } as const;

const CSS = `
body{font:14px/1.45 system-ui,-apple-system,Segoe UI,Roboto,sans-serif;margin:24px auto;max-width:820px;color:#222}
h1{font-size:22px;margin:0 0 4px}h2{font-size:17px;margin:28px 0 8px;border-bottom:1px solid #ddd}
.verdict{display:inline-block;padding:2px 10px;border-radius:4px;color:#fff;font-weight:600}
table{border-collapse:collapse;width:100%;margin:8px 0}td,th{border:1px solid #ddd;padding:4px 6px;text-align:left;vertical-align:top}
th{background:#f4f4f4}.muted{color:#666}.chart{display:block;margin:10px 0;max-width:100%;height:auto}
.chart .title{font-weight:600;font-size:13px}.chart .tick{font-size:10px;fill:#555}code{background:#f4f4f4;padding:0 3px}
ul.reasons li,ul.notes li{margin:2px 0}
ul.notes{color:#666}
`;

const t = (ms: number | null, t0: number) => (ms === null ? null : (ms - t0) / 1000);

/** Most incident windows and alert markers drawn (the rest are counted in the title). */
export const MAX_DRAWN = 500;
/** How far past the workload's end an alert marker is drawn (s); a later one sits at the edge. */
const MARKER_SLACK_S = 3600;

export function renderHtml(data: ReportData): string {
  const r = data.results;
  const t0 = r.workload?.started_at ?? data.samples[0]?.t ?? 0;
  const end = r.workload?.ended_at ?? data.samples.at(-1)?.t ?? t0;
  const xMax = Math.max(1, (end - t0) / 1000);
  const spans: Span[] = r.faults.filter((f) => f.injected_at !== null).map((f) => ({
    from: t(f.injected_at, t0)!,
    to: t(f.healed_at ?? f.injected_at! + 1000, t0)!,
    label: `${f.kind} ${f.target} (${f.nodes.join(", ") || "-"})`,
  }));
  const series = (pick: (s: Sample) => number | null) =>
    data.samples.map((s) => [(s.t - t0) / 1000, pick(s)] as const);
  const charts: string[] = [];
  if (data.samples.length) {
    charts.push(
      lineChart({
        title: "Acknowledged events/s (faults shaded)",
        points: series((s) => s.acked_eps),
        spans,
        xMax,
      }),
      lineChart({
        title: "Sink consumer lag (events not yet committed)",
        points: series((s) => s.sink_lag),
        spans,
        xMax,
      }),
      lineChart({
        title: "p95 produce latency (ms)",
        points: series((s) => s.p95_send_ms),
        spans,
        xMax,
        yUnit: "",
        reference: latencyBound(r),
      }),
    );
  }
  // Kafka's health beside the throughput (runs from before it was sampled have none).
  if (data.samples.some((s) => s.under_replicated != null)) {
    charts.push(
      lineChart({
        title: "Under-replicated partitions of the topic (fewer in-sync replicas than replicas)",
        points: series((s) => s.under_replicated ?? null),
        spans,
        xMax,
        yUnit: "",
      }),
      lineChart({
        title: "Smallest in-sync replica set of the topic",
        points: series((s) => s.min_isr ?? null),
        spans,
        xMax,
        yUnit: "",
      }),
    );
  }
  // Incidents (event time) against the alerts that fired (marker at fired_at).
  if (data.incidents.length) {
    const incidentSpans: Span[] = data.incidents.slice(0, MAX_DRAWN).map((i) => ({
      from: (i.start_ms - t0) / 1000,
      to: (i.end_ms - t0) / 1000,
      label: `${i.kind} ${i.entity} (${i.id})`,
      color: INCIDENT_FILL,
    }));
    // An alert claims its own fired_at_ms: any number, drawn within the chart, dated when a date holds it.
    const markers: Marker[] = data.alerts.slice(0, MAX_DRAWN).map((a) => ({
      x: clamp((a.fired_at_ms - t0) / 1000, 0, xMax + MARKER_SLACK_S),
      label: `${a.rule} ${a.entity} fired ${isoTime(a.fired_at_ms)} (${a.alert_id})`,
    }));
    let lastAlert = xMax;
    for (const m of markers) lastAlert = Math.max(lastAlert, m.x + 5);
    const undrawn = Math.max(0, data.alerts.length - MAX_DRAWN) +
      Math.max(0, data.incidents.length - MAX_DRAWN);
    charts.push(lineChart({
      title: `Incidents (yellow) and alerts fired (purple): ${data.alerts.length} alerts` +
        (undrawn ? ` (${undrawn} incidents and alerts past the first ${MAX_DRAWN} not drawn)` : ""),
      points: [[0, 0], [lastAlert, 0]],
      spans: incidentSpans,
      markers,
      xMax: lastAlert,
      height: 110,
      yAxis: false,
    }));
  }

  const rows = checks(r).map((c) =>
    `<tr><td>${esc(c.name)}</td><td style="color:${
      COLORS[c.verdict]
    };font-weight:600">${c.verdict.toUpperCase()}</td><td>${esc(c.figures)}</td></tr>`
  ).join("\n");
  const faults = r.faults.map((f) =>
    `<tr><td>${esc(f.kind)}</td><td>${esc(f.target)}</td><td>${
      esc(f.nodes.join(", ") || "-")
    }</td><td>${fmt(t(f.injected_at, t0))}</td><td>${fmt(t(f.healed_at, t0))}</td><td>${
      f.observed ? "yes" : "<b>no</b>"
    }</td></tr>`
  ).join("\n");
  const lost = Object.entries(r.completeness?.lost_sample ?? {});
  const expectNote = r.expect === "fail"
    ? ` <span class="muted">negative control, expected FAIL: ${
      r.as_expected ? "as expected" : "<b>NOT as expected</b>"
    }</span>`
    : "";
  return `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>${esc(r.scenario)}: ${r.verdict}</title>
<style>${CSS}</style></head>
<body>
<h1>${esc(r.scenario)} <span class="verdict" style="background:${
    COLORS[r.verdict]
  }">${r.verdict.toUpperCase()}</span>${expectNote}</h1>
<p>${esc(r.description)}</p>
<p class="muted">seed ${esc(String(r.seed))} · stack ${esc(String(r.stack))} · run <code>${
    esc(r.run_id)
  }</code> · ${esc(r.started_at)} to ${esc(r.ended_at)} · ${esc(throughputText(r))}</p>
${
    r.reasons.length
      ? `<ul class="reasons">${r.reasons.map((x) => `<li>${esc(x)}</li>`).join("")}</ul>`
      : ""
  }${
    notes(r).length
      ? `<ul class="notes">${notes(r).map((x) => `<li>${esc(x)}</li>`).join("")}</ul>`
      : ""
  }
<h2>Checks</h2>
<table><tr><th>check</th><th>verdict</th><th>figures</th></tr>
${rows}
</table>
<h2>Over time</h2>
${charts.join("\n") || '<p class="muted">no samples were recorded (the workload never ran)</p>'}
<h2>Faults</h2>
<table><tr><th>kind</th><th>target</th><th>nodes</th><th>injected (s)</th><th>healed (s)</th><th>observed</th></tr>
${faults || '<tr><td colspan="6" class="muted">none</td></tr>'}
</table>
${
    lost.length
      ? `<h2>Missing seqs (first few per producer)</h2><ul>${
        lost.map(([p, seqs]) => `<li><code>${esc(p)}</code>: ${esc(seqs.join(", "))}</li>`)
          .join("")
      }</ul>`
      : ""
  }
${
    r.completeness?.reordered?.examples.length
      ? `<h2>Reordered records (first few)</h2><ul>${
        reorderLines(r.completeness.reordered).map((x) => `<li>${esc(x)}</li>`).join("")
      }</ul>`
      : ""
  }
${
    r.blame && r.blame.lost > 0
      ? `<h2>Where the lost records were last seen</h2><ul>${
        blameLines(r.blame).map((x) => `<li>${esc(x)}</li>`).join("")
      }</ul>${
        blameNotes(r.blame).length
          ? `<ul class="notes">${
            blameNotes(r.blame).map((x) => `<li>${esc(x)}</li>`).join("")
          }</ul>`
          : ""
      }`
      : ""
  }
${alertStepsHtml(r.alerts)}
${costHtml(r.cost)}
<p class="muted">Files beside this one: results.json, history.jsonl, samples.jsonl, ledger.json, deliveries.jsonl, logs/. Re-check with <code>deno task validate --run &lt;this folder&gt;</code>.</p>
</body></html>
`;
}

const fmt = (s: number | null) => (s === null ? "-" : s.toFixed(1));

/** What the checks note without failing: advisory probes, commits not sampled. */
const notes = (r: Results) => [...(r.probes?.notes ?? []), ...(r.durability?.notes ?? [])];

/** The p95 latency bound of the scenario's probes, drawn as a reference line. */
function latencyBound(r: Results): { y: number; label: string } | undefined {
  const p = r.probes?.probes.find((x) => x.metric === "p95_send_ms" && x.expected.startsWith("<="));
  if (!p) return undefined;
  const y = Number(p.expected.replace("<=", "").trim());
  return Number.isFinite(y) ? { y, label: `bound ${y} ms` } : undefined;
}
