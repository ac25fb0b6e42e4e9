/**
 * The nightly's history shaped for its page: nights read back from
 * `summary.json` files made safe whatever they hold (`normalizeNight`), the
 * 30-night window ending tonight with missing nights as gaps
 * (`nightWindow`), and the scenarios that started failing, with the first
 * failing night's run folder and its replay command (`startedFailing`,
 * `replayCommand`). Pure.
 *
 * ```ts
 * import { nightWindow, startedFailing } from "./nightly_history.ts";
 * const days = nightWindow(nights, "2026-12-05"); // 30 slots, oldest first
 * const started = startedFailing(nights, "2026-12-05");
 * ```
 * @module
 */

import type { Figures, NightSummary } from "./nightly_summary.ts";

/** Nights a page shows figures for (small multiples, matrix). */
export const WINDOW_NIGHTS = 30;

const DAY_MS = 86_400_000;
const DATE = /^\d{4}-\d{2}-\d{2}$/;
const VERDICTS = ["pass", "fail", "unknown"] as const;
const STACKS = ["local", "docker", "external"] as const;

const num = (v: unknown): number | null => typeof v === "number" && Number.isFinite(v) ? v : null;

/** One scenario's figures as read back: every field of its type, whatever the file held. */
export function normalizeFigures(x: unknown): Figures {
  const o = (x && typeof x === "object" ? x : {}) as Record<string, unknown>;
  const verdict = VERDICTS.find((v) => v === o.verdict) ?? "unknown";
  const expect = o.expect === "fail" ? "fail" : "pass";
  const run = typeof o.run === "string" ? o.run : "";
  return {
    verdict,
    expect,
    as_expected: o.as_expected === true,
    seed: num(o.seed) ?? NaN,
    lost: num(o.lost),
    recovery_ms: num(o.recovery_ms),
    acked_eps: num(o.acked_eps) ?? NaN,
    detection_p99_ms: num(o.detection_p99_ms),
    run,
    ...(num(o.acked) !== null ? { acked: num(o.acked) } : {}),
    ...(STACKS.some((s) => s === o.stack) ? { stack: o.stack as Figures["stack"] } : {}),
  };
}

/** A night read back from its `summary.json`; null when it has no usable date. */
export function normalizeNight(x: unknown): NightSummary | null {
  const o = (x && typeof x === "object" ? x : {}) as Record<string, unknown>;
  if (typeof o.date !== "string" || !DATE.test(o.date)) return null;
  const raw = o.scenarios && typeof o.scenarios === "object" && !Array.isArray(o.scenarios)
    ? o.scenarios as Record<string, unknown>
    : {};
  // fromEntries: a scenario named `__proto__` stays a scenario.
  const scenarios = Object.fromEntries(
    Object.entries(raw).map(([name, f]) => [name, normalizeFigures(f)]),
  );
  return { date: o.date, scenarios };
}

/** A scenario's figures on a night (its own entry only: `constructor` is a name like others). */
export function figuresOn(night: NightSummary | undefined, scenario: string): Figures | undefined {
  return night && Object.hasOwn(night.scenarios, scenario) ? night.scenarios[scenario] : undefined;
}

/**
 * Every usable night of `nights` plus `tonight`, normalized, one per date (tonight wins, then the
 * later in the list), none after tonight, oldest first.
 */
export function historyOf(tonight: NightSummary, nights: readonly unknown[]): NightSummary[] {
  const byDate = new Map<string, NightSummary>();
  for (const n of [...nights, tonight]) {
    const night = normalizeNight(n);
    if (night && night.date <= tonight.date) byDate.set(night.date, night);
  }
  return [...byDate.values()].sort((a, b) => a.date.localeCompare(b.date));
}

/** The date `days` after `date` (YYYY-MM-DD, UTC); null for a date that is not one. */
export function addDays(date: string, days: number): string | null {
  const t = Date.parse(`${date}T00:00:00Z`);
  if (!DATE.test(date) || Number.isNaN(t)) return null;
  return new Date(t + days * DAY_MS).toISOString().slice(0, 10);
}

