import assert from "node:assert/strict";
import { join } from "node:path";
import { repoRoot } from "../compose/paths.ts";
import { cronBlock } from "./nightly_schedule.ts";
import { lockPath } from "./nightly_lock.ts";
import { passedOn, withServeDefault } from "./cli_nightly.ts";

async function nightly(args: string[], env: Record<string, string> = {}) {
  const o = await new Deno.Command(Deno.execPath(), {
    args: ["run", "-A", join(repoRoot, "chaos", "cli_nightly.ts"), ...args],
    env: { CHAOS_SCHEDULE_BACKEND: "cron", ...env },
    stdout: "piped",
    stderr: "piped",
  }).output();
  const dec = new TextDecoder();
  return { code: o.code, out: dec.decode(o.stdout) + dec.decode(o.stderr) };
}

Deno.test("nightly: bad flags exit 2 with a clear message", async () => {
  for (
    const [args, msg] of [
      [["--install", "--at", "25:00"], /--at must be a time of day HH:MM/],
      [["--notify-format", "x"], /--notify-format must be one of generic, slack, teams/],
      [["--notify", "ftp://example.com/hook"], /must be an http\(s\) URL/],
      [["--notify", "env:CHAOS_TEST_SURELY_UNSET"], /CHAOS_TEST_SURELY_UNSET is not set/],
      [["--at", "02:00"], /--at goes with --install/],
      [["--status", "--serve", "9464"], /cannot go together/],
      [["--serve", "70000"], /--serve must be an integer/],
      [["--install", "--date", "2026-11-20"], /--date makes no sense/],
      [["--page-url", "nope"], /--page-url must be an http\(s\) URL/],
    ] as const
  ) {
    const r = await nightly([...args]);
    assert.equal(r.code, 2, `${args.join(" ")}: ${r.out}`);
    assert.match(r.out, msg);
  }
  const help = await nightly(["--help"]);
  assert.equal(help.code, 0);
  for (const flag of ["--install", "--at", "--uninstall", "--status", "--notify", "--serve"]) {
    assert.ok(help.out.includes(flag), flag);
  }
});

Deno.test("nightly --install/--status/--uninstall in a systemd-less setting (a crontab file)", async () => {
  const dir = await Deno.makeTempDir();
  const env = { CHAOS_CRONTAB_FILE: join(dir, "crontab") };
  const out = join(dir, "nightly");
  try {
    const inst = await nightly(
      ["--install", "--at", "03:15", "--out", out, "--notify", "env:SLACK_WEBHOOK_URL"],
      { ...env, SLACK_WEBHOOK_URL: "https://hooks.example/T0/secret" },
    );
    assert.equal(inst.code, 0, inst.out);
    const crontab = await Deno.readTextFile(env.CHAOS_CRONTAB_FILE);
    assert.equal(
      crontab,
      cronBlock({
        repo: repoRoot,
        deno: Deno.execPath(),
        args: ["--out", out, "--notify", "env:SLACK_WEBHOOK_URL"],
        log: join(out, "nightly.log"),
        at: { hour: 3, minute: 15 },
      }) + "\n",
    );
    assert.doesNotMatch(crontab, /secret/);
    // a finished night, and a second night that did not run
    await Deno.mkdir(join(out, "2026-11-20"), { recursive: true });
    await Deno.writeTextFile(
      join(out, "2026-11-20", "summary.json"),
      JSON.stringify({ date: "2026-11-20", scenarios: {} }),
    );
    await Deno.writeTextFile(
      join(out, "2026-11-20", "night.json"),
      JSON.stringify({
        date: "2026-11-20",
        ended_at: "2026-11-20T03:40:00Z",
        complete: true,
        regressions: [],
        notify: [{
          target: "env:SLACK_WEBHOOK_URL",
          format: "slack",
          ok: false,
          attempts: 4,
          error: "HTTP 500",
        }],
      }),
    );
    const status = await nightly(["--status", "--out", out], env);
    assert.equal(status.code, 0, status.out);
    assert.match(status.out, /schedule: crontab, every day at 03:15; next run /);
    assert.match(status.out, /last night: 2026-11-20: 0 as expected, 0 not, 0 regressions; ended/);
    assert.match(status.out, /notify env:SLACK_WEBHOOK_URL \(slack\): FAILED after 4 attempts/);
    const un = await nightly(["--uninstall"], env);
    assert.equal(un.code, 0, un.out);
    assert.equal(await Deno.readTextFile(env.CHAOS_CRONTAB_FILE), "");
    assert.match((await nightly(["--status", "--out", out], env)).out, /schedule: none/);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("nightly: a night started while another runs does not run, says so, is recorded", async () => {
  const out = await Deno.makeTempDir();
  try {
    const started = "2026-11-20T02:30:00.000Z";
    await Deno.writeTextFile(
      lockPath(out),
      JSON.stringify({ pid: Deno.pid, started, date: "2026-11-20" }), // this test: alive
    );
    const r = await nightly([
      "--out",
      out,
      "--date",
      "2026-11-21",
      "--scenarios",
      "broker-log-dir-fails",
    ]);
    assert.equal(r.code, 3, r.out);
    assert.match(r.out, new RegExp(`still running since ${started.replaceAll(".", "\\.")}`));
    const skipped = (await Deno.readTextFile(join(out, "skipped.jsonl"))).trim().split("\n");
    assert.equal(skipped.length, 1);
    assert.equal(JSON.parse(skipped[0]).holder.started, started);
    assert.ok(!(await Deno.stat(join(out, "2026-11-21")).catch(() => null)), "nothing ran");
    const status = await nightly(["--status", "--out", out]);
    assert.match(status.out, /running: the night of 2026-11-20 since/);
    assert.match(status.out, /last skipped: .*still running since 2026-11-20T02:30:00\.000Z/);
  } finally {
    await Deno.remove(out, { recursive: true });
  }
});

Deno.test("withServeDefault and passedOn", () => {
  assert.deepEqual(withServeDefault(["--serve"]), ["--serve", "9464"]);
  assert.deepEqual(withServeDefault(["--serve", "--out", "x"]), ["--serve", "9464", "--out", "x"]);
  assert.deepEqual(withServeDefault(["--serve", "80"]), ["--serve", "80"]);
  assert.deepEqual(
    passedOn(["--install", "--at", "02:00", "--scenarios", "a", "--at=3:00", "--status"]),
    ["--scenarios", "a"],
  );
});
