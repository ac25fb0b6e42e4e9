import assert from "node:assert/strict";
import { join } from "node:path";
import {
  checkoutId,
  cronBlock,
  cronFind,
  cronMerge,
  cronRemove,
  install,
  type Job,
  nextRun,
  parseAt,
  parseEnvFile,
  type Runner,
  scheduled,
  systemdUnits,
  timerAt,
  uninstall,
} from "./nightly_schedule.ts";

const job: Job = {
  repo: "/home/o'neil/chaos harness",
  deno: "/opt/deno/bin/deno",
  args: ["--scenarios", "a,b", "--notify", "env:SLACK_WEBHOOK_URL"],
  log: "/tmp/n/nightly.log",
  at: { hour: 2, minute: 30 },
};

Deno.test("parseAt: HH:MM, refusing what is not a time of day", () => {
  assert.deepEqual(parseAt("02:30"), { hour: 2, minute: 30 });
  assert.deepEqual(parseAt("7:05"), { hour: 7, minute: 5 });
  for (const bad of ["25:00", "24:00", "12:60", "2:3", "noon", "", "02:30:00"]) {
    assert.throws(() => parseAt(bad), /--at must be a time of day HH:MM/, bad);
  }
});

Deno.test("nextRun: today when still ahead, else tomorrow (local time)", () => {
  const now = new Date(2026, 11, 5, 1, 0);
  assert.equal(
    nextRun({ hour: 2, minute: 30 }, now).getTime(),
    new Date(2026, 11, 5, 2, 30).getTime(),
  );
  assert.equal(
    nextRun({ hour: 0, minute: 30 }, now).getTime(),
    new Date(2026, 11, 6, 0, 30).getTime(),
  );
  assert.equal(
    nextRun({ hour: 1, minute: 0 }, now).getTime(),
    new Date(2026, 11, 6, 1, 0).getTime(),
  );
});

Deno.test("cron: the block runs the checkout's night at --at, quoted, logging to the out dir", () => {
  const block = cronBlock(job);
  const [b, line, e] = block.split("\n");
  assert.equal(b, `# BEGIN chaos-harness nightly ${job.repo}`);
  assert.equal(e, `# END chaos-harness nightly ${job.repo}`);
  assert.ok(line.startsWith("30 2 * * * cd '/home/o'\\''neil/chaos harness' && "), line);
  assert.match(line, /'\/opt\/deno\/bin\/deno' run -A chaos\/cli_nightly\.ts '--scenarios' 'a,b'/);
  assert.match(line, />>'\/tmp\/n\/nightly\.log' 2>&1/);
  assert.match(line, /nightly\.env/);
  assert.doesNotMatch(line, /%/, "cron turns % into newlines");
});

