import assert from "node:assert/strict";
import { prometheusArgs, prometheusConfig } from "./prometheus.ts";

Deno.test("prometheusConfig: one job per component, every second", () => {
  const yaml = prometheusConfig({ harness: "127.0.0.1:29650", sink: "127.0.0.1:29651" });
  assert.match(yaml, /scrape_interval: 1s/);
  assert.match(
    yaml,
    /- job_name: "harness"\n {4}static_configs:\n {6}- targets: \["127.0.0.1:29650"\]/,
  );
  assert.match(yaml, /- job_name: "sink"/);
  assert.deepEqual(
    prometheusArgs("/r/p.yml", "/r/data", 29659).at(2),
    "--web.listen-address=127.0.0.1:29659",
  );
});
