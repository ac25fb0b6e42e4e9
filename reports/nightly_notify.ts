/**
 * The nightly's announcement: what changed since the previous night first
 * (new failures, recoveries, regressions with the figure and its baseline),
 * then the scenario × night matrix, then where the page is; as a generic JSON
 * body, a Slack incoming webhook's body, or a Teams webhook's (an Adaptive
 * Card). Also the notification settings (`--notify-file`). Pure;
 * `chaos/nightly_notify_post.ts` posts them.
 *
 * ```ts
 * import { notifyBody, whatChanged } from "./nightly_notify.ts";
 * const body = notifyBody("slack", { tonight, earlier, regressions, page: "reports/nightly/…" });
 * ```
 * @module
 */

import { z } from "zod";
import type { Figures, NightSummary, Regression } from "./nightly.ts";

export const NOTIFY_FORMATS = ["generic", "slack", "teams"] as const;
export type NotifyFormat = typeof NOTIFY_FORMATS[number];

/** A notification setting that cannot be used (bad URL, unset variable, bad file). Exit code 2. */
export class NotifySettingsError extends Error {
  override name = "NotifySettingsError";
}

export interface Change {
  scenario: string;
  /** e.g. "verdict fail, expected pass" */
  why: string;
}

export interface WhatChanged {
  /** The previous night compared with (null: none before tonight). */
  previous: string | null;
  new_failures: Change[];
  recoveries: Change[];
  /** Regressions of figures (recovery, throughput, loss, detection), verdicts left out. */
  regressions: Regression[];
  still_failing: Change[];
}

export interface NightNews {
  tonight: NightSummary;
  earlier: NightSummary[];
  regressions: Regression[];
  /** The page: a URL or a path. */
  page: string;
  /** Things about the night itself (an overlapping night skipped, an interruption). */
  notes?: string[];
}

const why = (f: Figures) => `verdict ${f.verdict}, expected ${f.expect}`;

/** Tonight against the latest earlier night (regressions against the median, as on the page). */
export function whatChanged(
  tonight: NightSummary,
  earlier: NightSummary[],
  regressions: Regression[],
): WhatChanged {
  const prev = earlier.filter((n) => n.date < tonight.date)
    .sort((a, b) => b.date.localeCompare(a.date))[0];
  const out: WhatChanged = {
    previous: prev?.date ?? null,
    new_failures: [],
    recoveries: [],
    regressions: regressions.filter((r) => r.metric !== "verdict"),
    still_failing: [],
  };
  for (const scenario of Object.keys(tonight.scenarios).sort()) {
    const now = tonight.scenarios[scenario];
    const before = prev?.scenarios[scenario];
    if (!now.as_expected) {
      if (before && !before.as_expected) out.still_failing.push({ scenario, why: why(now) });
      else out.new_failures.push({ scenario, why: why(now) });
    } else if (before && !before.as_expected) {
      out.recoveries.push({
        scenario,
        why: `as expected again (${before.verdict} on ${prev.date})`,
      });
    }
  }
  return out;
}

export interface Matrix {
  /** Nights, oldest first. */
  nights: string[];
  /** Per scenario, per night: the verdict ("pass", "fail", "unknown") or null (not run). */
  rows: Record<string, (string | null)[]>;
  /** Per scenario, per night: whether it was as expected (null: not run). */
  as_expected: Record<string, (boolean | null)[]>;
}

/** The scenario × night matrix over the last `count` nights up to tonight. */
export function matrixOf(tonight: NightSummary, earlier: NightSummary[], count = 7): Matrix {
  const nights = [...earlier.filter((n) => n.date < tonight.date), tonight]
    .sort((a, b) => a.date.localeCompare(b.date)).slice(-count);
  const names = [...new Set(nights.flatMap((n) => Object.keys(n.scenarios)))].sort();
  const rows: Matrix["rows"] = {};
  const ok: Matrix["as_expected"] = {};
  for (const s of names) {
    rows[s] = nights.map((n) => n.scenarios[s]?.verdict ?? null);
    ok[s] = nights.map((n) => n.scenarios[s]?.as_expected ?? null);
  }
  return { nights: nights.map((n) => n.date), rows, as_expected: ok };
}