Deno.test("cron: merge replaces this checkout's block, keeps every other line; remove undoes it", () => {
  const others = "MAILTO=x\n0 * * * * other-job\n";
  const once = cronMerge(others, job);
  assert.ok(once.startsWith(others));
  const twice = cronMerge(once, { ...job, at: { hour: 4, minute: 5 } });
  assert.equal(twice.match(/# BEGIN/g)?.length, 1);
  assert.deepEqual(cronFind(twice, job.repo)?.at, { hour: 4, minute: 5 });
  const otherCheckout = cronMerge(twice, { ...job, repo: "/srv/other" });
  assert.equal(otherCheckout.match(/# BEGIN/g)?.length, 2);
  assert.equal(cronRemove(cronRemove(otherCheckout, job.repo), "/srv/other"), others);
  assert.equal(cronFind(others, job.repo), null);
  assert.equal(cronRemove(cronMerge("", job), job.repo), "");
});

Deno.test("systemd: a oneshot service and a persistent timer at --at", () => {
  const u = systemdUnits(job);
  assert.equal(u.name, `chaos-nightly-${checkoutId(job.repo)}`);
  assert.match(u.service, /^Type=oneshot$/m);
  assert.match(u.service, /^ExecStart=\/bin\/sh -c "cd '\/home\/o'\\\\''neil/m);
  assert.match(u.timer, /^OnCalendar=\*-\*-\* 02:30:00$/m);
  assert.match(u.timer, /^Persistent=true$/m);
  assert.match(u.timer, /^WantedBy=timers\.target$/m);
  assert.deepEqual(timerAt(u.timer), { hour: 2, minute: 30 });
  assert.notEqual(checkoutId("/a"), checkoutId("/b"));
});

async function withEnv(vars: Record<string, string>, fn: () => Promise<void>) {
  const before = Object.fromEntries(Object.keys(vars).map((k) => [k, Deno.env.get(k)]));
  for (const [k, v] of Object.entries(vars)) Deno.env.set(k, v);
  try {
    await fn();
  } finally {
    for (const [k, v] of Object.entries(before)) {
      if (v === undefined) Deno.env.delete(k);
      else Deno.env.set(k, v);
    }
  }
}

const noRunner: Runner = (cmd) => {
  throw new Error(`${cmd} must not run in this test`);
};

Deno.test("install/uninstall with cron (a crontab file): written, read back, removed", async () => {
  const dir = await Deno.makeTempDir();
  const file = join(dir, "crontab");
  await Deno.writeTextFile(file, "0 1 * * * keep-me\n");
  await withEnv({ CHAOS_CRONTAB_FILE: file }, async () => {
    const said = await install(job, "cron", noRunner);
    assert.match(said[0], /every day at 02:30/);
    const text = await Deno.readTextFile(file);
    assert.equal(text, "0 1 * * * keep-me\n" + cronBlock(job) + "\n");
    assert.deepEqual((await scheduled(job.repo, "cron", noRunner))?.at, job.at);
    assert.match((await uninstall(job.repo, "cron", noRunner))[0], /removed/);
    assert.equal(await Deno.readTextFile(file), "0 1 * * * keep-me\n");
    assert.equal(await scheduled(job.repo, "cron", noRunner), null);
    assert.match((await uninstall(job.repo, "cron", noRunner))[0], /no nightly schedule/);
  });
  await Deno.remove(dir, { recursive: true });
});

Deno.test("install/uninstall with systemd (a unit folder): units written and removed", async () => {
  const dir = await Deno.makeTempDir();
  await withEnv({ CHAOS_SYSTEMD_UNIT_DIR: dir }, async () => {
    await install(job, "systemd", noRunner);
    const { name, service, timer } = systemdUnits(job);
    assert.equal(await Deno.readTextFile(join(dir, `${name}.service`)), service);
    assert.equal(await Deno.readTextFile(join(dir, `${name}.timer`)), timer);
    assert.deepEqual((await scheduled(job.repo, "systemd", noRunner))?.at, job.at);
    await uninstall(job.repo, "systemd", noRunner);
    assert.deepEqual([...Deno.readDirSync(dir)], []);
  });
  await Deno.remove(dir, { recursive: true });
});

Deno.test("install with the real crontab command: crontab -l, then crontab - with the block", async () => {
  const calls: string[] = [];
  let stored = "";
  const runner: Runner = (cmd, args, stdin) => {
    calls.push(`${cmd} ${args.join(" ")}`);
    // Starting the cron daemon (as root, when none runs): refused here, so install warns.
    if (cmd === "cron") return Promise.resolve({ code: 1, out: "not in a test" });
    if (args[0] === "-l") {
      return Promise.resolve(
        stored ? { code: 0, out: stored } : { code: 1, out: "no crontab for root" },
      );
    }
    if (args[0] === "-") stored = stdin ?? "";
    if (args[0] === "-r") stored = "";
    return Promise.resolve({ code: 0, out: "" });
  };
  await withEnv({ CHAOS_CRONTAB_FILE: "" }, async () => {
    Deno.env.delete("CHAOS_CRONTAB_FILE");
    await install(job, "cron", runner);
    assert.equal(stored, cronBlock(job) + "\n");
    await uninstall(job.repo, "cron", runner);
    assert.equal(stored, "");
  });
  assert.deepEqual(calls.filter((c) => c !== "cron "), [
    "crontab -l",
    "crontab -",
    "crontab -l",
    "crontab -r",
  ]);
});

Deno.test("parseEnvFile: NAME=value lines, export and quotes allowed, the rest ignored", () => {
  assert.deepEqual(
    parseEnvFile(
      "# secrets\nSLACK_WEBHOOK_URL=https://h/T/x\nexport TEAMS='https://t/y'\nB=\"q\"\nnot a line\n",
    ),
    { SLACK_WEBHOOK_URL: "https://h/T/x", TEAMS: "https://t/y", B: "q" },
  );
});
