/**
 * Parses Prometheus's text exposition format into `series -> value`, keeping
 * what a run's record needs: counters, gauges, and the `_sum`/`_count` of
 * histograms and summaries (buckets and comments are dropped). Pure.
 *
 * ```ts
 * import { parsePromText } from "./prom_text.ts";
 * parsePromText('sink_consumer_lag{partition="0"} 12\n'); // {'sink_consumer_lag{partition="0"}': 12}
 * ```
 * @module
 */

export function parsePromText(text: string): Record<string, number> {
  const out: Record<string, number> = {};
  for (const raw of text.split("\n")) {
    const line = raw.trim();
    if (!line || line.startsWith("#")) continue;
    // name{labels} value [timestamp]; label values may hold spaces, so split after the braces.
    const close = line.lastIndexOf("}");
    const head = close >= 0 ? line.slice(0, close + 1) : line.split(/\s+/)[0];
    const rest = (close >= 0 ? line.slice(close + 1) : line.slice(head.length)).trim().split(/\s+/);
    const name = head.split("{")[0];
    if (name.endsWith("_bucket")) continue;
    const value = Number(rest[0]);
    if (!rest[0] || Number.isNaN(value)) continue;
    out[head] = value;
  }
  return out;
}
