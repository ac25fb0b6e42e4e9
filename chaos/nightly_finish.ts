/**
 * What a night does when it ends, and what reads its results back: the
 * Prometheus file `<out>/chaos_nightly.prom` (temp file + rename, so
 * node_exporter's textfile collector never reads half of it), the
 * announcement posted to each `--notify` target, and `<night>/night.json`
 * (how the night ended, the posts, the nights skipped because it overlapped).
 * Also `--serve`'s `/metrics` and `--status`'s "last result".
 *
 * ```ts
 * import { finishNight } from "./nightly_finish.ts";
 * const record = await finishNight({ out, tonight, earlier, targets, page });
 * ```
 * @module
 */

import { join } from "node:path";
import { findRegressions, type NightSummary, type Regression } from "../reports/nightly.ts";
import { type NightNews, notifyBody, type NotifyTarget } from "../reports/nightly_notify.ts";
import { renderNightlyProm, type RunExtras } from "../reports/nightly_prom.ts";
import { readSkipped, type SkippedNight } from "./nightly_lock.ts";
import { postAll, type PostOptions, type PostRecord } from "./nightly_notify_post.ts";

export const PROM_FILE = "chaos_nightly.prom";

/** `<night>/night.json`: how the night ended. */
export interface NightRecord {
  date: string;
  ended_at: string;
  /** Interrupted (Ctrl-C) or stopped by an error before every scenario ran. */
  complete: boolean;
  as_expected: number;
  not_as_expected: number;
  regressions: Regression[];
  /** Nights that did not run since the previous one because this or another still ran. */
  skipped: SkippedNight[];
  notify: PostRecord[];
  prom: string | null;
}

/** Each run's acknowledged count and end time, from its results.json (what summary.json lacks). */
export async function loadExtras(
  nightDir: string,
  night: NightSummary,
): Promise<Record<string, RunExtras>> {
  const extras: Record<string, RunExtras> = {};
  for (const [scenario, f] of Object.entries(night.scenarios)) {
    try {
      const r = JSON.parse(await Deno.readTextFile(join(nightDir, f.run, "results.json")));
      const ended = Date.parse(r.ended_at);
      extras[scenario] = {
        acked: typeof r.completeness?.acked === "number" ? r.completeness.acked : null,
        ended_at_s: Number.isFinite(ended) ? Math.round(ended / 1000) : null,
      };
    } catch { /* a run folder gone or unreadable: those figures are left out */ }
  }
  return extras;
}

/** Writes `text` to `path` atomically (a temp file beside it, then a rename). */
export async function writeAtomic(path: string, text: string): Promise<void> {
  const tmp = `${path}.tmp-${Deno.pid}`;
  await Deno.writeTextFile(tmp, text);
  await Deno.rename(tmp, path);
}

/** Writes the night's figures to `<out>/chaos_nightly.prom`; its path. */
export async function writeProm(out: string, nightDir: string, night: NightSummary) {
  const path = join(out, PROM_FILE);
  await writeAtomic(path, renderNightlyProm(night, await loadExtras(nightDir, night)));
  return path;
}

/** The latest night of `out` with a summary: its folder and summary, or null. */
export async function latestNight(
  out: string,
): Promise<{ dir: string; summary: NightSummary; record: NightRecord | null } | null> {
  const dates: string[] = [];
  try {
    for await (const e of Deno.readDir(out)) {
      if (e.isDirectory && /^\d{4}-\d{2}-\d{2}$/.test(e.name)) dates.push(e.name);
    }
  } catch {
    return null;
  }
  for (const date of dates.sort().reverse()) {
    const dir = join(out, date);
    try {
      const summary = JSON.parse(await Deno.readTextFile(join(dir, "summary.json")));
      let record: NightRecord | null = null;
      try {
        record = JSON.parse(await Deno.readTextFile(join(dir, "night.json")));
      } catch { /* a night still running, or from before night.json */ }
      return { dir, summary, record };
    } catch { /* no summary: go back one night */ }
  }
  return null;
}

