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
