/**
 * Any value made safe to show. What a run folder holds is written by a
 * pipeline under test (alert `rule` and `entity`, producer ids) or can be
 * edited, so every report and terminal line shows it through these: text
 * without control characters, terminal escapes or bidirectional overrides
 * (each shown as a visible `\u001b`), bounded in length; instants as ISO text
 * only where a date can hold them; numbers bounded for charts.
 *
 * ```ts
 * import { isoTime, printable } from "./printable.ts";
 * printable("exfil\u001b[2K\rPASS"); // "exfil\\u001b[2K\\rPASS"
 * isoTime(2 ** 53 - 1); // "9007199254740991 (no date)"
 * ```
 * @module
 */

/** The largest epoch ms a date holds (±8.64e15, the year 275760). */
export const MAX_EPOCH_MS = 8.64e15;

/** Longest text shown of one value (the rest is counted). */
export const MAX_TEXT = 4000;

// C0 and C1 controls, DEL, line and paragraph separators, bidirectional overrides and isolates.
// deno-lint-ignore no-control-regex
const UNSAFE = /[\u0000-\u001f\u007f-\u009f\u2028\u2029\u202a-\u202e\u2066-\u2069\ufeff]/g;
const NAMED: Record<string, string> = { "\n": "\\n", "\r": "\\r", "\t": "\\t" };

/** `s` with every unsafe character shown as an escape, cut at `max` characters. */
export function printable(s: unknown, max = MAX_TEXT): string {
  let text = typeof s === "string" ? s : String(s);
  let cut = "";
  if (text.length > max) {
    cut = `… (${text.length - max} more characters)`;
    text = text.slice(0, max);
  }
  return text.replace(
    UNSAFE,
    (c) => NAMED[c] ?? `\\u${c.charCodeAt(0).toString(16).padStart(4, "0")}`,
  ) + cut;
}

/** An epoch ms as ISO text, or the number itself when no date holds it. */
export function isoTime(ms: number | null | undefined): string {
  if (ms === null || ms === undefined) return "-";
  if (!Number.isFinite(ms) || Math.abs(ms) > MAX_EPOCH_MS) return `${ms} (no date)`;
  return new Date(ms).toISOString();
}

/** `x` when it is a finite number, else `fallback`. */
export function finite(x: unknown, fallback: number): number {
  return typeof x === "number" && Number.isFinite(x) ? x : fallback;
}

/** `x` bounded to `[lo, hi]` (NaN becomes `lo`). */
export function clamp(x: number, lo: number, hi: number): number {
  return x >= lo ? (x <= hi ? x : hi) : lo;
}

/** The largest of `xs` and `floor`, over any number of values (no spread, no stack limit). */
export function maxOf(xs: Iterable<number>, floor = -Infinity): number {
  let m = floor;
  for (const x of xs) if (x > m) m = x;
  return m;
}

/** The smallest of `xs` and `ceiling`, over any number of values. */
export function minOf(xs: Iterable<number>, ceiling = Infinity): number {
  let m = ceiling;
  for (const x of xs) if (x < m) m = x;
  return m;
}