export interface FinishOptions {
  out: string;
  tonight: NightSummary;
  earlier: NightSummary[];
  targets: NotifyTarget[];
  /** The page as announced: a URL or the index's path. */
  page: string;
  complete?: boolean;
  post?: PostOptions;
}

/** Skipped nights recorded after the previous night ended (all, when there is none). */
async function skippedSince(out: string, earlier: NightSummary[], date: string) {
  const prev = earlier.filter((n) => n.date < date).sort((a, b) => b.date.localeCompare(a.date))[0];
  let since = "";
  if (prev) {
    try {
      since =
        (JSON.parse(await Deno.readTextFile(join(out, prev.date, "night.json"))) as NightRecord)
          .ended_at;
    } catch {
      since = `${prev.date}T00:00:00Z`;
    }
  }
  return (await readSkipped(out)).filter((s) => s.at > since);
}

/**
 * Ends a night: the Prometheus file, the announcement (failed posts recorded, never thrown),
 * `night.json`. Returns the record.
 */
export async function finishNight(o: FinishOptions): Promise<NightRecord> {
  const nightDir = join(o.out, o.tonight.date);
  const regressions = findRegressions(o.tonight, o.earlier);
  const skipped = await skippedSince(o.out, o.earlier, o.tonight.date);
  const notes = [
    ...(o.complete === false
      ? ["the night stopped (interrupted or an error) before every scenario ran"]
      : []),
    ...skipped.map((s) =>
      `a night started ${s.at} (${s.date}) did not run: the night of ${s.holder.date} ` +
      `was still running since ${s.holder.started}`
    ),
  ];
  let prom: string | null = null;
  try {
    prom = await writeProm(o.out, nightDir, o.tonight);
  } catch (error) {
    notes.push(`the Prometheus file could not be written: ${(error as Error).message}`);
  }
  const news: NightNews = {
    tonight: o.tonight,
    earlier: o.earlier,
    regressions,
    page: o.page,
    notes,
  };
  const notify = await postAll(o.targets, (format) => notifyBody(format, news), o.post);
  const all = Object.values(o.tonight.scenarios);
  const failed = all.filter((f) => !f.as_expected).length;
  const record: NightRecord = {
    date: o.tonight.date,
    ended_at: new Date().toISOString(),
    complete: o.complete ?? true,
    as_expected: all.length - failed,
    not_as_expected: failed,
    regressions,
    skipped,
    notify,
    prom,
  };
  await Deno.mkdir(nightDir, { recursive: true });
  await writeAtomic(join(nightDir, "night.json"), JSON.stringify(record, null, 2));
  return record;
}

/** `/metrics`: the latest night's figures, read again on every scrape. */
export async function metricsText(out: string): Promise<string | null> {
  const last = await latestNight(out);
  if (!last) return null;
  return renderNightlyProm(last.summary, await loadExtras(last.dir, last.summary));
}

/** Serves `/metrics` on `hostname:port` until `signal` aborts. */
export function serveMetrics(
  out: string,
  port: number,
  signal: AbortSignal,
  hostname = "0.0.0.0",
  onListen: (addr: Deno.NetAddr) => void = () => {},
): Deno.HttpServer<Deno.NetAddr> {
  return Deno.serve({ port, hostname, signal, onListen }, async (req) => {
    const path = new URL(req.url).pathname;
    if (path !== "/metrics") {
      return new Response("chaos harness nightly: see /metrics\n", {
        status: path === "/" ? 200 : 404,
      });
    }
    const text = await metricsText(out);
    if (text === null) return new Response(`no night in ${out} yet\n`, { status: 503 });
    return new Response(text, {
      headers: { "content-type": "text/plain; version=0.0.4; charset=utf-8" },
    });
  });
}
