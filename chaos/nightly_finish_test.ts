import assert from "node:assert/strict";
import { join } from "node:path";
import type { NightSummary, Regression } from "../reports/nightly.ts";
import { madeUpHistory } from "../reports/_nightly_fixtures.ts";
import { type Change, resolveTarget } from "../reports/nightly_notify.ts";
import {
  finishNight,
  metricsText,
  type NightRecord,
  PROM_FILE,
  serveMetrics,
} from "./nightly_finish.ts";
import { acquireNightLock } from "./nightly_lock.ts";
import { postOne } from "./nightly_notify_post.ts";

/** A local receiver: what each path got, and the statuses it answers with, in turn. */
function receiver(answers: Record<string, number[]>) {
  const got: Record<string, unknown[]> = {};
  const abort = new AbortController();
  let port = 0;
  const server = Deno.serve(
    { hostname: "127.0.0.1", port: 0, signal: abort.signal, onListen: (a) => port = a.port },
    async (req) => {
      const path = new URL(req.url).pathname;
      (got[path] ??= []).push(await req.json());
      const queue = answers[path] ?? [200];
      const status = queue.length > 1 ? queue.shift()! : queue[0];
      return new Response(status === 200 ? "ok" : "boom", { status });
    },
  );
  return {
    got,
    url: (path: string) => `http://127.0.0.1:${port}${path}`,
    close: async () => {
      abort.abort();
      await server.finished;
    },
  };
}

async function writeNights(out: string, nights: NightSummary[]) {
  for (const n of nights) {
    await Deno.mkdir(join(out, n.date, "runs", "x"), { recursive: true });
    await Deno.writeTextFile(join(out, n.date, "summary.json"), JSON.stringify(n));
  }
}

Deno.test("finishNight: generic and slack bodies received, what changed right, prom written", async () => {
  const out = await Deno.makeTempDir();
  const { nights, tonight } = madeUpHistory();
  await writeNights(out, [...nights, tonight]);
  await Deno.writeTextFile(
    join(out, tonight.date, "runs", "x", "results.json"),
    JSON.stringify({ ended_at: "2026-11-20T02:41:00Z", completeness: { acked: 5000 } }),
  );
  const r = receiver({});
  try {
    const env = (n: string) => n === "HOOK" ? r.url("/slack/T0/secret") : undefined;
    const record = await finishNight({
      out,
      tonight,
      earlier: nights,
      targets: [
        resolveTarget(r.url("/generic"), "generic", env),
        resolveTarget("env:HOOK", "slack", env),
      ],
      page: join(out, tonight.date, "index.html"),
    });
    assert.deepEqual(record.notify.map((p) => [p.target, p.ok, p.attempts]), [
      [`http://127.0.0.1:${new URL(r.url("/")).port}/…`, true, 1],
      ["env:HOOK", true, 1],
    ]);
    const generic = r.got["/generic"][0] as {
      date: string;
      page: string;
      matrix: { nights: string[] };
      changed: {
        previous: string;
        new_failures: Change[];
        recoveries: Change[];
        regressions: Regression[];
      };
    };
    assert.equal(generic.date, "2026-11-20");
    assert.equal(generic.changed.previous, "2026-11-19");
    assert.deepEqual(generic.changed.new_failures.map((c) => c.scenario), ["broker-restart"]);
    assert.deepEqual(generic.changed.recoveries.map((c) => c.scenario), ["flaky"]);
    assert.deepEqual(
      generic.changed.regressions.map((x) => [x.scenario, x.metric, x.tonight, x.baseline]),
      [["broker-restart", "lost", 12, 0], ["sink-slow", "recovery_ms", 60_000, 10_000]],
    );
    assert.deepEqual(generic.matrix.nights, ["2026-11-18", "2026-11-19", "2026-11-20"]);
    assert.equal(generic.page, join(out, "2026-11-20", "index.html"));
    const slack = r.got["/slack/T0/secret"][0] as { text: string };
    const text = slack.text;
    assert.ok(text.indexOf("What changed since 2026-11-19") < text.indexOf("```"));
    assert.match(text, /NEW FAILURE broker-restart/);
    assert.match(text, /REGRESSION sink-slow recovery_ms: 60000 \(baseline 10000\)/);
    assert.match(text, /RECOVERED flaky/);
    // the record and the prom file: never the secret
    const saved = await Deno.readTextFile(join(out, tonight.date, "night.json"));
    assert.doesNotMatch(saved, /secret/);
    const prom = await Deno.readTextFile(join(out, PROM_FILE));
    assert.match(prom, /chaos_nightly_acked_events\{scenario="broker-restart"\} 5000/);
    assert.match(prom, /chaos_nightly_run_timestamp_seconds\{scenario="steady"\} 1795142460/);
    assert.equal(record.prom, join(out, PROM_FILE));
    assert.deepEqual([...Deno.readDirSync(out)].filter((e) => e.name.includes(".tmp")), []);
  } finally {
    await r.close();
    await Deno.remove(out, { recursive: true });
  }
});

