import assert from "node:assert/strict";

/** Every metric name the harness's components register (from their sources). */
async function exported(): Promise<Set<string>> {
  const names = new Set<string>();
  for (
    const file of [
      "pipeline/generator_metrics.ts",
      "pipeline/sink_metrics.ts",
      "pipeline/detector_metrics.ts",
      "chaos/timeline.ts",
    ]
  ) {
    const text = await Deno.readTextFile(new URL(`../${file}`, import.meta.url));
    for (const m of text.matchAll(/name: "([a-z_]+)"/g)) names.add(m[1]);
  }
  return names;
}

Deno.test("the Grafana dashboard queries only metrics the harness exports", async () => {
  const dash = JSON.parse(
    await Deno.readTextFile(new URL("./grafana/chaos-harness-dashboard.json", import.meta.url)),
  );
  const names = await exported();
  const exprs: string[] = [
    ...dash.panels.flatMap((p: { targets: { expr: string }[] }) => p.targets.map((t) => t.expr)),
    ...dash.annotations.list.map((a: { expr: string }) => a.expr),
  ];
  assert.ok(exprs.length >= 8);
  for (const expr of exprs) {
    for (
      const m of expr.matchAll(/\b([a-z]+_[a-z_]+?)(?:_bucket|_sum|_count)?\b(?=[\[{)\s=]|$)/g)
    ) {
      if (["histogram_quantile", "by"].includes(m[1])) continue;
      assert.ok(names.has(m[1]), `${expr}: ${m[1]} is not exported`);
    }
  }
});
