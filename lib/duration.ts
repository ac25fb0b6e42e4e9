/**
 * Durations as people write them: "90s", "2m", "1500ms", "1h", or a bare
 * number of seconds.
 * @module
 */

/** Parses "90s", "2m", "1500ms", "1h" or a plain number of seconds into ms. */
export function parseDuration(text: string): number | undefined {
  const m = String(text).trim().match(/^(\d+(?:\.\d+)?)(ms|s|m|h)?$/);
  if (!m) return undefined;
  const n = Number(m[1]);
  const unit = m[2] ?? "s";
  return Math.round(n * { ms: 1, s: 1000, m: 60_000, h: 3_600_000 }[unit]!);
}

/** Milliseconds as the shortest exact duration: 60000 → "60s", 90000 → "90s", 1500 → "1500ms". */
export function formatDuration(ms: number): string {
  if (ms % 60_000 === 0 && ms >= 600_000) return `${ms / 60_000}m`;
  if (ms % 1000 === 0) return `${ms / 1000}s`;
  return `${ms}ms`;
}
