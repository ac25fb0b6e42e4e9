/**
 * Two nights side by side: per scenario the verdict and each figure of night
 * a and night b, with the difference marked better or worse. The page renders
 * the default pair (the night before and tonight) statically, and its inline
 * script renders any pair picked with `?a=<date>&b=<date>` or the selector
 * with the very same two functions: `compareNights` and `compareTableHtml`
 * are self-contained (no imports, no module constants) so that
 * `COMPARE_SCRIPT` embeds their source; what the unit tests check is what
 * the browser runs.
 *
 * A figure counts as changed when it moved by more than 5% of night a's
 * value (any change of lost events counts; a negative control's losses are
 * its point and never marked).
 *
 * ```ts
 * import { compareNights, compareTableHtml } from "./nightly_compare.ts";
 * const html = compareTableHtml(compareNights(nightA, nightB), "2026-11-19", "2026-11-20");
 * ```
 * @module
 */

import type { NightSummary } from "./nightly_summary.ts";

export type Change = "better" | "worse" | "same" | "";

export interface FigureDiff {
  key: "acked" | "lost" | "recovery_ms" | "acked_eps" | "detection_p99_ms";
  label: string;
  a: number | null;
  b: number | null;
  /** b - a; null when either is missing. */
  diff: number | null;
  change: Change;
}

export interface CompareRow {
  scenario: string;
  /** Verdicts ("" when the scenario did not run that night), and whether each was as expected. */
  a: { verdict: string; as_expected: boolean; control: boolean } | null;
  b: { verdict: string; as_expected: boolean; control: boolean } | null;
  verdict_change: Change;
  figures: FigureDiff[];
}

/** Per scenario of either night (sorted), night a against night b. Self-contained: see the module doc. */
export function compareNights(
  a: NightSummary | null | undefined,
  b: NightSummary | null | undefined,
): CompareRow[] {
  const FIGURES = [
    ["acked", "events acknowledged", 1],
    ["lost", "lost", -1],
    ["recovery_ms", "slowest recovery (ms)", -1],
    ["acked_eps", "events/s", 1],
    ["detection_p99_ms", "p99 detection (ms)", -1],
  ] as const;
  const num = (v: unknown) => typeof v === "number" && Number.isFinite(v) ? v : null;
  const own = (o: unknown, k: string) =>
    o && typeof o === "object" && Object.prototype.hasOwnProperty.call(o, k)
      ? (o as Record<string, unknown>)[k]
      : undefined;
  const scenariosOf = (n: NightSummary | null | undefined) =>
    n && n.scenarios && typeof n.scenarios === "object" ? Object.keys(n.scenarios) : [];
  const names = [...new Set([...scenariosOf(a), ...scenariosOf(b)])].sort();
  const verdictOf = (f: unknown) =>
    f && typeof f === "object"
      ? {
        verdict: String(own(f, "verdict") ?? "unknown"),
        as_expected: own(f, "as_expected") === true,
        control: own(f, "expect") === "fail",
      }
      : null;
  return names.map((scenario) => {
    const fa = own(a?.scenarios, scenario);
    const fb = own(b?.scenarios, scenario);
    const va = verdictOf(fa), vb = verdictOf(fb);
    const verdict_change: "better" | "worse" | "same" | "" = !va || !vb
      ? ""
      : va.as_expected === vb.as_expected
      ? (va.verdict === vb.verdict ? "same" : "")
      : vb.as_expected
      ? "better"
      : "worse";
    const control = va?.control || vb?.control;
    const figures = FIGURES.map(([key, label, sign]) => {
      const x = num(own(fa, key)), y = num(own(fb, key));
      const diff = x === null || y === null ? null : y - x;
      let change: "better" | "worse" | "same" | "" = "";
      if (diff !== null && !(key === "lost" && control)) {
        const moved = key === "lost" ? diff !== 0 : Math.abs(diff) > Math.abs(x as number) * 0.05;
        change = !moved ? "same" : diff * sign > 0 ? "better" : "worse";
      }
      return { key, label, a: x, b: y, diff, change };
    });
    return { scenario, a: va, b: vb, verdict_change, figures };
  });
}

/** The comparison as an HTML table (every value escaped). Self-contained: see the module doc. */
export function compareTableHtml(rows: CompareRow[], a: string, b: string): string {
  const esc = (s: unknown) =>
    String(s).replace(
      /[&<>"']/g,
      (c) => ({ "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "'": "&#39;" })[c] ?? c,
    );
  const fmt = (v: number) => String(Math.round(v * 10) / 10);
  const side = (v: CompareRow["a"]) =>
    v ? `${v.verdict}${v.control ? " (control)" : ""}` : "not run";
  const head = `<tr><th>scenario</th><th>verdict</th>${
    (rows[0]?.figures ?? []).map((f) => `<th>${esc(f.label)}</th>`).join("")
  }</tr>`;
  const caption = `<caption>night a ${esc(a)} → night b ${esc(b)}</caption>`;
  if (rows.length === 0) {
    return `<table class="compare">${caption}${head}<tr><td colspan="7" class="muted">no scenario ran on either night</td></tr></table>`;
  }
  const body = rows.map((r) => {
    const figures = r.figures.map((f) => {
      const pair = `${f.a === null ? "-" : fmt(f.a)} → ${f.b === null ? "-" : fmt(f.b)}`;
      const d = f.diff === null || f.diff === 0
        ? ""
        : `<br><span class="diff">(${f.diff > 0 ? "+" : ""}${fmt(f.diff)}${
          f.a ? `, ${f.diff > 0 ? "+" : ""}${fmt((f.diff / Math.abs(f.a)) * 100)}%` : ""
        })</span>`;
      return `<td class="num ${f.change}">${esc(pair)}${d}</td>`;
    }).join("");
    return `<tr><td>${esc(r.scenario)}</td><td class="${r.verdict_change}">${
      esc(`${side(r.a)} → ${side(r.b)}`)
    }</td>${figures}</tr>`;
  }).join("\n");
  return `<table class="compare">${caption}${head}\n${body}</table>`;
}

/**
 * The page's script: reads the embedded nights (`#nightly-data`), picks a and b from the URL or
 * the selectors (`#night-a`, `#night-b`), and fills `#compare` (its `data-pair` says which pair).
 */
export const COMPARE_SCRIPT = `"use strict";
(function () {
${compareNights.toString()}
${compareTableHtml.toString()}
var data = JSON.parse(document.getElementById("nightly-data").textContent);
var selA = document.getElementById("night-a"), selB = document.getElementById("night-b");
var box = document.getElementById("compare");
function find(d) { return data.nights.find(function (n) { return n.date === d; }); }
function show(a, b) {
  selA.value = a; selB.value = b;
  box.innerHTML = compareTableHtml(compareNights(find(a), find(b)), a, b);
  var missing = [a, b].filter(function (d) { return !find(d); });
  if (missing.length) {
    var p = document.createElement("p");
    p.className = "worse";
    p.textContent = "no night " + missing.join(", ") + " in this page's history";
    box.insertBefore(p, box.firstChild);
  }
  box.setAttribute("data-pair", a + ".." + b);
}
var q = new URLSearchParams(location.search);
show(q.get("a") || data.a, q.get("b") || data.b);
function picked() {
  show(selA.value, selB.value);
  try {
    history.replaceState(null, "", "?a=" + encodeURIComponent(selA.value) + "&b=" +
      encodeURIComponent(selB.value));
  } catch (e) { /* a page opened from a file may not rewrite its URL */ }
}
selA.addEventListener("change", picked);
selB.addEventListener("change", picked);
})();
`;
