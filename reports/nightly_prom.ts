/**
 * The nightly's last figures in Prometheus's text exposition format, for
 * node_exporter's textfile collector (`<out>/chaos_nightly.prom`) and for
 * `deno task nightly --serve` (`/metrics`). Pure; names follow Prometheus's
 * conventions: base units (`_seconds`), no `_total` (every figure is a gauge:
 * the value of the last night, not a running count).
 *
 * Per scenario (label `scenario`):
 * - `chaos_nightly_as_expected` 1/0, and `chaos_nightly_verdict{verdict}`
 *   (a state set: 1 for the night's verdict, 0 for the others);
 * - `chaos_nightly_acked_events`, `chaos_nightly_lost_events`;
 * - `chaos_nightly_recovery_slowest_seconds`, `chaos_nightly_detection_p99_seconds`;
 * - `chaos_nightly_run_timestamp_seconds` (when the run ended, Unix seconds).
 * A figure the night did not measure (null) has no sample.
 *
 * ```ts
 * import { renderNightlyProm } from "./nightly_prom.ts";
 * const text = renderNightlyProm(tonight, { flagship: { acked: 120000, ended_at_s: 1764900000 } });
 * ```
 * @module
 */

import type { NightSummary } from "./nightly.ts";

/** What `summary.json` may lack (older nights), read from each run's results.json. */
export interface RunExtras {
  /** Events the brokers acknowledged (completeness); null when not checked. */
  acked: number | null;
  /** When the run ended (Unix seconds); null when unknown. */
  ended_at_s: number | null;
}

const VERDICTS = ["pass", "fail", "unknown"] as const;

interface Family {
  name: string;
  help: string;
  samples: { labels: Record<string, string>; value: number }[];
}

/** Escapes a label value as the text format wants (backslash, double quote, newline). */
export function escapeLabel(value: string): string {
  return value.replaceAll("\\", "\\\\").replaceAll('"', '\\"').replaceAll("\n", "\\n");
}

function formatValue(v: number): string {
  if (Number.isNaN(v)) return "NaN";
  if (v === Infinity) return "+Inf";
  if (v === -Infinity) return "-Inf";
  return String(v);
}

function familyText(f: Family): string {
  const lines = [`# HELP ${f.name} ${f.help}`, `# TYPE ${f.name} gauge`];
  for (const s of f.samples) {
    const labels = Object.entries(s.labels).map(([k, v]) => `${k}="${escapeLabel(v)}"`).join(",");
    lines.push(`${f.name}{${labels}} ${formatValue(s.value)}`);
  }
  return lines.join("\n");
}

/** The night's figures as Prometheus text (families without samples are left out). */
export function renderNightlyProm(
  night: NightSummary,
  extras: Record<string, RunExtras> = {},
): string {
  const fam = (name: string, help: string): Family => ({ name, help, samples: [] });
  const asExpected = fam(
    "chaos_nightly_as_expected",
    "1 when the scenario's verdict was what it expects on the last night, else 0",
  );
  const verdict = fam(
    "chaos_nightly_verdict",
    "the scenario's verdict on the last night (1 for the verdict given, 0 for the others)",
  );
  const acked = fam("chaos_nightly_acked_events", "events the brokers acknowledged in the run");
  const lost = fam("chaos_nightly_lost_events", "acknowledged events missing from the store");
  const recovery = fam(
    "chaos_nightly_recovery_slowest_seconds",
    "the slowest recovery of throughput after a fault",
  );
  const detection = fam(
    "chaos_nightly_detection_p99_seconds",
    "p99 of the time to detect (an incident's first event to its alert's first delivery)",
  );
  const ended = fam(
    "chaos_nightly_run_timestamp_seconds",
    "when the scenario's run ended (Unix time)",
  );
  const nightTime = fam(
    "chaos_nightly_night_timestamp_seconds",
    "the night's date (midnight UTC, Unix time)",
  );
  const nightMs = Date.parse(`${night.date}T00:00:00Z`);
  if (Number.isFinite(nightMs)) {
    nightTime.samples.push({ labels: { night: night.date }, value: nightMs / 1000 });
  }
  for (const scenario of Object.keys(night.scenarios).sort()) {
    const f = night.scenarios[scenario];
    const labels = { scenario };
    asExpected.samples.push({ labels, value: f.as_expected ? 1 : 0 });
    for (const v of VERDICTS) {
      verdict.samples.push({ labels: { scenario, verdict: v }, value: f.verdict === v ? 1 : 0 });
    }
    const x = extras[scenario];
    const ackedCount = f.acked ?? x?.acked ?? null;
    if (ackedCount !== null) acked.samples.push({ labels, value: ackedCount });
    if (f.lost !== null) lost.samples.push({ labels, value: f.lost });
    if (f.recovery_ms !== null) recovery.samples.push({ labels, value: f.recovery_ms / 1000 });
    if (f.detection_p99_ms !== null) {
      detection.samples.push({ labels, value: f.detection_p99_ms / 1000 });
    }
    if (x?.ended_at_s !== null && x?.ended_at_s !== undefined) {
      ended.samples.push({ labels, value: x.ended_at_s });
    }
  }
  return [asExpected, verdict, acked, lost, recovery, detection, ended, nightTime]
    .filter((f) => f.samples.length > 0).map(familyText).join("\n") + "\n";
}
