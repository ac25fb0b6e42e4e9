import assert from "node:assert/strict";
import type { Figures, NightSummary } from "./nightly.ts";
import { escapeLabel, renderNightlyProm } from "./nightly_prom.ts";
import { ensurePromtool } from "../compose/host_tools.ts";
import { which } from "../compose/host.ts";

const good: Figures = {
  verdict: "pass",
  expect: "pass",
  as_expected: true,
  seed: 1,
  lost: 0,
  recovery_ms: 12_500,
  acked_eps: 9000,
  detection_p99_ms: 850,
  run: "runs/a",
};
const night: NightSummary = {
  date: "2026-11-20",
  scenarios: {
    "broker-restart": { ...good, acked: 120_000 },
    "unsafe-kafka": {
      ...good,
      verdict: "fail",
      expect: "fail",
      lost: 3000,
      recovery_ms: null,
      detection_p99_ms: null,
    },
    'odd"name\\x': { ...good, verdict: "unknown", as_expected: false, lost: null },
  },
};
const extras = {
  "broker-restart": { acked: 1, ended_at_s: 1_763_600_000 },
  "unsafe-kafka": { acked: 80_000, ended_at_s: 1_763_601_000 },
};

Deno.test("renderNightlyProm: one gauge family per figure, base units, per scenario", () => {
  const text = renderNightlyProm(night, extras);
  const has = (line: string) => assert.ok(text.split("\n").includes(line), `${line}\n${text}`);
  has("# TYPE chaos_nightly_as_expected gauge");
  has('chaos_nightly_as_expected{scenario="broker-restart"} 1');
  has('chaos_nightly_as_expected{scenario="unsafe-kafka"} 1');
  has('chaos_nightly_verdict{scenario="unsafe-kafka",verdict="fail"} 1');
  has('chaos_nightly_verdict{scenario="unsafe-kafka",verdict="pass"} 0');
  has('chaos_nightly_acked_events{scenario="broker-restart"} 120000'); // summary wins
  has('chaos_nightly_acked_events{scenario="unsafe-kafka"} 80000');
  has('chaos_nightly_lost_events{scenario="unsafe-kafka"} 3000');
  has('chaos_nightly_recovery_slowest_seconds{scenario="broker-restart"} 12.5');
  has('chaos_nightly_detection_p99_seconds{scenario="broker-restart"} 0.85');
  has('chaos_nightly_run_timestamp_seconds{scenario="unsafe-kafka"} 1763601000');
  has('chaos_nightly_night_timestamp_seconds{night="2026-11-20"} 1795132800');
  has('chaos_nightly_as_expected{scenario="odd\\"name\\\\x"} 0');
  assert.doesNotMatch(text, /recovery_slowest_seconds\{scenario="unsafe-kafka"/, "null: no sample");
  assert.doesNotMatch(text, /_total|_ms\b/);
  assert.ok(text.endsWith("\n"));
  for (const line of text.split("\n").filter((l) => l && !l.startsWith("#"))) {
    assert.match(line, /^[a-z_][a-z0-9_]*\{[^}]*\} -?[0-9.e+]+$/, line);
  }
});

Deno.test("renderNightlyProm: an empty night has no families", () => {
  assert.equal(
    renderNightlyProm({ date: "2026-11-20", scenarios: {} }).includes("scenario"),
    false,
  );
  assert.equal(escapeLabel('a"b\\c\nd'), 'a\\"b\\\\c\\nd');
});

const promtoolHere = !!(Deno.env.get("CHAOS_PROMTOOL_BIN") || await which("promtool"));

// Installing Debian's prometheus (for promtool) is slow: that case is a slow test.
Deno.test({
  name: "renderNightlyProm: promtool check metrics accepts the text (and rejects a broken one)",
  ignore: !promtoolHere && Deno.env.get("CHAOS_SKIP_SLOW") === "1",
}, async () => {
  const promtool = await ensurePromtool();
  const check = async (text: string) => {
    const child = new Deno.Command(promtool, {
      args: ["check", "metrics"],
      stdin: "piped",
      stdout: "piped",
      stderr: "piped",
    }).spawn();
    const w = child.stdin.getWriter();
    await w.write(new TextEncoder().encode(text));
    await w.close();
    const o = await child.output();
    const dec = new TextDecoder();
    return { code: o.code, out: dec.decode(o.stdout) + dec.decode(o.stderr) };
  };
  const good = await check(renderNightlyProm(night, extras));
  assert.equal(good.code, 0, good.out);
  assert.equal(good.out.trim(), "", `lint findings: ${good.out}`);
  // The checker itself: a counter without _total, and a broken line, are refused.
  const lint = await check("# HELP x_seconds a\n# TYPE x_seconds counter\nx_seconds 1\n");
  assert.notEqual(lint.code, 0, lint.out);
  const broken = await check('chaos_nightly_as_expected{scenario="a} 1\n');
  assert.notEqual(broken.code, 0, broken.out);
});
