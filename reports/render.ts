/**
 * Renderers of a run's results: Markdown for people (verdict first, a table of
 * checks with figures, the fault timeline, what to look at when something
 * failed) and JUnit XML for CI (one test case per check). Pure.
 *
 * ```ts
 * import { renderMarkdown } from "./render.ts";
 * await Deno.writeTextFile("report.md", renderMarkdown(results));
 * ```
 * @module
 */

import type { Results } from "../validate/results.ts";
import { esc } from "./svg_chart.ts";
import { costMarkdown } from "./cost.ts";
import { alertStepsMarkdown } from "./alert_steps.ts";
import { durabilityFigures } from "../validate/commits.ts";
import { isoTime, printable } from "../validate/printable.ts";
import { blameLines, blameNotes } from "../validate/blame.ts";
import { orderFigures, reorderLines } from "../validate/order.ts";

/**
 * Text for Markdown: what could open HTML, a link or a table cell is escaped, control characters
 * and terminal escapes are shown as escapes (a report.md is also read with `cat`).
 */
export const md = (s: unknown): string => printable(String(s).replace(/[\\`<>|[\]]/g, "\\$&"));

/** Any JSON value as bounded text; one too deep to write is said so, never thrown. */
export function brief(x: unknown, max = 500): string {
  let text: string;
  try {
    text = JSON.stringify(x) ?? String(x);
  } catch {
    text = "(too deep to show)";
  }
  return text.length > max ? `${text.slice(0, max)}…` : text;
}

const ICON = { pass: "PASS", fail: "FAIL", unknown: "UNKNOWN" } as const;

interface Check {
  name: string;
  verdict: "pass" | "fail" | "unknown";
  figures: string;
}

/** The checks of a run, in the order people read them. */
export function checks(r: Results): Check[] {
  const out: Check[] = [];
  if (r.aborted) {
    // A probe's reason says when it tripped; one asked by hand gets the time here.
    const start = r.workload.started_at;
    const at = r.aborted.by === "hand" && start !== null
      ? `, ${Math.round((r.aborted.at - start) / 1000)} s into the workload`
      : "";
    out.push({ name: "abort", verdict: "fail", figures: `${r.aborted.detail}${at}` });
  }
  const c = r.completeness;
  if (c) {
    out.push({
      name: "completeness",
      verdict: c.verdict,
      figures: `acked ${c.acked}, in the topic ${c.in_topic}, stored ${c.found}, lost ${c.lost}` +
        ` (before Kafka ${c.lost_before_kafka}, by the sink ${c.lost_by_sink})` +
        `, duplicates ${c.duplicates} (already in Kafka, not counted: ${c.duplicates_in_kafka})` +
        `, overlapping offsets ${c.overlap_offsets}, unexpected ${c.unexpected}, altered ${c.altered}` +
        `, not events ${c.not_an_event}, misplaced ${c.misplaced}, unreadable ${c.unreadable}` +
        `, corrupt objects ${c.corrupt_objects}, foreign objects ${c.foreign_objects.length}` +
        `, gaps ${c.gaps.length}, unknown ${c.unknown} (recovered ${c.recovered}), ` +
        `dlq ${c.dlq_found}/${c.dlq_expected}` +
        (c.valid_in_dlq ? `, valid events in dlq/ ${c.valid_in_dlq}` : "") +
        (c.malformed_in_events ? `, malformed in events/ ${c.malformed_in_events}` : ""),
    });
    if (c.reordered) {
      out.push({
        name: "order (per partition and producer session)",
        verdict: c.reordered.verdict,
        figures: orderFigures(c.reordered),
      });
    }
  }
  const a = r.alerts;
  if (a) {
    out.push({
      name: "alerts",
      verdict: a.verdict,
      figures:
        `incidents ${a.incidents}, alerts ${a.alerts} (${a.deliveries} deliveries), matched ${a.matched}, ` +
        `missed ${a.missed}, duplicated ${a.duplicated}, false positives ${a.false_positives}, ` +
        `unsigned ${a.unsigned}, malformed ${a.malformed}, conflicting ${a.conflicting}, ` +
        (a.refused_too_large || a.not_kept
          ? `refused as too large ${a.refused_too_large ?? 0}, not kept (over the cap) ${
            a.not_kept ?? 0
          }, `
          : "") +
        `time to detect p50 ${a.detect_ms_p50 ?? "-"} ms, p99 ${a.detect_ms_p99 ?? "-"} ms, ` +
        `after the window's end p50 ${a.latency_ms_p50 ?? "-"} ms, p99 ${
          a.latency_ms_p99 ?? "-"
        } ms, after the watermark p50 ${a.after_watermark_ms_p50 ?? "-"} ms, p99 ${
          a.after_watermark_ms_p99 ?? "-"
        } ms`,
    });
  }
  const d = r.durability;
  if (d) {
    out.push({
      name: "durability (commits after the store)",
      verdict: d.verdict,
      figures: durabilityFigures(d) + (d.samples.length ? `; first: ${d.samples[0]}` : ""),
    });
  }
  for (const f of r.faults) {
    out.push({
      name: `fault ${f.kind} ${f.target}`,
      verdict: f.observed ? "pass" : "unknown",
      figures: f.observed
        ? `on ${f.nodes.join(", ") || "-"}: ${brief(f.detail)}`
        : "never observed",
    });
  }
  for (const p of r.probes?.probes ?? []) {
    out.push({
      name: `probe ${p.name} (${p.phase}${p.advisory ? ", advisory" : ""})`,
      verdict: p.verdict,
      figures: `measured ${p.measured ?? "-"}, expected ${p.expected}, ${p.samples} samples`,
    });
  }
  for (const f of r.recovery?.faults ?? []) {
    const s = (ms: number | null) => (ms === null ? "never" : `${(ms / 1000).toFixed(1)} s`);
    out.push({
      name: `recovery after ${f.fault}`,
      verdict: f.verdict,
      figures: `throughput back (90% of ${f.baseline_eps ?? "-"}/s) after ${s(f.recovered_ms)}` +
        (f.after_heal_ms === null ? "" : ` (${s(f.after_heal_ms)} after the heal)`) +
        `, lowest ${f.min_eps ?? "-"}/s, sink lag back after ${s(f.lag_back_ms)}`,
    });
  }
  if (!c && !a) out.push({ name: "run", verdict: r.verdict, figures: r.reasons.join("; ") || "-" });
  return out;
}

/** The run's rate, and how soon the first event was acknowledged. */
export function throughputText(r: Results): string {
  const first = r.throughput.first_ack_ms;
  return `${r.throughput.acked_eps} events/s acknowledged` +
    (first == null ? "" : `, the first after ${first} ms`);
}

/** The time of day of an instant (the whole value when no date holds it). */
const iso = (t: number | null) => {
  if (!t) return "-";
  const text = isoTime(t);
  return text.endsWith("Z") ? text.slice(11, 23) : text;
};

export function renderMarkdown(r: Results): string {
  const lines = [
    `# ${md(r.scenario)}: ${ICON[r.verdict]}${
      r.expect === "fail"
        ? ` (negative control, expected FAIL: ${r.as_expected ? "as expected" : "NOT as expected"})`
        : ""
    }`,
    "",
    md(r.description),
    "",
    md(
      `Seed ${r.seed} · stack ${r.stack} · run ${r.run_id} · ${r.started_at} to ${r.ended_at} · ` +
        throughputText(r),
    ),
    "",
    "| check | verdict | figures |",
    "| --- | --- | --- |",
    ...checks(r).map((c) => `| ${md(c.name)} | ${ICON[c.verdict]} | ${md(c.figures)} |`),
    "",
    "## Faults",
    "",
    "| kind | target | nodes | injected | healed |",
    "| --- | --- | --- | --- | --- |",
    ...r.faults.map((f) =>
      `| ${md(f.kind)} | ${md(f.target)} | ${md(f.nodes.join(", ") || "-")} | ${
        md(iso(f.injected_at))
      } | ${md(iso(f.healed_at))} |`
    ),
  ];
  if (r.reasons.length) {
    lines.push("", "## Why", "", ...r.reasons.map((x) => `- ${md(x)}`));
  }
  const notes = [...(r.probes?.notes ?? []), ...(r.durability?.notes ?? [])];
  if (notes.length) lines.push("", "## Notes", "", ...notes.map((x) => `- ${md(x)}`));
  lines.push(...alertStepsMarkdown(r.alerts));
  lines.push(...costMarkdown(r.cost));
  const lost = r.completeness?.lost_sample ?? {};
  if (Object.keys(lost).length) {
    lines.push("", "## Missing seqs (first few per producer)", "");
    for (const [pid, seqs] of Object.entries(lost)) {
      lines.push(`- ${md(pid)}: ${md(seqs.join(", "))}`);
    }
  }
  const reordered = r.completeness?.reordered;
  if (reordered && reordered.examples.length) {
    lines.push("", "## Reordered records (first few)", "");
    lines.push(...reorderLines(reordered).map((x) => `- ${md(x)}`));
  }
  if (r.blame && r.blame.lost > 0) {
    lines.push("", "## Where the lost records were last seen", "");
    lines.push(...blameLines(r.blame).map((x) => `- ${md(x)}`));
    lines.push(...blameNotes(r.blame).map((x) => `- note: ${md(x)}`));
  }
  if (r.verdict !== "pass") {
    lines.push(
      "",
      "## Where to look",
      "",
      "- `history.jsonl`: every operation and fault with its time and outcome",
      "- `logs/`: sink and detector logs; `stack/logs/`: broker, MinIO, Redis and Toxiproxy logs",
      "- `ledger.json`: what the generator attempted and Kafka acknowledged; `deliveries.jsonl`: every webhook call",
      "- `deno task validate --run <this folder>` re-runs the checks",
    );
  }
  return lines.join("\n") + "\n";
}

export function renderJunit(r: Results): string {
  const cs = checks(r);
  const failures = cs.filter((c) => c.verdict === "fail").length;
  const skipped = cs.filter((c) => c.verdict === "unknown").length;
  const cases = cs.map((c) => {
    const head = `    <testcase classname="scenario.${esc(r.scenario)}" name="${esc(c.name)}">`;
    if (c.verdict === "fail") {
      return `${head}\n      <failure message="${esc(c.figures)}"/>\n    </testcase>`;
    }
    if (c.verdict === "unknown") {
      return `${head}\n      <skipped message="${esc(c.figures)}"/>\n    </testcase>`;
    }
    return `${head}\n      <system-out>${esc(c.figures)}</system-out>\n    </testcase>`;
  });
  return `<?xml version="1.0" encoding="UTF-8"?>\n<testsuites>\n  <testsuite name="${
    esc(r.scenario)
  }" tests="${cs.length}" failures="${failures}" skipped="${skipped}">\n${
    cases.join("\n")
  }\n  </testsuite>\n</testsuites>\n`;
}