/** The generic JSON body. */
export function genericBody(news: NightNews): Record<string, unknown> {
  const { tonight } = news;
  const all = Object.values(tonight.scenarios);
  const failed = all.filter((f) => !f.as_expected).length;
  return {
    kind: "chaos-nightly",
    date: tonight.date,
    ok: failed === 0 && news.regressions.length === 0,
    as_expected: all.length - failed,
    not_as_expected: failed,
    regressions: news.regressions.length,
    changed: whatChanged(tonight, news.earlier, news.regressions),
    matrix: matrixOf(tonight, news.earlier),
    page: news.page,
    notes: news.notes ?? [],
  };
}

function headline(news: NightNews): string {
  const all = Object.values(news.tonight.scenarios);
  const failed = all.filter((f) => !f.as_expected).length;
  const verdict = failed || news.regressions.length ? "ATTENTION" : "all as expected";
  return `Chaos nightly ${news.tonight.date} (${verdict}): ${all.length - failed} as expected, ` +
    `${failed} not, ${news.regressions.length} regressions`;
}

/** "What changed" as lines of text (the first section of every body). */
export function changedLines(c: WhatChanged): string[] {
  const since = c.previous ? `since ${c.previous}` : "(first night)";
  const lines: string[] = [];
  for (const x of c.new_failures) lines.push(`NEW FAILURE ${x.scenario}: ${x.why}`);
  for (const r of c.regressions) {
    lines.push(
      `REGRESSION ${r.scenario} ${r.metric}: ${r.tonight ?? "none"} (baseline ${
        r.baseline ?? "none"
      }): ${r.why}`,
    );
  }
  for (const x of c.recoveries) lines.push(`RECOVERED ${x.scenario}: ${x.why}`);
  for (const x of c.still_failing) lines.push(`still failing ${x.scenario}: ${x.why}`);
  return [`What changed ${since}:`, ...(lines.length ? lines : ["nothing"])];
}

const MARK: Record<string, string> = { pass: "ok", fail: "FAIL", unknown: "?" };

/** The matrix as a fixed-width table (a code block in chat). */
export function matrixText(m: Matrix): string {
  const names = Object.keys(m.rows);
  const width = Math.max(8, ...names.map((s) => s.length));
  const head = `${"scenario".padEnd(width)}  ${m.nights.map((d) => d.slice(5)).join("  ")}`;
  const rows = names.map((s) =>
    `${s.padEnd(width)}  ${
      m.rows[s].map((v, i) => {
        const mark = v === null ? "-" : m.as_expected[s][i] ? "ok" : MARK[v] ?? v;
        return mark.padEnd(7);
      }).join("")
    }`.trimEnd()
  );
  return [head, ...rows].join("\n");
}

function sections(news: NightNews) {
  const changed = changedLines(whatChanged(news.tonight, news.earlier, news.regressions));
  const matrix = matrixText(matrixOf(news.tonight, news.earlier));
  return { title: headline(news), changed, matrix, notes: news.notes ?? [] };
}

/** A Slack incoming webhook's body: `text` (the fallback) and blocks. */
export function slackBody(news: NightNews): Record<string, unknown> {
  const s = sections(news);
  const page = /^https?:\/\//.test(news.page) ? `<${news.page}|the nightly page>` : news.page;
  const text = [
    `*${s.title}*`,
    ...s.notes.map((n) => `_${n}_`),
    s.changed.join("\n"),
    "```\n" + s.matrix + "\n```",
    `Page: ${page}`,
  ].join("\n\n");
  return {
    text,
    blocks: [
      { type: "header", text: { type: "plain_text", text: s.title } },
      ...s.notes.map((n) => ({ type: "context", elements: [{ type: "mrkdwn", text: n }] })),
      { type: "section", text: { type: "mrkdwn", text: s.changed.join("\n") } },
      { type: "section", text: { type: "mrkdwn", text: "```\n" + s.matrix + "\n```" } },
      { type: "section", text: { type: "mrkdwn", text: `Page: ${page}` } },
    ],
  };
}

