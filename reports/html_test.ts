import assert from "node:assert/strict";
import { failRun, passRun, unknownRun } from "./_fixtures.ts";
import { renderHtml } from "./html.ts";
import { renderJunit, renderMarkdown } from "./render.ts";

Deno.test("renderHtml: a pass has its verdict first, four charts and the fault shaded", () => {
  const html = renderHtml(passRun());
  assert.match(html, /<h1>exfil-under-broker-loss <span class="verdict"[^>]*>PASS<\/span>/);
  assert.equal(html.match(/<svg /g)?.length, 4, "events/s, lag, latency, incidents vs alerts");
  assert.equal(
    html.match(/class="span"/g)?.length,
    3 + 2,
    "the kill on three charts + 2 incidents",
  );
  assert.equal(html.match(/class="marker"/g)?.length, 2, "one marker per alert");
  assert.match(html, /bound 2000 ms/);
  assert.doesNotMatch(html, /<script/i, "self-contained and static");
  assert.doesNotMatch(html, /https?:\/\/(?!www\.w3\.org)/, "nothing fetched");
  assert.doesNotMatch(html, /Missing seqs/);
});

Deno.test("renderHtml: a fail lists the missing seqs per producer and the reason", () => {
  const html = renderHtml(failRun());
  assert.match(html, />FAIL<\/span>/);
  assert.match(html, /Missing seqs/);
  assert.match(html, /<code>run-w0<\/code>: 5000, 5001, 5002/);
  assert.match(html, /1000 lost by the sink/);
});

Deno.test("renderHtml: an unknown run without samples says so instead of drawing", () => {
  const html = renderHtml(unknownRun());
  assert.match(html, />UNKNOWN<\/span>/);
  assert.match(html, /no samples were recorded/);
  assert.match(html, /port 29712 is in use/);
  assert.doesNotMatch(html, /<svg /);
});

Deno.test("renderHtml escapes what it shows", () => {
  const data = failRun();
  data.results.description = `<img src=x onerror="alert(1)">`;
  assert.doesNotMatch(renderHtml(data), /<img src=x/);
});

Deno.test("renderMarkdown and renderJunit carry probes and recovery", () => {
  const md = renderMarkdown(passRun().results);
  assert.match(md, /\| probe p95 produce latency under 2 s \(during\) \| PASS \| measured 1800/);
  assert.match(md, /recovery after kill .* after 13\.0 s/);
  const junit = renderJunit(failRun().results);
  assert.match(
    junit,
    /<testcase classname="scenario.exfil-under-broker-loss" name="completeness">\s*<failure message="acked 1199000, in the topic 1199500, stored 1198000, lost 1000/,
  );
  assert.match(junit, /tests="5" failures="1"/);
});

Deno.test("renderHtml: Kafka's health is drawn beside the throughput when it was sampled", () => {
  const run = passRun();
  run.samples = run.samples.map((s, i) => ({
    ...s,
    under_replicated: i >= 30 && i < 60 ? 2 : 0,
    offline_partitions: 0,
    min_isr: i >= 30 && i < 60 ? 2 : 3,
    controller: 1,
  }));
  const html = renderHtml(run);
  assert.equal(html.match(/<svg /g)?.length, 6, "the four, then under-replicated and min ISR");
  assert.match(html, /Under-replicated partitions/);
  assert.match(html, /Smallest in-sync replica set/);
  assert.equal(html.match(/class="span"/g)?.length, 5 + 2, "the kill shaded on five charts");
});

Deno.test("reports render any value: extreme numbers, huge counts, control characters", () => {
  const data = failRun();
  const evil = "exfil\u001b[2K\r\u001b[32mPASS\u0007<b>|`[x](y)";
  data.alerts = [
    ...data.alerts.map((a) => ({ ...a, fired_at_ms: 2 ** 53 - 1, rule: evil, entity: evil })),
    ...Array.from({ length: 2000 }, (_, i) => ({
      ...data.alerts[0],
      alert_id: `a${i}`,
      fired_at_ms: [1e308, -1e308, NaN, Infinity, -0][i % 5],
    })),
  ];
  data.results.reasons.push(`false positive: ${evil}`);
  data.results.description = evil;
  data.results.faults.push({
    ...data.results.faults[0],
    kind: evil,
    injected_at: 2 ** 53 - 1,
    healed_at: -8.64e15 - 1,
  });
  data.samples = [
    ...data.samples,
    { ...data.samples[0], t: Infinity, acked_eps: 1e308, sink_lag: NaN, p95_send_ms: -0 },
  ];
  const t0 = performance.now();
  const html = renderHtml(data);
  const md = renderMarkdown(data.results);
  const junit = renderJunit(data.results);
  assert.ok(performance.now() - t0 < 2000, "bounded time");
  for (const out of [html, md, junit]) {
    // deno-lint-ignore no-control-regex
    assert.doesNotMatch(out, /[\u0000-\u0008\u000b\u000c\u000e-\u001f\u007f]/, "no control raw");
    assert.match(out, /\\u001b\\?\[2K/, "shown as an escape");
  }
  assert.match(html, /9007199254740991 \(no date\)/);
  assert.match(html, /past the first 500 not drawn/);
  assert.doesNotMatch(html, /="[^"]*(NaN|Infinity)/, "no coordinate is out of range");
  assert.doesNotMatch(html, /<b>\|/);
  assert.match(md, /9007199254740991 \(no date\)/);
  assert.doesNotMatch(md, /<b>|\[x\]/, "no HTML nor link opened in report.md");
  assert.equal(md.split("\n").filter((l) => l.startsWith("| exfil")).length, 1, "one table row");
});
