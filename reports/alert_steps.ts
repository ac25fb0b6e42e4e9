/**
 * The report's section on where the alerts' time went: p50/p99 per step of the
 * matched alerts (validate/alert_steps.ts), in Markdown and HTML, and what the
 * headline "after the watermark" figure measures. The figures come from the
 * pipeline under test (its detector's clock) and are read defensively: an
 * older run has none (no section), a figure that is not a number shows "-".
 *
 * ```ts
 * import { alertStepsMarkdown } from "./alert_steps.ts";
 * lines.push(...alertStepsMarkdown(results.alerts));
 * ```
 * @module
 */

import { ALERT_STEPS, type AlertStep } from "../validate/alert_steps.ts";
import { esc } from "./svg_chart.ts";

/** What each step measures, for a reader. */
const MEANING: Record<AlertStep, string> = {
  watermark_lag:
    "transport: watermark passed minus (window end + out-of-orderness bound): how late the data reached the detector",
  watermark_to_fire: "rule fired minus the detector's watermark passing the window's end",
  fire_to_lock: "dedupe lock taken and outbox written (one Redis script) minus the firing",
  lock_to_first_attempt: "first delivery attempt sent minus the lock",
  first_to_last_attempt: "accepted attempt sent minus the first (retries and backoff)",
  attempt_to_answer: "receiver's answer (its clock) minus the accepted attempt sent",
  watermark_to_received:
    "receiver's answer minus the watermark passing: the detector's whole delay (after_watermark)",
};

const ms = (x: unknown) => typeof x === "number" && Number.isFinite(x) ? String(x) : "-";

/** Rows [step, p50, p99, n, meaning] of the steps that recorded something; [] for none. */
export function alertStepRows(alerts: unknown): string[][] {
  if (typeof alerts !== "object" || alerts === null) return [];
  const steps = (alerts as { alert_steps?: unknown }).alert_steps;
  if (typeof steps !== "object" || steps === null) return [];
  const rows: string[][] = [];
  for (const step of ALERT_STEPS) {
    const f = (steps as Record<string, unknown>)[step];
    if (typeof f !== "object" || f === null) continue;
    const { p50, p99, n } = f as Record<string, unknown>;
    if (typeof n !== "number" || !(n > 0)) continue;
    rows.push([step, ms(p50), ms(p99), ms(n), MEANING[step]]);
  }
  return rows;
}

/** What the headline figure is, under the table. */
function headline(alerts: unknown): string {
  const a = alerts as Record<string, unknown>;
  const basis = a.after_watermark_basis;
  return `After the watermark p99 ${ms(a.after_watermark_ms_p99)} ms (${
    basis === "detector"
      ? "receiver's answer minus the detector's recorded watermark passing"
      : basis === "mixed"
      ? "from the detector's record where it has one, else the wall clock"
      : "wall clock: fired minus window end + bound"
  }); the older wall-clock figure (fired minus window end + bound, transport included) p99 ${
    ms(a.after_watermark_wall_ms_p99)
  } ms. The steps are the detector's own claims: figures, never part of the verdict.`;
}

export function alertStepsMarkdown(alerts: unknown): string[] {
  const rows = alertStepRows(alerts);
  if (!rows.length) return [];
  const cell = (s: string) => s.replace(/[\\`<>|[\]]/g, "\\$&");
  return [
    "",
    "## Where the alerts' time went (ms, matched alerts)",
    "",
    "| step | p50 | p99 | alerts | what |",
    "| --- | --- | --- | --- | --- |",
    ...rows.map((r) => `| ${r.map(cell).join(" | ")} |`),
    "",
    cell(headline(alerts)),
  ];
}

export function alertStepsHtml(alerts: unknown): string {
  const rows = alertStepRows(alerts);
  if (!rows.length) return "";
  return `<h2>Where the alerts' time went (ms, matched alerts)</h2>
<table><tr><th>step</th><th>p50</th><th>p99</th><th>alerts</th><th>what</th></tr>
${rows.map((r) => `<tr>${r.map((c) => `<td>${esc(c)}</td>`).join("")}</tr>`).join("\n")}
</table>
<p class="muted">${esc(headline(alerts))}</p>`;
}
