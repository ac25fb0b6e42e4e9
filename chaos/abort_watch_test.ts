import assert from "node:assert/strict";
import { join } from "node:path";
import { abortRecord, History } from "../validate/history.ts";
import type { Probe } from "../validate/probes.ts";
import type { Sample } from "../validate/samples.ts";
import { ABORT_FILE, AbortWatch, requestAbort } from "./abort_watch.ts";
import { findRunDir } from "./run_folder.ts";
import { validateScenario } from "./scenario.ts";
import { UsageError } from "../lib/exit_codes.ts";
import { waitFor } from "../lib/wait.ts";

const T0 = Date.now() - 30_000;
const samples: Sample[] = Array.from({ length: 30 }, (_, i) => ({
  t: T0 + i * 1000,
  elapsed_ms: i * 1000,
  acked_eps: 100,
  acked: i * 100,
  p95_send_ms: 10,
  sink_lag: 0,
  faults: [],
}));
const rate: Probe = {
  name: "rate",
  metric: "acked_eps",
  stat: "mean",
  op: ">=",
  value: 1000,
  phase: "during",
  abort: true,
};

async function watchIn(probes: Probe[], run: (dir: string, w: AbortWatch, h: History) => unknown) {
  const dir = await Deno.makeTempDir();
  try {
    const history = new History(join(dir, "history.jsonl"));
    let aborted = 0;
    const watch = new AbortWatch({
      probes,
      eps: 1000,
      runDir: dir,
      history,
      samples: () => samples,
      phases: () => ({
        workloadStart: T0,
        now: Date.now(),
        firstInject: T0 + 10_000,
        lastHeal: null,
      }),
      onAbort: () => aborted++,
    });
    await run(dir, watch, history);
    return { aborted, history };
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
}

Deno.test("AbortWatch: a failing abort probe stops the run once, recorded for the verdict", async () => {
  const { aborted, history } = await watchIn([rate], (_, watch) => {
    watch.check();
    watch.check();
    assert.ok(watch.tripped);
  });
  assert.equal(aborted, 1);
  const record = abortRecord(history.events)!;
  assert.equal(record.by, "probe");
  assert.match(record.detail, /^probe "rate" measured 100, expected >= 1000 \(during, \d+ s into/);
});

Deno.test("AbortWatch: probes that hold, or are not abort probes, let the run go on", async () => {
  const { aborted } = await watchIn([{ ...rate, value: 50 }, { ...rate, abort: false }], (_, w) => {
    w.check();
    assert.ok(!w.tripped);
  });
  assert.equal(aborted, 0);
});

Deno.test("AbortWatch: an abort asked by hand (scenario --abort) stops the run", async () => {
  const { aborted, history } = await watchIn([], async (dir, watch) => {
    watch.check();
    assert.ok(!watch.tripped);
    await requestAbort(dir, "test");
    assert.ok(await Deno.stat(join(dir, ABORT_FILE)));
    watch.check();
  });
  assert.equal(aborted, 1);
  assert.deepEqual(
    { ...abortRecord(history.events)!, at: 0 },
    { by: "hand", at: 0, detail: "by hand (test)" },
  );
});

Deno.test("AbortWatch: SIGUSR1 to the run's process stops it by hand", async () => {
  const { aborted, history } = await watchIn([], async (_, watch) => {
    watch.start();
    try {
      Deno.kill(Deno.pid, "SIGUSR1");
      await waitFor(() => watch.tripped, { what: "the abort", timeoutMs: 5000, intervalMs: 20 });
    } finally {
      watch.stop();
    }
  });
  assert.equal(aborted, 1);
  assert.equal(abortRecord(history.events)!.detail, `by hand (SIGUSR1 to pid ${Deno.pid})`);
});

Deno.test("findRunDir: a run folder, a run id or a scenario's latest run", async () => {
  const out = await Deno.makeTempDir();
  try {
    const run = join(out, "steady-state", "20261202T081500Z");
    await Deno.mkdir(run, { recursive: true });
    await Deno.writeTextFile(join(run, "history.jsonl"), "");
    await Deno.symlink("20261202T081500Z", join(out, "steady-state", "latest"));
    assert.equal(await findRunDir(run, out), run);
    assert.equal(await findRunDir("steady-state-20261202t081500z", out), run);
    assert.equal(await findRunDir("steady-state", out), await Deno.realPath(run));
    assert.equal(await findRunDir("nothing-20261202t081500z", out), undefined);
    assert.equal(await findRunDir("x", join(out, "missing")), undefined);
  } finally {
    await Deno.remove(out, { recursive: true });
  }
});

Deno.test("scenario schema: an abort probe cannot be advisory", () => {
  assert.throws(
    () =>
      validateScenario({
        name: "x",
        description: "x",
        probes: [{
          metric: "acked_eps",
          op: ">=",
          value: 1,
          phase: "during",
          abort: true,
          advisory: true,
        }],
      }, "x.json"),
    (e: Error) => e instanceof UsageError && /both advisory and abort/.test(e.message),
  );
});
