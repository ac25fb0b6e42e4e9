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