export interface NightSlot {
  date: string;
  /** The night's summary; undefined when nothing ran that night. */
  night?: NightSummary;
}

/** The `size` calendar nights ending with `tonight`, oldest first; a night without a summary is a gap. */
export function nightWindow(
  history: readonly NightSummary[],
  tonight: string,
  size = WINDOW_NIGHTS,
): NightSlot[] {
  const byDate = new Map(history.map((n) => [n.date, n]));
  const slots: NightSlot[] = [];
  for (let i = size - 1; i >= 0; i--) {
    const date = addDays(tonight, -i);
    if (date === null) return [{ date: tonight, night: byDate.get(tonight) }];
    slots.push({ date, night: byDate.get(date) });
  }
  return slots;
}

export interface StartedFailing {
  scenario: string;
  /** The first night of the failing streak. */
  date: string;
  figures: Figures;
  /** The last night it passed before (null: it never passed before, e.g. a new scenario). */
  passed: string | null;
  /** The first night it was as expected again (null: still failing tonight). */
  recovered: string | null;
}

/**
 * Scenarios that started failing (a verdict not as expected after a night that was): each one
 * failing tonight with the first night of its streak, and each one whose latest streak began
 * within the window (`windowStart` on) and has ended since. Sorted by scenario.
 */
export function startedFailing(
  history: readonly NightSummary[],
  tonight: string,
  windowStart: string = addDays(tonight, 1 - WINDOW_NIGHTS) ?? tonight,
): StartedFailing[] {
  const nights = history.filter((n) => n.date <= tonight);
  const names = [...new Set(nights.flatMap((n) => Object.keys(n.scenarios)))].sort();
  const out: StartedFailing[] = [];
  for (const scenario of names) {
    let streak: StartedFailing | null = null;
    let lastPass: string | null = null;
    for (const n of nights) {
      const f = figuresOn(n, scenario);
      if (!f) continue;
      if (!f.as_expected && (streak === null || streak.recovered !== null)) {
        streak = { scenario, date: n.date, figures: f, passed: lastPass, recovered: null };
      } else if (f.as_expected) {
        if (streak && streak.recovered === null) streak.recovered = n.date;
        lastPass = n.date;
      }
    }
    if (!streak) continue;
    const failingTonight = streak.recovered === null &&
      nights.at(-1)?.date === tonight && figuresOn(nights.at(-1), scenario) !== undefined;
    if (failingTonight || (streak.date >= windowStart && streak.passed !== null)) {
      out.push(streak);
    }
  }
  return out;
}

/** Text safe to paste into a POSIX shell as one word. */
export function shellWord(s: string): string {
  return /^[\w.,:/=@+-]+$/.test(s) ? s : `'${s.replaceAll("'", `'\\''`)}'`;
}

/** The command that replays a scenario's run of a night (null: the summary has no seed). */
export function replayCommand(scenario: string, f: Figures): string | null {
  if (!Number.isSafeInteger(f.seed) || f.seed < 0) return null;
  const stack = f.stack === "docker"
    ? " --stack docker"
    : f.stack === "external"
    ? " --stack external --endpoints <endpoints file>"
    : "";
  return `deno task scenario ${shellWord(scenario)} --seed ${f.seed}${stack}`;
}

/**
 * The link from the page in tonight's folder to a file of a night's run folder (relative, each
 * path segment URL-encoded); null when the recorded folder is not a plain relative path.
 */
export function runHref(date: string, run: string, file = ""): string | null {
  const parts = run.split("/").filter((p) => p !== "" && p !== ".");
  if (!run || run.startsWith("/") || parts.length === 0 || parts.some((p) => p === "..")) {
    return null;
  }
  return `../${encodeURIComponent(date)}/${parts.map(encodeURIComponent).join("/")}/${file}`;
}
