import assert from "node:assert/strict";
import { costHtml, costMarkdown } from "./cost.ts";
import type { RunCost } from "../validate/results.ts";

const cost: RunCost = {
  window_s: 120,
  events: 1_000_000,
  components: [
    { name: "harness", cpu_s: 60.5, cpu_s_per_million: 60.5 },
    { name: "kafka-1", cpu_s: 30, cpu_s_per_million: 30 },
    { name: "<sink>", cpu_s: 12, cpu_s_per_million: 12 },
  ],
  machine: { busy_s: 200, idle_s: 40, idle_share: 0.167, cpu_s_per_million: 200 },
};

Deno.test("cost: a row per part with its CPU per million events, and the machine's idle share", () => {
  const md = costMarkdown(cost).join("\n");
  assert.match(md, /\| harness \| 60\.5 \| 60\.5 \|/);
  assert.match(md, /\| kafka-1 \| 30\.0 \| 30\.0 \|/);
  assert.match(md, /busy 200\.0 CPU-s \(200\.0 per million events\), idle 17% of the time/);
  const html = costHtml(cost);
  assert.match(html, /<td>&lt;sink&gt;<\/td><td>12\.0<\/td>/);
  assert.deepEqual(costMarkdown(null), []);
  assert.equal(costHtml(undefined), "");
});

Deno.test("cost: each part's peak resident MB, and the harness's peak with the verdict", () => {
  const withRss: RunCost = {
    ...cost,
    components: [
      { ...cost.components[0], peak_rss_mb: 9612.4 },
      { ...cost.components[1], peak_rss_mb: null },
    ],
    harness_peak_rss_mb: 2801.6,
  };
  const md = costMarkdown(withRss).join("\n");
  assert.match(md, /\| harness \| 60\.5 \| 60\.5 \| 9612 \|/);
  assert.match(md, /\| kafka-1 \| 30\.0 \| 30\.0 \| - \|/);
  assert.match(md, /the harness's resident peak, the verdict included, 2802 MB/);
  assert.match(costHtml(withRss), /<td>harness<\/td><td>60\.5<\/td><td>60\.5<\/td><td>9612<\/td>/);
  assert.doesNotMatch(costMarkdown(cost).join("\n"), /resident peak/);
});
