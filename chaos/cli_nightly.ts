/**
 * `deno task nightly [--scenarios a,b] [--seed N] [--out reports/nightly] [--date YYYY-MM-DD]
 *   [--notify URL|env:NAME]... [--notify-file FILE] [--notify-format generic|slack|teams]
 *   [--page-url URL]`
 *
 * Runs the catalog (or the named scenarios) one after another, each on a
 * fresh stack, and writes `<out>/<date>/`: `runs/` (each run's folder),
 * `summary.json` (figures per scenario) and `index.html` (a pass/fail matrix
 * over the last nights, tonight's figures, trends, regressions). Seeds rotate
 * per night (the scenario's seed plus the day number) unless `--seed` fixes
 * them, so each night explores other random draws and a failing one can be
 * replayed with `deno task scenario <name> --seed <seed>`.
 *
 * When the night ends it writes `<out>/chaos_nightly.prom` (Prometheus text for
 * node_exporter's textfile collector), posts its announcement to each
 * `--notify` target (what changed since the previous night, the matrix, the
 * page; retried, recorded in `<date>/night.json`, never failing the night) and
 * `<date>/night.json`. One night at a time (`<out>/nightly.lock`): a night
 * started while another runs says "still running since …", is recorded, and
 * exits 3 without running.
 *
 * Other modes (one at a time):
 * - `--install [--at 02:30]` schedules the night (systemd timer, or crontab
 *   where systemd does not run) for this checkout with the night's flags given
 *   beside it; `--uninstall` removes it; `--status` shows the next run and the
 *   last result (chaos/nightly_schedule.ts);
 * - `--serve [PORT]` (default 9464) serves the last night's figures at `/metrics`.
 *
 * Exit codes: 0 every scenario as expected and no regression, 1 otherwise,
 * 2 bad flags or scenario names, 3 interrupted (Ctrl-C heals and stops first)
 * or another night still running.
 * @module
 */

import { STACK_FLAGS, STACK_USAGE, stackChoice } from "./stack_flags.ts";
import type { ExternalEndpoints } from "../compose/external_endpoints.ts";
import { externalCluster } from "./run_stack.ts";
import { externalProblems } from "./faults/mod.ts";
import { expandFaults } from "./planner.ts";
import { join, relative } from "node:path";
import { ExitCode, runMain, UsageError, withInterrupt } from "../lib/exit_codes.ts";
import { intFlag, parseFlags } from "../lib/cli.ts";
import { repoRoot } from "../compose/paths.ts";
import { provision } from "../compose/provision.ts";
import { say } from "../lib/progress.ts";
import { catalog, loadScenario, needsDocker } from "./cli_scenario.ts";
import { runScenario } from "./engine.ts";
import type { Scenario } from "./scenario.ts";
import {
  figuresOf,
  findRegressions,
  type NightSummary,
  renderNightlyHtml,
} from "../reports/nightly.ts";
import {
  type NotifyFormat,
  NotifySettingsError,
  type NotifyTarget,
  parseNotifyFormat,
  parseNotifySettings,
  resolveTarget,
} from "../reports/nightly_notify.ts";
import { acquireNightLock, holderAlive, lockPath, readSkipped } from "./nightly_lock.ts";
import { finishNight, latestNight, serveMetrics } from "./nightly_finish.ts";
import {
  chooseBackend,
  cronDaemonRunning,
  envFile,
  formatAt,
  install,
  type Job,
  nextRun,
  parseAt,
  readEnvFile,
  scheduled,
  uninstall,
} from "./nightly_schedule.ts";

const USAGE =
  "usage: deno task nightly [--scenarios a,b,...] [--seed N] [--out DIR] [--date YYYY-MM-DD]\n" +
  `         ${STACK_USAGE}\n` +
  "         [--notify URL|env:NAME]... [--notify-file FILE] [--notify-format generic|slack|teams]\n" +
  "         [--page-url URL]\n" +
  "       deno task nightly --install [--at HH:MM] [night flags...]   schedule it (default 02:30)\n" +
  "       deno task nightly --uninstall | --status [--out DIR]\n" +
  "       deno task nightly --serve [PORT] [--out DIR]   the last night at /metrics (9464)\n" +
  "\n" +
  "  --notify URL|env:NAME  post the night's summary there when it ends (repeatable);\n" +
  "                         env:NAME reads the webhook URL from that variable (scheduled nights\n" +
  "                         load ~/.config/chaos-harness/nightly.env, NAME=value lines, first)\n" +
  "  --notify-file FILE     JSON settings: {format?, page_url?, targets: [{url, format?}]}\n" +
  "  --notify-format F      generic (JSON), slack or teams (default generic)\n" +
  "  --page-url URL         where <out> is published, for the link in the announcement\n" +
  "  --install/--uninstall  write/remove the schedule (systemd timer or crontab entry)\n" +
  "  --at HH:MM             the time of day of the scheduled night (local time)\n" +
  "  --status               the schedule, its next run, the last night's result\n" +
  "  --serve [PORT]         serve <out>'s last night in Prometheus text at /metrics\n" +
  "  Every night writes <out>/chaos_nightly.prom (node_exporter textfile collector).";