Deno.test("finishNight: a receiver failing then answering is retried; one always failing is recorded, the night goes on", async () => {
  const out = await Deno.makeTempDir();
  const { nights, tonight } = madeUpHistory();
  await writeNights(out, [...nights, tonight]);
  const r = receiver({ "/flaky": [500, 200], "/down": [500] });
  try {
    const record = await finishNight({
      out,
      tonight,
      earlier: nights,
      targets: [
        resolveTarget(r.url("/flaky"), "generic", () => undefined),
        resolveTarget(r.url("/down"), "slack", () => undefined),
      ],
      page: "https://ci.example/n/2026-11-20/index.html",
      post: { attempts: 3, backoffMs: 10 },
    });
    assert.equal(r.got["/flaky"].length, 2);
    assert.equal(r.got["/down"].length, 3);
    const [flaky, down] = record.notify;
    assert.deepEqual([flaky.ok, flaky.attempts, flaky.status], [true, 2, 200]);
    assert.deepEqual([down.ok, down.attempts, down.status], [false, 3, 500]);
    assert.match(down.error!, /HTTP 500: boom/);
    const saved = JSON.parse(
      await Deno.readTextFile(join(out, tonight.date, "night.json")),
    ) as NightRecord;
    assert.equal(saved.notify[1].ok, false);
    assert.equal(saved.not_as_expected, 1);
  } finally {
    await r.close();
    await Deno.remove(out, { recursive: true });
  }
});

Deno.test("postOne: a receiver that does not answer is recorded without the URL's secret", async () => {
  const l = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const port = (l.addr as Deno.NetAddr).port;
  l.close(); // nothing listens there now
  const target = resolveTarget(`http://127.0.0.1:${port}/hook/secret`, "generic", () => undefined);
  const rec = await postOne(target, { a: 1 }, { attempts: 2, backoffMs: 5 });
  assert.equal(rec.ok, false);
  assert.equal(rec.status, null);
  assert.equal(rec.attempts, 2);
  assert.doesNotMatch(JSON.stringify(rec), /secret/);
});

Deno.test("finishNight: a night skipped because this one still ran is in the next announcement", async () => {
  const out = await Deno.makeTempDir();
  const { nights, tonight } = madeUpHistory();
  await writeNights(out, [...nights, tonight]);
  const running = await acquireNightLock(out, tonight.date);
  assert.ok(running.acquired);
  const second = await acquireNightLock(out, "2026-11-21");
  assert.ok(!second.acquired);
  await running.release();
  const r = receiver({});
  try {
    const record = await finishNight({
      out,
      tonight,
      earlier: nights,
      targets: [resolveTarget(r.url("/g"), "generic", () => undefined)],
      page: "x",
    });
    assert.equal(record.skipped.length, 1);
    const notes = (r.got["/g"][0] as { notes: string[] }).notes;
    assert.match(notes[0], /did not run: the night of 2026-11-20 was still running since/);
  } finally {
    await r.close();
    await Deno.remove(out, { recursive: true });
  }
});

Deno.test("serveMetrics: /metrics serves the latest night; 503 before any", async () => {
  const out = await Deno.makeTempDir();
  const abort = new AbortController();
  let port = 0;
  const server = serveMetrics(out, 0, abort.signal, "127.0.0.1", (a) => port = a.port);
  try {
    let res = await fetch(`http://127.0.0.1:${port}/metrics`);
    assert.equal(res.status, 503);
    await res.body?.cancel();
    const { nights, tonight } = madeUpHistory();
    await writeNights(out, [...nights, tonight]);
    res = await fetch(`http://127.0.0.1:${port}/metrics`);
    assert.equal(res.status, 200);
    assert.match(res.headers.get("content-type")!, /^text\/plain; version=0\.0\.4/);
    const text = await res.text();
    assert.equal(text, await metricsText(out));
    assert.match(text, /chaos_nightly_as_expected\{scenario="broker-restart"\} 0/);
    assert.match(text, /night="2026-11-20"/);
    res = await fetch(`http://127.0.0.1:${port}/other`);
    assert.equal(res.status, 404);
    await res.body?.cancel();
  } finally {
    abort.abort();
    await server.finished;
    await Deno.remove(out, { recursive: true });
  }
});
