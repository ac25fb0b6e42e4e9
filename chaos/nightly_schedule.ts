/**
 * The nightly's schedule: `deno task nightly --install [--at 02:30]` writes and
 * enables a systemd timer where systemd runs (PID 1 answers
 * `systemctl is-system-running`), else a crontab entry; `--uninstall` removes
 * it; `--status` reads it back. One schedule per checkout (named after a hash
 * of its path), so two checkouts keep theirs apart.
 *
 * - systemd: `chaos-nightly-<id>.service` and `.timer` in `/etc/systemd/system`
 *   (root) or `~/.config/systemd/user` (others, `systemctl --user`);
 *   `CHAOS_SYSTEMD_UNIT_DIR` overrides the folder.
 * - cron: a block between `# BEGIN`/`# END chaos-harness nightly <checkout>`
 *   lines in the user's crontab (`crontab -l` / `crontab -`; Debian's `cron`
 *   is installed when missing); `CHAOS_CRONTAB_FILE` reads and writes that file
 *   instead (tests). `CHAOS_SCHEDULE_BACKEND=cron|systemd` forces a backend.
 *
 * Secrets for `--notify env:NAME` are not in the schedule: the night reads
 * them from `~/.config/chaos-harness/nightly.env` (`NAME=value` lines), which
 * both backends load before the night starts.
 * @module
 */

import { join } from "node:path";
import { homedir } from "node:os";
import { UsageError } from "../lib/exit_codes.ts";
import { aptInstall, ProvisionError, run, which } from "../compose/host.ts";

export type Backend = "systemd" | "cron";

/** The time of day the night starts at (local time, as cron and systemd read it). */
export interface At {
  hour: number;
  minute: number;
}

/** Parses `--at HH:MM` (24 h); `UsageError` otherwise. */
export function parseAt(text: string): At {
  const m = /^(\d{1,2}):(\d{2})$/.exec(text);
  const hour = m ? Number(m[1]) : NaN;
  const minute = m ? Number(m[2]) : NaN;
  if (!m || hour > 23 || minute > 59) {
    throw new UsageError(`--at must be a time of day HH:MM (00:00 to 23:59), got "${text}"`);
  }
  return { hour, minute };
}

export const formatAt = (at: At) =>
  `${String(at.hour).padStart(2, "0")}:${String(at.minute).padStart(2, "0")}`;

/** The next start at `at` (local time) after `now`. */
export function nextRun(at: At, now: Date): Date {
  const next = new Date(now);
  next.setHours(at.hour, at.minute, 0, 0);
  if (next <= now) next.setDate(next.getDate() + 1);
  return next;
}

/** A short stable id of a checkout (FNV-1a of its path, 8 hex digits). */
export function checkoutId(repo: string): string {
  let h = 0x811c9dc5;
  for (const b of new TextEncoder().encode(repo)) h = Math.imul(h ^ b, 0x01000193) >>> 0;
  return h.toString(16).padStart(8, "0");
}

/** The file the schedule loads secrets from before a night. */
export function envFile(): string {
  return join(homedir(), ".config", "chaos-harness", "nightly.env");
}