/** Whether a scenario asks what the external cluster's endpoints file does not allow. */
async function externalFilter(e: ExternalEndpoints): Promise<(s: Scenario) => boolean> {
  const cluster = await externalCluster(e);
  return (s) => externalProblems(expandFaults(s, s.seed), cluster).length > 0;
}

async function earlierNights(out: string, date: string): Promise<NightSummary[]> {
  const nights: NightSummary[] = [];
  try {
    for await (const e of Deno.readDir(out)) {
      if (!e.isDirectory || e.name >= date) continue;
      try {
        nights.push(JSON.parse(await Deno.readTextFile(join(out, e.name, "summary.json"))));
      } catch { /* a night without a summary (interrupted early) */ }
    }
  } catch { /* no nights yet */ }
  return nights;
}

/** `--serve` with no port (last, or before another flag) gets the default one. */
export function withServeDefault(args: string[], port = "9464"): string[] {
  const out: string[] = [];
  for (const [i, a] of args.entries()) {
    out.push(a);
    if (a === "--serve" && (i + 1 >= args.length || args[i + 1].startsWith("-"))) out.push(port);
  }
  return out;
}

/** The night's flags a schedule passes on (everything but the mode flags and `--date`). */
export function passedOn(args: string[]): string[] {
  const out: string[] = [];
  for (let i = 0; i < args.length; i++) {
    const a = args[i];
    if (["--install", "--uninstall", "--status"].includes(a)) continue;
    if (a === "--at") {
      i++;
      continue;
    }
    if (a.startsWith("--at=")) continue;
    out.push(a);
  }
  return out;
}

/** The notify targets of the flags and the settings file; `UsageError` for any bad one. */
export async function notifyTargets(
  values: { notify?: string[]; "notify-file"?: string; "notify-format"?: string },
  env: (name: string) => string | undefined = (n) => Deno.env.get(n),
): Promise<{ targets: NotifyTarget[]; pageUrl?: string }> {
  try {
    const format: NotifyFormat = values["notify-format"]
      ? parseNotifyFormat(values["notify-format"])
      : "generic";
    const targets = (values.notify ?? []).map((u) => resolveTarget(u, format, env));
    let pageUrl: string | undefined;
    const file = values["notify-file"];
    if (file) {
      let text: string;
      try {
        text = await Deno.readTextFile(file);
      } catch (error) {
        throw new NotifySettingsError(`--notify-file ${file}: ${(error as Error).message}`);
      }
      const settings = parseNotifySettings(text, file);
      pageUrl = settings.page_url;
      for (const t of settings.targets) {
        targets.push(resolveTarget(t.url, t.format ?? settings.format ?? format, env));
      }
    }
    return { targets, pageUrl };
  } catch (error) {
    if (error instanceof NotifySettingsError) throw new UsageError(error.message);
    throw error;
  }
}

