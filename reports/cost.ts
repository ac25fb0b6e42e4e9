/**
 * The cost table of a run: CPU seconds per million acknowledged events and peak
 * resident MB for each stack node, component and the harness (which runs the
 * generator), the harness's peak with the verdict, and the machine's idle share
 * over the workload; as Markdown lines and as HTML.
 * @module
 */

import type { RunCost } from "../validate/results.ts";
import { esc } from "./svg_chart.ts";

const num = (n: number | null) => (n === null ? "-" : n.toFixed(1));
const share = (n: number | null) => (n === null ? "-" : `${(n * 100).toFixed(0)}%`);
const mb = (n: number | null | undefined) => (n === null || n === undefined ? "-" : n.toFixed(0));

/** One line under the table: the window, the events, the machine. */
function summary(c: RunCost): string {
  return `${c.events} events acknowledged in ${c.window_s} s; the machine was busy ${
    num(c.machine.busy_s)
  } CPU-s (${num(c.machine.cpu_s_per_million)} per million events), idle ${
    share(c.machine.idle_share)
  } of the time${
    typeof c.harness_peak_rss_mb === "number"
      ? `; the harness's resident peak, the verdict included, ${mb(c.harness_peak_rss_mb)} MB`
      : ""
  }`;
}

export function costMarkdown(c: RunCost | null | undefined): string[] {
  if (!c) return [];
  return [
    "",
    "## Cost (CPU over the workload)",
    "",
    "| part | CPU-s | CPU-s per million events | peak resident MB |",
    "| --- | --- | --- | --- |",
    ...c.components.map((x) =>
      `| ${x.name} | ${num(x.cpu_s)} | ${num(x.cpu_s_per_million)} | ${mb(x.peak_rss_mb)} |`
    ),
    "",
    summary(c),
  ];
}

export function costHtml(c: RunCost | null | undefined): string {
  if (!c) return "";
  const rows = c.components.map((x) =>
    `<tr><td>${esc(x.name)}</td><td>${num(x.cpu_s)}</td><td>${num(x.cpu_s_per_million)}</td><td>${
      mb(x.peak_rss_mb)
    }</td></tr>`
  ).join("\n");
  return `<h2>Cost (CPU over the workload)</h2>
<table><tr><th>part</th><th>CPU-s</th><th>CPU-s per million events</th><th>peak resident MB</th></tr>
${rows}
</table>
<p class="muted">${esc(summary(c))}</p>`;
}