/** The `NAME=value` lines of an env file (`export`, quotes and comments allowed); {} if none. */
export function parseEnvFile(text: string): Record<string, string> {
  const vars: Record<string, string> = {};
  for (const raw of text.split("\n")) {
    const m = /^\s*(?:export\s+)?([A-Za-z_][A-Za-z0-9_]*)=(.*)$/.exec(raw);
    if (!m) continue;
    let v = m[2].trim();
    if (/^(['"]).*\1$/.test(v)) v = v.slice(1, -1);
    vars[m[1]] = v;
  }
  return vars;
}

export async function readEnvFile(path: string): Promise<Record<string, string>> {
  try {
    return parseEnvFile(await Deno.readTextFile(path));
  } catch {
    return {};
  }
}

/** What a schedule runs: the checkout, the deno binary, the night's flags, the log. */
export interface Job {
  repo: string;
  deno: string;
  args: string[];
  log: string;
  at: At;
}

const shq = (s: string) => `'${s.replaceAll("'", `'\\''`)}'`;

function shellCommand(job: Job): string {
  const env = envFile();
  const args = job.args.map((a) => " " + shq(a)).join("");
  return `cd ${shq(job.repo)} && { [ -f ${shq(env)} ] && set -a && . ${shq(env)}; set +a; ` +
    `${shq(job.deno)} run -A chaos/cli_nightly.ts${args} ` +
    `>>${shq(job.log)} 2>&1; }`;
}

const begin = (repo: string) => `# BEGIN chaos-harness nightly ${repo}`;
const end = (repo: string) => `# END chaos-harness nightly ${repo}`;

/** The crontab block of a job. */
export function cronBlock(job: Job): string {
  return [
    begin(job.repo),
    `${job.at.minute} ${job.at.hour} * * * ${shellCommand(job)}`,
    end(job.repo),
  ].join("\n");
}

/** `crontab` without this checkout's block (other lines kept as they are). */
export function cronRemove(crontab: string, repo: string): string {
  const lines = crontab.split("\n");
  const out: string[] = [];
  let inside = false;
  for (const line of lines) {
    if (line === begin(repo)) inside = true;
    else if (line === end(repo)) inside = false;
    else if (!inside) out.push(line);
  }
  const text = out.join("\n").replace(/\n+$/, "");
  return text ? text + "\n" : "";
}

/** `crontab` with this checkout's block replaced by (or added as) `job`'s. */
export function cronMerge(crontab: string, job: Job): string {
  return cronRemove(crontab, job.repo) + cronBlock(job) + "\n";
}

/** This checkout's schedule in a crontab: its time, or null when none. */
export function cronFind(crontab: string, repo: string): { at: At; line: string } | null {
  const lines = crontab.split("\n");
  const i = lines.indexOf(begin(repo));
  if (i < 0) return null;
  const m = /^(\d+) (\d+) \* \* \* /.exec(lines[i + 1] ?? "");
  return m ? { at: { hour: Number(m[2]), minute: Number(m[1]) }, line: lines[i + 1] } : null;
}

const sdq = (s: string) => `"${s.replaceAll("\\", "\\\\").replaceAll('"', '\\"')}"`;

/** The systemd service and timer of a job. */
export function systemdUnits(job: Job): { name: string; service: string; timer: string } {
  const name = `chaos-nightly-${checkoutId(job.repo)}`;
  const service = `[Unit]
Description=Chaos harness nightly (${job.repo})

[Service]
Type=oneshot
WorkingDirectory=${job.repo}
EnvironmentFile=-${envFile()}
ExecStart=/bin/sh -c ${sdq(shellCommand(job).replaceAll("%", "%%").replaceAll("$", "$$"))}
`;
  const timer = `[Unit]
Description=Chaos harness nightly at ${formatAt(job.at)} (${job.repo})

[Timer]
OnCalendar=*-*-* ${formatAt(job.at)}:00
Persistent=true
Unit=${name}.service

[Install]
WantedBy=timers.target
`;
  return { name, service, timer };
}

/** The time in a timer unit's `OnCalendar=*-*-* HH:MM:00`, or null. */
export function timerAt(timer: string): At | null {
  const m = /^OnCalendar=\*-\*-\* (\d{2}):(\d{2}):00$/m.exec(timer);
  return m ? { hour: Number(m[1]), minute: Number(m[2]) } : null;
}

/** Runs a command (overridable in tests). */
export type Runner = (cmd: string, args: string[], stdin?: string) => Promise<{
  code: number;
  out: string;
}>;

export const realRunner: Runner = async (cmd, args, stdin) => {
  if (stdin === undefined) return await run(cmd, args);
  try {
    const child = new Deno.Command(cmd, {
      args,
      stdin: "piped",
      stdout: "piped",
      stderr: "piped",
    }).spawn();
    const w = child.stdin.getWriter();
    await w.write(new TextEncoder().encode(stdin));
    await w.close();
    const o = await child.output();
    const dec = new TextDecoder();
    return { code: o.code, out: dec.decode(o.stdout) + dec.decode(o.stderr) };
  } catch (error) {
    if (error instanceof Deno.errors.NotFound) return { code: 127, out: `${cmd}: not found` };
    throw error;
  }
};

/** Whether systemd manages this machine (PID 1 is systemd and answers). */
export async function systemdUsable(runner: Runner = realRunner): Promise<boolean> {
  try {
    await Deno.stat("/run/systemd/system");
  } catch {
    return false;
  }
  const { out } = await runner("systemctl", ["is-system-running"]);
  return !/offline|not been booted|Failed to connect|not found/i.test(out) && out.trim() !== "";
}

export async function chooseBackend(runner: Runner = realRunner): Promise<Backend> {
  const forced = Deno.env.get("CHAOS_SCHEDULE_BACKEND");
  if (forced === "cron" || forced === "systemd") return forced;
  if (forced) {
    throw new UsageError(`CHAOS_SCHEDULE_BACKEND must be cron or systemd, got "${forced}"`);
  }
  return await systemdUsable(runner) ? "systemd" : "cron";
}

async function readCrontab(runner: Runner): Promise<string> {
  const file = Deno.env.get("CHAOS_CRONTAB_FILE");
  if (file) {
    try {
      return await Deno.readTextFile(file);
    } catch (error) {
      if (error instanceof Deno.errors.NotFound) return "";
      throw error;
    }
  }
  const { code, out } = await runner("crontab", ["-l"]);
  if (code === 0) return out;
  if (/no crontab/i.test(out)) return "";
  throw new ProvisionError(`crontab -l failed (exit ${code}): ${out.trim()}`);
}

async function writeCrontab(runner: Runner, text: string): Promise<void> {
  const file = Deno.env.get("CHAOS_CRONTAB_FILE");
  if (file) {
    await Deno.writeTextFile(file, text);
    return;
  }
  const { code, out } = text.trim()
    ? await runner("crontab", ["-"], text)
    : await runner("crontab", ["-r"]);
  if (code !== 0 && !/no crontab/i.test(out)) {
    throw new ProvisionError(`crontab failed (exit ${code}): ${out.trim()}`);
  }
}

async function cronDaemonRunning(): Promise<boolean> {
  for await (const e of Deno.readDir("/proc")) {
    if (!/^\d+$/.test(e.name)) continue;
    try {
      const comm = (await Deno.readTextFile(`/proc/${e.name}/comm`)).trim();
      if (comm === "cron" || comm === "crond") return true;
    } catch { /* gone */ }
  }
  return false;
}

/** Starts Debian's cron daemon when root and it is installed; true once it runs. */
async function startCron(runner: Runner): Promise<boolean> {
  if (Deno.uid?.() !== 0 || !(await which("cron"))) return false;
  if ((await runner("cron", [])).code !== 0) return false;
  for (let i = 0; i < 20; i++) {
    if (await cronDaemonRunning()) return true;
    await new Promise((r) => setTimeout(r, 100));
  }
  return false;
}

function unitDir(): { dir: string; user: boolean } {
  const explicit = Deno.env.get("CHAOS_SYSTEMD_UNIT_DIR");
  const user = Deno.uid?.() !== 0;
  if (explicit) return { dir: explicit, user };
  return user
    ? { dir: join(homedir(), ".config", "systemd", "user"), user }
    : { dir: "/etc/systemd/system", user };
}

async function systemctl(runner: Runner, user: boolean, args: string[]): Promise<void> {
  if (Deno.env.get("CHAOS_SYSTEMD_UNIT_DIR")) return; // a test's folder: nothing to tell systemd
  const { code, out } = await runner("systemctl", [...(user ? ["--user"] : []), ...args]);
  if (code !== 0) {
    throw new ProvisionError(`systemctl ${args.join(" ")} failed (exit ${code}): ${out.trim()}`);
  }
}

/** What `install`/`uninstall` did, in lines for the user. */
export type Said = string[];

export async function install(job: Job, backend: Backend, runner = realRunner): Promise<Said> {
  if (backend === "cron") {
    if (!Deno.env.get("CHAOS_CRONTAB_FILE") && !(await which("crontab"))) {
      await aptInstall(["cron"], "crontab (for the nightly's schedule)");
    }
    await writeCrontab(runner, cronMerge(await readCrontab(runner), job));
    const said = [`crontab: the nightly runs every day at ${formatAt(job.at)} (local time)`];
    if (!Deno.env.get("CHAOS_CRONTAB_FILE") && !(await cronDaemonRunning())) {
      said.push(
        await startCron(runner)
          ? "cron: no cron daemon ran here; started Debian's `cron` (it forks to the background)"
          : "warning: no cron daemon runs here; start it (`service cron start` or `cron`)",
      );
    }
    return said;
  }
  const { dir, user } = unitDir();
  const units = systemdUnits(job);
  await Deno.mkdir(dir, { recursive: true });
  await Deno.writeTextFile(join(dir, `${units.name}.service`), units.service);
  await Deno.writeTextFile(join(dir, `${units.name}.timer`), units.timer);
  await systemctl(runner, user, ["daemon-reload"]);
  await systemctl(runner, user, ["enable", "--now", `${units.name}.timer`]);
  return [
    `systemd: ${join(dir, units.name)}.timer runs the nightly every day at ${formatAt(job.at)}`,
    ...(user
      ? ["note: a user timer runs while you are logged in unless `loginctl enable-linger`"]
      : []),
  ];
}

export async function uninstall(
  repo: string,
  backend: Backend,
  runner = realRunner,
): Promise<Said> {
  if (backend === "cron") {
    const before = Deno.env.get("CHAOS_CRONTAB_FILE") || (await which("crontab"))
      ? await readCrontab(runner)
      : "";
    if (!cronFind(before, repo)) return ["crontab: no nightly schedule for this checkout"];
    await writeCrontab(runner, cronRemove(before, repo));
    return ["crontab: the nightly's entry removed"];
  }
  const { dir, user } = unitDir();
  const name = `chaos-nightly-${checkoutId(repo)}`;
  try {
    await Deno.stat(join(dir, `${name}.timer`));
  } catch {
    return ["systemd: no nightly timer for this checkout"];
  }
  await systemctl(runner, user, ["disable", "--now", `${name}.timer`]);
  await Deno.remove(join(dir, `${name}.timer`));
  await Deno.remove(join(dir, `${name}.service`)).catch(() => {});
  await systemctl(runner, user, ["daemon-reload"]);
  return [`systemd: ${name}.timer disabled and removed`];
}

/** The schedule of this checkout: its time, or null when none is installed. */
export async function scheduled(
  repo: string,
  backend: Backend,
  runner = realRunner,
): Promise<{ at: At; where: string } | null> {
  if (backend === "cron") {
    if (!Deno.env.get("CHAOS_CRONTAB_FILE") && !(await which("crontab"))) return null;
    const found = cronFind(await readCrontab(runner), repo);
    return found ? { at: found.at, where: "crontab" } : null;
  }
  const { dir } = unitDir();
  const file = join(dir, `chaos-nightly-${checkoutId(repo)}.timer`);
  try {
    const at = timerAt(await Deno.readTextFile(file));
    return at ? { at, where: file } : null;
  } catch {
    return null;
  }
}

export { cronDaemonRunning };