async function status(out: string): Promise<string[]> {
  const lines: string[] = [];
  const backend = await chooseBackend();
  const sched = await scheduled(repoRoot, backend);
  if (sched) {
    const next = nextRun(sched.at, new Date());
    lines.push(
      `schedule: ${sched.where}, every day at ${formatAt(sched.at)}; next run ${next.toString()}`,
    );
    if (backend === "cron" && !Deno.env.get("CHAOS_CRONTAB_FILE") && !(await cronDaemonRunning())) {
      lines.push("  warning: no cron daemon runs here: the entry will not fire");
    }
  } else {
    lines.push(`schedule: none for ${repoRoot} (${backend}); \`deno task nightly --install\``);
  }
  try {
    const holder = JSON.parse(await Deno.readTextFile(lockPath(out)));
    if (holderAlive(holder)) {
      lines.push(
        `running: the night of ${holder.date} since ${holder.started} (pid ${holder.pid})`,
      );
    }
  } catch { /* none running */ }
  const last = await latestNight(out);
  if (!last) {
    lines.push(`last night: none in ${out}`);
  } else {
    const figures = Object.values(last.summary.scenarios);
    const failed = figures.filter((f) => !f.as_expected).length;
    const r = last.record;
    lines.push(
      `last night: ${last.summary.date}: ${figures.length - failed} as expected, ${failed} not` +
        (r
          ? `, ${r.regressions.length} regressions${
            r.complete ? "" : " (interrupted)"
          }; ended ${r.ended_at}`
          : " (no night.json: still running or stopped)"),
    );
    for (const p of r?.notify ?? []) {
      lines.push(
        `  notify ${p.target} (${p.format}): ${
          p.ok ? "posted" : `FAILED after ${p.attempts} attempts: ${p.error}`
        }`,
      );
    }
    lines.push(`  page: ${join(last.dir, "index.html")}`);
  }
  const skipped = await readSkipped(out);
  const lastSkip = skipped.at(-1);
  if (lastSkip) {
    lines.push(
      `last skipped: ${lastSkip.at} (${lastSkip.date}): the night of ${lastSkip.holder.date} ` +
        `was still running since ${lastSkip.holder.started}`,
    );
  }
  return lines;
}

