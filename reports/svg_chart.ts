/**
 * Small SVG charts for the HTML report: a time series with shaded spans
 * (fault windows) and optional point markers, on a time axis in seconds.
 * Pure string building; no scripts, so the report is one static file.
 *
 * ```ts
 * import { lineChart } from "./svg_chart.ts";
 * const svg = lineChart({ title: "acked events/s", points: [[0, 10], [1, 12]], spans: [] });
 * ```
 * @module
 */

export interface Span {
  from: number;
  to: number;
  label: string;
  /** CSS colour. Default a light red. */
  color?: string;
}

export interface Marker {
  x: number;
  label: string;
  color?: string;
}

export interface LineChartOptions {
  title: string;
  /** [x seconds, y] points; y null leaves a gap. */
  points: ReadonlyArray<readonly [number, number | null]>;
  spans?: readonly Span[];
  markers?: readonly Marker[];
  /** Horizontal reference line (a bound). */
  reference?: { y: number; label: string };
  yUnit?: string;
  width?: number;
  height?: number;
  /** x range; default the points'. */
  xMax?: number;
  /** Draw the y axis ticks (default true; off for a plain timeline). */
  yAxis?: boolean;
  /** A gap between points wider than this (x units) breaks the line. Default 3. */
  maxGap?: number;
  /** Tick label of an x value. Default: seconds ("12s"). */
  xFormat?: (x: number) => string;
  /** Integer x ticks only (for categories such as nights). */
  xIntegers?: boolean;
  /** Draw a dot at every point (a lone point is otherwise invisible). */
  dots?: boolean;
}

import { clamp, maxOf, printable } from "../validate/printable.ts";

/** Fill of fault windows. */
export const FAULT_FILL = "#fadbd8";

/**
 * Text escaped for HTML, XML and SVG (content and quoted attributes); control characters (which
 * XML does not allow) and terminal escapes are shown as escapes (printable.ts), length bounded.
 */
export const esc = (s: string): string =>
  printable(s).replaceAll("&", "&amp;").replaceAll("<", "&lt;").replaceAll(">", "&gt;")
    .replaceAll('"', "&quot;").replaceAll("'", "&#39;");

/** Largest coordinate drawn: what a run records can be any number, a chart stays drawable. */
const LIMIT = 1e12;
/** Most ticks on an axis (a step too small for its range cannot loop for long). */
const MAX_TICKS = 50;

/** A "nice" step for about `n` ticks over `range`. */
function niceStep(range: number, n = 5): number {
  if (!(range > 0)) return 1;
  const raw = range / n;
  const pow = 10 ** Math.floor(Math.log10(raw));
  const f = raw / pow;
  return (f <= 1 ? 1 : f <= 2 ? 2 : f <= 5 ? 5 : 10) * pow;
}

function formatNumber(v: number): string {
  if (Math.abs(v) >= 1e6) return `${+(v / 1e6).toFixed(1)}M`;
  if (Math.abs(v) >= 1e3) return `${+(v / 1e3).toFixed(1)}k`;
  return `${+v.toFixed(1)}`;
}

