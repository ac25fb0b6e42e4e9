/**
 * Small multiples for the nightly page: one row per scenario, one small line
 * chart per figure (events acknowledged, lost, slowest recovery, p99
 * detection, events/s) over the nights of the window, oldest first. A night
 * that did not run the scenario is a gap; a night whose verdict was not as
 * expected is a red mark; a figure never recorded in the window says so
 * instead of drawing an empty frame. Pure string building.
 *
 * ```ts
 * import { smallMultiples } from "./nightly_multiples.ts";
 * const html = smallMultiples(nightWindow(history, "2026-12-05"));
 * ```
 * @module
 */

import type { Figures } from "./nightly_summary.ts";
import { figuresOn, type NightSlot } from "./nightly_history.ts";
import { esc, lineChart } from "./svg_chart.ts";

/** Colour of a night not as expected on the charts. */
export const FAILED_MARK = "#c0392b";

export const MULTIPLE_FIGURES: ReadonlyArray<
  readonly [string, (f: Figures) => number | null | undefined]
> = [
  ["acknowledged", (f) => f.acked],
  ["lost", (f) => f.lost],
  ["slowest recovery, ms", (f) => f.recovery_ms],
  ["p99 detection, ms", (f) => f.detection_p99_ms],
  ["events/s", (f) => f.acked_eps],
];

const finite = (v: number | null | undefined): number | null =>
  typeof v === "number" && Number.isFinite(v) ? v : null;

/** The scenarios of the window (sorted) as a table of small charts. */
export function smallMultiples(slots: readonly NightSlot[], o: { width?: number } = {}): string {
  const width = o.width ?? 210;
  const scenarios = [
    ...new Set(slots.flatMap((s) => Object.keys(s.night?.scenarios ?? {}))),
  ].sort();
  if (scenarios.length === 0) return `<p class="muted">No night in the window ran a scenario.</p>`;
  const day = (i: number) => slots[i]?.date.slice(8) ?? "";
  const rows = scenarios.map((name) => {
    const figs = slots.map((s) => figuresOn(s.night, name));
    const markers = figs.flatMap((f, i) =>
      f && !f.as_expected
        ? [{ x: i, label: `${slots[i].date}: ${f.verdict}`, color: FAILED_MARK }]
        : []
    );
    const cells = MULTIPLE_FIGURES.map(([title, pick]) => {
      const points = figs.map((f, i) => [i, f ? finite(pick(f)) : null] as const);
      if (points.every(([, v]) => v === null)) {
        return `<td class="muted nodata">${esc(title)}: not recorded</td>`;
      }
      return `<td>${
        lineChart({
          title,
          points,
          markers,
          width,
          height: 120,
          maxGap: 1,
          dots: true,
          xIntegers: true,
          xMax: Math.max(1, slots.length - 1),
          xFormat: day,
        })
      }</td>`;
    }).join("");
    return `<tr><th>${esc(name)}</th>${cells}</tr>`;
  }).join("\n");
  return `<table class="sm">\n${rows}\n</table>`;
}