/** A Teams incoming webhook's (Workflows) body: one Adaptive Card. */
export function teamsBody(news: NightNews): Record<string, unknown> {
  const s = sections(news);
  const block = (text: string, extra: Record<string, unknown> = {}) => ({
    type: "TextBlock",
    text,
    wrap: true,
    ...extra,
  });
  return {
    type: "message",
    attachments: [{
      contentType: "application/vnd.microsoft.card.adaptive",
      content: {
        $schema: "http://adaptivecards.io/schemas/adaptive-card.json",
        type: "AdaptiveCard",
        version: "1.4",
        body: [
          block(s.title, { weight: "Bolder", size: "Medium" }),
          ...s.notes.map((n) => block(n, { isSubtle: true })),
          block(s.changed.join("\n\n")),
          block(s.matrix, { fontType: "Monospace" }),
          block(`Page: ${news.page}`),
        ],
      },
    }],
  };
}

export function notifyBody(format: NotifyFormat, news: NightNews): Record<string, unknown> {
  return format === "slack"
    ? slackBody(news)
    : format === "teams"
    ? teamsBody(news)
    : genericBody(news);
}

/** Where to post: `url` as given (maybe `env:NAME`), and as it may be shown (no secrets). */
export interface NotifyTarget {
  url: string;
  shown: string;
  format: NotifyFormat;
}

const Settings = z.strictObject({
  format: z.enum(NOTIFY_FORMATS).optional(),
  page_url: z.string().optional(),
  targets: z.array(z.strictObject({
    url: z.string().min(1),
    format: z.enum(NOTIFY_FORMATS).optional(),
  })).min(1),
});
export type NotifySettings = z.infer<typeof Settings>;

/** Parses a `--notify-file` (JSON); `NotifySettingsError` with the reason when invalid. */
export function parseNotifySettings(text: string, file = "notify settings"): NotifySettings {
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch (error) {
    throw new NotifySettingsError(`${file}: not JSON: ${(error as Error).message}`);
  }
  const parsed = Settings.safeParse(json);
  if (!parsed.success) {
    const issues = parsed.error.issues.map((i) => `${i.path.join(".") || "(top)"}: ${i.message}`);
    throw new NotifySettingsError(`${file}: ${issues.join("; ")}`);
  }
  return parsed.data;
}

export function parseNotifyFormat(text: string): NotifyFormat {
  if ((NOTIFY_FORMATS as readonly string[]).includes(text)) return text as NotifyFormat;
  throw new NotifySettingsError(
    `--notify-format must be one of ${NOTIFY_FORMATS.join(", ")}, got "${text}"`,
  );
}

/** A URL shown without what may be a secret (path, query, credentials): its origin. */
export function redactUrl(url: string): string {
  try {
    const u = new URL(url);
    return u.pathname === "/" && !u.search && !u.username ? u.origin : `${u.origin}/…`;
  } catch {
    return "(invalid URL)";
  }
}

/**
 * Resolves a target: `env:NAME` reads the variable (unset or empty: an error); the URL must be
 * http(s). `shown` never holds the URL's path or query (webhook tokens live there).
 */
export function resolveTarget(
  spec: string,
  format: NotifyFormat,
  env: (name: string) => string | undefined,
): NotifyTarget {
  let url = spec;
  let shown: string;
  const m = /^env:([A-Za-z_][A-Za-z0-9_]*)$/.exec(spec);
  if (spec.startsWith("env:")) {
    if (!m) throw new NotifySettingsError(`--notify ${spec}: not a variable name`);
    const value = env(m[1]);
    if (!value) throw new NotifySettingsError(`--notify ${spec}: ${m[1]} is not set`);
    url = value;
    shown = `env:${m[1]}`;
  } else {
    shown = redactUrl(spec);
  }
  let parsed: URL;
  try {
    parsed = new URL(url);
  } catch {
    throw new NotifySettingsError(`--notify ${shown}: not a URL`);
  }
  if (parsed.protocol !== "http:" && parsed.protocol !== "https:") {
    throw new NotifySettingsError(
      `--notify ${shown}: must be an http(s) URL, got ${parsed.protocol}`,
    );
  }
  return { url, shown, format };
}