export function lineChart(o: LineChartOptions): string {
  const width = o.width ?? 760;
  const height = o.height ?? 220;
  const m = { left: 56, right: 16, top: 28, bottom: 30 };
  const w = width - m.left - m.right;
  const h = height - m.top - m.bottom;
  // Only finite points, within LIMIT: NaN, Infinity or 1e308 from a run folder draw nothing wrong.
  const points = o.points.filter(([x, y]) =>
    Math.abs(x) <= LIMIT && (y === null || Math.abs(y) <= LIMIT)
  );
  const reference = o.reference && Math.abs(o.reference.y) <= LIMIT ? o.reference : undefined;
  const xMax = clamp(maxOf(points.map(([x]) => x), maxOf([o.xMax ?? 0, 1])), 1, LIMIT);
  const yMax = maxOf(points.map(([, y]) => y ?? 0), maxOf([reference?.y ?? 0, 1])) * 1.1;
  const sx = (x: number) => m.left + (x / xMax) * w;
  const sy = (y: number) => m.top + h - (y / yMax) * h;
  const parts: string[] = [];
  parts.push(
    `<svg xmlns="http://www.w3.org/2000/svg" class="chart" viewBox="0 0 ${width} ${height}" width="${width}" height="${height}" role="img" aria-label="${
      esc(o.title)
    }">`,
    `<text x="${m.left}" y="16" class="title">${esc(o.title)}</text>`,
  );
  for (const s of o.spans ?? []) {
    const x1 = sx(clamp(s.from, 0, xMax));
    const x2 = sx(clamp(s.to, 0, xMax));
    parts.push(
      `<rect class="span" x="${x1.toFixed(1)}" y="${m.top}" width="${
        Math.max(1, x2 - x1).toFixed(1)
      }" height="${h}" fill="${s.color ?? FAULT_FILL}"><title>${esc(s.label)}</title></rect>`,
    );
  }
  const yStep = niceStep(yMax);
  for (let i = 0, y = 0; o.yAxis !== false && y <= yMax && i < MAX_TICKS; i++, y += yStep) {
    parts.push(
      `<line x1="${m.left}" x2="${m.left + w}" y1="${sy(y).toFixed(1)}" y2="${
        sy(y).toFixed(1)
      }" stroke="#e4e4e4"/>`,
      `<text x="${m.left - 6}" y="${(sy(y) + 4).toFixed(1)}" text-anchor="end" class="tick">${
        formatNumber(y)
      }${o.yUnit ?? ""}</text>`,
    );
  }
  const xStep = o.xIntegers ? Math.max(1, Math.ceil(niceStep(xMax, 8))) : niceStep(xMax, 8);
  const xLabel = o.xFormat ?? ((x: number) => `${formatNumber(x)}s`);
  for (let i = 0, x = 0; x <= xMax && i < MAX_TICKS; i++, x += xStep) {
    parts.push(
      `<text x="${sx(x).toFixed(1)}" y="${m.top + h + 16}" text-anchor="middle" class="tick">${
        esc(xLabel(x))
      }</text>`,
    );
  }
  if (reference) {
    const y = sy(reference.y).toFixed(1);
    parts.push(
      `<line x1="${m.left}" x2="${
        m.left + w
      }" y1="${y}" y2="${y}" stroke="#c0392b" stroke-dasharray="4 3"/>`,
      `<text x="${m.left + w - 4}" y="${Number(y) - 4}" text-anchor="end" class="tick">${
        esc(reference.label)
      }</text>`,
    );
  }
  // One path over the known values, broken where they are missing for longer than maxGap.
  let d = "";
  let lastX: number | undefined;
  for (const [x, y] of points) {
    if (y === null) continue;
    const pen = lastX !== undefined && x - lastX <= (o.maxGap ?? 3);
    d += `${pen ? "L" : "M"}${sx(x).toFixed(1)},${sy(y).toFixed(1)}`;
    lastX = x;
  }
  if (d) {
    parts.push(`<path class="series" d="${d}" fill="none" stroke="#2c6fbb" stroke-width="1.5"/>`);
  }
  if (o.dots) {
    for (const [x, y] of points) {
      if (y === null) continue;
      parts.push(
        `<circle class="dot" cx="${sx(x).toFixed(1)}" cy="${
          sy(y).toFixed(1)
        }" r="3" fill="#2c6fbb"><title>${esc(`${xLabel(x)}: ${formatNumber(y)}`)}</title></circle>`,
      );
    }
  }
  for (const mk of o.markers ?? []) {
    const x = sx(clamp(mk.x, 0, xMax)).toFixed(1);
    parts.push(
      `<g class="marker"><line x1="${x}" x2="${x}" y1="${m.top}" y2="${m.top + h}" stroke="${
        mk.color ?? "#8e44ad"
      }" stroke-width="1.5"/><circle cx="${x}" cy="${m.top + 6}" r="4" fill="${
        mk.color ?? "#8e44ad"
      }"><title>${esc(mk.label)}</title></circle></g>`,
    );
  }
  parts.push(
    `<rect x="${m.left}" y="${m.top}" width="${w}" height="${h}" fill="none" stroke="#999"/>`,
    "</svg>",
  );
  return parts.join("\n");
}