if (import.meta.main) {
  await runMain(async () => {
    const { values } = parseFlags(withServeDefault(Deno.args), {
      scenarios: { type: "string" },
      seed: { type: "string" },
      out: { type: "string" },
      date: { type: "string" },
      notify: { type: "string", multiple: true },
      "notify-file": { type: "string" },
      "notify-format": { type: "string" },
      "page-url": { type: "string" },
      install: { type: "boolean" },
      uninstall: { type: "boolean" },
      status: { type: "boolean" },
      at: { type: "string" },
      serve: { type: "string" },
      ...STACK_FLAGS,
    }, USAGE);
    const modes = (["install", "uninstall", "status", "serve"] as const).filter((m) =>
      values[m] !== undefined && values[m] !== false
    );
    if (modes.length > 1) {
      throw new UsageError(`--${modes.join(" and --")} cannot go together\n${USAGE}`);
    }
    if (values.at !== undefined && !values.install) {
      throw new UsageError("--at goes with --install");
    }
    const at = parseAt(values.at ?? "02:30");
    const date = values.date ?? new Date().toISOString().slice(0, 10);
    if (!/^\d{4}-\d{2}-\d{2}$/.test(date)) {
      throw new UsageError(`--date must be YYYY-MM-DD, got "${date}"`);
    }
    if (values["page-url"] !== undefined && !/^https?:\/\//.test(values["page-url"])) {
      throw new UsageError(`--page-url must be an http(s) URL, got "${values["page-url"]}"`);
    }
    const fixedSeed = intFlag("seed", values.seed, { min: 0 });
    // Every notify target checked now, not when the night ends (a schedule: also in the file
    // the scheduled night loads its secrets from).
    const fromFile = values.install ? await readEnvFile(envFile()) : {};
    const notify = await notifyTargets(values, (n) => Deno.env.get(n) ?? fromFile[n]);
    const out = values.out ?? join(repoRoot, "reports", "nightly");

    if (values.serve !== undefined) {
      const port = intFlag("serve", values.serve, { min: 0, max: 65535 })!;
      const abort = new AbortController();
      Deno.addSignalListener("SIGINT", () => abort.abort());
      Deno.addSignalListener("SIGTERM", () => abort.abort());
      const server = serveMetrics(
        out,
        port,
        abort.signal,
        "0.0.0.0",
        (a) =>
          say(`nightly: serving ${out}'s last night at http://${a.hostname}:${a.port}/metrics`),
      );
      await server.finished;
      return ExitCode.Pass;
    }
    if (values.status) {
      for (const line of await status(out)) console.log(line);
      return ExitCode.Pass;
    }
    if (values.install || values.uninstall) {
      if (values.install && values.date) {
        throw new UsageError("--date makes no sense in a schedule");
      }
      const backend = await chooseBackend();
      if (values.uninstall) {
        for (const line of await uninstall(repoRoot, backend)) console.log(line);
        return ExitCode.Pass;
      }
      if (values.scenarios) {
        for (const n of values.scenarios.split(",").map((x) => x.trim()).filter(Boolean)) {
          await loadScenario(n); // a bad name refused now, not at 02:30
        }
      }
      await Deno.mkdir(out, { recursive: true });
      const job: Job = {
        repo: repoRoot,
        deno: Deno.execPath(),
        args: passedOn(Deno.args),
        log: join(out, "nightly.log"),
        at,
      };
      for (const line of await install(job, backend)) console.log(line);
      if (notify.targets.some((t) => t.shown.startsWith("env:"))) {
        console.log(`  the scheduled night reads env:NAME targets from ${envFile()}`);
      }
      return ExitCode.Pass;
    }

    const { kind: stack, external } = await stackChoice(values);
    // The whole catalog on an external cluster: what its endpoints file allows.
    const unsupported = external && !values.scenarios
      ? await externalFilter(external.endpoints)
      : () => false;
    const names = values.scenarios
      ? values.scenarios.split(",").map((s) => s.trim()).filter(Boolean)
      : await catalog();
    const scenarios: Scenario[] = [];
    for (const name of names) {
      const scenario = await loadScenario(name); // all invalid input first
      // The whole catalog on the local stack leaves out what only the docker stack can run.
      if (!values.scenarios && stack === "local" && needsDocker(scenario)) continue;
      if (unsupported(scenario)) {
        say(`nightly: ${scenario.name} left out: the endpoints file does not allow its faults`);
        continue;
      }
      scenarios.push(scenario);
    }
    const lock = await acquireNightLock(out, date);
    if (!lock.acquired) {
      console.log(`nightly ${date}: not run: ${lock.why}`);
      return ExitCode.RunInvalid;
    }
    const nightDir = join(out, date);
    const tonight: NightSummary = { date, scenarios: {} };
    let earlier: NightSummary[] = [];
    let complete = false;
    const pageUrl = values["page-url"] ?? notify.pageUrl;
    try {
      await Deno.mkdir(join(nightDir, "runs"), { recursive: true });
      const day = Math.floor(Date.parse(`${date}T00:00:00Z`) / 86_400_000);
      earlier = await earlierNights(out, date);

      await provision();
      await withInterrupt(async (signal) => {
        for (const [i, scenario] of scenarios.entries()) {
          const seed = fixedSeed ?? scenario.seed + day;
          say(`nightly ${date}: ${i + 1}/${scenarios.length} ${scenario.name} (seed ${seed})`);
          const { results, runDir } = await runScenario(scenario, {
            seed,
            outDir: join(nightDir, "runs"),
            stack,
            external,
            signal,
          });
          tonight.scenarios[scenario.name] = figuresOf(results, relative(nightDir, runDir));
          say(
            `  ${scenario.name}: ${results.verdict}${
              results.as_expected ? "" : " (NOT as expected)"
            }`,
          );
          const regressions = findRegressions(tonight, earlier);
          await Deno.writeTextFile(
            join(nightDir, "summary.json"),
            JSON.stringify(tonight, null, 2),
          );
          await Deno.writeTextFile(
            join(nightDir, "index.html"),
            renderNightlyHtml(tonight, earlier, regressions),
          );
        }
      });
      complete = true;
    } finally {
      try {
        const record = await finishNight({
          out,
          tonight,
          earlier,
          targets: notify.targets,
          page: pageUrl
            ? `${pageUrl.replace(/\/+$/, "")}/${date}/index.html`
            : join(nightDir, "index.html"),
          complete,
          // Interrupted: one attempt each, not the backoff.
          post: complete ? undefined : { attempts: 1 },
        });
        for (const p of record.notify) {
          say(`  notify ${p.target}: ${p.ok ? "posted" : `FAILED (${p.error}), recorded`}`);
        }
        if (record.prom) say(`  metrics: ${record.prom}`);
      } finally {
        await lock.release();
      }
    }
    const regressions = findRegressions(tonight, earlier);
    const failed = Object.entries(tonight.scenarios).filter(([, f]) => !f.as_expected);
    console.log(
      `nightly ${date}: ${Object.keys(tonight.scenarios).length - failed.length} as expected, ` +
        `${failed.length} not, ${regressions.length} regressions`,
    );
    for (const r of regressions) console.log(`  - ${r.scenario}: ${r.why}`);
    console.log(`  index: ${join(nightDir, "index.html")}`);
    return failed.length || regressions.length ? ExitCode.CheckFailed : ExitCode.Pass;
  });
}
